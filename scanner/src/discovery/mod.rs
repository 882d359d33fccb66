//! Host discovery (`-sn`, and before every port scan unless `-Pn`): which targets are
//! up. On-link targets are found by ARP, which the scan resolves anyway (nmap's default
//! for local segments; the requests leave through the scan's sender and the XDP
//! classifier records the replies, see `engine::probing`); the rest get IP pings, as
//! a probe module for the shared
//! probe loop: ICMP echo (`-PE`), timestamp (`-PP`), address mask (`-PM`), TCP SYN
//! (`-PS`), TCP ACK (`-PA`) and UDP (`-PU`), all of one host's pings sent together,
//! every host in flight at once. With none named, nmap's defaults for a privileged
//! user: echo, SYN to 443, ACK to 80, timestamp.
//!
//! Any reply from the host means up (with nmap's reason words); an ICMP error about it
//! from elsewhere (a router's host-unreachable) or silence means down. Without raw
//! packet privileges, [`connect`] pings with TCP connects instead.

pub mod connect;

use crate::engine::probing::{ProbeContext, ProbeKey, ProbeModule};
use crate::io::FrameBatch;
use crate::model::Reason;
use crate::packet::template::LinkAddrs;
use crate::probe::{write_probe, IcmpQuery, PingProbe, ProbeKind, ProbeWriter, Reading, TcpProbe};
use anyhow::{bail, Result};
use scanner_common::wire::{IPPROTO_UDP, TCP_FLAG_ACK, TCP_FLAG_SYN};
use scanner_common::{ReplyKind, ReplyRecord, FLAG_ANY_COOKIE, FLAG_UDP};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub use crate::probe::{host_reading as reading, HostStatus};

/// Which pings go to each host that is not found by ARP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PingSpec {
    pub echo: bool,
    pub timestamp: bool,
    pub mask: bool,
    pub syn_ports: Vec<u16>,
    pub ack_ports: Vec<u16>,
    pub udp_ports: Vec<u16>,
}

/// Most pings of one host, so that a host's pings fit one send batch.
const MAX_PINGS: usize = 64;

impl PingSpec {
    /// nmap's default for a privileged user: `-PE -PS443 -PA80 -PP`.
    pub fn nmap_default() -> Self {
        Self {
            echo: true,
            timestamp: true,
            mask: false,
            syn_ports: vec![443],
            ack_ports: vec![80],
            udp_ports: vec![],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// How many frames one host's pings take.
    pub fn count(&self) -> usize {
        usize::from(self.echo)
            + usize::from(self.timestamp)
            + usize::from(self.mask)
            + self.syn_ports.len()
            + self.ack_ports.len()
            + self.udp_ports.len()
    }

    /// Checks the spec can be sent.
    pub fn validate(&self) -> Result<()> {
        if self.count() > MAX_PINGS {
            bail!(
                "{} pings per host: at most {MAX_PINGS} (ports given to -PS, -PA and -PU together)",
                self.count()
            );
        }
        Ok(())
    }
}

/// The ping phase as a probe module: one key per host, `(addr, 0)`, whose every send
/// is all of the host's pings.
pub struct Pinger {
    spec: PingSpec,
    /// The table's writers for each ping kind.
    echo: ProbeWriter,
    timestamp: ProbeWriter,
    mask: ProbeWriter,
    syn: ProbeWriter,
    ack: ProbeWriter,
    udp: ProbeWriter,
    /// What was learnt about each host.
    pub statuses: BTreeMap<Ipv4Addr, HostStatus>,
}

impl Pinger {
    pub fn new(spec: PingSpec, link: &LinkAddrs) -> Result<Self> {
        spec.validate()?;
        let tcp = |flags| {
            ProbeKind::Tcp(TcpProbe {
                flags,
                // SYN pings are acknowledged, ACK pings reset: FLAG_ANY_COOKIE reads both.
                reading: Reading::Syn,
                client_options: false,
            })
        };
        let writer = |kind| ProbeWriter::new(kind, link);
        Ok(Self {
            echo: writer(ProbeKind::Icmp(IcmpQuery::Echo)),
            timestamp: writer(ProbeKind::Icmp(IcmpQuery::Timestamp)),
            mask: writer(ProbeKind::Icmp(IcmpQuery::Mask)),
            syn: writer(tcp(TCP_FLAG_SYN)),
            ack: writer(tcp(TCP_FLAG_ACK)),
            udp: writer(ProbeKind::Udp),
            spec,
            statuses: BTreeMap::new(),
        })
    }

    /// The one slot each host has.
    pub const SLOTS: [u16; 1] = [0];

    /// Which ping `record` answers (a reset from a port both SYN- and ACK-pinged is
    /// taken for the SYN's).
    fn ping_of(&self, record: &ReplyRecord) -> Option<PingProbe> {
        let port = record.remote_port;
        let kind = match ReplyKind::from_u8(record.kind)? {
            ReplyKind::SynAck => self.syn.kind(),
            ReplyKind::Rst if self.spec.syn_ports.contains(&port) => self.syn.kind(),
            ReplyKind::Rst => self.ack.kind(),
            ReplyKind::Udp => ProbeKind::Udp,
            ReplyKind::IcmpError if record.protocol == IPPROTO_UDP => ProbeKind::Udp,
            ReplyKind::IcmpReply => [&self.echo, &self.timestamp, &self.mask]
                .into_iter()
                .map(ProbeWriter::kind)
                .find(|k| matches!(k, ProbeKind::Icmp(q) if q.reply_type() == record.icmp_type))?,
            _ => return None,
        };
        let port = if kind.proto().is_some() { port } else { 0 };
        Some(PingProbe { kind, port })
    }
}

impl ProbeModule for Pinger {
    fn name(&self) -> &'static str {
        "ping scan"
    }

    fn found(&self) -> u64 {
        self.statuses.values().filter(|s| s.up).count() as u64
    }

    fn classifier_flags(&self) -> u32 {
        // SYN pings are acknowledged (cookie + 1), ACK pings reset with the cookie.
        FLAG_ANY_COOKIE
            | if self.spec.udp_ports.is_empty() {
                0
            } else {
                FLAG_UDP
            }
    }

    fn write(&self, (addr, _): ProbeKey, cx: &mut ProbeContext, out: &mut FrameBatch) -> usize {
        if self.spec.echo {
            write_probe(&self.echo, (addr, 0), cx, out);
        }
        for &port in &self.spec.syn_ports {
            write_probe(&self.syn, (addr, port), cx, out);
        }
        for &port in &self.spec.ack_ports {
            write_probe(&self.ack, (addr, port), cx, out);
        }
        for &port in &self.spec.udp_ports {
            write_probe(&self.udp, (addr, port), cx, out);
        }
        if self.spec.timestamp {
            write_probe(&self.timestamp, (addr, 0), cx, out);
        }
        if self.spec.mask {
            write_probe(&self.mask, (addr, 0), cx, out);
        }
        self.spec.count()
    }

    fn frames_per_probe(&self) -> usize {
        self.spec.count()
    }

    fn probe_of(&self, record: &ReplyRecord) -> Option<ProbeKey> {
        // ARP replies are no answer to a ping: a late one to the path's requests (or,
        // with --disable-arp-ping, any) must not make a host "up (arp-response)". A
        // host is up by ARP only when the scan asked for it (`engine::probing`).
        (ReplyKind::from_u8(record.kind) != Some(ReplyKind::Arp)).then_some((record.remote_addr, 0))
    }

    fn answered(&mut self, (addr, _): ProbeKey, record: &ReplyRecord) -> Result<()> {
        if let Some(mut status) = reading(record) {
            let addr = Ipv4Addr::from(addr);
            let before = self.statuses.get(&addr).and_then(|s| s.ping);
            status.ping = PingProbe::better(before, self.ping_of(record).filter(|_| status.up));
            self.statuses.insert(addr, status);
        }
        Ok(())
    }

    fn unanswered(&mut self, (addr, _): ProbeKey) -> Result<()> {
        self.statuses.insert(
            Ipv4Addr::from(addr),
            HostStatus {
                up: false,
                reason: Reason::NoResponse,
                ttl: None,
                ping: None,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: LinkAddrs = LinkAddrs {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_ip: Ipv4Addr::new(198, 18, 0, 1),
    };

    #[test]
    fn replies_decide_up_or_down_with_nmaps_words() {
        let host = 0xc612_010a;
        let router = 0xc612_0101;
        let reply = |kind: ReplyKind, icmp_type: u8, icmp_code: u8, from: u32| ReplyRecord {
            kind: kind as u8,
            remote_addr: host,
            icmp_type,
            icmp_code,
            icmp_from: from,
            ..Default::default()
        };
        let status = |r| reading(&r).map(|s| (s.up, s.reason));
        assert_eq!(
            status(reply(ReplyKind::IcmpReply, 0, 0, 0)),
            Some((true, Reason::EchoReply))
        );
        assert_eq!(
            status(reply(ReplyKind::IcmpReply, 14, 0, 0)),
            Some((true, Reason::TimestampReply))
        );
        assert_eq!(
            status(reply(ReplyKind::Rst, 0, 0, 0)),
            Some((true, Reason::Reset))
        );
        assert_eq!(
            status(reply(ReplyKind::IcmpError, 3, 3, host)),
            Some((true, Reason::PortUnreach))
        );
        assert_eq!(
            status(reply(ReplyKind::IcmpError, 3, 1, router)),
            Some((false, Reason::HostUnreach))
        );
    }

    /// The pings a host answered, kept as nmap keeps its "ping probe": the
    /// best-trusted (`PingProbe::score`), the first of equals.
    #[test]
    fn the_best_ping_answered_is_kept_for_the_trace() {
        let mut pinger = Pinger::new(PingSpec::nmap_default(), &LINK).unwrap();
        let host = 0xc612_010a;
        let reply = |kind: ReplyKind, port: u16, icmp_type: u8| ReplyRecord {
            kind: kind as u8,
            remote_addr: host,
            remote_port: port,
            icmp_type,
            ttl: 63,
            ..Default::default()
        };
        let ping = |pinger: &Pinger| pinger.statuses[&Ipv4Addr::from(host)].ping;
        let ack = PingProbe {
            kind: ProbeKind::Tcp(TcpProbe {
                flags: TCP_FLAG_ACK,
                reading: Reading::Syn,
                client_options: false,
            }),
            port: 80,
        };
        let timestamp = reply(ReplyKind::IcmpReply, 0, 14);
        let steps = [
            (reply(ReplyKind::Rst, 443, 0), PingProbe::syn(443)),
            (reply(ReplyKind::IcmpReply, 0, 0), PingProbe::echo()),
            (timestamp, PingProbe::echo()),
            (reply(ReplyKind::Rst, 80, 0), ack),
            (reply(ReplyKind::IcmpReply, 0, 0), ack),
        ];
        for (record, want) in steps {
            pinger.answered((host, 0), &record).unwrap();
            assert_eq!(ping(&pinger), Some(want), "{record:?}");
        }
    }

    #[test]
    fn arp_replies_answer_no_ping() {
        let pinger = Pinger::new(PingSpec::nmap_default(), &LINK).unwrap();
        let host = 0xc612_000a;
        let record = |kind: ReplyKind| ReplyRecord {
            kind: kind as u8,
            remote_addr: host,
            ..Default::default()
        };
        assert_eq!(pinger.probe_of(&record(ReplyKind::Arp)), None);
        assert_eq!(
            pinger.probe_of(&record(ReplyKind::IcmpReply)),
            Some((host, 0))
        );
    }

    #[test]
    fn ping_specs_count_their_frames() {
        assert_eq!(PingSpec::nmap_default().count(), 4);
        let many = PingSpec {
            syn_ports: (1..=100).collect(),
            ..Default::default()
        };
        assert!(many.validate().is_err());
        assert!(PingSpec::default().is_empty());
    }
}
