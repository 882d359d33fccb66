//! nmap's sixteen IPv4 OS-detection probes, built as nmap 7.9x builds them: six SYNs to
//! an open port with nmap's windows and option lists (SEQ 1–6, whose replies also give
//! OPS, WIN and T1), the ECN SYN, T2–T4 to the open port and T5–T7 to a closed one,
//! U1 (300 bytes of 'C' to a closed UDP port, IP ID 0x1042) and the two ICMP echoes
//! (IE). The values are nmap's because the database's expectations were measured with
//! exactly these packets; each is checked against nmap's own probes captured in the
//! lab (`tests/fixtures/os/*.pcap`).
//!
//! This module only builds IP packets; `os::round` sends them and collects replies.

use crate::packet::raw::{self, IpSpec, TcpSpec};
use crate::packet::wire::ip::PseudoHeader;
use crate::packet::wire::tcp;
use scanner_common::wire::{
    IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_PSH, TCP_FLAG_SYN,
    TCP_FLAG_URG,
};
use std::net::Ipv4Addr;

pub use super::observe::OsProbe;

/// The sixteen probes of a round, in the order they are sent.
pub const ROUND: [OsProbe; 16] = [
    OsProbe::Seq(1),
    OsProbe::Seq(2),
    OsProbe::Seq(3),
    OsProbe::Seq(4),
    OsProbe::Seq(5),
    OsProbe::Seq(6),
    OsProbe::Ecn,
    OsProbe::T(2),
    OsProbe::T(3),
    OsProbe::T(4),
    OsProbe::T(5),
    OsProbe::T(6),
    OsProbe::T(7),
    OsProbe::U1,
    OsProbe::Ie(1),
    OsProbe::Ie(2),
];

/// A probe's place in [`ROUND`] (each TCP and UDP probe has a source port of its
/// own). nmap's resends of a SEQ probe's options (`Ops(n)`) and of T1 (`T(1)`) are
/// the SEQ probe's packets, and take its place.
pub fn index(probe: OsProbe) -> usize {
    match probe {
        OsProbe::Seq(n) | OsProbe::Ops(n) => usize::from(n.clamp(1, 6)) - 1,
        OsProbe::T(1) => 0,
        OsProbe::Ecn => 6,
        OsProbe::T(n) => usize::from(n.clamp(2, 7)) + 5,
        OsProbe::U1 => 13,
        OsProbe::Ie(n) => usize::from(n.clamp(1, 2)) + 13,
    }
}

/// Whether a probe goes to the closed TCP port (T5–T7).
pub fn to_closed_tcp_port(probe: OsProbe) -> bool {
    matches!(probe, OsProbe::T(5..=7))
}

/// Window scale 10, NOP, MSS 1460, timestamp (0xFFFFFFFF, 0), SACK permitted.
const OPTIONS_SEQ1: &[u8] = &[
    3, 3, 10, 1, 2, 4, 0x05, 0xb4, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
];
/// MSS 1400, window scale 0, SACK permitted, timestamp, end of list.
const OPTIONS_SEQ2: &[u8] = &[
    2, 4, 0x05, 0x78, 3, 3, 0, 4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0,
];
/// Timestamp, NOP, NOP, window scale 5, NOP, MSS 640.
const OPTIONS_SEQ3: &[u8] = &[
    8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 1, 3, 3, 5, 1, 2, 4, 0x02, 0x80,
];
/// SACK permitted, timestamp, window scale 10, end of list.
const OPTIONS_SEQ4: &[u8] = &[4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 3, 3, 10, 0];
/// MSS 536, SACK permitted, timestamp, window scale 10, end of list.
const OPTIONS_SEQ5: &[u8] = &[
    2, 4, 0x02, 0x18, 4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 3, 3, 10, 0,
];
/// MSS 265, SACK permitted, timestamp.
const OPTIONS_SEQ6: &[u8] = &[
    2, 4, 0x01, 0x09, 4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
];
/// Window scale 10, NOP, MSS 1460, SACK permitted, NOP, NOP.
const OPTIONS_ECN: &[u8] = &[3, 3, 10, 1, 2, 4, 0x05, 0xb4, 4, 2, 1, 1];
/// Window scale 10, NOP, MSS 265, timestamp, SACK permitted (T2–T6).
const OPTIONS_T2_T6: &[u8] = &[
    3, 3, 10, 1, 2, 4, 0x01, 0x09, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
];
/// As T2–T6's, with window scale 15.
const OPTIONS_T7: &[u8] = &[
    3, 3, 15, 1, 2, 4, 0x01, 0x09, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
];
/// The ECN probe's reserved bits (nmap sets the bit below NS).
const ECN_RESERVED: u8 = 0x08;
/// The ECN probe's urgent pointer (without URG).
const ECN_URGENT: u16 = 0xF7F5;
const TCP_FLAG_ECE: u8 = 0x40;
const TCP_FLAG_CWR: u8 = 0x80;
/// U1's payload: 300 bytes of 'C', and its IP ID.
pub const U1_PAYLOAD_BYTE: u8 = 0x43;
pub const U1_PAYLOAD_LEN: usize = 300;
pub const U1_IP_ID: u16 = 0x1042;
/// The IE probes' sequence number (the second's is one more) and data lengths.
const IE_SEQ: u16 = 295;
const IE_DATA: [usize; 2] = [120, 150];
/// IE2's TOS: reliability.
const IE2_TOS: u8 = 0x04;
/// IE1's ICMP code.
const IE1_CODE: u8 = 9;
/// TTL of the TCP and ICMP probes.
pub const PROBE_TTL: u8 = 64;
/// ICMP echo request.
const ICMP_ECHO: u8 = 8;

/// What one host's round of probes uses: where they go and the numbers they carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundPlan {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub open_tcp_port: u16,
    pub closed_tcp_port: u16,
    pub closed_udp_port: u16,
    /// A source port per TCP and UDP probe, by [`index`] (IE's unused).
    pub source_ports: [u16; 14],
    /// The SEQ probes' sequence numbers are `seq_base + n - 1`; the rest use `seq_base`.
    pub seq_base: u32,
    pub ack: u32,
    /// IE1's identifier (IE2's is one more).
    pub icmp_id: u16,
    /// The TTL of U1 (nmap varies it with the time).
    pub udp_ttl: u8,
    /// An IP ID per probe but U1 (whose ID is fixed), by [`index`].
    pub ip_ids: [u16; 16],
}

impl RoundPlan {
    /// The source port of a TCP or UDP probe.
    pub fn source_port(&self, probe: OsProbe) -> Option<u16> {
        self.source_ports.get(index(probe)).copied()
    }

    /// The IP packet of `probe`.
    pub fn packet(&self, probe: OsProbe) -> Vec<u8> {
        let ip = |protocol, ttl, dont_fragment, tos| IpSpec {
            src: self.src,
            dst: self.dst,
            protocol,
            ttl,
            id: self.ip_ids[index(probe)],
            tos,
            dont_fragment,
            options: Vec::new(),
        };
        match probe {
            OsProbe::U1 => {
                let payload = [U1_PAYLOAD_BYTE; U1_PAYLOAD_LEN];
                let udp = raw::udp_datagram(
                    self.src,
                    self.dst,
                    self.source_ports[index(probe)],
                    self.closed_udp_port,
                    &payload,
                );
                let spec = IpSpec {
                    id: U1_IP_ID,
                    ..ip(IPPROTO_UDP, self.udp_ttl, false, 0)
                };
                raw::ipv4(&spec, &udp).expect("a fixed UDP probe fits")
            }
            OsProbe::Ie(n) => {
                let second = n == 2;
                let message = raw::icmp_message(
                    ICMP_ECHO,
                    if second { 0 } else { IE1_CODE },
                    self.icmp_id.wrapping_add(u16::from(second)),
                    IE_SEQ + u16::from(second),
                    &vec![0; IE_DATA[usize::from(second)]],
                );
                let spec = ip(
                    IPPROTO_ICMP,
                    PROBE_TTL,
                    !second,
                    if second { IE2_TOS } else { 0 },
                );
                raw::ipv4(&spec, &message).expect("a fixed ICMP probe fits")
            }
            _ => {
                let (segment, dont_fragment) = self.tcp_segment(probe);
                raw::ipv4(&ip(IPPROTO_TCP, PROBE_TTL, dont_fragment, 0), &segment)
                    .expect("a fixed TCP probe fits")
            }
        }
    }

    /// A TCP probe's segment, and whether nmap sends it with DF.
    fn tcp_segment(&self, probe: OsProbe) -> (Vec<u8>, bool) {
        let sport = self.source_ports[index(probe)];
        let spec = |flags, window, options: &[u8]| TcpSpec {
            sport,
            dport: if to_closed_tcp_port(probe) {
                self.closed_tcp_port
            } else {
                self.open_tcp_port
            },
            seq: self.seq_base,
            ack: self.ack,
            flags,
            window,
            urgent: 0,
            options: options.to_vec(),
        };
        let (spec, dont_fragment) = match probe {
            OsProbe::Seq(n) | OsProbe::Ops(n) => {
                let (window, options) = match n {
                    1 => (1, OPTIONS_SEQ1),
                    2 => (63, OPTIONS_SEQ2),
                    3 => (4, OPTIONS_SEQ3),
                    4 => (4, OPTIONS_SEQ4),
                    5 => (16, OPTIONS_SEQ5),
                    _ => (512, OPTIONS_SEQ6),
                };
                let spec = TcpSpec {
                    seq: self.seq_base.wrapping_add(u32::from(n.clamp(1, 6)) - 1),
                    ..spec(TCP_FLAG_SYN, window, options)
                };
                (spec, false)
            }
            OsProbe::Ecn => {
                let spec = TcpSpec {
                    ack: 0,
                    urgent: ECN_URGENT,
                    ..spec(TCP_FLAG_CWR | TCP_FLAG_ECE | TCP_FLAG_SYN, 3, OPTIONS_ECN)
                };
                (spec, false)
            }
            OsProbe::T(2) => (spec(0, 128, OPTIONS_T2_T6), true),
            OsProbe::T(3) => (
                spec(
                    TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_URG | TCP_FLAG_PSH,
                    256,
                    OPTIONS_T2_T6,
                ),
                false,
            ),
            OsProbe::T(4) => (spec(TCP_FLAG_ACK, 1024, OPTIONS_T2_T6), true),
            OsProbe::T(5) => (spec(TCP_FLAG_SYN, 31337, OPTIONS_T2_T6), false),
            OsProbe::T(6) => (spec(TCP_FLAG_ACK, 32768, OPTIONS_T2_T6), true),
            _ => (
                spec(
                    TCP_FLAG_FIN | TCP_FLAG_PSH | TCP_FLAG_URG,
                    65535,
                    OPTIONS_T7,
                ),
                false,
            ),
        };
        let mut segment =
            raw::tcp_segment(self.src, self.dst, &spec, &[]).expect("nmap's options fit");
        if probe == OsProbe::Ecn {
            // The reserved bits are no field of the segment builder's: set, re-summed.
            segment[12] |= ECN_RESERVED;
            tcp::Packet::new_unchecked(&mut segment[..]).fill_checksum(&PseudoHeader::V4 {
                src: self.src,
                dst: self.dst,
            });
        }
        (segment, dont_fragment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::wire::{ethernet, ipv4};

    /// A plan with the numbers nmap used in the lab capture of web (tests/fixtures).
    fn plan() -> RoundPlan {
        RoundPlan {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 10),
            open_tcp_port: 22,
            closed_tcp_port: 1,
            closed_udp_port: 43389,
            source_ports: std::array::from_fn(|i| 50000 + i as u16),
            seq_base: 0x1000,
            ack: 0x2000,
            icmp_id: 0x3000,
            udp_ttl: 55,
            ip_ids: [7; 16],
        }
    }

    /// nmap's OS probes in a lab capture, by kind: the first of each, as IP packets.
    fn nmaps_probes() -> Vec<(OsProbe, Vec<u8>)> {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/os/web.pcap"
        ))
        .expect("tests/fixtures/os/web.pcap (cargo xtask os-capture)");
        let mut found: Vec<(OsProbe, Vec<u8>)> = Vec::new();
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            let frame = &bytes[at + 16..(at + 16 + len).min(bytes.len())];
            at += 16 + len;
            let Ok(eth) = ethernet::Frame::new_checked(frame) else {
                continue;
            };
            let Ok(ip) = ipv4::Packet::new_checked(&frame[eth.header_len()..]) else {
                continue;
            };
            if ip.src_addr() != Ipv4Addr::new(198, 18, 0, 1) {
                continue;
            }
            let payload = ip.payload();
            let kind = match ip.protocol() {
                IPPROTO_UDP if payload.len() == 8 + U1_PAYLOAD_LEN => Some(OsProbe::U1),
                IPPROTO_ICMP if payload[0] == ICMP_ECHO => {
                    match u16::from_be_bytes([payload[6], payload[7]]) {
                        IE_SEQ => Some(OsProbe::Ie(1)),
                        seq if seq == IE_SEQ + 1 => Some(OsProbe::Ie(2)),
                        _ => None,
                    }
                }
                IPPROTO_TCP => {
                    let window = u16::from_be_bytes([payload[14], payload[15]]);
                    match window {
                        1 => Some(OsProbe::Seq(1)),
                        63 => Some(OsProbe::Seq(2)),
                        4 if payload[20] == 8 => Some(OsProbe::Seq(3)),
                        4 => Some(OsProbe::Seq(4)),
                        16 => Some(OsProbe::Seq(5)),
                        512 => Some(OsProbe::Seq(6)),
                        3 => Some(OsProbe::Ecn),
                        128 => Some(OsProbe::T(2)),
                        256 => Some(OsProbe::T(3)),
                        1024 if payload[13] == TCP_FLAG_ACK => Some(OsProbe::T(4)),
                        31337 => Some(OsProbe::T(5)),
                        32768 => Some(OsProbe::T(6)),
                        65535 => Some(OsProbe::T(7)),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(kind) = kind.filter(|k| found.iter().all(|(f, _)| f != k)) {
                found.push((kind, frame[eth.header_len()..].to_vec()));
            }
        }
        found
    }

    /// The bytes that must equal nmap's: everything but the addresses' and ports'
    /// numbers, IDs, sequence and acknowledgement numbers, TTLs and checksums.
    fn shape(packet: &[u8]) -> Vec<u8> {
        let mut shape = packet.to_vec();
        let ihl = usize::from(shape[0] & 0x0f) * 4;
        shape[4..6].fill(0); // IP ID (U1's is compared on its own)
        shape[8] = 0; // TTL
        shape[10..20].fill(0); // checksum, addresses
        let l4 = &mut shape[ihl..];
        match packet[9] {
            IPPROTO_TCP => {
                l4[0..12].fill(0); // ports, sequence, acknowledgement
                l4[16..18].fill(0); // checksum
            }
            IPPROTO_UDP => l4[0..8].fill(0), // ports, length checked by size, checksum
            _ => l4[2..6].fill(0),           // checksum, identifier
        }
        shape
    }

    #[test]
    fn every_probe_is_nmaps_byte_for_byte_but_its_numbers() {
        let theirs = nmaps_probes();
        assert_eq!(theirs.len(), 16, "nmap's sixteen probes in the capture");
        let plan = plan();
        for (probe, nmaps) in theirs {
            let ours = plan.packet(probe);
            assert_eq!(shape(&ours), shape(&nmaps), "{probe:?}");
            if probe == OsProbe::U1 {
                assert_eq!(ours[4..6], nmaps[4..6], "U1's IP ID");
            }
            if let OsProbe::Ie(n) = probe {
                // The second echo's identifier and sequence are one past the first's.
                let seq = u16::from_be_bytes([ours[26], ours[27]]);
                assert_eq!(seq, IE_SEQ + u16::from(n - 1));
                assert_eq!(u16::from_be_bytes([nmaps[26], nmaps[27]]), seq);
            }
        }
    }

    #[test]
    fn probes_are_checksummed_and_numbered_by_the_plan() {
        let plan = plan();
        for probe in ROUND {
            let packet = plan.packet(probe);
            let ip = ipv4::Packet::new_checked(&packet[..]).unwrap();
            assert!(ip.verify_checksum(), "{probe:?}");
            if ip.protocol() == IPPROTO_TCP {
                let segment = tcp::Packet::new_checked(ip.payload()).unwrap();
                let pseudo = PseudoHeader::V4 {
                    src: plan.src,
                    dst: plan.dst,
                };
                assert!(segment.verify_checksum(&pseudo), "{probe:?}");
                assert_eq!(Some(segment.src_port()), plan.source_port(probe));
                let closed = to_closed_tcp_port(probe);
                assert_eq!(segment.dst_port(), if closed { 1 } else { 22 }, "{probe:?}");
            }
        }
        let seq = |n| {
            let packet = plan.packet(OsProbe::Seq(n));
            u32::from_be_bytes(packet[24..28].try_into().unwrap())
        };
        assert_eq!((seq(1), seq(6)), (0x1000, 0x1005));
    }
}
