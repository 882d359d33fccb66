//! The passive fingerprints of a raw SYN scan's open ports: every SYN+ACK that answers
//! a probe is captured (the classifier copies it under `CaptureKey::syn_acks`, see
//! `dispatch`), read into p0f's signature (`os::synack`) as it is drained, and kept
//! per port until its host's ports are done; then the host's open ports get theirs,
//! each matched against the signature database (`os::synack_db`), before the host's
//! scripts start (which read them as `port.synack`).
//!
//! It costs no packet. What it holds is bounded: the capture queue (frames not yet
//! read) and one signature per port answered by a SYN+ACK in the host group at hand.

use crate::dispatch::{Capture, CaptureHub, Captured};
use crate::model::{Event, EventSink, PortState, Proto, ScanResult, SynAckPrint};
use crate::os::synack::SynAckSignature;
use crate::os::synack_db::SynAckDb;
use crate::packet::reply::ipv4_tcp_headers;
use anyhow::Result;
use scanner_common::capture::CaptureKey;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

/// SYN+ACKs captured but not read yet; past this many, more are dropped (and those
/// ports have no passive fingerprint). Drained before each host group finishes and
/// whenever a host does.
const QUEUE: usize = 1 << 16;

/// The longest a group's finish waits for SYN+ACKs still in the capture ring (each
/// open port was answered by one; a full ring may have lost some).
const LATE: Duration = Duration::from_millis(250);

/// The SYN+ACKs of the scan, read into signatures, by (host, port).
pub struct SynAckPrints {
    capture: Capture,
    /// The MSS the probes carried (some stacks size their window by it).
    probe_mss: Option<u16>,
    by_port: HashMap<(Ipv4Addr, u16), SynAckSignature>,
    db: Arc<SynAckDb>,
}

impl SynAckPrints {
    /// Starts capturing the SYN+ACKs that answer probes carrying `probe_mss`, to be
    /// matched against `db`.
    pub fn open(hub: &CaptureHub, probe_mss: Option<u16>, db: Arc<SynAckDb>) -> Result<Self> {
        Ok(Self {
            capture: hub.open_with_queue(CaptureKey::syn_acks(), QUEUE)?,
            probe_mss,
            by_port: HashMap::new(),
            db,
        })
    }

    /// Keeps the signature of a captured SYN+ACK; the first of a port is its
    /// signature (a retransmitted one says the same, an answer to another connection
    /// may not).
    fn keep(&mut self, captured: &Captured) {
        let Some((ip, segment, _)) = ipv4_tcp_headers(&captured.frame) else {
            return;
        };
        let port = (ip.src_addr(), segment.src_port());
        if self.by_port.contains_key(&port) {
            return;
        }
        if let Some(signature) = SynAckSignature::read(&captured.frame, self.probe_mss) {
            self.by_port.insert(port, signature);
        }
    }

    /// The signature of each open TCP port of `hosts` (address and open ports) that
    /// has one, matched against the database; the hosts' other signatures are
    /// forgotten. The last SYN+ACKs may still be on their way through the capture ring:
    /// a port still without one is waited for, [`LATE`] at most for all together.
    pub async fn take_hosts(
        &mut self,
        hosts: &[(Ipv4Addr, Vec<u16>)],
    ) -> Vec<(Ipv4Addr, u16, SynAckPrint)> {
        while let Some(captured) = self.capture.try_next() {
            self.keep(&captured);
        }
        let deadline = tokio::time::Instant::now() + LATE;
        let missing = |prints: &Self| {
            hosts.iter().any(|(addr, ports)| {
                ports
                    .iter()
                    .any(|&port| !prints.by_port.contains_key(&(*addr, port)))
            })
        };
        while missing(self) {
            match tokio::time::timeout_at(deadline, self.capture.next()).await {
                Ok(Some(captured)) => self.keep(&captured),
                _ => break,
            }
        }
        let mut prints = Vec::new();
        for (addr, ports) in hosts {
            for &port in ports {
                if let Some(signature) = self.by_port.remove(&(*addr, port)) {
                    let print = SynAckPrint {
                        signature: signature.to_string(),
                        matched: self.db.best_match(&signature),
                    };
                    prints.push((*addr, port, print));
                }
            }
            self.by_port.retain(|(host, _), _| host != addr);
        }
        prints
    }
}

/// Emits the prints [`SynAckPrints::take_hosts`] took.
pub fn emit(prints: Vec<(Ipv4Addr, u16, SynAckPrint)>, sink: &mut dyn EventSink) -> Result<()> {
    for (addr, port, print) in prints {
        sink.emit(Event::SynAck(addr, port, print))?;
    }
    Ok(())
}

/// The open TCP ports of `addr` in `result` that have no SYN+ACK signature yet.
pub fn unsigned_open_ports(result: &ScanResult, addr: Ipv4Addr) -> Vec<u16> {
    result.hosts.get(&addr).map_or_else(Vec::new, |host| {
        host.ports
            .values()
            .filter(|p| p.proto == Proto::Tcp && p.state == PortState::Open)
            .filter(|p| p.synack.is_none())
            .map(|p| p.port)
            .collect()
    })
}
