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
use crate::packet::build::icmp_query;
use crate::packet::template::{LinkAddrs, SegmentKind, TcpTemplate};
use crate::portscan::syn::write_tcp_probe;
use crate::portscan::udp::write_udp_probe;
use anyhow::{bail, Result};
use scanner_common::classify::icmp_cookie;
use scanner_common::wire::{
    ICMP_ADDRESS_MASK_REPLY, ICMP_ADDRESS_MASK_REQUEST, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST,
    ICMP_TIMESTAMP_REPLY, ICMP_TIMESTAMP_REQUEST, TCP_FLAG_ACK,
};
use scanner_common::{ReplyKind, ReplyRecord, FLAG_ANY_COOKIE, FLAG_UDP};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

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

/// Whether a host is up, and why (nmap's reason words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostStatus {
    pub up: bool,
    pub reason: &'static str,
    /// TTL of the reply that decided it.
    pub ttl: Option<u8>,
}

/// The reason word for a reply to a ping, and whether it means up.
pub fn reading(record: &ReplyRecord) -> Option<HostStatus> {
    let kind = ReplyKind::from_u8(record.kind)?;
    let (up, reason) = match kind {
        ReplyKind::SynAck => (true, "syn-ack"),
        ReplyKind::Rst => (true, "reset"),
        ReplyKind::Udp => (true, "udp-response"),
        ReplyKind::Arp => (true, "arp-response"),
        ReplyKind::IcmpReply => (
            true,
            match record.icmp_type {
                ICMP_ECHO_REPLY => "echo-reply",
                ICMP_TIMESTAMP_REPLY => "timestamp-reply",
                ICMP_ADDRESS_MASK_REPLY => "addressmask-reply",
                _ => return None,
            },
        ),
        ReplyKind::IcmpError => {
            let reason = crate::report::Reason::from_icmp(record.icmp_type, record.icmp_code);
            // Only the host itself sends port-unreachable for its own closed UDP port.
            let from_host = record.icmp_from == record.remote_addr;
            (
                from_host && reason == crate::report::Reason::PortUnreach,
                reason.as_str(),
            )
        }
    };
    Some(HostStatus {
        up,
        reason,
        ttl: Some(record.ttl),
    })
}

/// The ping phase as a probe module: one key per host, `(addr, 0)`, whose every send
/// is all of the host's pings.
pub struct Pinger {
    spec: PingSpec,
    syn: TcpTemplate,
    ack: TcpTemplate,
    /// What was learnt about each host.
    pub statuses: BTreeMap<Ipv4Addr, HostStatus>,
}

impl Pinger {
    pub fn new(spec: PingSpec, link: &LinkAddrs) -> Result<Self> {
        spec.validate()?;
        Ok(Self {
            syn: TcpTemplate::new(SegmentKind::Syn, link),
            ack: TcpTemplate::new(SegmentKind::Flags(TCP_FLAG_ACK), link),
            spec,
            statuses: BTreeMap::new(),
        })
    }

    /// The one slot each host has.
    pub const SLOTS: [u16; 1] = [0];

    fn write_icmp(&self, addr: u32, request: u8, cx: &mut ProbeContext, out: &mut FrameBatch) {
        let cookie = icmp_cookie(&cx.key, addr, request);
        let ip_id = cx.next_ip_id();
        let link = cx.link;
        out.push_with(|buf| {
            icmp_query(
                buf,
                &link,
                Ipv4Addr::from(addr),
                request,
                (cookie >> 16) as u16,
                cookie as u16,
                ip_id,
            )
        });
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
            self.write_icmp(addr, ICMP_ECHO_REQUEST, cx, out);
        }
        for &port in &self.spec.syn_ports {
            write_tcp_probe(&self.syn, (addr, port), cx, out);
        }
        for &port in &self.spec.ack_ports {
            write_tcp_probe(&self.ack, (addr, port), cx, out);
        }
        for &port in &self.spec.udp_ports {
            write_udp_probe((addr, port), cx, out);
        }
        if self.spec.timestamp {
            self.write_icmp(addr, ICMP_TIMESTAMP_REQUEST, cx, out);
        }
        if self.spec.mask {
            self.write_icmp(addr, ICMP_ADDRESS_MASK_REQUEST, cx, out);
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
        if let Some(status) = reading(record) {
            self.statuses.insert(Ipv4Addr::from(addr), status);
        }
        Ok(())
    }

    fn unanswered(&mut self, (addr, _): ProbeKey) -> Result<()> {
        self.statuses.insert(
            Ipv4Addr::from(addr),
            HostStatus {
                up: false,
                reason: "no-response",
                ttl: None,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Some((true, "echo-reply"))
        );
        assert_eq!(
            status(reply(ReplyKind::IcmpReply, 14, 0, 0)),
            Some((true, "timestamp-reply"))
        );
        assert_eq!(
            status(reply(ReplyKind::Rst, 0, 0, 0)),
            Some((true, "reset"))
        );
        assert_eq!(
            status(reply(ReplyKind::IcmpError, 3, 3, host)),
            Some((true, "port-unreach"))
        );
        assert_eq!(
            status(reply(ReplyKind::IcmpError, 3, 1, router)),
            Some((false, "host-unreach"))
        );
    }

    #[test]
    fn arp_replies_answer_no_ping() {
        let link = LinkAddrs {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
        };
        let pinger = Pinger::new(PingSpec::nmap_default(), &link).unwrap();
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
