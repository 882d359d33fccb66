//! The UDP scan (`-sU`) as a probe module: a datagram to every (target, port), from a
//! source port keyed on the destination (the only field a reply echoes), carrying the
//! port's protocol payload where there is one (see [`super::udp_payloads`]).
//!
//! Readings, as nmap's: a UDP reply is open; ICMP port unreachable is closed; any
//! other ICMP unreachable is filtered; silence is open|filtered. Closed ports are only
//! known from ICMP errors, which targets rate-limit (Linux: one per second per peer
//! after a burst of six), so the loop paces retransmissions to such a host.

use super::{udp_payloads, Findings};
use crate::engine::probing::{ProbeContext, ProbeKey, ProbeModule};
use crate::io::FrameBatch;
use crate::packet::build::udp_probe;
use crate::report::{FindingSink, PortFinding, PortState, Reason, ScanResult};
use anyhow::Result;
use scanner_common::wire::IPPROTO_UDP;
use scanner_common::{ReplyKind, ReplyRecord, FLAG_UDP};
use std::net::Ipv4Addr;

/// The UDP scan's state: where findings go.
pub struct UdpScan<'a> {
    findings: Findings<'a>,
}

impl<'a> UdpScan<'a> {
    pub fn new(sink: &'a mut dyn FindingSink, result: &'a mut ScanResult) -> Self {
        Self {
            findings: Findings::new(sink, result),
        }
    }
}

/// Writes one UDP probe to `addr:port` from its keyed source port.
pub fn write_udp_probe(
    (addr, port): ProbeKey,
    cx: &mut ProbeContext,
    out: &mut FrameBatch,
) -> usize {
    let sport = cx.keyed_source_port(addr, port);
    let ip_id = cx.next_ip_id();
    let link = cx.link;
    out.push_with(|buf| {
        udp_probe(
            buf,
            &link,
            Ipv4Addr::from(addr),
            sport,
            port,
            udp_payloads::for_port(port),
            ip_id,
        )
    });
    1
}

/// How a reply to a UDP probe reads: (state, reason), or `None` if it says nothing.
pub fn reading(record: &ReplyRecord) -> Option<(PortState, Reason)> {
    match ReplyKind::from_u8(record.kind)? {
        ReplyKind::Udp => Some((PortState::Open, Reason::UdpResponse)),
        ReplyKind::IcmpError => {
            let reason = Reason::from_icmp(record.icmp_type, record.icmp_code);
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

impl ProbeModule for UdpScan<'_> {
    fn name(&self) -> &'static str {
        "UDP scan"
    }

    fn found(&self) -> u64 {
        self.findings.open()
    }

    fn classifier_flags(&self) -> u32 {
        FLAG_UDP
    }

    fn write(&self, key: ProbeKey, cx: &mut ProbeContext, out: &mut FrameBatch) -> usize {
        write_udp_probe(key, cx, out)
    }

    fn probe_of(&self, record: &ReplyRecord) -> Option<ProbeKey> {
        (record.protocol == IPPROTO_UDP).then_some((record.remote_addr, record.remote_port))
    }

    fn answered(&mut self, (addr, port): ProbeKey, record: &ReplyRecord) -> Result<()> {
        let Some((state, reason)) = reading(record) else {
            return Ok(());
        };
        let finding = PortFinding::now(
            "udp",
            Ipv4Addr::from(addr),
            port,
            state,
            reason,
            Some(record.ttl),
        );
        self.findings.emit(finding)
    }

    fn unanswered(&mut self, (addr, port): ProbeKey) -> Result<()> {
        let finding = PortFinding::now(
            "udp",
            Ipv4Addr::from(addr),
            port,
            PortState::OpenFiltered,
            Reason::NoResponse,
            None,
        );
        self.findings.emit(finding)
    }

    fn paces_icmp_limited_hosts(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: ReplyKind, icmp_type: u8, icmp_code: u8) -> ReplyRecord {
        ReplyRecord {
            kind: kind as u8,
            icmp_type,
            icmp_code,
            protocol: IPPROTO_UDP,
            ..Default::default()
        }
    }

    #[test]
    fn replies_read_as_nmap_reads_them() {
        assert_eq!(
            reading(&record(ReplyKind::Udp, 0, 0)),
            Some((PortState::Open, Reason::UdpResponse))
        );
        assert_eq!(
            reading(&record(ReplyKind::IcmpError, 3, 3)),
            Some((PortState::Closed, Reason::PortUnreach))
        );
        assert_eq!(
            reading(&record(ReplyKind::IcmpError, 3, 13)),
            Some((PortState::Filtered, Reason::AdminProhibited))
        );
        assert_eq!(
            reading(&record(ReplyKind::IcmpError, 3, 1)),
            Some((PortState::Filtered, Reason::HostUnreach))
        );
        assert_eq!(reading(&record(ReplyKind::SynAck, 0, 0)), None);
    }
}
