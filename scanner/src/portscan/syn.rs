//! TCP probe scans (`-sS`, `-sA`, `-sF`, `-sN`, `-sX`, `--scanflags`) as a probe
//! module for the shared probe loop (`engine::probing`): a segment to every (target,
//! port), the cookie in its sequence number; replies classified by the XDP program (or
//! its userspace twin). For a SYN scan, SYN+ACK is open (the loop answers it with an
//! RST so the target keeps no half-open connection), RST is closed, an ICMP error
//! filtered, and a probe that stays unanswered after its retries is filtered.
//!
//! Findings stream out as replies arrive; silent ports are only known at the end,
//! after the wait for late replies.

use super::Findings;
use crate::engine::probing::{ProbeContext, ProbeKey, ProbeModule};
use crate::io::FrameBatch;
use crate::model::{EventSink, PortFinding, Reason};
use crate::packet::template::LinkAddrs;
use crate::probe::{write_probe, ProbeKind, ProbeWriter};
use anyhow::Result;
use scanner_common::wire::IPPROTO_TCP;
use scanner_common::ReplyRecord;
use std::net::Ipv4Addr;

pub use crate::probe::tcp::{parse_scan_flags, Reading, TcpProbe};

/// A TCP probe scan as a probe module: one segment per (target, port), the cookie
/// in its sequence number, each reply read as the scan type reads it (the
/// probe-module table's TCP entry, [`crate::probe`]).
pub struct TcpScan<'a> {
    probe: TcpProbe,
    writer: ProbeWriter,
    findings: Findings<'a>,
}

impl<'a> TcpScan<'a> {
    pub fn new(probe: TcpProbe, link: &LinkAddrs, sink: &'a mut dyn EventSink) -> Self {
        Self {
            probe,
            writer: ProbeWriter::new(ProbeKind::Tcp(probe), link),
            findings: Findings::new(sink),
        }
    }
}

impl ProbeModule for TcpScan<'_> {
    fn name(&self) -> &'static str {
        match self.probe.reading {
            Reading::Syn => "SYN scan",
            Reading::Ack => "ACK scan",
            Reading::Fin => "FIN scan",
            Reading::Null => "NULL scan",
            Reading::Xmas => "Xmas scan",
        }
    }

    fn found(&self) -> u64 {
        self.findings.open()
    }

    fn classifier_flags(&self) -> u32 {
        self.writer.kind().classifier_flags()
    }

    fn write(&self, key: ProbeKey, cx: &mut ProbeContext, out: &mut FrameBatch) -> usize {
        write_probe(&self.writer, key, cx, out)
    }

    fn probe_of(&self, record: &ReplyRecord) -> Option<ProbeKey> {
        (record.protocol == IPPROTO_TCP).then_some((record.remote_addr, record.remote_port))
    }

    fn answered(&mut self, (addr, port): ProbeKey, record: &ReplyRecord) -> Result<()> {
        let Some((state, reason)) = self.writer.kind().port_reading(record) else {
            return Ok(());
        };
        let finding = PortFinding::tcp(Ipv4Addr::from(addr), port, state, reason, Some(record.ttl));
        self.findings.emit(finding)
    }

    fn unanswered(&mut self, (addr, port): ProbeKey) -> Result<()> {
        let finding = PortFinding::tcp(
            Ipv4Addr::from(addr),
            port,
            self.writer.kind().unanswered_port(),
            Reason::NoResponse,
            None,
        );
        self.findings.emit(finding)
    }
}
