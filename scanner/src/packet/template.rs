//! Prebuilt TCP frames (Ethernet + IPv4 + TCP) patched per probe.
//!
//! Building every frame from scratch halves the send rate (NOTES.md), so a template
//! holds the finished frame and the checksum sums of its constant fields; writing a
//! probe copies the bytes and patches destination, ports, sequence number, IP id and
//! the two checksums. One template serves SYN probes, another the RSTs that close
//! half-open connections.

use super::checksum::{add_bytes, add_u16, add_u32, finish};
use super::wire::ethernet::{self, EthernetRepr};
use super::wire::ip::PseudoHeader;
use super::wire::ipv4::{self, Ipv4Repr};
use super::wire::tcp::{self, TcpRepr, OPT_MSS, OPT_NOP};
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
    /// SYN with an MSS option, as nmap's SYN scan sends it.
    Syn,
    /// SYN with a client's whole option set, as Linux sends it (MSS, SACK permitted,
    /// timestamps, window scale): the SYN+ACK then shows every option its stack has
    /// and their order, which its passive fingerprint reads (`--synack-signatures`).
    SynClientOptions,
    /// Bare RST, to tear down a half-open connection after a SYN+ACK.
    Rst,
    /// Any other flags (FIN, NULL, Xmas, ACK scans, `--scanflags`), no options. With
    /// the ACK flag the acknowledgement number carries the cookie too, since a reset
    /// in reply copies it into its sequence number.
    Flags(u8),
}

const IP_TTL: u8 = 64;
const SYN_WINDOW: u16 = 1024;
/// The MSS option of SYN probes (a real stack's first segment carries one).
pub const SYN_MSS: u16 = 1460;

/// Where the TCP header starts in a template's frame.
const TCP: usize = ETH_LEN + IPV4_LEN;

/// The fields `write` patches, at their places in the frame: the views' field ranges,
/// shifted, so that patching costs what it did with hand-written offsets.
mod at {
    use super::{ETH_LEN, TCP};
    use crate::packet::wire::{ipv4, tcp, Field};

    const fn shifted(field: Field, by: usize) -> Field {
        field.start + by..field.end + by
    }

    pub const IP_IDENT: Field = shifted(ipv4::field::IDENT, ETH_LEN);
    pub const IP_CHECKSUM: Field = shifted(ipv4::field::CHECKSUM, ETH_LEN);
    pub const IP_DST: Field = shifted(ipv4::field::DST_ADDR, ETH_LEN);
    pub const TCP_SRC_PORT: Field = shifted(tcp::field::SRC_PORT, TCP);
    pub const TCP_DST_PORT: Field = shifted(tcp::field::DST_PORT, TCP);
    pub const TCP_SEQ: Field = shifted(tcp::field::SEQ_NUM, TCP);
    pub const TCP_ACK: Field = shifted(tcp::field::ACK_NUM, TCP);
    pub const TCP_CHECKSUM: Field = shifted(tcp::field::CHECKSUM, TCP);
}

/// The options of [`SegmentKind::SynClientOptions`], in Linux's order: MSS 1460, SACK
/// permitted, timestamps (value 1, echo 0), NOP, window scale 7.
const CLIENT_OPTIONS: [u8; 20] = [
    OPT_MSS, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, OPT_NOP, 3, 3, 7,
];

/// The largest frame a template writes.
pub const MAX_FRAME_LEN: usize = ETH_LEN + IPV4_LEN + 20 + CLIENT_OPTIONS.len();

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
        let mss = SYN_MSS.to_be_bytes();
        let mss_option = [OPT_MSS, 4, mss[0], mss[1]];
        let options: &[u8] = match kind {
            SegmentKind::Syn => &mss_option,
            SegmentKind::SynClientOptions => &CLIENT_OPTIONS,
            SegmentKind::Rst | SegmentKind::Flags(_) => &[],
        };
        let (flags, window_len) = match kind {
            SegmentKind::Syn | SegmentKind::SynClientOptions => (TCP_FLAG_SYN, SYN_WINDOW),
            SegmentKind::Rst => (TCP_FLAG_RST, 0),
            SegmentKind::Flags(flags) => (flags, SYN_WINDOW),
        };
        let ack_is_seq = matches!(kind, SegmentKind::Flags(f) if f & TCP_FLAG_ACK != 0);
        // Destination, ports, sequence, IP id and checksums are zero here: `write`
        // patches them in, adding them to the sums of everything else.
        let segment = TcpRepr {
            src_port: 0,
            dst_port: 0,
            seq_number: 0,
            ack_number: 0,
            flags,
            window_len,
            urgent_at: 0,
            options,
            payload: &[],
        };
        let tcp_len = segment.header_len();
        let len = TCP + tcp_len;
        let mut frame = [0u8; MAX_FRAME_LEN];
        EthernetRepr {
            src_addr: link.src_mac,
            dst_addr: link.dst_mac,
            vlan_id: None,
            ethertype: ETHERTYPE_IPV4,
        }
        .emit(&mut ethernet::Frame::new_unchecked(&mut frame[..ETH_LEN]));
        let unspecified = Ipv4Addr::UNSPECIFIED;
        let mut ip = ipv4::Packet::new_unchecked(&mut frame[ETH_LEN..TCP]);
        Ipv4Repr::new(link.src_ip, unspecified, IPPROTO_TCP, IP_TTL, 0, tcp_len).emit(&mut ip);
        ip.set_checksum(0);
        let pseudo = PseudoHeader::V4 {
            src: link.src_ip,
            dst: unspecified,
        };
        let mut tcp = tcp::Packet::new_unchecked(&mut frame[TCP..len]);
        segment.emit(&mut tcp, &pseudo);
        tcp.set_checksum(0);

        let ip_sum = add_bytes(0, &frame[ETH_LEN..TCP]);
        let tcp_sum = add_bytes(pseudo.sum(IPPROTO_TCP, tcp_len), &frame[TCP..len]);
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
        frame[at::IP_IDENT].copy_from_slice(&ip_id.to_be_bytes());
        frame[at::IP_DST].copy_from_slice(&dst.octets());
        let ip_check = finish(add_u16(add_u32(self.ip_sum, dst_word), ip_id));
        frame[at::IP_CHECKSUM].copy_from_slice(&ip_check.to_be_bytes());

        frame[at::TCP_SRC_PORT].copy_from_slice(&sport.to_be_bytes());
        frame[at::TCP_DST_PORT].copy_from_slice(&dport.to_be_bytes());
        frame[at::TCP_SEQ].copy_from_slice(&seq.to_be_bytes());
        let mut tcp_sum = self.tcp_sum;
        if self.ack_is_seq {
            frame[at::TCP_ACK].copy_from_slice(&seq.to_be_bytes());
            tcp_sum = add_u32(tcp_sum, seq);
        }
        let tcp_check = finish(add_u32(
            add_u16(add_u16(add_u32(tcp_sum, dst_word), sport), dport),
            seq,
        ));
        frame[at::TCP_CHECKSUM].copy_from_slice(&tcp_check.to_be_bytes());
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
            let (_, segment) = checked_headers(&buf[..len]);
            let view = tcp::Packet::new_checked(&buf[TCP..len]).unwrap();
            assert_eq!(view.flags(), flags);
            assert_eq!(segment.sequence_number, 0xfeed_f00d);
            let expected_ack = if flags & 0x10 != 0 { 0xfeed_f00d } else { 0 };
            assert_eq!(
                segment.acknowledgment_number, expected_ack,
                "flags {flags:#x}"
            );
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
