//! Crafting the frames a target would send back to a probe (SYN+ACK, RST, UDP replies,
//! ICMP replies and errors), and
//! variations of them (VLAN tags, IP options, fragments): for the tests of both
//! classifiers and for benchmarks. The scanner itself never sends these. Each
//! function panics when handed something other than the frame it names (a test's
//! mistake, not input).

use super::wire::ethernet::{self, EthernetRepr};
use super::wire::icmp::{self, IcmpRepr};
use super::wire::ip::PseudoHeader;
use super::wire::ipv4::{self, Ipv4Repr};
use super::wire::tcp::{self, TcpRepr};
use super::wire::udp::{self, UdpRepr};
use scanner_common::wire::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use std::net::Ipv4Addr;

/// The headers of a probe the scanner built (untagged Ethernet, IPv4).
fn headers(probe: &[u8]) -> (EthernetRepr, Ipv4Repr<'_>, &[u8]) {
    let frame = ethernet::Frame::new_checked(probe).expect("an Ethernet frame");
    let ip = ipv4::Packet::new_checked(&probe[frame.header_len()..]).expect("an IPv4 packet");
    (
        EthernetRepr::parse(&frame),
        Ipv4Repr::parse(&ip),
        ip.payload_ref(),
    )
}

/// The Ethernet and IPv4 headers of the answer to a probe with these: addresses
/// swapped, `protocol` and `payload_len` bytes after.
fn answer<'a>(
    eth: &EthernetRepr,
    ip: &Ipv4Repr<'a>,
    protocol: u8,
    payload_len: usize,
) -> (EthernetRepr, Ipv4Repr<'a>) {
    let eth = EthernetRepr {
        src_addr: eth.dst_addr,
        dst_addr: eth.src_addr,
        ..*eth
    };
    let ip = Ipv4Repr {
        src_addr: ip.dst_addr,
        dst_addr: ip.src_addr,
        protocol,
        options: &[],
        payload_len,
        ..*ip
    };
    (eth, ip)
}

/// A frame of these headers around a transport message `emit` writes into its
/// `payload_len` bytes.
fn frame(eth: &EthernetRepr, ip: &Ipv4Repr, emit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let (eth_len, ip_len) = (eth.header_len(), ip.header_len());
    let mut out = vec![0u8; eth_len + ip.total_len()];
    eth.emit(&mut ethernet::Frame::new_unchecked(&mut out[..]));
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut out[eth_len..]));
    emit(&mut out[eth_len + ip_len..]);
    out
}

/// The IPv4 packet of a frame, for changing it in place.
fn ip_of(frame: &mut [u8]) -> ipv4::Packet<&mut [u8]> {
    let at = ethernet::Frame::new_unchecked(&*frame).header_len();
    ipv4::Packet::new_unchecked(&mut frame[at..])
}

/// The transport header of a frame, for changing it in place.
fn transport_of(frame: &mut [u8]) -> &mut [u8] {
    let at = ethernet::Frame::new_unchecked(&*frame).header_len();
    let header_len = ipv4::Packet::new_unchecked(&frame[at..]).header_len();
    &mut frame[at + header_len..]
}

/// The reply a target's stack would send to `probe` (a frame built from a
/// [`super::template::TcpTemplate`]): addresses and ports swapped, acknowledging the
/// probe's sequence number + 1, with TCP `flags` and sequence number `seq`.
pub fn reply_to(probe: &[u8], flags: u8, seq: u32) -> Vec<u8> {
    let (eth, ip, segment) = headers(probe);
    let probe_tcp = tcp::Packet::new_checked(segment).expect("a TCP segment");
    let reply = TcpRepr {
        src_port: probe_tcp.dst_port(),
        dst_port: probe_tcp.src_port(),
        seq_number: seq,
        ack_number: probe_tcp.seq_number().wrapping_add(1),
        flags,
        window_len: probe_tcp.window_len(),
        urgent_at: 0,
        options: &[],
        payload: &[],
    };
    let (eth, ip) = answer(&eth, &ip, IPPROTO_TCP, reply.buffer_len());
    let pseudo = PseudoHeader::V4 {
        src: ip.src_addr,
        dst: ip.dst_addr,
    };
    frame(&eth, &ip, |b| {
        reply.emit(&mut tcp::Packet::new_unchecked(b), &pseudo)
    })
}

/// Overwrites the acknowledgement number of a TCP frame.
pub fn set_ack(frame: &mut [u8], ack: u32) {
    tcp::Packet::new_unchecked(transport_of(frame)).set_ack_number(ack);
}

/// Overwrites the destination port of a TCP or UDP frame.
pub fn set_dst_port(frame: &mut [u8], port: u16) {
    if ip_of(frame).protocol() == IPPROTO_UDP {
        udp::Packet::new_unchecked(transport_of(frame)).set_dst_port(port);
    } else {
        tcp::Packet::new_unchecked(transport_of(frame)).set_dst_port(port);
    }
}

/// Overwrites the destination address of an IPv4 frame.
pub fn set_dst_addr(frame: &mut [u8], addr: [u8; 4]) {
    ip_of(frame).set_dst_addr(Ipv4Addr::from(addr));
}

/// Sets the IPv4 flags/fragment-offset field.
pub fn set_fragment(frame: &mut [u8], flags_and_offset: u16) {
    ip_of(frame).set_flags_and_offset(flags_and_offset);
}

/// The frame with an 802.1Q tag (VLAN `vid`) after the MAC addresses.
pub fn with_vlan_tag(frame: &[u8], vid: u16) -> Vec<u8> {
    let untagged = ethernet::Frame::new_checked(frame).expect("an Ethernet frame");
    let tagged = EthernetRepr {
        vlan_id: Some(vid),
        ..EthernetRepr::parse(&untagged)
    };
    let mut out = vec![0u8; tagged.header_len()];
    tagged.emit(&mut ethernet::Frame::new_unchecked(&mut out[..]));
    out.extend_from_slice(untagged.payload());
    out
}

/// The frame with four bytes of IPv4 options (NOPs) in its IP header.
pub fn with_ip_options(frame: &[u8]) -> Vec<u8> {
    let eth_len = ethernet::Frame::new_checked(frame)
        .expect("an Ethernet frame")
        .header_len();
    let plain = ipv4::Packet::new_checked(&frame[eth_len..]).expect("an IPv4 packet");
    let ip = Ipv4Repr {
        options: &[1, 1, 1, 1],
        ..Ipv4Repr::parse(&plain)
    };
    let mut out = frame[..eth_len].to_vec();
    out.resize(eth_len + ip.header_len(), 0);
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut out[eth_len..]));
    out.extend_from_slice(&frame[eth_len + plain.header_len()..]);
    out
}

/// The frame followed by `padding` bytes of `fill` after the IP packet, as an
/// Ethernet driver pads a short frame (to 60 bytes, or more on some links).
pub fn with_padding(frame: &[u8], padding: usize, fill: u8) -> Vec<u8> {
    let mut out = frame.to_vec();
    out.resize(frame.len() + padding, fill);
    out
}

/// Overwrites the IPv4 total length of a frame (the header checksum is not updated:
/// neither classifier reads it).
pub fn set_total_len(frame: &mut [u8], total: u16) {
    ip_of(frame).set_total_len(total);
}

/// The datagram a UDP service sends back to a UDP `probe` (built by
/// [`super::build::udp_probe`]), carrying `payload`.
pub fn udp_reply_to(probe: &[u8], payload: &[u8]) -> Vec<u8> {
    let (eth, ip, datagram) = headers(probe);
    let probe_udp = udp::Packet::new_checked(datagram).expect("a UDP datagram");
    let reply = UdpRepr {
        src_port: probe_udp.dst_port(),
        dst_port: probe_udp.src_port(),
        payload,
    };
    let (eth, ip) = answer(&eth, &ip, IPPROTO_UDP, reply.buffer_len());
    let pseudo = PseudoHeader::V4 {
        src: ip.src_addr,
        dst: ip.dst_addr,
    };
    frame(&eth, &ip, |b| {
        reply.emit(&mut udp::Packet::new_unchecked(b), &pseudo)
    })
}

/// The reply a host sends to an ICMP query `probe` (built by
/// [`super::build::icmp_query`]): addresses swapped, type `reply_type`.
pub fn icmp_reply_to(probe: &[u8], reply_type: u8) -> Vec<u8> {
    let (eth, ip, message) = headers(probe);
    let query = icmp::Packet::new_checked(message).expect("an ICMP message");
    let reply = IcmpRepr {
        msg_type: reply_type,
        ..IcmpRepr::parse(&query)
    };
    let (eth, ip) = answer(&eth, &ip, IPPROTO_ICMP, reply.buffer_len());
    frame(&eth, &ip, |b| {
        reply.emit(&mut icmp::Packet::new_unchecked(b))
    })
}

/// An ICMP error of `icmp_type`/`code` from `from` about `probe`, quoting its IP
/// header and the first `quoted` bytes after it, as a router or the target sends it.
pub fn icmp_error_about(
    probe: &[u8],
    icmp_type: u8,
    code: u8,
    from: [u8; 4],
    quoted: usize,
) -> Vec<u8> {
    let (eth, ip, _) = headers(probe);
    let eth_len = eth.header_len();
    let quote_end = (eth_len + ip.header_len() + quoted).min(probe.len());
    let error = IcmpRepr {
        msg_type: icmp_type,
        code,
        ident: 0,
        seq_no: 0,
        payload: &probe[eth_len..quote_end],
    };
    let (eth, mut ip) = answer(&eth, &ip, IPPROTO_ICMP, error.buffer_len());
    ip.src_addr = Ipv4Addr::from(from);
    frame(&eth, &ip, |b| {
        error.emit(&mut icmp::Packet::new_unchecked(b))
    })
}

/// A TCP segment from `src:sport` to `dst:dport` with `flags`, `window`, `ttl` and the
/// raw option bytes `options` (padded to a multiple of four), IP ID 0, no DF: a stack's
/// answer with the fields a test of fingerprints sets.
#[allow(clippy::too_many_arguments)]
pub fn tcp_segment(
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    flags: u8,
    window: u16,
    ttl: u8,
    options: &[u8],
) -> Vec<u8> {
    let segment = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq_number: 0x1234_5678,
        ack_number: 0x0bad_cafe,
        flags,
        window_len: window,
        urgent_at: 0,
        options,
        payload: &[],
    };
    let eth = EthernetRepr {
        src_addr: [2, 0, 0, 0, 0, 2],
        dst_addr: [2, 0, 0, 0, 0, 1],
        vlan_id: None,
        ethertype: scanner_common::wire::ETHERTYPE_IPV4,
    };
    let ip = Ipv4Repr::new(src, dst, IPPROTO_TCP, ttl, 0, segment.buffer_len());
    let pseudo = PseudoHeader::V4 { src, dst };
    frame(&eth, &ip, |b| {
        segment.emit(&mut tcp::Packet::new_unchecked(b), &pseudo)
    })
}

/// Captured in the lab (tcpdump -xx in lab-scanner): 198.18.0.10:22 answering a SYN
/// (MSS 1460) from 198.18.0.1:36616 with SYN+ACK, MSS 1460 and no other option, DF,
/// IP ID 0.
pub const LAB_SYN_ACK: [u8; 58] = [
    0xd2, 0x51, 0xcd, 0xe2, 0x5d, 0x7a, 0xf2, 0xc1, 0x56, 0x48, 0x3d, 0xec, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x2c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xae, 0x9c, 0xc6, 0x12, 0x00, 0x0a, 0xc6, 0x12,
    0x00, 0x01, 0x00, 0x16, 0x8f, 0x08, 0x5f, 0xda, 0x0d, 0x01, 0x36, 0x72, 0x5f, 0xdf, 0x60, 0x12,
    0xfa, 0xf0, 0x7e, 0xaa, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
];
