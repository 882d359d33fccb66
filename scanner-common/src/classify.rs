//! The classification rule itself: given the fields of a frame already parsed (by the
//! XDP program in the kernel, or by its userspace twin), is it a reply to one of this
//! scan's probes, and what record describes it?
//!
//! Both classifiers parse headers their own way (bounds checks the verifier accepts on
//! one side, slices on the other) and then call these functions, so the rule cannot
//! drift apart. Nothing here touches memory it was not given.
//!
//! What each probe carries, so that its reply can be recognised without state:
//! - TCP: the cookie in the sequence number (and, for ACK-flag probes, in the
//!   acknowledgement number too); replies acknowledge it (see [`reply_matches_cookie`]).
//! - UDP: the source port is keyed on the destination ([`stateless_source_port`]);
//!   a reply must come back to exactly that port.
//! - ICMP echo, timestamp and address-mask requests: the cookie of (target, request
//!   type) split over the identifier (high half) and sequence number (low half),
//!   which replies echo.
//! - ICMP errors (unreachable, time exceeded) quote our probe's IP header and first
//!   eight bytes, which are checked by the rule of the quoted protocol.
//! - ARP requests carry nothing a reply echoes: while they are in flight (host
//!   discovery on the local segment), every ARP reply addressed to us is recorded.

use crate::cookie::{probe_cookie, stateless_source_port};
use crate::wire::ARP_OPER_REPLY;
use crate::wire::{
    ICMP_ADDRESS_MASK_REPLY, ICMP_ADDRESS_MASK_REQUEST, ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST, ICMP_TIMESTAMP_REPLY, ICMP_TIMESTAMP_REQUEST, ICMP_TIME_EXCEEDED,
    IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, TCP_FLAG_ACK, TCP_FLAG_RST, TCP_FLAG_SYN,
};
use crate::{
    reply_matches_cookie, ClassifierConfig, ReplyKind, ReplyRecord, FLAG_ARP,
    FLAG_SPORT_FROM_COOKIE, FLAG_UDP,
};

/// The outcome of classifying one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not addressed to this scan: the kernel gets it.
    NotOurs,
    /// Addressed to our address and port range, but the cookie is wrong (counted).
    BadCookie,
    /// A reply to one of our probes.
    Reply(ReplyRecord),
}

/// The fields of a TCP segment the rule reads (host byte order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFields {
    pub remote_addr: u32,
    pub remote_port: u16,
    pub local_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub ttl: u8,
}

/// The first eight bytes of the transport header of a probe quoted in an ICMP error,
/// with the quoted IP header's protocol and destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedProbe {
    pub protocol: u8,
    /// The quoted packet's destination: the target we probed.
    pub remote_addr: u32,
    /// The quoted packet's source: must be us.
    pub local_addr: u32,
    /// Bytes 0..8 of the quoted transport header.
    pub head: [u8; 8],
}

/// The ICMP request type whose reply is `reply_type`, if it is a query reply we send.
#[inline(always)]
pub fn request_for_reply(reply_type: u8) -> Option<u8> {
    match reply_type {
        ICMP_ECHO_REPLY => Some(ICMP_ECHO_REQUEST),
        ICMP_TIMESTAMP_REPLY => Some(ICMP_TIMESTAMP_REQUEST),
        ICMP_ADDRESS_MASK_REPLY => Some(ICMP_ADDRESS_MASK_REQUEST),
        _ => None,
    }
}

/// The cookie an ICMP query of type `request_type` to `remote_addr` carries:
/// identifier = high 16 bits, sequence number = low 16 bits.
#[inline(always)]
pub fn icmp_cookie(key: &[u64; 2], remote_addr: u32, request_type: u8) -> u32 {
    probe_cookie(key, remote_addr, 0, request_type as u16)
}

/// Whether `local_port` is in the scan's range and is the keyed source port of
/// `remote_addr:remote_port` (see [`stateless_source_port`]).
#[inline(always)]
fn is_keyed_port(
    config: &ClassifierConfig,
    remote_addr: u32,
    remote_port: u16,
    local_port: u16,
) -> bool {
    local_port >= config.port_lo
        && local_port <= config.port_hi
        && local_port
            == stateless_source_port(
                &config.key,
                remote_addr,
                remote_port,
                config.port_lo,
                config.port_hi,
            )
}

/// Whether a TCP probe from `local_port` to `remote_addr:remote_port` could be ours:
/// source port in range (and keyed, for sweeps).
#[inline(always)]
fn tcp_ports_ok(
    config: &ClassifierConfig,
    remote_addr: u32,
    remote_port: u16,
    local_port: u16,
) -> bool {
    if config.flags & FLAG_SPORT_FROM_COOKIE != 0 {
        return is_keyed_port(config, remote_addr, remote_port, local_port);
    }
    local_port >= config.port_lo && local_port <= config.port_hi
}

/// Whether a UDP probe's ports are ours: UDP probes are in flight, and the local
/// port is the keyed source port of its destination.
#[inline(always)]
fn udp_ports_ok(
    config: &ClassifierConfig,
    remote_addr: u32,
    remote_port: u16,
    local_port: u16,
) -> bool {
    config.flags & FLAG_UDP != 0 && is_keyed_port(config, remote_addr, remote_port, local_port)
}

/// An empty record for `kind` from `remote_addr`.
#[inline(always)]
fn record(
    config: &ClassifierConfig,
    kind: ReplyKind,
    protocol: u8,
    remote_addr: u32,
    ttl: u8,
) -> ReplyRecord {
    ReplyRecord {
        timestamp_ns: 0,
        remote_addr,
        local_addr: config.local_addr,
        remote_port: 0,
        local_port: 0,
        seq: 0,
        ack: 0,
        window: 0,
        ttl,
        kind: kind as u8,
        tcp_flags: 0,
        protocol,
        icmp_type: 0,
        icmp_code: 0,
        icmp_from: 0,
        remote_mac: [0; 6],
        _pad: [0; 2],
    }
}

/// A TCP segment addressed to us: SYN+ACK or RST answering a probe, or not ours.
#[inline(always)]
pub fn classify_tcp(config: &ClassifierConfig, tcp: &TcpFields) -> Verdict {
    if tcp.local_port < config.port_lo || tcp.local_port > config.port_hi {
        return Verdict::NotOurs;
    }
    let kind = if tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)
        == TCP_FLAG_SYN | TCP_FLAG_ACK
    {
        ReplyKind::SynAck
    } else if tcp.flags & TCP_FLAG_RST != 0 {
        ReplyKind::Rst
    } else {
        return Verdict::NotOurs;
    };
    let cookie = probe_cookie(
        &config.key,
        tcp.remote_addr,
        tcp.remote_port,
        tcp.local_port,
    );
    if !reply_matches_cookie(config.flags, cookie, tcp.seq, tcp.ack)
        || !tcp_ports_ok(config, tcp.remote_addr, tcp.remote_port, tcp.local_port)
    {
        return Verdict::BadCookie;
    }
    let mut out = record(config, kind, IPPROTO_TCP, tcp.remote_addr, tcp.ttl);
    out.remote_port = tcp.remote_port;
    out.local_port = tcp.local_port;
    out.seq = tcp.seq;
    out.ack = tcp.ack;
    out.window = tcp.window;
    out.tcp_flags = tcp.flags;
    Verdict::Reply(out)
}

/// A UDP datagram addressed to us: a reply to a UDP probe, or not ours.
#[inline(always)]
pub fn classify_udp(
    config: &ClassifierConfig,
    remote_addr: u32,
    remote_port: u16,
    local_port: u16,
    ttl: u8,
) -> Verdict {
    if !udp_ports_ok(config, remote_addr, remote_port, local_port) {
        return Verdict::NotOurs;
    }
    let mut out = record(config, ReplyKind::Udp, IPPROTO_UDP, remote_addr, ttl);
    out.remote_port = remote_port;
    out.local_port = local_port;
    Verdict::Reply(out)
}

/// An ICMP echo, timestamp or address-mask reply echoing one of our queries.
#[inline(always)]
pub fn classify_icmp_query_reply(
    config: &ClassifierConfig,
    remote_addr: u32,
    icmp_type: u8,
    id: u16,
    seq: u16,
    ttl: u8,
) -> Verdict {
    let Some(request) = request_for_reply(icmp_type) else {
        return Verdict::NotOurs;
    };
    if icmp_cookie(&config.key, remote_addr, request) != ((id as u32) << 16 | seq as u32) {
        return Verdict::NotOurs;
    }
    let mut out = record(config, ReplyKind::IcmpReply, IPPROTO_ICMP, remote_addr, ttl);
    out.icmp_type = icmp_type;
    Verdict::Reply(out)
}

/// The fields of an Ethernet/IPv4 ARP packet the rule reads (addresses in host order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpFields {
    /// Hardware type 1 (Ethernet), protocol type 0x0800, lengths 6 and 4.
    pub is_ethernet_ipv4: bool,
    pub oper: u16,
    pub sender_mac: [u8; 6],
    pub sender_addr: u32,
    pub target_addr: u32,
}

/// An ARP reply to our address, while ARP requests are in flight.
#[inline(always)]
pub fn classify_arp(config: &ClassifierConfig, arp: &ArpFields) -> Verdict {
    if config.flags & FLAG_ARP == 0
        || !arp.is_ethernet_ipv4
        || arp.oper != ARP_OPER_REPLY
        || arp.target_addr != config.local_addr
    {
        return Verdict::NotOurs;
    }
    let mut out = record(config, ReplyKind::Arp, 0, arp.sender_addr, 0);
    out.remote_mac = arp.sender_mac;
    Verdict::Reply(out)
}

/// An ICMP destination-unreachable or time-exceeded from `from` quoting one of our
/// probes. The record names the probed target and ports, and who sent the error.
#[inline(always)]
pub fn classify_icmp_error(
    config: &ClassifierConfig,
    from: u32,
    icmp_type: u8,
    icmp_code: u8,
    ttl: u8,
    quoted: &QuotedProbe,
) -> Verdict {
    if (icmp_type != ICMP_DEST_UNREACHABLE && icmp_type != ICMP_TIME_EXCEEDED)
        || quoted.local_addr != config.local_addr
    {
        return Verdict::NotOurs;
    }
    let h = &quoted.head;
    let port_a = u16::from_be_bytes([h[0], h[1]]);
    let port_b = u16::from_be_bytes([h[2], h[3]]);
    let word = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let remote = quoted.remote_addr;
    let (ours, remote_port, local_port) = match quoted.protocol {
        IPPROTO_TCP => (
            tcp_ports_ok(config, remote, port_b, port_a)
                && word == probe_cookie(&config.key, remote, port_b, port_a),
            port_b,
            port_a,
        ),
        IPPROTO_UDP => (udp_ports_ok(config, remote, port_b, port_a), port_b, port_a),
        IPPROTO_ICMP => {
            // Type, code, checksum, then identifier and sequence number: `word`.
            let request = h[0];
            (
                (request == ICMP_ECHO_REQUEST
                    || request == ICMP_TIMESTAMP_REQUEST
                    || request == ICMP_ADDRESS_MASK_REQUEST)
                    && word == icmp_cookie(&config.key, remote, request),
                0,
                0,
            )
        }
        _ => return Verdict::NotOurs,
    };
    if !ours {
        return Verdict::BadCookie;
    }
    let mut out = record(config, ReplyKind::IcmpError, quoted.protocol, remote, ttl);
    out.remote_port = remote_port;
    out.local_port = local_port;
    out.icmp_type = icmp_type;
    out.icmp_code = icmp_code;
    out.icmp_from = from;
    Verdict::Reply(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 0xc612_0001;
    const TARGET: u32 = 0xc612_000c;

    fn config(flags: u32) -> ClassifierConfig {
        ClassifierConfig {
            local_addr: ME,
            port_lo: 40000,
            port_hi: 59999,
            key: [7, 9],
            enabled: 1,
            flags,
        }
    }

    #[test]
    fn udp_replies_must_come_back_to_the_keyed_port() {
        let c = config(FLAG_UDP);
        let port = stateless_source_port(&c.key, TARGET, 53, 40000, 59999);
        assert!(
            matches!(classify_udp(&c, TARGET, 53, port, 64), Verdict::Reply(r) if r.kind == ReplyKind::Udp as u8)
        );
        assert_eq!(classify_udp(&c, TARGET, 53, port ^ 1, 64), Verdict::NotOurs);
        assert_eq!(classify_udp(&c, TARGET + 1, 53, port, 64), Verdict::NotOurs);
        assert_eq!(
            classify_udp(&config(0), TARGET, 53, port, 64),
            Verdict::NotOurs
        );
    }

    #[test]
    fn icmp_query_replies_echo_the_cookie() {
        let c = config(0);
        let cookie = icmp_cookie(&c.key, TARGET, ICMP_ECHO_REQUEST);
        let (id, seq) = ((cookie >> 16) as u16, cookie as u16);
        assert!(matches!(
            classify_icmp_query_reply(&c, TARGET, ICMP_ECHO_REPLY, id, seq, 64),
            Verdict::Reply(_)
        ));
        // The cookie is bound to the request type and the target.
        assert_eq!(
            classify_icmp_query_reply(&c, TARGET, ICMP_TIMESTAMP_REPLY, id, seq, 64),
            Verdict::NotOurs
        );
        assert_eq!(
            classify_icmp_query_reply(&c, TARGET + 1, ICMP_ECHO_REPLY, id, seq, 64),
            Verdict::NotOurs
        );
        assert_eq!(
            classify_icmp_query_reply(&c, TARGET, ICMP_ECHO_REQUEST, id, seq, 64),
            Verdict::NotOurs
        );
    }

    #[test]
    fn icmp_errors_are_ours_only_when_they_quote_our_probe() {
        let c = config(FLAG_UDP);
        let router = 0xc612_0102;
        let sport = stateless_source_port(&c.key, TARGET, 161, 40000, 59999);
        let mut head = [0u8; 8];
        head[0..2].copy_from_slice(&sport.to_be_bytes());
        head[2..4].copy_from_slice(&161u16.to_be_bytes());
        let quoted = QuotedProbe {
            protocol: IPPROTO_UDP,
            remote_addr: TARGET,
            local_addr: ME,
            head,
        };
        let Verdict::Reply(r) = classify_icmp_error(&c, router, 3, 3, 63, &quoted) else {
            panic!("port unreachable quoting our UDP probe")
        };
        assert_eq!(
            (r.remote_addr, r.remote_port, r.local_port),
            (TARGET, 161, sport)
        );
        assert_eq!(
            (r.icmp_from, r.icmp_type, r.icmp_code, r.protocol),
            (router, 3, 3, 17)
        );
        let other = QuotedProbe {
            local_addr: ME + 1,
            ..quoted
        };
        assert_eq!(
            classify_icmp_error(&c, router, 3, 3, 63, &other),
            Verdict::NotOurs
        );
        let wrong_port = QuotedProbe {
            head: [0, 1, 0, 161, 0, 0, 0, 0],
            ..quoted
        };
        assert_eq!(
            classify_icmp_error(&c, router, 3, 3, 63, &wrong_port),
            Verdict::BadCookie
        );
        // TCP: the quoted sequence number is the cookie.
        let seq = probe_cookie(&c.key, TARGET, 1000, 45000);
        let mut head = [0u8; 8];
        head[0..2].copy_from_slice(&45000u16.to_be_bytes());
        head[2..4].copy_from_slice(&1000u16.to_be_bytes());
        head[4..8].copy_from_slice(&seq.to_be_bytes());
        let tcp = QuotedProbe {
            protocol: IPPROTO_TCP,
            head,
            ..quoted
        };
        assert!(matches!(
            classify_icmp_error(&c, TARGET, 3, 3, 64, &tcp),
            Verdict::Reply(_)
        ));
        head[7] ^= 1;
        assert_eq!(
            classify_icmp_error(&c, TARGET, 3, 3, 64, &QuotedProbe { head, ..tcp }),
            Verdict::BadCookie
        );
        // ICMP: the quoted identifier and sequence number.
        let cookie = icmp_cookie(&c.key, TARGET, ICMP_ECHO_REQUEST);
        let mut head = [ICMP_ECHO_REQUEST, 0, 0, 0, 0, 0, 0, 0];
        head[4..6].copy_from_slice(&((cookie >> 16) as u16).to_be_bytes());
        head[6..8].copy_from_slice(&(cookie as u16).to_be_bytes());
        let echo = QuotedProbe {
            protocol: IPPROTO_ICMP,
            head,
            ..quoted
        };
        assert!(
            matches!(classify_icmp_error(&c, router, 3, 1, 63, &echo), Verdict::Reply(r) if r.protocol == IPPROTO_ICMP)
        );
    }
}
