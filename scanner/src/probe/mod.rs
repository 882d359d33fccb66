//! The probe-module table (ZMap's `probe_modules[]` is the example): every kind of
//! probe the scanner sends, each saying, without state, how its frame is written from
//! (cookie key, source addresses, target, port, source port), which classifier rule
//! recognises its replies, and what a [`ReplyRecord`] in reply means.
//!
//! Both ways of scanning use it: the stateful probe loop's modules (the TCP and UDP
//! port scans in `portscan`, the pings in `discovery`) and the stateless sweeps
//! (`sweep`). So a sweep sends exactly what the same scan type sends nmap-style, and
//! no phase needs another phase to build its probes.
//!
//! What each kind carries so that replies are recognised (see `scanner_common::classify`):
//! TCP the cookie of (target, port, source port) in its sequence number (and its
//! acknowledgement number, with the ACK flag); UDP a source port keyed on (target,
//! port); ICMP queries the cookie of (target, request type) in identifier and sequence.

pub mod tcp;
pub mod udp_payloads;

pub use tcp::{parse_scan_flags, Reading, TcpProbe};

use crate::engine::probing::{ProbeContext, ProbeKey};
use crate::io::FrameBatch;
use crate::model::{PortState, Proto, Reason};
use crate::packet::build::{icmp_query, udp_probe};
use crate::packet::template::{LinkAddrs, TcpTemplate};
use crate::packet::wire::ipv4;
use crate::packet::{ETH_LEN, IPV4_LEN};
use scanner_common::classify::icmp_cookie;
use scanner_common::cookie::probe_cookie;
use scanner_common::wire::{
    ICMP_ADDRESS_MASK_REPLY, ICMP_ADDRESS_MASK_REQUEST, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST,
    ICMP_HEADER_LEN, ICMP_TIMESTAMP_REPLY, ICMP_TIMESTAMP_REQUEST, IPPROTO_ICMP, IPPROTO_TCP,
    IPPROTO_UDP,
};
use scanner_common::{ReplyKind, ReplyRecord, FLAG_UDP};
use std::net::Ipv4Addr;

/// The ICMP queries a probe can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpQuery {
    /// Echo request (`-PE`; ZMap's `icmp_echoscan`).
    Echo,
    /// Timestamp request (`-PP`).
    Timestamp,
    /// Address-mask request (`-PM`).
    Mask,
}

impl IcmpQuery {
    /// The ICMP type of the request.
    pub const fn request_type(self) -> u8 {
        match self {
            IcmpQuery::Echo => ICMP_ECHO_REQUEST,
            IcmpQuery::Timestamp => ICMP_TIMESTAMP_REQUEST,
            IcmpQuery::Mask => ICMP_ADDRESS_MASK_REQUEST,
        }
    }

    /// The ICMP type of the reply.
    pub const fn reply_type(self) -> u8 {
        match self {
            IcmpQuery::Echo => ICMP_ECHO_REPLY,
            IcmpQuery::Timestamp => ICMP_TIMESTAMP_REPLY,
            IcmpQuery::Mask => ICMP_ADDRESS_MASK_REPLY,
        }
    }
}

/// One kind of probe: an entry of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// A TCP segment with these flags, read as its scan type reads it (port scans, and
    /// the TCP SYN and ACK pings).
    Tcp(TcpProbe),
    /// A UDP datagram carrying the port's payload (`-sU`, and the UDP ping).
    Udp,
    /// An ICMP query (the ICMP pings, and ICMP echo sweeps).
    Icmp(IcmpQuery),
}

/// A named row of the table.
#[derive(Clone, Copy, Debug)]
pub struct ModuleInfo {
    /// ZMap-style module name.
    pub name: &'static str,
    pub kind: ProbeKind,
}

/// Every probe module, by name (what `--sweep` can send is a subset: see
/// [`ProbeKind::sweep_answer`]).
pub const MODULES: &[ModuleInfo] = &[
    ModuleInfo {
        name: "tcp_syn",
        kind: ProbeKind::Tcp(TcpProbe::standard(Reading::Syn)),
    },
    ModuleInfo {
        name: "tcp_ack",
        kind: ProbeKind::Tcp(TcpProbe::standard(Reading::Ack)),
    },
    ModuleInfo {
        name: "tcp_fin",
        kind: ProbeKind::Tcp(TcpProbe::standard(Reading::Fin)),
    },
    ModuleInfo {
        name: "tcp_null",
        kind: ProbeKind::Tcp(TcpProbe::standard(Reading::Null)),
    },
    ModuleInfo {
        name: "tcp_xmas",
        kind: ProbeKind::Tcp(TcpProbe::standard(Reading::Xmas)),
    },
    ModuleInfo {
        name: "udp",
        kind: ProbeKind::Udp,
    },
    ModuleInfo {
        name: "icmp_echo",
        kind: ProbeKind::Icmp(IcmpQuery::Echo),
    },
    ModuleInfo {
        name: "icmp_timestamp",
        kind: ProbeKind::Icmp(IcmpQuery::Timestamp),
    },
    ModuleInfo {
        name: "icmp_mask",
        kind: ProbeKind::Icmp(IcmpQuery::Mask),
    },
];

impl ProbeKind {
    /// The table's name for this kind (`--scanflags` probes are named by their
    /// reading, as nmap's scaninfo names them).
    pub fn name(self) -> &'static str {
        MODULES
            .iter()
            .find(|module| match (module.kind, self) {
                (ProbeKind::Tcp(row), ProbeKind::Tcp(probe)) => row.reading == probe.reading,
                (row, kind) => row == kind,
            })
            .map_or("unknown", |module| module.name)
    }

    /// The IP protocol of the probe.
    pub fn ip_protocol(self) -> u8 {
        match self {
            ProbeKind::Tcp(_) => IPPROTO_TCP,
            ProbeKind::Udp => IPPROTO_UDP,
            ProbeKind::Icmp(_) => IPPROTO_ICMP,
        }
    }

    /// The port protocol's word in the results ("tcp", "udp"); ICMP probes have no ports.
    pub fn proto(self) -> Option<Proto> {
        match self {
            ProbeKind::Tcp(_) => Some(Proto::Tcp),
            ProbeKind::Udp => Some(Proto::Udp),
            ProbeKind::Icmp(_) => None,
        }
    }

    /// nmap's scan type word (XML `scaninfo type`) of a port scan with this probe.
    pub fn scan_type(self) -> &'static str {
        match self {
            ProbeKind::Tcp(probe) => probe.reading.name(),
            ProbeKind::Udp => "udp",
            ProbeKind::Icmp(_) => "ping",
        }
    }

    /// The classifier flags its replies need (see `scanner_common::FLAG_*`).
    pub fn classifier_flags(self) -> u32 {
        match self {
            ProbeKind::Tcp(probe) => probe.classifier_flags(),
            ProbeKind::Udp => FLAG_UDP,
            ProbeKind::Icmp(_) => 0,
        }
    }

    /// Whether the source port must be the keyed one of (target, port) even in a
    /// stateful scan: UDP replies echo nothing else.
    pub fn needs_keyed_source_port(self) -> bool {
        self == ProbeKind::Udp
    }

    /// What a reply says about the probed port: (state, reason), or `None` if it says
    /// nothing about it (ICMP queries probe hosts, not ports).
    pub fn port_reading(self, record: &ReplyRecord) -> Option<(PortState, Reason)> {
        let kind = ReplyKind::from_u8(record.kind)?;
        let icmp_reason = || Reason::from_icmp(record.icmp_type, record.icmp_code);
        match (self, kind) {
            // Any ICMP error means something on the way filters the port (nmap's reading).
            (ProbeKind::Tcp(_), ReplyKind::IcmpError) => Some((PortState::Filtered, icmp_reason())),
            (ProbeKind::Tcp(probe), kind @ (ReplyKind::SynAck | ReplyKind::Rst)) => {
                Some(probe.reading.answered(kind))
            }
            (ProbeKind::Udp, ReplyKind::Udp) => Some((PortState::Open, Reason::UdpResponse)),
            (ProbeKind::Udp, ReplyKind::IcmpError) => {
                let reason = icmp_reason();
                let state = if reason == Reason::PortUnreach {
                    PortState::Closed
                } else {
                    PortState::Filtered
                };
                Some((state, reason))
            }
            _ => None,
        }
    }

    /// The state of a port whose probe was never answered.
    pub fn unanswered_port(self) -> PortState {
        match self {
            ProbeKind::Tcp(probe) => probe.reading.unanswered(),
            ProbeKind::Udp => PortState::OpenFiltered,
            ProbeKind::Icmp(_) => PortState::Filtered,
        }
    }

    /// What a stateless sweep with this probe reports, since it can report only what
    /// answers: the port state of the positive answer (SYN and UDP: open; ACK:
    /// unfiltered), [`SweepAnswer::HostUp`] for ICMP echo, `None` for the kinds whose
    /// finding is silence (FIN, NULL, Xmas: open|filtered) or that need timestamps
    /// and masks nobody answers.
    pub fn sweep_answer(self) -> Option<SweepAnswer> {
        match self {
            ProbeKind::Tcp(probe) => match probe.reading {
                Reading::Syn => Some(SweepAnswer::Port(PortState::Open)),
                Reading::Ack => Some(SweepAnswer::Port(PortState::Unfiltered)),
                Reading::Fin | Reading::Null | Reading::Xmas => None,
            },
            ProbeKind::Udp => Some(SweepAnswer::Port(PortState::Open)),
            ProbeKind::Icmp(IcmpQuery::Echo) => Some(SweepAnswer::HostUp),
            ProbeKind::Icmp(_) => None,
        }
    }
}

/// What a sweep reports for one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepAnswer {
    /// A port in this state.
    Port(PortState),
    /// The host is up.
    HostUp,
}

/// Whether a host is up, and why (nmap's reason words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostStatus {
    pub up: bool,
    pub reason: Reason,
    /// TTL of the reply that decided it.
    pub ttl: Option<u8>,
    /// The best of the pings it answered ([`PingProbe::score`]), if any: nmap's
    /// "ping probe", which `--traceroute` sends.
    pub ping: Option<PingProbe>,
}

/// A probe a host answered: its kind and port (0 for ICMP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingProbe {
    pub kind: ProbeKind,
    pub port: u16,
}

/// Ports whose TCP answers are often forged by firewalls (nmap trusts them less).
const OFTEN_SPOOFED_PORTS: [u16; 5] = [25, 113, 135, 139, 445];

impl PingProbe {
    /// A TCP SYN to `port`.
    pub const fn syn(port: u16) -> Self {
        Self {
            kind: ProbeKind::Tcp(TcpProbe::standard(Reading::Syn)),
            port,
        }
    }

    /// A UDP datagram to `port`.
    pub const fn udp(port: u16) -> Self {
        Self {
            kind: ProbeKind::Udp,
            port,
        }
    }

    /// An ICMP echo request.
    pub const fn echo() -> Self {
        Self {
            kind: ProbeKind::Icmp(IcmpQuery::Echo),
            port: 0,
        }
    }

    /// How much nmap trusts an answer to this probe as a sign that such probes get
    /// through (scan_engine.cc's `pingprobe_score`), given what the answer said of
    /// the port (`None` for pings, which find hosts, not port states): a TCP reset
    /// most (a probe that leaves the host no state), a SYN+ACK or any answer to a SYN
    /// ping less, ICMP queries in between, ICMP errors and UDP least.
    pub fn score(self, port_state: Option<PortState>) -> u8 {
        match self.kind {
            ProbeKind::Tcp(probe) => match port_state {
                Some(PortState::Filtered) => 20,
                Some(PortState::Open) | None
                    if probe.flags == TcpProbe::standard(Reading::Syn).flags =>
                {
                    30
                }
                _ if OFTEN_SPOOFED_PORTS.contains(&self.port) => 50,
                _ => 60,
            },
            ProbeKind::Icmp(_) => 50,
            ProbeKind::Udp => 20,
        }
    }

    /// The better of two: `new` only if it scores higher (nmap keeps the first of
    /// equals).
    pub fn better(old: Option<Self>, new: Option<Self>) -> Option<Self> {
        match (old, new) {
            (Some(old), Some(new)) if new.score(None) > old.score(None) => Some(new),
            (Some(old), _) => Some(old),
            (None, new) => new,
        }
    }
}

/// What a reply to any ping says about its host: the reason word, and whether it
/// means up. Any reply from the host means up; an ICMP error about it from elsewhere
/// (a router's host-unreachable) means down.
pub fn host_reading(record: &ReplyRecord) -> Option<HostStatus> {
    let kind = ReplyKind::from_u8(record.kind)?;
    let (up, reason) = match kind {
        ReplyKind::SynAck => (true, Reason::SynAck),
        ReplyKind::Rst => (true, Reason::Reset),
        ReplyKind::Udp => (true, Reason::UdpResponse),
        ReplyKind::Arp => (true, Reason::ArpResponse),
        ReplyKind::IcmpReply => (
            true,
            match record.icmp_type {
                ICMP_ECHO_REPLY => Reason::EchoReply,
                ICMP_TIMESTAMP_REPLY => Reason::TimestampReply,
                ICMP_ADDRESS_MASK_REPLY => Reason::AddressmaskReply,
                _ => return None,
            },
        ),
        ReplyKind::IcmpError => {
            let reason = Reason::from_icmp(record.icmp_type, record.icmp_code);
            // Only the host itself sends port-unreachable for its own closed UDP port.
            let from_host = record.icmp_from == record.remote_addr;
            (from_host && reason == Reason::PortUnreach, reason)
        }
    };
    Some(HostStatus {
        up,
        reason,
        ttl: Some(record.ttl),
        ping: None,
    })
}

/// Where one probe goes: target, port (0 for ICMP), the source port it leaves from,
/// its IP id and the next hop's MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTo {
    pub addr: u32,
    pub port: u16,
    pub sport: u16,
    pub ip_id: u16,
    pub dst_mac: [u8; 6],
}

/// How a kind's frames are made: TCP patches a prebuilt template (the sweep's hot
/// path); UDP and ICMP frames are short and built field by field.
#[derive(Clone, Debug)]
enum Frames {
    Tcp(TcpTemplate),
    Udp,
    Icmp(IcmpQuery),
}

/// A probe kind ready to write frames from one source (templates built once).
#[derive(Clone, Debug)]
pub struct ProbeWriter {
    kind: ProbeKind,
    link: LinkAddrs,
    frames: Frames,
}

impl ProbeWriter {
    pub fn new(kind: ProbeKind, link: &LinkAddrs) -> Self {
        let frames = match kind {
            ProbeKind::Tcp(probe) => Frames::Tcp(TcpTemplate::new(probe.segment(), link)),
            ProbeKind::Udp => Frames::Udp,
            ProbeKind::Icmp(query) => Frames::Icmp(query),
        };
        Self {
            kind,
            link: *link,
            frames,
        }
    }

    pub fn kind(&self) -> ProbeKind {
        self.kind
    }

    /// The longest frame this writer writes: what a batch must reserve per frame.
    pub fn max_frame_len(&self) -> usize {
        match &self.frames {
            Frames::Tcp(template) => template.frame_len(),
            Frames::Udp => crate::io::MAX_PROBE_FRAME_LEN,
            // Ethernet, IPv4, the ICMP header and at most a timestamp request's body.
            Frames::Icmp(_) => ETH_LEN + IPV4_LEN + ICMP_HEADER_LEN + 12,
        }
    }

    /// Writes the probe `to` describes, with this scan's cookie `key`, into `buf`
    /// (at least `crate::io::MAX_PROBE_FRAME_LEN` bytes); returns the frame's length.
    pub fn write(&self, buf: &mut [u8], key: &[u64; 2], to: &ProbeTo) -> usize {
        let dst = Ipv4Addr::from(to.addr);
        match &self.frames {
            Frames::Tcp(template) => {
                let seq = probe_cookie(key, to.addr, to.port, to.sport);
                let len = template.write(buf, dst, to.sport, to.port, seq, to.ip_id);
                buf[0..6].copy_from_slice(&to.dst_mac);
                len
            }
            Frames::Udp => udp_probe(
                buf,
                &LinkAddrs {
                    dst_mac: to.dst_mac,
                    ..self.link
                },
                dst,
                to.sport,
                to.port,
                udp_payloads::for_port(to.port),
                to.ip_id,
            ),
            Frames::Icmp(query) => {
                let request = query.request_type();
                let cookie = icmp_cookie(key, to.addr, request);
                icmp_query(
                    buf,
                    &LinkAddrs {
                        dst_mac: to.dst_mac,
                        ..self.link
                    },
                    dst,
                    request,
                    (cookie >> 16) as u16,
                    cookie as u16,
                    to.ip_id,
                )
            }
        }
    }
}

impl ProbeWriter {
    /// As [`Self::write`], the frame leaving with IP time-to-live `ttl` (the
    /// traceroute's probes: the same probes, stopped after `ttl` hops).
    pub fn write_with_ttl(&self, buf: &mut [u8], key: &[u64; 2], to: &ProbeTo, ttl: u8) -> usize {
        let len = self.write(buf, key, to);
        if let Some(header) = buf.get_mut(ETH_LEN..len) {
            let mut ip = ipv4::Packet::new_unchecked(header);
            ip.set_ttl(ttl);
            ip.fill_checksum();
        }
        len
    }
}

/// Writes one probe of the table from the probe loop's context: TCP from a fresh
/// source port (each retransmission its own cookie), UDP from the keyed one, ICMP
/// queries with their cookie in identifier and sequence number.
pub fn write_probe(
    writer: &ProbeWriter,
    (addr, port): ProbeKey,
    cx: &mut ProbeContext,
    out: &mut FrameBatch,
) -> usize {
    let sport = match writer.kind() {
        ProbeKind::Tcp(_) => cx.rotating_source_port(),
        ProbeKind::Udp => cx.keyed_source_port(addr, port),
        ProbeKind::Icmp(_) => 0,
    };
    push_probe(writer, (addr, port), sport, None, cx, out)
}

/// Writes one probe of the table to `addr:port` from source port `sport` into `out`,
/// leaving with IP time-to-live `ttl` where one is given (the traceroute's probes).
pub fn push_probe(
    writer: &ProbeWriter,
    (addr, port): ProbeKey,
    sport: u16,
    ttl: Option<u8>,
    cx: &mut ProbeContext,
    out: &mut FrameBatch,
) -> usize {
    let to = ProbeTo {
        addr,
        port,
        sport,
        ip_id: cx.next_ip_id(),
        dst_mac: cx.link.dst_mac,
    };
    let key = cx.key;
    out.push_with(|buf| match ttl {
        Some(ttl) => writer.write_with_ttl(buf, &key, &to, ttl),
        None => writer.write(buf, &key, &to),
    });
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use scanner_common::classify::{
        classify_icmp_query_reply, classify_tcp, classify_udp, TcpFields, Verdict,
    };
    use scanner_common::cookie::stateless_source_port;
    use scanner_common::ClassifierConfig;

    const KEY: [u64; 2] = [0x1234, 0x5678];
    const LINK: LinkAddrs = LinkAddrs {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [0; 6],
        src_ip: Ipv4Addr::new(198, 18, 0, 1),
    };
    const TARGET: u32 = 0xc613_0107;

    fn to(port: u16, sport: u16) -> ProbeTo {
        ProbeTo {
            addr: TARGET,
            port,
            sport,
            ip_id: 77,
            dst_mac: [2, 0, 0, 0, 0, 9],
        }
    }

    fn config(kind: ProbeKind) -> ClassifierConfig {
        ClassifierConfig {
            local_addr: u32::from(LINK.src_ip),
            port_lo: 40000,
            port_hi: 59999,
            key: KEY,
            enabled: 1,
            flags: kind.classifier_flags() | scanner_common::FLAG_SPORT_FROM_COOKIE,
        }
    }

    #[test]
    fn every_row_names_its_kind_and_names_are_unique() {
        for module in MODULES {
            assert_eq!(module.kind.name(), module.name);
            assert_eq!(MODULES.iter().filter(|m| m.name == module.name).count(), 1);
        }
        let custom = ProbeKind::Tcp(TcpProbe {
            flags: 0x29,
            reading: Reading::Syn,
            client_options: false,
        });
        assert_eq!(custom.name(), "tcp_syn");
    }

    /// A probe of each sweepable kind, answered as its target would, is recognised by
    /// the classifier under the kind's own flags and read as the kind's answer.
    #[test]
    fn replies_to_each_kinds_probe_pass_the_classifier_and_read_as_its_answer() {
        let sport = |port| stateless_source_port(&KEY, TARGET, port, 40000, 59999);
        // SYN: the SYN+ACK acknowledges the sequence number + 1.
        let syn = ProbeKind::Tcp(TcpProbe::standard(Reading::Syn));
        let ack = ProbeKind::Tcp(TcpProbe::standard(Reading::Ack));
        for (kind, flags) in [(syn, 0x12u8), (ack, 0x04)] {
            let mut buf = [0u8; 128];
            let len = ProbeWriter::new(kind, &LINK).write(&mut buf, &KEY, &to(80, sport(80)));
            let frame = &buf[..len];
            let seq = u32::from_be_bytes(frame[38..42].try_into().unwrap());
            let probe_ack = u32::from_be_bytes(frame[42..46].try_into().unwrap());
            let (reply_seq, reply_ack) = if flags & 0x10 != 0 {
                (1, seq.wrapping_add(1))
            } else {
                // A reset to an ACK takes its sequence number from the probe's ack.
                (probe_ack, 0)
            };
            let verdict = classify_tcp(
                &config(kind),
                &TcpFields {
                    remote_addr: TARGET,
                    remote_port: 80,
                    local_port: sport(80),
                    seq: reply_seq,
                    ack: reply_ack,
                    flags,
                    window: 0,
                    ttl: 64,
                },
            );
            let Verdict::Reply(record) = verdict else {
                panic!("{} reply not recognised: {verdict:?}", kind.name())
            };
            let want = match kind.sweep_answer() {
                Some(SweepAnswer::Port(state)) => state,
                other => panic!("{other:?}"),
            };
            assert_eq!(kind.port_reading(&record).map(|r| r.0), Some(want));
        }
        // UDP: the reply comes back to the keyed source port the probe left from.
        let mut buf = [0u8; 512];
        let len = ProbeWriter::new(ProbeKind::Udp, &LINK).write(&mut buf, &KEY, &to(53, sport(53)));
        assert_eq!(&buf[34..36], &sport(53).to_be_bytes());
        assert_eq!(&buf[42..len], udp_payloads::for_port(53));
        let Verdict::Reply(record) =
            classify_udp(&config(ProbeKind::Udp), TARGET, 53, sport(53), 64)
        else {
            panic!("UDP reply not recognised")
        };
        assert_eq!(
            ProbeKind::Udp.port_reading(&record),
            Some((PortState::Open, Reason::UdpResponse))
        );
        // ICMP echo: the reply echoes identifier and sequence number.
        let echo = ProbeKind::Icmp(IcmpQuery::Echo);
        let len = ProbeWriter::new(echo, &LINK).write(&mut buf, &KEY, &to(0, 0));
        assert_eq!((len, buf[34]), (42, ICMP_ECHO_REQUEST));
        let id = u16::from_be_bytes([buf[38], buf[39]]);
        let seq = u16::from_be_bytes([buf[40], buf[41]]);
        let Verdict::Reply(record) =
            classify_icmp_query_reply(&config(echo), TARGET, ICMP_ECHO_REPLY, id, seq, 64)
        else {
            panic!("echo reply not recognised")
        };
        assert_eq!(echo.sweep_answer(), Some(SweepAnswer::HostUp));
        assert_eq!(
            host_reading(&record).map(|s| (s.up, s.reason)),
            Some((true, Reason::EchoReply))
        );
        assert_eq!(echo.port_reading(&record), None);
        for query in [IcmpQuery::Echo, IcmpQuery::Timestamp, IcmpQuery::Mask] {
            let writer = ProbeWriter::new(ProbeKind::Icmp(query), &LINK);
            assert!(writer.write(&mut buf, &KEY, &to(0, 0)) <= writer.max_frame_len());
        }
    }

    #[test]
    fn a_ttl_limited_probe_is_the_same_probe_with_that_ttl() {
        for kind in [
            ProbeKind::Tcp(TcpProbe::standard(Reading::Syn)),
            ProbeKind::Udp,
            ProbeKind::Icmp(IcmpQuery::Echo),
        ] {
            let writer = ProbeWriter::new(kind, &LINK);
            let (mut plain, mut limited) = ([0u8; 512], [0u8; 512]);
            let len = writer.write(&mut plain, &KEY, &to(53, 40001));
            assert_eq!(
                writer.write_with_ttl(&mut limited, &KEY, &to(53, 40001), 3),
                len
            );
            let ip = ipv4::Packet::new_checked(&limited[ETH_LEN..len]).unwrap();
            assert_eq!(ip.ttl(), 3, "{kind:?}");
            assert!(ip.verify_checksum(), "{kind:?}");
            // Nothing else differs: TTL and header checksum are bytes 8, 10 and 11.
            let differ: Vec<usize> = (0..len).filter(|&i| plain[i] != limited[i]).collect();
            assert!(
                differ
                    .iter()
                    .all(|i| [ETH_LEN + 8, ETH_LEN + 10, ETH_LEN + 11].contains(i)),
                "{kind:?}: {differ:?}"
            );
        }
    }

    #[test]
    fn udp_readings_are_nmaps() {
        let record = |kind: ReplyKind, icmp_type: u8, icmp_code: u8| ReplyRecord {
            kind: kind as u8,
            icmp_type,
            icmp_code,
            protocol: IPPROTO_UDP,
            ..Default::default()
        };
        let read = |r| ProbeKind::Udp.port_reading(&r);
        assert_eq!(
            read(record(ReplyKind::IcmpError, 3, 3)),
            Some((PortState::Closed, Reason::PortUnreach))
        );
        assert_eq!(
            read(record(ReplyKind::IcmpError, 3, 13)),
            Some((PortState::Filtered, Reason::AdminProhibited))
        );
        assert_eq!(
            read(record(ReplyKind::IcmpError, 3, 1)),
            Some((PortState::Filtered, Reason::HostUnreach))
        );
        assert_eq!(read(record(ReplyKind::SynAck, 0, 0)), None);
        assert_eq!(ProbeKind::Udp.unanswered_port(), PortState::OpenFiltered);
    }

    #[test]
    fn sweeps_refuse_kinds_whose_finding_is_silence() {
        for reading in [Reading::Fin, Reading::Null, Reading::Xmas] {
            assert_eq!(
                ProbeKind::Tcp(TcpProbe::standard(reading)).sweep_answer(),
                None
            );
        }
        assert_eq!(ProbeKind::Icmp(IcmpQuery::Timestamp).sweep_answer(), None);
    }
}
