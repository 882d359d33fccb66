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
use crate::packet::template::{LinkAddrs, SegmentKind, TcpTemplate};
use crate::report::{FindingSink, PortFinding, PortState, Reason, ScanResult};
use anyhow::Result;
use scanner_common::wire::{
    IPPROTO_TCP, TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_PSH, TCP_FLAG_SYN, TCP_FLAG_URG,
};
use scanner_common::{ReplyKind, ReplyRecord, FLAG_ACK_IS_COOKIE, FLAG_SEQ_IS_COOKIE};
use std::net::Ipv4Addr;

/// How replies to a TCP probe read, as nmap's scan types do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// -sS: SYN+ACK open, RST closed, silence filtered.
    Syn,
    /// -sA: RST unfiltered, silence filtered.
    Ack,
    /// -sF, -sN, -sX: RST closed, silence open|filtered.
    Fin,
    Null,
    Xmas,
}

impl Reading {
    /// nmap's scan type word (XML `scaninfo type`).
    pub fn name(self) -> &'static str {
        match self {
            Reading::Syn => "syn",
            Reading::Ack => "ack",
            Reading::Fin => "fin",
            Reading::Null => "null",
            Reading::Xmas => "xmas",
        }
    }

    /// The flags nmap sends for this scan type.
    pub fn default_flags(self) -> u8 {
        match self {
            Reading::Syn => TCP_FLAG_SYN,
            Reading::Ack => TCP_FLAG_ACK,
            Reading::Fin => TCP_FLAG_FIN,
            Reading::Null => 0,
            Reading::Xmas => TCP_FLAG_FIN | TCP_FLAG_PSH | TCP_FLAG_URG,
        }
    }

    /// The state and reason of a port that answered with a TCP segment.
    pub fn answered(self, kind: ReplyKind) -> (PortState, Reason) {
        match (self, kind) {
            (_, ReplyKind::SynAck) => (PortState::Open, Reason::SynAck),
            (Reading::Ack, _) => (PortState::Unfiltered, Reason::Reset),
            _ => (PortState::Closed, Reason::Reset),
        }
    }

    /// The state of a port that never answered.
    pub fn unanswered(self) -> PortState {
        match self {
            Reading::Syn | Reading::Ack => PortState::Filtered,
            Reading::Fin | Reading::Null | Reading::Xmas => PortState::OpenFiltered,
        }
    }
}

/// The TCP probe of a scan: its flags (nmap's, or `--scanflags`) and how replies read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpProbe {
    pub flags: u8,
    pub reading: Reading,
}

impl TcpProbe {
    /// The probe nmap sends for `reading`.
    pub fn standard(reading: Reading) -> Self {
        Self {
            flags: reading.default_flags(),
            reading,
        }
    }

    /// The frame template for these flags.
    pub fn segment(self) -> SegmentKind {
        if self.flags == TCP_FLAG_SYN {
            SegmentKind::Syn
        } else {
            SegmentKind::Flags(self.flags)
        }
    }

    /// How the classifier recognises replies to it (see `scanner_common::FLAG_*`).
    pub fn classifier_flags(self) -> u32 {
        if self.flags & TCP_FLAG_ACK != 0 {
            FLAG_SEQ_IS_COOKIE
        } else if self.flags & (TCP_FLAG_SYN | TCP_FLAG_FIN) == 0 {
            FLAG_ACK_IS_COOKIE
        } else {
            0
        }
    }
}

/// Parses `--scanflags`: a number (`0x29`, `41`) or flag names run together
/// (`URGPSHFIN`, `synfin`).
pub fn parse_scan_flags(text: &str) -> anyhow::Result<u8> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u8::from_str_radix(hex, 16)
            .map_err(|_| anyhow::anyhow!("--scanflags {text:?}: not a hex byte"));
    }
    if let Ok(value) = text.parse::<u8>() {
        return Ok(value);
    }
    const NAMES: [(&str, u8); 8] = [
        ("FIN", 0x01),
        ("SYN", 0x02),
        ("RST", 0x04),
        ("PSH", 0x08),
        ("ACK", 0x10),
        ("URG", 0x20),
        ("ECE", 0x40),
        ("CWR", 0x80),
    ];
    let upper = text.to_ascii_uppercase();
    let mut rest = upper.as_str();
    let mut flags = 0u8;
    while !rest.is_empty() {
        let (name, bit) = NAMES
            .iter()
            .find(|(name, _)| rest.starts_with(name))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--scanflags {text:?}: use a number or names such as URGACKPSHRSTSYNFIN"
                )
            })?;
        flags |= bit;
        rest = &rest[name.len()..];
    }
    Ok(flags)
}

/// A TCP probe scan as a probe module: one segment per (target, port), the cookie
/// in its sequence number, each reply read as the scan type reads it.
pub struct TcpScan<'a> {
    probe: TcpProbe,
    template: TcpTemplate,
    findings: Findings<'a>,
}

impl<'a> TcpScan<'a> {
    pub fn new(
        probe: TcpProbe,
        link: &LinkAddrs,
        sink: &'a mut dyn FindingSink,
        result: &'a mut ScanResult,
    ) -> Self {
        Self {
            probe,
            template: TcpTemplate::new(probe.segment(), link),
            findings: Findings::new(sink, result),
        }
    }
}

/// Writes one TCP probe from a fresh source port, its cookie in the sequence number.
pub fn write_tcp_probe(
    template: &TcpTemplate,
    (addr, port): ProbeKey,
    cx: &mut ProbeContext,
    out: &mut FrameBatch,
) -> usize {
    let sport = cx.rotating_source_port();
    let seq = cx.tcp_cookie(addr, port, sport);
    let ip_id = cx.next_ip_id();
    let dst_mac = cx.link.dst_mac;
    out.push_with(|buf| {
        let len = template.write(buf, Ipv4Addr::from(addr), sport, port, seq, ip_id);
        buf[0..6].copy_from_slice(&dst_mac);
        len
    });
    1
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
        self.probe.classifier_flags()
    }

    fn write(&self, key: ProbeKey, cx: &mut ProbeContext, out: &mut FrameBatch) -> usize {
        write_tcp_probe(&self.template, key, cx, out)
    }

    fn probe_of(&self, record: &ReplyRecord) -> Option<ProbeKey> {
        (record.protocol == IPPROTO_TCP).then_some((record.remote_addr, record.remote_port))
    }

    fn answered(&mut self, (addr, port): ProbeKey, record: &ReplyRecord) -> Result<()> {
        let (state, reason) = match ReplyKind::from_u8(record.kind) {
            // Any ICMP error means something on the way filters the port (nmap's reading).
            Some(ReplyKind::IcmpError) => (
                PortState::Filtered,
                Reason::from_icmp(record.icmp_type, record.icmp_code),
            ),
            Some(kind @ (ReplyKind::SynAck | ReplyKind::Rst)) => self.probe.reading.answered(kind),
            _ => return Ok(()),
        };
        let finding = PortFinding::tcp(Ipv4Addr::from(addr), port, state, reason, Some(record.ttl));
        self.findings.emit(finding)
    }

    fn unanswered(&mut self, (addr, port): ProbeKey) -> Result<()> {
        let finding = PortFinding::tcp(
            Ipv4Addr::from(addr),
            port,
            self.probe.reading.unanswered(),
            Reason::NoResponse,
            None,
        );
        self.findings.emit(finding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_flags_parse_as_nmap_takes_them() {
        assert_eq!(parse_scan_flags("0x29").unwrap(), 0x29);
        assert_eq!(parse_scan_flags("41").unwrap(), 41);
        assert_eq!(parse_scan_flags("URGPSHFIN").unwrap(), 0x29);
        assert_eq!(parse_scan_flags("synfin").unwrap(), 0x03);
        assert!(parse_scan_flags("SYNX").is_err());
    }

    #[test]
    fn probes_pick_the_classifier_rule_their_replies_follow() {
        assert_eq!(TcpProbe::standard(Reading::Syn).classifier_flags(), 0);
        assert_eq!(TcpProbe::standard(Reading::Fin).classifier_flags(), 0);
        assert_eq!(TcpProbe::standard(Reading::Xmas).classifier_flags(), 0);
        assert_eq!(
            TcpProbe::standard(Reading::Null).classifier_flags(),
            FLAG_ACK_IS_COOKIE
        );
        assert_eq!(
            TcpProbe::standard(Reading::Ack).classifier_flags(),
            FLAG_SEQ_IS_COOKIE
        );
        assert_eq!(TcpProbe::standard(Reading::Syn).segment(), SegmentKind::Syn);
        assert_eq!(
            Reading::Ack.answered(ReplyKind::Rst).0,
            PortState::Unfiltered
        );
        assert_eq!(Reading::Null.unanswered(), PortState::OpenFiltered);
    }
}
