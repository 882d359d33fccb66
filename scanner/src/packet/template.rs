//! Prebuilt TCP frames (Ethernet + IPv4 + TCP) patched per probe.
//!
//! Building every frame from scratch halves the send rate (NOTES.md), so a template
//! holds the finished frame and the checksum sums of its constant fields; writing a
//! probe copies the bytes and patches destination, ports, sequence number, IP id and
//! the two checksums. One template serves SYN probes, another the RSTs that close
//! half-open connections.

use super::checksum::{add_bytes, add_u16, add_u32, finish};
use super::{ETHERTYPE_IPV4, ETH_LEN, IPPROTO_TCP, IPV4_LEN};
use scanner_common::wire::{TCP_FLAG_ACK, TCP_FLAG_RST, TCP_FLAG_SYN};
use std::net::Ipv4Addr;

/// The link-level addressing every frame of a scan shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkAddrs {
    pub src_mac: [u8; 6],
    /// The next hop's MAC: the target's on-link, the router's otherwise.
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
}

/// Which TCP segment a template sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// SYN with an MSS option, as a real stack's first segment looks.
    Syn,
    /// Bare RST, to tear down a half-open connection after a SYN+ACK.
    Rst,
    /// Any other flags (FIN, NULL, Xmas, ACK scans, `--scanflags`), no options. With
    /// the ACK flag the acknowledgement number carries the cookie too, since a reset
    /// in reply copies it into its sequence number.
    Flags(u8),
}

const IP_TTL: u8 = 64;
const SYN_WINDOW: u16 = 1024;
const MSS: u16 = 1460;

/// Offsets of the fields patched per frame.
mod offset {
    use super::{ETH_LEN, IPV4_LEN};
    pub const IP_TOTAL_LEN: usize = ETH_LEN + 2;
    pub const IP_ID: usize = ETH_LEN + 4;
    pub const IP_CHECKSUM: usize = ETH_LEN + 10;
    pub const IP_SRC: usize = ETH_LEN + 12;
    pub const IP_DST: usize = ETH_LEN + 16;
    pub const TCP: usize = ETH_LEN + IPV4_LEN;
    pub const TCP_SPORT: usize = TCP;
    pub const TCP_DPORT: usize = TCP + 2;
    pub const TCP_SEQ: usize = TCP + 4;
    pub const TCP_ACK: usize = TCP + 8;
    pub const TCP_CHECKSUM: usize = TCP + 16;
}

/// The largest frame a template writes.
pub const MAX_FRAME_LEN: usize = ETH_LEN + IPV4_LEN + 24;

/// A finished frame plus the partial checksums of its constant fields.
#[derive(Clone, Debug)]
pub struct TcpTemplate {
    frame: [u8; MAX_FRAME_LEN],
    len: usize,
    /// IPv4 header sum with id, destination and checksum zero.
    ip_sum: u32,
    /// TCP pseudo-header + header sum with destination, ports, sequence, checksum zero.
    tcp_sum: u32,
    /// The acknowledgement number repeats the sequence number (ACK-flag probes).
    ack_is_seq: bool,
}

impl TcpTemplate {
    pub fn new(kind: SegmentKind, link: &LinkAddrs) -> Self {
        let options: &[u8] = match kind {
            SegmentKind::Syn => &[2, 4, (MSS >> 8) as u8, MSS as u8],
            SegmentKind::Rst | SegmentKind::Flags(_) => &[],
        };
        let tcp_len = 20 + options.len();
        let len = ETH_LEN + IPV4_LEN + tcp_len;
        let mut frame = [0u8; MAX_FRAME_LEN];
        frame[0..6].copy_from_slice(&link.dst_mac);
        frame[6..12].copy_from_slice(&link.src_mac);
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let ip = &mut frame[ETH_LEN..ETH_LEN + IPV4_LEN];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((IPV4_LEN + tcp_len) as u16).to_be_bytes());
        ip[8] = IP_TTL;
        ip[9] = IPPROTO_TCP;
        ip[12..16].copy_from_slice(&link.src_ip.octets());
        let tcp = &mut frame[offset::TCP..offset::TCP + tcp_len];
        tcp[12] = ((tcp_len / 4) as u8) << 4;
        let (flags, window) = match kind {
            SegmentKind::Syn => (TCP_FLAG_SYN, SYN_WINDOW),
            SegmentKind::Rst => (TCP_FLAG_RST, 0),
            SegmentKind::Flags(flags) => (flags, SYN_WINDOW),
        };
        let ack_is_seq = matches!(kind, SegmentKind::Flags(f) if f & TCP_FLAG_ACK != 0);
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&window.to_be_bytes());
        tcp[20..].copy_from_slice(options);

        let ip_sum = add_bytes(0, &frame[ETH_LEN..ETH_LEN + IPV4_LEN]);
        let pseudo = add_u16(
            add_u16(add_bytes(0, &link.src_ip.octets()), u16::from(IPPROTO_TCP)),
            tcp_len as u16,
        );
        let tcp_sum = add_bytes(pseudo, &frame[offset::TCP..offset::TCP + tcp_len]);
        debug_assert_eq!(
            u16::from_be_bytes([frame[offset::IP_TOTAL_LEN], frame[offset::IP_TOTAL_LEN + 1]])
                as usize,
            len - ETH_LEN
        );
        debug_assert_eq!(
            &frame[offset::IP_SRC..offset::IP_SRC + 4],
            &link.src_ip.octets()
        );
        Self {
            frame,
            len,
            ip_sum,
            tcp_sum,
            ack_is_seq,
        }
    }

    /// Length of the frames this template writes.
    pub fn frame_len(&self) -> usize {
        self.len
    }

    /// Writes one frame into `buf` (at least [`Self::frame_len`] bytes) and returns its
    /// length. `seq` is the TCP sequence number (the cookie, for probes).
    pub fn write(
        &self,
        buf: &mut [u8],
        dst: Ipv4Addr,
        sport: u16,
        dport: u16,
        seq: u32,
        ip_id: u16,
    ) -> usize {
        let frame = &mut buf[..self.len];
        frame.copy_from_slice(&self.frame[..self.len]);
        let dst_word = u32::from(dst);
        frame[offset::IP_ID..offset::IP_ID + 2].copy_from_slice(&ip_id.to_be_bytes());
        frame[offset::IP_DST..offset::IP_DST + 4].copy_from_slice(&dst.octets());
        let ip_check = finish(add_u16(add_u32(self.ip_sum, dst_word), ip_id));
        frame[offset::IP_CHECKSUM..offset::IP_CHECKSUM + 2]
            .copy_from_slice(&ip_check.to_be_bytes());

        frame[offset::TCP_SPORT..offset::TCP_SPORT + 2].copy_from_slice(&sport.to_be_bytes());
        frame[offset::TCP_DPORT..offset::TCP_DPORT + 2].copy_from_slice(&dport.to_be_bytes());
        frame[offset::TCP_SEQ..offset::TCP_SEQ + 4].copy_from_slice(&seq.to_be_bytes());
        let mut tcp_sum = self.tcp_sum;
        if self.ack_is_seq {
            frame[offset::TCP_ACK..offset::TCP_ACK + 4].copy_from_slice(&seq.to_be_bytes());
            tcp_sum = add_u32(tcp_sum, seq);
        }
        let tcp_check = finish(add_u32(
            add_u16(add_u16(add_u32(tcp_sum, dst_word), sport), dport),
            seq,
        ));
        frame[offset::TCP_CHECKSUM..offset::TCP_CHECKSUM + 2]
            .copy_from_slice(&tcp_check.to_be_bytes());
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Ipv4Header, SlicedPacket, TcpHeader, TransportSlice};

    fn link() -> LinkAddrs {
        LinkAddrs {
            src_mac: [0x02, 0, 0, 0, 0, 1],
            dst_mac: [0x02, 0, 0, 0, 0, 2],
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
        }
    }

    /// Parses a frame with etherparse, checks both checksums, and returns the headers.
    fn checked_headers(frame: &[u8]) -> (Ipv4Header, TcpHeader) {
        let packet = SlicedPacket::from_ethernet(frame).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = packet.net else {
            panic!("not IPv4")
        };
        let ip = ip.header().to_header();
        assert_eq!(ip.header_checksum, ip.calc_header_checksum(), "IP checksum");
        let Some(TransportSlice::Tcp(tcp)) = packet.transport else {
            panic!("not TCP")
        };
        let expected = tcp
            .to_header()
            .calc_checksum_ipv4(&ip, tcp.payload())
            .unwrap();
        assert_eq!(tcp.checksum(), expected, "TCP checksum");
        (ip, tcp.to_header())
    }

    #[test]
    fn syn_frame_parses_with_correct_checksums() {
        let template = TcpTemplate::new(SegmentKind::Syn, &link());
        let mut buf = [0u8; MAX_FRAME_LEN];
        for (dst, sport, dport, seq, id) in [
            (Ipv4Addr::new(198, 18, 0, 10), 40000, 22, 0xdead_beef, 1),
            (
                Ipv4Addr::new(198, 19, 255, 255),
                65535,
                65535,
                u32::MAX,
                u16::MAX,
            ),
            (Ipv4Addr::new(198, 18, 0, 0), 1, 1, 0, 0),
        ] {
            let len = template.write(&mut buf, dst, sport, dport, seq, id);
            let (ip, tcp) = checked_headers(&buf[..len]);
            assert_eq!(ip.destination, dst.octets());
            assert!(tcp.syn && !tcp.ack && !tcp.rst);
            assert_eq!(
                (tcp.source_port, tcp.destination_port, tcp.sequence_number),
                (sport, dport, seq)
            );
            assert_eq!(tcp.options.as_slice(), &[2, 4, 0x05, 0xb4]);
        }
    }

    #[test]
    fn flag_probes_are_valid_and_ack_probes_carry_the_cookie_twice() {
        for flags in [0x01u8, 0x00, 0x29, 0x10] {
            let template = TcpTemplate::new(SegmentKind::Flags(flags), &link());
            let mut buf = [0u8; MAX_FRAME_LEN];
            let len = template.write(
                &mut buf,
                Ipv4Addr::new(198, 18, 0, 14),
                41000,
                80,
                0xfeed_f00d,
                9,
            );
            assert_eq!(len, 54);
            let (_, tcp) = checked_headers(&buf[..len]);
            assert_eq!(buf[47], flags);
            assert_eq!(tcp.sequence_number, 0xfeed_f00d);
            let expected_ack = if flags & 0x10 != 0 { 0xfeed_f00d } else { 0 };
            assert_eq!(tcp.acknowledgment_number, expected_ack, "flags {flags:#x}");
        }
    }

    #[test]
    fn rst_frame_is_bare_and_valid() {
        let template = TcpTemplate::new(SegmentKind::Rst, &link());
        let mut buf = [0u8; MAX_FRAME_LEN];
        let len = template.write(
            &mut buf,
            Ipv4Addr::new(198, 18, 0, 11),
            41000,
            6379,
            0x1234_5678,
            7,
        );
        assert_eq!(len, 54);
        let (_, tcp) = checked_headers(&buf[..len]);
        assert!(tcp.rst && !tcp.syn);
    }
}
