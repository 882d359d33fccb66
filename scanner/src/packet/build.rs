//! Frames built field by field, for the probes that are not on a sweep's hot path:
//! UDP probes with their payloads, ICMP echo, timestamp and address-mask requests
//! (host discovery), and ARP frames. TCP probes use the patched templates in [`super::template`].
//!
//! Each function writes one complete Ethernet + IPv4 frame into `buf` and returns its
//! length; `buf` must hold it (see [`crate::io::MAX_PROBE_FRAME_LEN`]).

use super::template::LinkAddrs;
use super::wire::arp::{self, ArpRepr};
use super::wire::ethernet::{self, EthernetRepr};
use super::wire::icmp::{self, IcmpRepr};
use super::wire::ip::PseudoHeader;
use super::wire::ipv4::{self, Ipv4Repr};
use super::wire::udp::{self, UdpRepr};
use super::{ETHERTYPE_IPV4, ETH_LEN, IPV4_LEN};
use scanner_common::wire::{ARP_OPER_REQUEST, ETHERTYPE_ARP, IPPROTO_ICMP, IPPROTO_UDP};
use std::net::Ipv4Addr;

const IP_TTL: u8 = 64;
/// Where the transport header starts in the frames built here.
const TRANSPORT: usize = ETH_LEN + IPV4_LEN;

/// Writes Ethernet and IPv4 headers for a `payload_len`-byte payload of `protocol`
/// and returns the frame's length.
fn write_ipv4(
    buf: &mut [u8],
    link: &LinkAddrs,
    dst: Ipv4Addr,
    protocol: u8,
    ip_id: u16,
    payload_len: usize,
) -> usize {
    EthernetRepr {
        src_addr: link.src_mac,
        dst_addr: link.dst_mac,
        vlan_id: None,
        ethertype: ETHERTYPE_IPV4,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut buf[..ETH_LEN]));
    Ipv4Repr::new(link.src_ip, dst, protocol, IP_TTL, ip_id, payload_len).emit(
        &mut ipv4::Packet::new_unchecked(&mut buf[ETH_LEN..TRANSPORT]),
    );
    TRANSPORT + payload_len
}

/// A UDP datagram from `sport` to `dst:dport` carrying `payload`.
pub fn udp_probe(
    buf: &mut [u8],
    link: &LinkAddrs,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
    ip_id: u16,
) -> usize {
    let udp = UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload,
    };
    let len = udp.buffer_len();
    let pseudo = PseudoHeader::V4 {
        src: link.src_ip,
        dst,
    };
    udp.emit(
        &mut udp::Packet::new_unchecked(&mut buf[TRANSPORT..TRANSPORT + len]),
        &pseudo,
    );
    write_ipv4(buf, link, dst, IPPROTO_UDP, ip_id, len)
}

/// An ICMP echo, timestamp or address-mask request of `request_type` carrying
/// `id` and `seq` (which replies echo).
pub fn icmp_query(
    buf: &mut [u8],
    link: &LinkAddrs,
    dst: Ipv4Addr,
    request_type: u8,
    id: u16,
    seq: u16,
    ip_id: u16,
) -> usize {
    // Timestamp requests carry three 32-bit timestamps, mask requests one mask: zeros.
    let body = [0u8; 12];
    let icmp = IcmpRepr {
        msg_type: request_type,
        code: 0,
        ident: id,
        seq_no: seq,
        payload: &body[..icmp::query_body_len(request_type)],
    };
    let len = icmp.buffer_len();
    icmp.emit(&mut icmp::Packet::new_unchecked(
        &mut buf[TRANSPORT..TRANSPORT + len],
    ));
    write_ipv4(buf, link, dst, IPPROTO_ICMP, ip_id, len)
}

/// An Ethernet frame holding one ARP packet.
pub const ARP_FRAME_LEN: usize = ETH_LEN + arp::PACKET_LEN;

/// The Ethernet frame of `packet`, from its sender's MAC to `dst_mac`.
/// An ARP who-has request for `target` from `src_mac`/`src_ip`, in a frame to `dst_mac`.
pub fn arp_request(
    src_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_mac: [u8; 6],
    target: Ipv4Addr,
) -> [u8; ARP_FRAME_LEN] {
    let request = ArpRepr {
        operation: ARP_OPER_REQUEST,
        sender_mac: src_mac,
        sender_ip: src_ip,
        target_mac: [0; 6],
        target_ip: target,
    };
    arp_frame(&request, dst_mac)
}

pub fn arp_frame(packet: &ArpRepr, dst_mac: [u8; 6]) -> [u8; ARP_FRAME_LEN] {
    let mut frame = [0u8; ARP_FRAME_LEN];
    EthernetRepr {
        src_addr: packet.sender_mac,
        dst_addr: dst_mac,
        vlan_id: None,
        ethertype: ETHERTYPE_ARP,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]));
    packet.emit(&mut arp::Packet::new_unchecked(&mut frame[ETH_LEN..]));
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::checksum::{add_bytes, finish};
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use scanner_common::wire::{
        ICMP_ADDRESS_MASK_REQUEST, ICMP_ECHO_REQUEST, ICMP_TIMESTAMP_REQUEST,
    };

    const LINK: LinkAddrs = LinkAddrs {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_ip: Ipv4Addr::new(198, 18, 0, 1),
    };
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 12);

    #[test]
    fn udp_probe_is_a_valid_datagram() {
        let mut buf = [0u8; 512];
        let len = udp_probe(&mut buf, &LINK, DST, 40000, 53, b"hello", 7);
        let packet = SlicedPacket::from_ethernet(&buf[..len]).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &packet.net else {
            panic!("not IPv4")
        };
        assert_eq!(ip.header().destination_addr(), DST);
        let Some(TransportSlice::Udp(udp)) = &packet.transport else {
            panic!("not UDP")
        };
        assert_eq!((udp.source_port(), udp.destination_port()), (40000, 53));
        assert_eq!(udp.payload(), b"hello");
        let expected = udp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), udp.payload())
            .unwrap();
        assert_eq!(udp.checksum(), expected);
        let header = &buf[ETH_LEN..TRANSPORT];
        assert_eq!(finish(add_bytes(0, header)), 0, "IP header checksum");
    }

    #[test]
    fn icmp_queries_have_valid_checksums_and_sizes() {
        for (kind, len) in [
            (ICMP_ECHO_REQUEST, 8),
            (ICMP_TIMESTAMP_REQUEST, 20),
            (ICMP_ADDRESS_MASK_REQUEST, 12),
        ] {
            let mut buf = [0xaau8; 512];
            let total = icmp_query(&mut buf, &LINK, DST, kind, 0x1234, 0x5678, 9);
            assert_eq!(total, TRANSPORT + len);
            // RFC 792's layout, written out here rather than read through the view.
            let icmp = &buf[TRANSPORT..total];
            assert_eq!(icmp[0], kind);
            assert_eq!(&icmp[4..8], &[0x12, 0x34, 0x56, 0x78]);
            assert_eq!(
                finish(add_bytes(0, icmp)),
                0,
                "ICMP checksum of type {kind}"
            );
        }
    }
}
