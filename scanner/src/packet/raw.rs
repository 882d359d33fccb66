//! Packets a script crafts and packets it receives: IPv4 with options, TCP with
//! options, UDP, ICMP and ARP built from their fields (checksums filled in), and any
//! such frame or packet taken apart again into its fields ([`dissect`]).
//!
//! This is the raw-packet scripts' toolbox (`rawpacket` in the script API); the scan's
//! own probes use the faster templates in [`super::template`] and [`super::build`].
//! Parsing never trusts a length field: whatever does not fit is left out and the
//! packet is marked truncated.

use super::checksum::{add_bytes, add_u16, finish};
use super::{be16, be32, ETHERTYPE_IPV4, ETH_LEN, IPV4_LEN};
use scanner_common::wire::{
    ARP_OPER_REQUEST, ARP_PACKET_LEN, ETHERTYPE_ARP, ICMP_DEST_UNREACHABLE, ICMP_HEADER_LEN,
    ICMP_TIME_EXCEEDED, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, TCP_MIN_HEADER_LEN, UDP_HEADER_LEN,
};
use std::net::Ipv4Addr;

/// The IPv4 header of a crafted packet.
#[derive(Clone, Debug)]
pub struct IpSpec {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub id: u16,
    pub tos: u8,
    pub dont_fragment: bool,
    /// Raw option bytes (padded to a multiple of four with end-of-list).
    pub options: Vec<u8>,
}

/// The most option bytes an IPv4 header holds.
pub const MAX_IP_OPTIONS: usize = 40;

/// An IPv4 packet of `spec` around `payload`; `None` when the options are too long.
pub fn ipv4(spec: &IpSpec, payload: &[u8]) -> Option<Vec<u8>> {
    let mut options = spec.options.clone();
    if options.len() > MAX_IP_OPTIONS {
        return None;
    }
    options.resize(options.len().div_ceil(4) * 4, 0);
    let header_len = IPV4_LEN + options.len();
    let total = header_len + payload.len();
    let total_len = u16::try_from(total).ok()?;
    let mut packet = vec![0u8; header_len];
    packet[0] = 0x40 | (header_len / 4) as u8;
    packet[1] = spec.tos;
    packet[2..4].copy_from_slice(&total_len.to_be_bytes());
    packet[4..6].copy_from_slice(&spec.id.to_be_bytes());
    if spec.dont_fragment {
        packet[6] = 0x40;
    }
    packet[8] = spec.ttl;
    packet[9] = spec.protocol;
    packet[12..16].copy_from_slice(&spec.src.octets());
    packet[16..20].copy_from_slice(&spec.dst.octets());
    packet[IPV4_LEN..].copy_from_slice(&options);
    let checksum = finish(add_bytes(0, &packet));
    packet[10..12].copy_from_slice(&checksum.to_be_bytes());
    packet.extend_from_slice(payload);
    Some(packet)
}

/// The checksum of a TCP or UDP `segment` over the pseudo-header of `src` → `dst`.
fn transport_checksum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    let mut sum = add_bytes(0, &src.octets());
    sum = add_bytes(sum, &dst.octets());
    sum = add_u16(sum, u16::from(protocol));
    sum = add_u16(sum, segment.len() as u16);
    finish(add_bytes(sum, segment))
}

/// The TCP header of a crafted segment.
#[derive(Clone, Debug, Default)]
pub struct TcpSpec {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// The flags byte (FIN 0x01 … URG 0x20; ECE 0x40, CWR 0x80).
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    /// Raw option bytes (padded to a multiple of four with end-of-list).
    pub options: Vec<u8>,
}

/// The most option bytes a TCP header holds.
pub const MAX_TCP_OPTIONS: usize = 40;

/// A TCP segment from `src` to `dst`, checksummed; `None` when the options are too long.
pub fn tcp_segment(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    spec: &TcpSpec,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let mut options = spec.options.clone();
    if options.len() > MAX_TCP_OPTIONS {
        return None;
    }
    options.resize(options.len().div_ceil(4) * 4, 0);
    let header_len = TCP_MIN_HEADER_LEN + options.len();
    let mut segment = vec![0u8; header_len];
    segment[0..2].copy_from_slice(&spec.sport.to_be_bytes());
    segment[2..4].copy_from_slice(&spec.dport.to_be_bytes());
    segment[4..8].copy_from_slice(&spec.seq.to_be_bytes());
    segment[8..12].copy_from_slice(&spec.ack.to_be_bytes());
    segment[12] = ((header_len / 4) as u8) << 4;
    segment[13] = spec.flags;
    segment[14..16].copy_from_slice(&spec.window.to_be_bytes());
    segment[18..20].copy_from_slice(&spec.urgent.to_be_bytes());
    segment[TCP_MIN_HEADER_LEN..].copy_from_slice(&options);
    segment.extend_from_slice(payload);
    let checksum = transport_checksum(src, dst, IPPROTO_TCP, &segment);
    segment[16..18].copy_from_slice(&checksum.to_be_bytes());
    Some(segment)
}

/// A UDP datagram from `src:sport` to `dst:dport`, checksummed.
pub fn udp_datagram(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut datagram = vec![0u8; UDP_HEADER_LEN];
    datagram[0..2].copy_from_slice(&sport.to_be_bytes());
    datagram[2..4].copy_from_slice(&dport.to_be_bytes());
    datagram[4..6].copy_from_slice(&((UDP_HEADER_LEN + payload.len()) as u16).to_be_bytes());
    datagram.extend_from_slice(payload);
    let checksum = match transport_checksum(src, dst, IPPROTO_UDP, &datagram) {
        0 => 0xffff,
        sum => sum,
    };
    datagram[6..8].copy_from_slice(&checksum.to_be_bytes());
    datagram
}

/// An ICMP message (echo request: type 8) with identifier and sequence number.
pub fn icmp_message(icmp_type: u8, code: u8, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut message = vec![icmp_type, code, 0, 0];
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(payload);
    let checksum = finish(add_bytes(0, &message));
    message[2..4].copy_from_slice(&checksum.to_be_bytes());
    message
}

/// An Ethernet frame of `ethertype` from `src_mac` to `dst_mac` around `payload`.
pub fn ethernet(dst_mac: [u8; 6], src_mac: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(ETH_LEN + payload.len());
    frame.extend_from_slice(&dst_mac);
    frame.extend_from_slice(&src_mac);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An ARP request for `target` from `src_mac`/`src_ip`, in a frame to `dst_mac`
/// (broadcast, or a bogus address a promiscuous host would still take in).
pub fn arp_request(
    src_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_mac: [u8; 6],
    target: Ipv4Addr,
) -> Vec<u8> {
    let mut arp = Vec::with_capacity(ARP_PACKET_LEN);
    arp.extend_from_slice(&1u16.to_be_bytes());
    arp.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    arp.extend_from_slice(&[6, 4]);
    arp.extend_from_slice(&ARP_OPER_REQUEST.to_be_bytes());
    arp.extend_from_slice(&src_mac);
    arp.extend_from_slice(&src_ip.octets());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&target.octets());
    ethernet(dst_mac, src_mac, ETHERTYPE_ARP, &arp)
}

/// A dissected IPv4 header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpFields {
    pub header_len: usize,
    pub tos: u8,
    pub total_len: u16,
    pub id: u16,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    pub fragment_offset: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub options: Vec<u8>,
}

/// One TCP option: its kind and the bytes after the kind and length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpOption {
    pub kind: u8,
    pub data: Vec<u8>,
}

/// A dissected TCP header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpFields {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub header_len: usize,
    /// The four reserved bits and the NS bit (p0f's "0+" quirk when non-zero).
    pub reserved: u8,
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    /// Options in order, up to end-of-list.
    pub options: Vec<TcpOption>,
    /// Non-zero bytes after end-of-list (p0f's "opt+").
    pub trailing_after_eol: bool,
    /// An option whose length runs past the header (p0f's "bad").
    pub options_malformed: bool,
    pub payload_len: usize,
}

/// What is after the IP header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp(TcpFields),
    Udp {
        sport: u16,
        dport: u16,
        len: u16,
    },
    Icmp {
        icmp_type: u8,
        code: u8,
        /// Bytes 4..8: identifier and sequence of queries, unused or MTU of errors.
        id: u16,
        seq: u16,
        /// The packet an error quotes, dissected.
        quoted: Option<Box<Dissected>>,
    },
    Other,
}

/// A dissected ARP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpFields {
    pub oper: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

/// A frame or IP packet taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dissected {
    /// The Ethernet addresses, for a frame.
    pub ethernet: Option<([u8; 6], [u8; 6])>,
    pub ip: Option<IpFields>,
    pub transport: Option<Transport>,
    pub arp: Option<ArpFields>,
    /// Something was cut short.
    pub truncated: bool,
}

fn addr(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

fn mac(b: &[u8], at: usize) -> [u8; 6] {
    b[at..at + 6].try_into().expect("six bytes")
}

/// Takes an Ethernet frame apart (`is_frame`), or an IP packet.
pub fn dissect(bytes: &[u8], is_frame: bool) -> Dissected {
    let mut out = Dissected {
        ethernet: None,
        ip: None,
        transport: None,
        arp: None,
        truncated: false,
    };
    let packet = if is_frame {
        if bytes.len() < ETH_LEN {
            out.truncated = true;
            return out;
        }
        out.ethernet = Some((mac(bytes, 0), mac(bytes, 6)));
        let ethertype = be16(bytes, 12);
        let rest = &bytes[ETH_LEN..];
        if ethertype == ETHERTYPE_ARP {
            if rest.len() < ARP_PACKET_LEN {
                out.truncated = true;
            } else {
                out.arp = Some(ArpFields {
                    oper: be16(rest, 6),
                    sender_mac: mac(rest, 8),
                    sender_ip: addr(rest, 14),
                    target_mac: mac(rest, 18),
                    target_ip: addr(rest, 24),
                });
            }
            return out;
        }
        if ethertype != ETHERTYPE_IPV4 {
            return out;
        }
        rest
    } else {
        bytes
    };
    dissect_ip(packet, &mut out);
    out
}

fn dissect_ip(packet: &[u8], out: &mut Dissected) {
    if packet.len() < IPV4_LEN || packet[0] >> 4 != 4 {
        out.truncated = packet.len() < IPV4_LEN;
        return;
    }
    let header_len = usize::from(packet[0] & 0x0f) * 4;
    if header_len < IPV4_LEN || header_len > packet.len() {
        out.truncated = true;
        return;
    }
    let frag = be16(packet, 6);
    let ip = IpFields {
        header_len,
        tos: packet[1],
        total_len: be16(packet, 2),
        id: be16(packet, 4),
        dont_fragment: frag & 0x4000 != 0,
        more_fragments: frag & 0x2000 != 0,
        fragment_offset: frag & 0x1fff,
        ttl: packet[8],
        protocol: packet[9],
        src: addr(packet, 12),
        dst: addr(packet, 16),
        options: packet[IPV4_LEN..header_len].to_vec(),
    };
    // The payload ends where the total length says: what follows is Ethernet padding.
    // A total length past the bytes there are (a quoted packet's, or a lie) or inside
    // the header is marked truncated, and only the bytes there are are read.
    let total_len = usize::from(ip.total_len);
    if total_len < header_len || total_len > packet.len() {
        out.truncated = true;
    }
    let end = total_len.clamp(header_len, packet.len());
    let payload = &packet[header_len..end];
    out.transport = Some(match ip.protocol {
        IPPROTO_TCP => match dissect_tcp(payload) {
            Some(tcp) => Transport::Tcp(tcp),
            None => {
                out.truncated = true;
                Transport::Other
            }
        },
        IPPROTO_UDP if payload.len() >= UDP_HEADER_LEN => Transport::Udp {
            sport: be16(payload, 0),
            dport: be16(payload, 2),
            len: be16(payload, 4),
        },
        IPPROTO_ICMP if payload.len() >= ICMP_HEADER_LEN => {
            let icmp_type = payload[0];
            let quoted = (icmp_type == ICMP_DEST_UNREACHABLE || icmp_type == ICMP_TIME_EXCEEDED)
                .then(|| Box::new(dissect(&payload[ICMP_HEADER_LEN..], false)));
            Transport::Icmp {
                icmp_type,
                code: payload[1],
                id: be16(payload, 4),
                seq: be16(payload, 6),
                quoted,
            }
        }
        IPPROTO_UDP | IPPROTO_ICMP => {
            // A quoted packet carries only the first eight bytes of its transport
            // header: as much as there is is still read.
            out.truncated = true;
            Transport::Other
        }
        _ => Transport::Other,
    });
    out.ip = Some(ip);
}

fn dissect_tcp(segment: &[u8]) -> Option<TcpFields> {
    if segment.len() < 8 {
        return None;
    }
    let full = segment.len() >= TCP_MIN_HEADER_LEN;
    let header_len = if full {
        usize::from(segment[12] >> 4) * 4
    } else {
        segment.len()
    };
    let mut tcp = TcpFields {
        sport: be16(segment, 0),
        dport: be16(segment, 2),
        seq: be32(segment, 4),
        ack: 0,
        header_len,
        reserved: 0,
        flags: 0,
        window: 0,
        urgent: 0,
        options: Vec::new(),
        trailing_after_eol: false,
        options_malformed: false,
        payload_len: 0,
    };
    if !full {
        return Some(tcp);
    }
    tcp.ack = be32(segment, 8);
    tcp.reserved = segment[12] & 0x0f;
    tcp.flags = segment[13];
    tcp.window = be16(segment, 14);
    tcp.urgent = be16(segment, 18);
    let header_end = header_len.clamp(TCP_MIN_HEADER_LEN, segment.len());
    tcp.options_malformed = header_len < TCP_MIN_HEADER_LEN || header_len > segment.len();
    tcp.payload_len = segment.len() - header_end;
    let options = &segment[TCP_MIN_HEADER_LEN..header_end];
    let mut at = 0;
    while at < options.len() {
        let kind = options[at];
        match kind {
            0 => {
                tcp.options.push(TcpOption {
                    kind,
                    data: Vec::new(),
                });
                tcp.trailing_after_eol = options[at + 1..].iter().any(|&b| b != 0);
                break;
            }
            1 => {
                tcp.options.push(TcpOption {
                    kind,
                    data: Vec::new(),
                });
                at += 1;
            }
            _ => {
                let Some(&len) = options.get(at + 1) else {
                    tcp.options_malformed = true;
                    break;
                };
                let len = usize::from(len);
                if len < 2 || at + len > options.len() {
                    tcp.options_malformed = true;
                    break;
                }
                tcp.options.push(TcpOption {
                    kind,
                    data: options[at + 2..at + len].to_vec(),
                });
                at += len;
            }
        }
    }
    Some(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured in the lab (tcpdump -xx in lab-scanner): 198.18.0.10:22 answering a
    /// SYN with SYN+ACK, options MSS 1460, SACK permitted, timestamps, NOP, wscale 10.
    const SYN_ACK: [u8; 74] = [
        0x82, 0x2e, 0x64, 0xac, 0x0b, 0x25, 0x9a, 0x9d, 0x80, 0x78, 0x5b, 0x21, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xae, 0x8c, 0xc6, 0x12, 0x00, 0x0a,
        0xc6, 0x12, 0x00, 0x01, 0x00, 0x16, 0xca, 0x00, 0x7f, 0xb1, 0x1f, 0xd4, 0x79, 0xab, 0x3a,
        0xd6, 0xa0, 0x12, 0xfe, 0x88, 0xf2, 0xcd, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02,
        0x08, 0x0a, 0x99, 0x96, 0xf5, 0xef, 0x99, 0x20, 0x83, 0xa1, 0x01, 0x03, 0x03, 0x0a,
    ];

    #[test]
    fn a_syn_ack_comes_apart_into_its_fields() {
        let d = dissect(&SYN_ACK, true);
        let ip = d.ip.as_ref().unwrap();
        assert_eq!((ip.ttl, ip.dont_fragment, ip.id), (64, true, 0));
        assert_eq!(ip.src, Ipv4Addr::new(198, 18, 0, 10));
        let Some(Transport::Tcp(tcp)) = &d.transport else {
            panic!("{d:?}")
        };
        assert_eq!(
            (tcp.sport, tcp.dport, tcp.flags, tcp.window),
            (22, 51712, 0x12, 65160)
        );
        let kinds: Vec<u8> = tcp.options.iter().map(|o| o.kind).collect();
        assert_eq!(kinds, [2, 4, 8, 1, 3]);
        assert_eq!(tcp.options[0].data, [0x05, 0xb4]);
        assert!(!tcp.options_malformed && !tcp.trailing_after_eol && !d.truncated);
    }

    #[test]
    fn crafted_packets_read_back_with_valid_checksums() {
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 1, 10));
        let tcp = TcpSpec {
            sport: 40000,
            dport: 22,
            seq: 7,
            flags: 0x02,
            window: 1024,
            options: vec![2, 4, 5, 0xb4],
            ..Default::default()
        };
        let segment = tcp_segment(src, dst, &tcp, b"").unwrap();
        assert_eq!(transport_checksum(src, dst, IPPROTO_TCP, &segment), 0);
        // Record route: type 7, length 39, pointer 4, room for nine addresses.
        let mut rr = vec![7, 39, 4];
        rr.resize(39, 0);
        let spec = IpSpec {
            src,
            dst,
            protocol: IPPROTO_ICMP,
            ttl: 64,
            id: 1,
            tos: 0,
            dont_fragment: false,
            options: rr,
        };
        let packet = ipv4(&spec, &icmp_message(8, 0, 0x1234, 1, b"hi")).unwrap();
        assert_eq!(finish(add_bytes(0, &packet[..60])), 0, "IP header checksum");
        let d = dissect(&packet, false);
        assert_eq!(d.ip.as_ref().unwrap().header_len, 60);
        assert_eq!(d.ip.as_ref().unwrap().options.len(), 40);
        match d.transport {
            Some(Transport::Icmp {
                icmp_type: 8,
                id: 0x1234,
                seq: 1,
                quoted: None,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(ipv4(
            &IpSpec {
                options: vec![1; 41],
                ..spec
            },
            b""
        )
        .is_none());
    }

    #[test]
    fn an_icmp_error_shows_the_packet_it_quotes() {
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 1, 10));
        let tcp = TcpSpec {
            sport: 40000,
            dport: 80,
            flags: 0x18,
            ..Default::default()
        };
        let probe = tcp_segment(src, dst, &tcp, b"GET").unwrap();
        let spec = IpSpec {
            src,
            dst,
            protocol: IPPROTO_TCP,
            ttl: 1,
            id: 9,
            tos: 0,
            dont_fragment: true,
            options: Vec::new(),
        };
        let quoted = ipv4(&spec, &probe[..8]).unwrap();
        let router = IpSpec {
            src: Ipv4Addr::new(198, 18, 0, 2),
            dst: src,
            protocol: IPPROTO_ICMP,
            ttl: 64,
            ..spec
        };
        let error = ipv4(&router, &icmp_message(11, 0, 0, 0, &quoted)).unwrap();
        let d = dissect(&error, false);
        let Some(Transport::Icmp {
            icmp_type: 11,
            quoted: Some(inner),
            ..
        }) = d.transport
        else {
            panic!("{d:?}")
        };
        assert_eq!(inner.ip.as_ref().unwrap().dst, dst);
        match &inner.transport {
            Some(Transport::Tcp(tcp)) => assert_eq!((tcp.sport, tcp.dport), (40000, 80)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_lengths_are_marked_truncated_not_trusted() {
        for cut in 0..SYN_ACK.len() {
            let _ = dissect(&SYN_ACK[..cut], true);
            let _ = dissect(&SYN_ACK[ETH_LEN.min(cut)..cut], false);
        }
        let mut bad = SYN_ACK;
        bad[ETH_LEN] = 0x4f; // header length 60 > what is there
        assert!(dissect(&bad, true).truncated);
        let mut bad_opt = SYN_ACK;
        bad_opt[ETH_LEN + 20 + 21] = 40; // MSS option claims 40 bytes
        match dissect(&bad_opt, true).transport {
            Some(Transport::Tcp(tcp)) => assert!(tcp.options_malformed),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn padding_is_not_payload_and_lengths_past_the_frame_are_truncated() {
        // A UDP datagram of 4 payload bytes in a frame padded to 60 bytes.
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 12), Ipv4Addr::new(198, 18, 0, 1));
        let spec = IpSpec {
            src,
            dst,
            protocol: IPPROTO_UDP,
            ttl: 64,
            id: 1,
            tos: 0,
            dont_fragment: false,
            options: Vec::new(),
        };
        let packet = ipv4(&spec, &udp_datagram(src, dst, 53, 40000, b"abcd")).unwrap();
        let mut frame = ethernet(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            ETHERTYPE_IPV4,
            &packet,
        );
        frame.resize(60, 0xee);
        let d = dissect(&frame, true);
        assert!(!d.truncated, "{d:?}");
        assert_eq!(usize::from(d.ip.as_ref().unwrap().total_len), packet.len());
        // A TCP segment whose total length ends before the padding does: the padding
        // is not counted as its payload.
        let mut syn_ack = SYN_ACK.to_vec();
        syn_ack.resize(SYN_ACK.len() + 10, 0);
        let Some(Transport::Tcp(tcp)) = dissect(&syn_ack, true).transport else {
            panic!("a padded SYN+ACK")
        };
        assert_eq!(tcp.payload_len, 0);
        // A total length larger than the frame, or inside the header: truncated.
        for total in [SYN_ACK.len() - ETH_LEN + 1, 1500, 10] {
            let mut bad = SYN_ACK;
            bad[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&(total as u16).to_be_bytes());
            assert!(dissect(&bad, true).truncated, "total {total}");
        }
    }
}
