//! The result model (what a scan found) and its writers: the streaming JSON lines and
//! CSV writers and nmap's normal output. Writers only read results; they never change
//! them.

pub mod csv;
pub mod fields;
pub mod json;
pub mod normal;
pub mod services;

use serde::Serialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A port's state, as nmap names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    Open,
    Closed,
    Filtered,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }
}

/// Why a port got its state (nmap's `--reason` words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    SynAck,
    Reset,
    NoResponse,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::Reset => "reset",
            Reason::NoResponse => "no-response",
        }
    }
}

/// One port's finding, emitted the moment it is known.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PortFinding {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub proto: &'static str,
    pub state: PortState,
    pub reason: Reason,
    /// TTL of the reply, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// Seconds since the Unix epoch when the finding was made.
    pub time: f64,
}

/// What is known about one host.
#[derive(Clone, Debug, Default)]
pub struct HostResult {
    pub ports: BTreeMap<u16, PortFinding>,
    /// Smoothed round-trip time of its replies, if any came.
    pub latency: Option<std::time::Duration>,
}

impl HostResult {
    /// A host is up when anything at all came back from it.
    pub fn is_up(&self) -> bool {
        self.ports.values().any(|p| p.reason != Reason::NoResponse)
    }
}

/// Everything a scan found, in address order.
#[derive(Clone, Debug, Default)]
pub struct ScanResult {
    pub hosts: BTreeMap<Ipv4Addr, HostResult>,
    pub started: Option<std::time::SystemTime>,
    pub elapsed: std::time::Duration,
    /// How many addresses the scan covered (hosts found down included).
    pub addresses: u64,
}

impl ScanResult {
    pub fn record(&mut self, finding: PortFinding) {
        self.hosts
            .entry(finding.addr)
            .or_default()
            .ports
            .insert(finding.port, finding);
    }
}

/// Seconds since the Unix epoch, for a finding's `time`.
pub fn unix_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Something that receives findings as the scan makes them.
pub trait FindingSink {
    fn finding(&mut self, finding: &PortFinding) -> anyhow::Result<()>;
}
