//! Services at sweep speed (`--sweep -sV`): every port the sweep finds open is handed
//! to version detection on the same loop the moment it is found, as ZGrab2 does after
//! ZMap but in one process. At most `--max-connections` ports are probed at once;
//! found ports wait in a queue, and when the queue is long the senders pause
//! ([`SweepServices::backlogged`]) so that memory stays flat however large the range.
//! A port is written once, with its service. A sweep stopped early writes the ports
//! still waiting or being probed without one: nothing found is lost.

use crate::model::{PortFinding, Proto};
use crate::service::scan::{VersionOptions, VersionScan};
use anyhow::Result;
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::task::{Context, Poll};

/// How many found ports may wait, per port being probed, before the senders pause.
const QUEUE_PER_CONNECTION: usize = 4;
/// Forget idle hosts' connection limits once this many are remembered.
const HOSTS_KEPT: usize = 4096;

/// The ports found and not yet written, and their probing.
pub struct SweepServices {
    scan: VersionScan,
    waiting: VecDeque<PortFinding>,
    /// The ports being probed, as found (written as they are if the sweep stops).
    probing: HashMap<(Ipv4Addr, u16, Proto), PortFinding>,
    max_probing: usize,
    /// Ports named so far.
    pub identified: u64,
}

impl SweepServices {
    /// Holds at most `max_connections` connections at once, probing half as many
    /// ports (a port's greeting and one probe each; more where connections are free).
    pub fn new(mut opts: VersionOptions, max_connections: usize) -> Self {
        let max_connections = max_connections.max(2);
        opts.parallel = max_connections;
        Self {
            scan: VersionScan::new(opts),
            waiting: VecDeque::new(),
            probing: HashMap::new(),
            max_probing: max_connections / 2,
            identified: 0,
        }
    }

    /// A port the sweep found: probed now if there is room, else when there is.
    pub fn found(&mut self, finding: PortFinding) {
        self.waiting.push_back(finding);
        self.start_more();
    }

    fn start_more(&mut self) {
        while self.probing.len() < self.max_probing {
            let Some(finding) = self.waiting.pop_front() else {
                break;
            };
            self.probing
                .insert((finding.addr, finding.port, finding.proto), finding.clone());
            self.scan.start(finding);
        }
    }

    /// Whether so many found ports wait that the senders should pause.
    pub fn backlogged(&self) -> bool {
        self.waiting.len() > self.max_probing * QUEUE_PER_CONNECTION
    }

    /// Whether any port is being probed (then [`SweepServices::poll_next`] will yield).
    pub fn busy(&self) -> bool {
        self.scan.running() > 0
    }

    /// Whether every found port has been written.
    pub fn done(&self) -> bool {
        self.waiting.is_empty() && self.probing.is_empty()
    }

    /// The next port whose probing ended, with its service; more are started.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<PortFinding>>> {
        let polled = self.scan.poll_next(cx);
        if let Poll::Ready(Some(Ok(finding))) = &polled {
            self.probing
                .remove(&(finding.addr, finding.port, finding.proto));
            self.identified += 1;
            if self.scan.running() == 0 || self.identified.is_multiple_of(HOSTS_KEPT as u64) {
                self.scan.forget_idle_hosts();
            }
            self.start_more();
        }
        polled
    }

    /// The ports found and not named (the sweep stopped): waiting and being probed,
    /// as they were found. Their probing is dropped.
    pub fn abandon(self) -> Vec<PortFinding> {
        let mut left: Vec<PortFinding> = self.probing.into_values().collect();
        left.extend(self.waiting);
        left
    }
}
