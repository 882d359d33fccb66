//! Frames built field by field, for the probes that are not on a sweep's hot path:
//! UDP probes with their payloads, and ICMP echo, timestamp and address-mask requests
//! (host discovery). TCP probes use the patched templates in [`super::template`].
//!
//! Each function writes one complete Ethernet + IPv4 frame into `buf` and returns its
//! length; `buf` must hold it (see [`crate::io::MAX_PROBE_FRAME_LEN`]).

use super::checksum::{add_bytes, add_u16, finish};
use super::template::LinkAddrs;
use super::{ETHERTYPE_IPV4, ETH_LEN, IPV4_LEN};
use scanner_common::wire::{
    ICMP_ADDRESS_MASK_REQUEST, ICMP_HEADER_LEN, ICMP_TIMESTAMP_REQUEST, IPPROTO_ICMP, IPPROTO_UDP,
    UDP_HEADER_LEN,
};
use std::net::Ipv4Addr;

const IP_TTL: u8 = 64;

/// Writes Ethernet and IPv4 headers for a `payload_len`-byte payload of `protocol`.
fn write_ipv4(
    buf: &mut [u8],
    link: &LinkAddrs,
    dst: Ipv4Addr,
    protocol: u8,
    ip_id: u16,
    payload_len: usize,
) -> usize {
    buf[0..6].copy_from_slice(&link.dst_mac);
    buf[6..12].copy_from_slice(&link.src_mac);
    buf[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let ip = &mut buf[ETH_LEN..ETH_LEN + IPV4_LEN];
    ip.fill(0);
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((IPV4_LEN + payload_len) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[8] = IP_TTL;
    ip[9] = protocol;
    ip[12..16].copy_from_slice(&link.src_ip.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let checksum = finish(add_bytes(0, ip));
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    ETH_LEN + IPV4_LEN + payload_len
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
    let udp_len = UDP_HEADER_LEN + payload.len();
    let at = ETH_LEN + IPV4_LEN;
    let udp = &mut buf[at..at + udp_len];
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&dport.to_be_bytes());
    udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    udp[6..8].fill(0);
    udp[8..].copy_from_slice(payload);
    let pseudo = add_u16(
        add_u16(
            add_bytes(add_bytes(0, &link.src_ip.octets()), &dst.octets()),
            u16::from(IPPROTO_UDP),
        ),
        udp_len as u16,
    );
    // A computed zero is sent as all ones (zero means "no checksum").
    let checksum = match finish(add_bytes(pseudo, udp)) {
        0 => 0xffff,
        sum => sum,
    };
    udp[6..8].copy_from_slice(&checksum.to_be_bytes());
    write_ipv4(buf, link, dst, IPPROTO_UDP, ip_id, udp_len)
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
    // Timestamp requests carry three 32-bit timestamps, mask requests one mask.
    let body = match request_type {
        ICMP_TIMESTAMP_REQUEST => 12,
        ICMP_ADDRESS_MASK_REQUEST => 4,
        _ => 0,
    };
    let len = ICMP_HEADER_LEN + body;
    let at = ETH_LEN + IPV4_LEN;
    let icmp = &mut buf[at..at + len];
    icmp.fill(0);
    icmp[0] = request_type;
    icmp[4..6].copy_from_slice(&id.to_be_bytes());
    icmp[6..8].copy_from_slice(&seq.to_be_bytes());
    let checksum = finish(add_bytes(0, icmp));
    icmp[2..4].copy_from_slice(&checksum.to_be_bytes());
    write_ipv4(buf, link, dst, IPPROTO_ICMP, ip_id, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use scanner_common::wire::ICMP_ECHO_REQUEST;

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
        assert_eq!(finish(add_bytes(0, &buf[14..34])), 0, "IP header checksum");
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
            assert_eq!(total, 34 + len);
            let icmp = &buf[34..total];
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
