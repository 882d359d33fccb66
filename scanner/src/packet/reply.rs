//! A typed view of a TCP reply frame, and the userspace twin of the XDP classifier.
//!
//! The XDP program in `scanner-ebpf` decides in the kernel which frames are replies to
//! our probes; where it cannot be loaded the packet-socket receive path reads every
//! frame and decides here. Both parse the headers and then apply the one shared rule
//! in `scanner_common::classify`. Script captures get their key the same way
//! ([`capture_key`], `scanner_common::capture`).

use super::wire::{arp, ethernet, icmp, ipv4, tcp, udp};
use scanner_common::capture::CaptureKey;
use scanner_common::classify::{
    classify_arp, classify_icmp_error, classify_icmp_query_reply, classify_tcp, classify_udp,
    ArpFields, QuotedProbe, TcpFields, Verdict,
};
use scanner_common::wire::{
    ARP_OPER_REPLY, ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP,
    TCP_FLAG_ACK, TCP_FLAG_RST, TCP_FLAG_SYN,
};
use scanner_common::{ClassifierConfig, ReplyRecord, FLAG_UDP};

/// The fields of an Ethernet/IPv4/TCP frame that a scan cares about (host byte order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment {
    pub src_addr: u32,
    pub dst_addr: u32,
    pub ttl: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
}

impl TcpSegment {
    /// Reads the headers of an Ethernet frame (with at most one VLAN tag); `None`
    /// unless it is an unfragmented IPv4 + TCP packet with both fixed headers complete.
    pub fn parse(frame: &[u8]) -> Option<Self> {
        let ip = ipv4_packet(frame)?;
        if ip.protocol() != IPPROTO_TCP {
            return None;
        }
        let tcp = tcp::Packet::new_fixed_checked(ip.payload_ref()).ok()?;
        Some(Self {
            src_addr: u32::from(ip.src_addr()),
            dst_addr: u32::from(ip.dst_addr()),
            ttl: ip.ttl(),
            src_port: tcp.src_port(),
            dst_port: tcp.dst_port(),
            seq: tcp.seq_number(),
            ack: tcp.ack_number(),
            flags: tcp.flags(),
            window: tcp.window_len(),
        })
    }
}

/// The IPv4 packet of an Ethernet frame (at most one VLAN tag), whose payload ends
/// where its total length says (what follows is Ethernet padding): `None` unless the
/// frame holds a whole unfragmented IPv4 packet ([`ipv4::Packet::new_checked`]).
fn ipv4_packet(frame: &[u8]) -> Option<ipv4::Packet<&[u8]>> {
    let frame = ethernet::Frame::new_checked(frame).ok()?;
    if frame.ethertype() != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(frame.into_inner().get(frame.header_len()..)?).ok()?;
    (!ip.is_fragment()).then_some(ip)
}

/// A segment's IPv4 header, its TCP header, and its length as the IP header claims it.
pub type TcpHeaders<'a> = (ipv4::Packet<&'a [u8]>, tcp::Packet<&'a [u8]>, usize);

/// The IPv4 and TCP headers of an Ethernet frame (at most one VLAN tag) cut short by a
/// capture (a snapshot of its first bytes): both headers must be whole and the packet
/// unfragmented; its payload may be missing. With the segment's length as the IP
/// header claims it (so the length of data that came with it is known even where
/// the snapshot does not hold it).
pub fn ipv4_tcp_headers(frame: &[u8]) -> Option<TcpHeaders<'_>> {
    let frame = ethernet::Frame::new_checked(frame).ok()?;
    if frame.ethertype() != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = ipv4::Packet::new_fixed_checked(frame.into_inner().get(frame.header_len()..)?).ok()?;
    let bytes = ip.into_inner();
    let header_len = ip.header_len();
    if ip.version() != 4
        || header_len < ipv4::HEADER_LEN
        || header_len > bytes.len()
        || ip.is_fragment()
        || ip.protocol() != IPPROTO_TCP
    {
        return None;
    }
    let segment_len = usize::from(ip.total_len()).checked_sub(header_len)?;
    let held = &bytes[header_len..(header_len + segment_len).min(bytes.len())];
    let segment = tcp::Packet::new_checked(held).ok()?;
    Some((ip, segment, segment_len))
}

/// The fields of an Ethernet/IPv4 ARP packet, if `frame` holds a whole one.
fn arp_fields(frame: &[u8]) -> Option<ArpFields> {
    let frame = ethernet::Frame::new_checked(frame).ok()?;
    if frame.ethertype() != ETHERTYPE_ARP {
        return None;
    }
    let arp = arp::Packet::new_checked(frame.payload()).ok()?;
    Some(ArpFields {
        is_ethernet_ipv4: arp.is_ethernet_ipv4(),
        oper: arp.operation(),
        sender_mac: arp.sender_mac(),
        sender_addr: u32::from(arp.sender_ip()),
        target_addr: u32::from(arp.target_ip()),
    })
}

/// The verdict the XDP classifier reaches on `frame`, by the same shared rule
/// (`scanner_common::classify`). Records leave `timestamp_ns` to the caller.
pub fn verdict(frame: &[u8], config: &ClassifierConfig) -> Verdict {
    if config.enabled == 0 {
        return Verdict::NotOurs;
    }
    if let Some(arp) = arp_fields(frame) {
        return classify_arp(config, &arp);
    }
    let Some(ip) = ipv4_packet(frame) else {
        return Verdict::NotOurs;
    };
    if u32::from(ip.dst_addr()) != config.local_addr {
        return Verdict::NotOurs;
    }
    let (remote_addr, ttl, payload) = (u32::from(ip.src_addr()), ip.ttl(), ip.payload_ref());
    match ip.protocol() {
        IPPROTO_TCP => match tcp::Packet::new_fixed_checked(payload) {
            Ok(tcp) => classify_tcp(
                config,
                &TcpFields {
                    remote_addr,
                    remote_port: tcp.src_port(),
                    local_port: tcp.dst_port(),
                    seq: tcp.seq_number(),
                    ack: tcp.ack_number(),
                    flags: tcp.flags(),
                    window: tcp.window_len(),
                    ttl,
                },
            ),
            Err(_) => Verdict::NotOurs,
        },
        IPPROTO_UDP if config.flags & FLAG_UDP != 0 => {
            match udp::Packet::new_fixed_checked(payload) {
                Ok(udp) => classify_udp(config, remote_addr, udp.src_port(), udp.dst_port(), ttl),
                Err(_) => Verdict::NotOurs,
            }
        }
        IPPROTO_ICMP => {
            let Ok(icmp) = icmp::Packet::new_checked(payload) else {
                return Verdict::NotOurs;
            };
            if !icmp.is_error() {
                return classify_icmp_query_reply(
                    config,
                    remote_addr,
                    icmp.msg_type(),
                    icmp.ident(),
                    icmp.seq_no(),
                    ttl,
                );
            }
            let Some(quoted) = icmp.quoted() else {
                return Verdict::NotOurs;
            };
            let probe = QuotedProbe {
                protocol: quoted.ip.protocol(),
                remote_addr: u32::from(quoted.ip.dst_addr()),
                local_addr: u32::from(quoted.ip.src_addr()),
                head: *quoted.head,
            };
            classify_icmp_error(
                config,
                remote_addr,
                icmp.msg_type(),
                icmp.code(),
                ttl,
                &probe,
            )
        }
        _ => Verdict::NotOurs,
    }
}

/// The capture key the XDP classifier gives `frame` (see `scanner_common::capture`),
/// if it is addressed to `local_addr` and has one: the packet-socket path's twin.
pub fn capture_key(frame: &[u8], local_addr: u32) -> Option<CaptureKey> {
    if let Some(arp) = arp_fields(frame) {
        return (arp.oper == ARP_OPER_REPLY && arp.target_addr == local_addr)
            .then(|| CaptureKey::arp(arp.sender_addr));
    }
    let ip = ipv4_packet(frame)?;
    if u32::from(ip.dst_addr()) != local_addr {
        return None;
    }
    let (remote_addr, payload) = (u32::from(ip.src_addr()), ip.payload_ref());
    match ip.protocol() {
        // The ports are where they are in a UDP header for TCP too, and the XDP side
        // asks eight bytes of either: the UDP view reads both.
        proto @ (IPPROTO_TCP | IPPROTO_UDP) => {
            let ports = udp::Packet::new_fixed_checked(payload).ok()?;
            Some(CaptureKey::transport(
                proto,
                remote_addr,
                ports.src_port(),
                ports.dst_port(),
            ))
        }
        IPPROTO_ICMP => {
            let icmp = icmp::Packet::new_checked(payload).ok()?;
            if !icmp.is_error() {
                return Some(CaptureKey::icmp(remote_addr, icmp.ident()));
            }
            let quoted = icmp.quoted()?;
            if u32::from(quoted.ip.src_addr()) != local_addr {
                return None;
            }
            CaptureKey::quoted(
                quoted.ip.protocol(),
                u32::from(quoted.ip.dst_addr()),
                quoted.head,
            )
        }
        _ => None,
    }
}

/// Whether `frame` is a TCP SYN+ACK to `local_addr`: captured under
/// [`CaptureKey::syn_acks`] on the packet-socket path. (The XDP classifier captures
/// only those that acknowledge a probe's cookie; here the consumer, which takes only
/// the ports the scan found open, is the filter.)
pub fn is_syn_ack_to(frame: &[u8], local_addr: u32) -> bool {
    ipv4_tcp_headers(frame).is_some_and(|(ip, segment, _)| {
        u32::from(ip.dst_addr()) == local_addr
            && segment.flags() & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)
                == TCP_FLAG_SYN | TCP_FLAG_ACK
    })
}

/// The record the XDP classifier would produce for `frame`, or `None` if it is not
/// a reply to one of this scan's probes.
pub fn classify(frame: &[u8], config: &ClassifierConfig) -> Option<ReplyRecord> {
    match verdict(frame, config) {
        Verdict::Reply(record) => Some(record),
        Verdict::NotOurs | Verdict::BadCookie => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{craft, ETH_LEN, IPV4_LEN};
    use scanner_common::cookie::probe_cookie;
    use scanner_common::ReplyKind;

    /// The lab's SYN+ACK (see the constant's documentation).
    const SYN_ACK: [u8; 58] = craft::LAB_SYN_ACK;
    /// Captured likewise: 198.18.0.10:81 (closed) answering with RST+ACK.
    const RST_ACK: [u8; 54] = [
        0xd2, 0x51, 0xcd, 0xe2, 0x5d, 0x7a, 0xf2, 0xc1, 0x56, 0x48, 0x3d, 0xec, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x28, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xae, 0xa0, 0xc6, 0x12, 0x00, 0x0a,
        0xc6, 0x12, 0x00, 0x01, 0x00, 0x51, 0xd1, 0xce, 0x00, 0x00, 0x00, 0x00, 0x2a, 0xa4, 0x49,
        0xab, 0x50, 0x14, 0x00, 0x00, 0xdd, 0x31, 0x00, 0x00,
    ];
    const SCANNER: u32 = 0xc612_0001;
    const WEB: u32 = 0xc612_000a;

    fn config(key: [u64; 2]) -> ClassifierConfig {
        ClassifierConfig {
            local_addr: SCANNER,
            port_lo: 32768,
            port_hi: 61000,
            key,
            enabled: 1,
            flags: 0,
        }
    }

    /// Rewrites the captured frame's ack to what our cookie for it would be.
    fn with_our_cookie(frame: &[u8], key: [u64; 2]) -> Vec<u8> {
        let seg = TcpSegment::parse(frame).unwrap();
        let ack = probe_cookie(&key, seg.src_addr, seg.src_port, seg.dst_port).wrapping_add(1);
        let mut frame = frame.to_vec();
        craft::set_ack(&mut frame, ack);
        frame
    }

    #[test]
    fn parses_captured_syn_ack() {
        let seg = TcpSegment::parse(&SYN_ACK).unwrap();
        assert_eq!((seg.src_addr, seg.dst_addr, seg.ttl), (WEB, SCANNER, 64));
        assert_eq!((seg.src_port, seg.dst_port), (22, 36616));
        assert_eq!((seg.seq, seg.ack), (1608125697, 913465311));
        assert_eq!((seg.flags, seg.window), (0x12, 64240));
    }

    #[test]
    fn classifies_replies_that_carry_our_cookie() {
        let key = [0x0123_4567_89ab_cdef, 0x0fed_cba9_8765_4321];
        let open = classify(&with_our_cookie(&SYN_ACK, key), &config(key)).unwrap();
        assert_eq!(ReplyKind::from_u8(open.kind), Some(ReplyKind::SynAck));
        assert_eq!(
            (open.remote_addr, open.remote_port, open.local_port),
            (WEB, 22, 36616)
        );
        let closed = classify(&with_our_cookie(&RST_ACK, key), &config(key)).unwrap();
        assert_eq!(ReplyKind::from_u8(closed.kind), Some(ReplyKind::Rst));
        assert_eq!(closed.remote_port, 81);
    }

    #[test]
    fn passes_everything_else() {
        let key = [1, 2];
        // nmap's own probes' replies: right address and port, wrong cookie.
        assert!(classify(&SYN_ACK, &config(key)).is_none());
        assert!(classify(&RST_ACK, &config(key)).is_none());
        let ours = with_our_cookie(&SYN_ACK, key);
        assert!(classify(
            &ours,
            &ClassifierConfig {
                enabled: 0,
                ..config(key)
            }
        )
        .is_none());
        assert!(classify(
            &ours,
            &ClassifierConfig {
                local_addr: SCANNER + 1,
                ..config(key)
            }
        )
        .is_none());
        assert!(classify(
            &ours,
            &ClassifierConfig {
                port_lo: 40000,
                ..config(key)
            }
        )
        .is_none());
        // Truncated frames and non-TCP frames.
        for len in 0..ours.len() - 4 {
            if len < 54 {
                assert!(classify(&ours[..len], &config(key)).is_none(), "len {len}");
            }
        }
        let mut udp = ours.clone();
        ipv4::Packet::new_unchecked(&mut udp[ETH_LEN..]).set_protocol(IPPROTO_UDP);
        assert!(classify(&udp, &config(key)).is_none());
    }
    /// A UDP probe from the scanner to WEB:161 under `key`, as the UDP scan sends it.
    fn udp_probe(key: [u64; 2]) -> Vec<u8> {
        let link = crate::packet::template::LinkAddrs {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: std::net::Ipv4Addr::from(SCANNER),
        };
        let sport = scanner_common::cookie::stateless_source_port(&key, WEB, 161, 32768, 61000);
        let mut buf = [0u8; 128];
        let len = crate::packet::build::udp_probe(
            &mut buf,
            &link,
            std::net::Ipv4Addr::from(WEB),
            sport,
            161,
            b"",
            1,
        );
        buf[..len].to_vec()
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let key = [5, 6];
        let udp_config = ClassifierConfig {
            flags: FLAG_UDP,
            ..config(key)
        };
        // A short UDP reply padded to the 60 bytes of a minimum Ethernet frame: still
        // the reply it is, whatever the padding holds.
        let reply = craft::udp_reply_to(&udp_probe(key), b"");
        assert_eq!(reply.len(), 42);
        for fill in [0, 0xff] {
            let padded = craft::with_padding(&reply, 18, fill);
            assert_eq!(padded.len(), 60);
            let record = classify(&padded, &udp_config).expect("a padded UDP reply");
            assert_eq!(ReplyKind::from_u8(record.kind), Some(ReplyKind::Udp));
            assert_eq!(capture_key(&padded, SCANNER), capture_key(&reply, SCANNER));
        }
        // A port unreachable that quotes only four bytes of the probe's UDP header (as
        // its IP total length says), followed by padding that happens to hold the rest:
        // too little is quoted to tell it is ours.
        let probe = udp_probe(key);
        let whole = craft::icmp_error_about(&probe, 3, 3, WEB.to_be_bytes(), 8);
        assert!(classify(&whole, &udp_config).is_some());
        let mut short = whole.clone();
        craft::set_total_len(&mut short, (whole.len() - ETH_LEN - 4) as u16);
        assert!(classify(&short, &udp_config).is_none());
        assert_eq!(capture_key(&short, SCANNER), None);
        // A RST whose total length ends inside its TCP header, padded with the rest
        // of it: not a whole TCP header, not a reply.
        let rst = with_our_cookie(&RST_ACK, key);
        assert!(classify(&rst, &config(key)).is_some());
        let mut cut = rst.clone();
        craft::set_total_len(&mut cut, (IPV4_LEN + 8) as u16);
        assert!(classify(&cut, &config(key)).is_none());
        assert!(TcpSegment::parse(&cut).is_none());
        // A total length larger than the frame, or shorter than the IP header: refused.
        for total in [rst.len() - ETH_LEN + 1, 1500, 19, 0] {
            let mut bad = rst.clone();
            craft::set_total_len(&mut bad, total as u16);
            assert!(classify(&bad, &config(key)).is_none(), "total {total}");
            assert!(TcpSegment::parse(&bad).is_none(), "total {total}");
            assert_eq!(capture_key(&bad, SCANNER), None, "total {total}");
        }
    }
}
