//! The writers of results, one [`Writer`] each: nmap's normal, XML and grepable
//! output, written host by host as each host is finished; the JSON lines and CSV
//! writers, which stream each port; Parquet, in row groups as ports stream in; the
//! list of them a scan writes to ([`outputs`]);
//! and the progress line. Writers only read the model ([`crate::model`]); they never
//! change it.

pub mod csv;
pub mod fields;
pub mod grepable;
pub mod json;
pub mod normal;
pub mod os;
pub mod output_file;
pub mod outputs;
pub mod parquet;
pub mod progress;
pub mod trace;
pub mod xml;

use crate::model::{HostResult, PortFinding, PortState};

pub use crate::model::Writer;

/// Which states of a host's ports are folded away ("Not shown", `<extraports>`):
/// every state but open with more than 25 ports, as nmap does.
pub fn folded_states(host: &HostResult) -> Vec<PortState> {
    const FOLD_THRESHOLD: usize = 25;
    [
        PortState::Closed,
        PortState::Filtered,
        PortState::Unfiltered,
        PortState::OpenFiltered,
        PortState::ClosedFiltered,
    ]
    .into_iter()
    .filter(|&state| host.ports.values().filter(|p| p.state == state).count() > FOLD_THRESHOLD)
    .collect()
}

/// How the end-of-scan output is trimmed: `--open`, `--reason`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutputOptions {
    /// Only open ports (and hosts with some).
    pub open_only: bool,
    /// A REASON column.
    pub reason: bool,
    /// Each open port's SYN+ACK signature (`--synack-signatures`).
    pub synack_signatures: bool,
    /// Aggressive OS guesses in normal output (`--osscan-guess`).
    pub os_guess: bool,
    /// `-v` or more: the uptime guess and the sequence lines of OS detection.
    pub verbose: bool,
}

impl OutputOptions {
    /// Whether a host's report is written (with `--open`, only hosts with open ports).
    pub fn shows_host(&self, host: &HostResult) -> bool {
        !self.open_only || host.ports.values().any(|p| p.state == PortState::Open)
    }

    /// Whether a port that is not folded away is listed (with `--open`, open ones only).
    pub fn lists_port(&self, port: &PortFinding) -> bool {
        !self.open_only || port.state == PortState::Open
    }
}

/// For the writers' tests: ports 1-30 of `addr`, 22 open, the rest closed.
#[cfg(test)]
pub(crate) fn record_sample_ports(
    result: &mut crate::model::ScanResult,
    addr: std::net::Ipv4Addr,
    ttl: u8,
) {
    for port in 1..=30 {
        let (state, reason) = if port == 22 {
            (PortState::Open, crate::model::Reason::SynAck)
        } else {
            (PortState::Closed, crate::model::Reason::Reset)
        };
        result.record(PortFinding {
            addr,
            port,
            proto: crate::model::Proto::Tcp,
            state,
            reason,
            ttl: Some(ttl),
            time: 0.0,
            service: None,
            scripts: Vec::new(),
            synack: None,
        });
    }
}
