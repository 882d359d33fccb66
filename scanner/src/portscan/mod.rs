//! Port-scan phases. Each scan type writes its probes and reads replies through the
//! probe-module table (`crate::probe`); the engine and io layers supply sending,
//! receiving, pacing and timing. The connect scan needs none of them: it uses
//! ordinary sockets.

pub mod connect;
pub mod syn;
pub mod udp;

use crate::model::{Event, EventSink, PortFinding, PortState};

/// Where a port scan's findings go: emitted as events, the open ones counted (for
/// the progress line).
pub struct Findings<'a> {
    sink: &'a mut dyn EventSink,
    open: u64,
}

impl<'a> Findings<'a> {
    pub fn new(sink: &'a mut dyn EventSink) -> Self {
        Self { sink, open: 0 }
    }

    pub fn emit(&mut self, finding: PortFinding) -> anyhow::Result<()> {
        self.open += u64::from(finding.state == PortState::Open);
        self.sink.emit(Event::Port(finding))
    }

    /// Open ports found so far.
    pub fn open(&self) -> u64 {
        self.open
    }
}
