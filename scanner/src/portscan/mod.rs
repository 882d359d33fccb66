//! Port-scan phases. Each scan type owns how it builds probes and reads replies;
//! the engine and io layers supply sending, receiving, pacing and timing. The
//! connect scan needs none of them: it uses ordinary sockets.

pub mod connect;
pub mod syn;
pub mod udp;
pub mod udp_payloads;

use crate::report::{FindingSink, PortFinding, PortState, ScanResult};

/// Where a port scan's findings go: streamed to the sink, kept in the result, and
/// the open ones counted (for the progress line).
pub struct Findings<'a> {
    sink: &'a mut dyn FindingSink,
    result: &'a mut ScanResult,
    open: u64,
}

impl<'a> Findings<'a> {
    pub fn new(sink: &'a mut dyn FindingSink, result: &'a mut ScanResult) -> Self {
        Self {
            sink,
            result,
            open: 0,
        }
    }

    pub fn emit(&mut self, finding: PortFinding) -> anyhow::Result<()> {
        self.open += u64::from(finding.state == PortState::Open);
        self.sink.finding(&finding)?;
        self.result.record(finding);
        Ok(())
    }

    /// Open ports found so far.
    pub fn open(&self) -> u64 {
        self.open
    }
}
