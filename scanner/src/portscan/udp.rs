//! The UDP scan (`-sU`) as a probe module: a datagram to every (target, port), from a
//! source port keyed on the destination (the only field a reply echoes), carrying the
//! port's protocol payload where there is one (see [`crate::probe::udp_payloads`]).
//!
//! Readings, as nmap's: a UDP reply is open; ICMP port unreachable is closed; any
//! other ICMP unreachable is filtered; silence is open|filtered. Closed ports are only
//! known from ICMP errors, which targets rate-limit (Linux: one per second per peer
//! after a burst of six), so the loop paces retransmissions to such a host.

use super::Findings;
use crate::engine::probing::{ProbeContext, ProbeKey, ProbeModule};
use crate::io::FrameBatch;
use crate::model::{EventSink, PortFinding, Proto, Reason};
use crate::packet::template::LinkAddrs;
use crate::probe::{write_probe, ProbeKind, ProbeWriter};
use anyhow::Result;
use scanner_common::wire::IPPROTO_UDP;
use scanner_common::ReplyRecord;
use std::net::Ipv4Addr;

/// The UDP scan's state: the table's UDP writer, and where findings go.
pub struct UdpScan<'a> {
    writer: ProbeWriter,
    findings: Findings<'a>,
}

impl<'a> UdpScan<'a> {
    pub fn new(link: &LinkAddrs, sink: &'a mut dyn EventSink) -> Self {
        Self {
            writer: ProbeWriter::new(ProbeKind::Udp, link),
            findings: Findings::new(sink),
        }
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
        ProbeKind::Udp.classifier_flags()
    }

    fn write(&self, key: ProbeKey, cx: &mut ProbeContext, out: &mut FrameBatch) -> usize {
        write_probe(&self.writer, key, cx, out)
    }

    fn probe_of(&self, record: &ReplyRecord) -> Option<ProbeKey> {
        (record.protocol == IPPROTO_UDP).then_some((record.remote_addr, record.remote_port))
    }

    fn answered(&mut self, (addr, port): ProbeKey, record: &ReplyRecord) -> Result<()> {
        let Some((state, reason)) = ProbeKind::Udp.port_reading(record) else {
            return Ok(());
        };
        let finding = PortFinding::now(
            Proto::Udp,
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
            Proto::Udp,
            Ipv4Addr::from(addr),
            port,
            ProbeKind::Udp.unanswered_port(),
            Reason::NoResponse,
            None,
        );
        self.findings.emit(finding)
    }

    fn paces_icmp_limited_hosts(&self) -> bool {
        true
    }
}
