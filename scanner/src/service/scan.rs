//! Version detection over a whole scan: every open port's probing starts the moment
//! the port scan reports it, as a task on the same tokio loop, while the port scan
//! goes on. Connections are bounded per host and in all, so a host with many open
//! ports, or a large scan, is probed at a steady pace.
//!
//! Open ports are held back from the streaming outputs until their service is
//! known, so each port is written once, with its service. UDP ports that stayed
//! silent (open|filtered) are probed too; one that answers a probe is open.

use super::engine::{identify_tcp, identify_udp, Limits};
use super::probes::ProbeDb;
use super::ServiceInfo;
use crate::report::{FindingSink, PortFinding, PortState, Reason, ScanResult};
use anyhow::Result;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How version detection runs.
#[derive(Clone, Debug)]
pub struct VersionOptions {
    pub db: Arc<ProbeDb>,
    /// `--version-intensity`: probes rarer than this are sent only to the ports they
    /// list.
    pub intensity: u8,
    /// Connections open at once to one host.
    pub per_host: usize,
    /// Connections open at once in all.
    pub parallel: usize,
}

impl VersionOptions {
    /// nmap's default intensity.
    pub const DEFAULT_INTENSITY: u8 = 7;
    /// `--version-light`.
    pub const LIGHT_INTENSITY: u8 = 2;
    /// `--version-all`.
    pub const ALL_INTENSITY: u8 = 9;
    /// Connections to one host at once.
    pub const DEFAULT_PER_HOST: usize = 16;
    /// Connections at once in all (well under the usual 1024 descriptors).
    pub const DEFAULT_PARALLEL: usize = 512;
}

/// The ports being probed, and the limits they share.
pub struct VersionScan {
    opts: VersionOptions,
    all: Arc<Semaphore>,
    hosts: HashMap<Ipv4Addr, Arc<Semaphore>>,
    running: JoinSet<(PortFinding, ServiceInfo, bool)>,
}

impl VersionScan {
    pub fn new(opts: VersionOptions) -> Self {
        Self {
            all: Arc::new(Semaphore::new(opts.parallel.max(1))),
            opts,
            hosts: HashMap::new(),
            running: JoinSet::new(),
        }
    }

    /// Whether `finding` is a port version detection probes.
    pub fn wants(finding: &PortFinding) -> bool {
        match finding.proto {
            "tcp" => finding.state == PortState::Open,
            "udp" => matches!(finding.state, PortState::Open | PortState::OpenFiltered),
            _ => false,
        }
    }

    /// Starts probing the port of `finding` (call on the tokio runtime).
    pub fn start(&mut self, finding: PortFinding) {
        let per_host = self.opts.per_host.max(1);
        let limits = Limits {
            host: self
                .hosts
                .entry(finding.addr)
                .or_insert_with(|| Arc::new(Semaphore::new(per_host)))
                .clone(),
            all: self.all.clone(),
        };
        let (db, intensity) = (self.opts.db.clone(), self.opts.intensity);
        self.running.spawn(async move {
            let addr = SocketAddr::from((finding.addr, finding.port));
            let found = if finding.proto == "udp" {
                identify_udp(&db, addr, intensity, &limits).await
            } else {
                identify_tcp(&db, addr, intensity, &limits).await
            };
            let answered = found.answered;
            let service = ServiceInfo::from_identified(found, finding.port, finding.proto);
            (finding, service, answered)
        });
    }

    /// Waits for every port started so far, records each port with its service in
    /// `result`, and writes it to `sink`.
    pub async fn finish(
        &mut self,
        sink: &mut dyn FindingSink,
        result: &mut ScanResult,
    ) -> Result<()> {
        while let Some(joined) = self.running.join_next().await {
            let (mut finding, service, answered) = joined?;
            if finding.proto == "udp" && answered && finding.state == PortState::OpenFiltered {
                finding.state = PortState::Open;
                finding.reason = Reason::UdpResponse;
            }
            // A silent UDP port keeps no guess beyond the table's, as before.
            finding.service = Some(service);
            sink.finding(&finding)?;
            result.record(finding);
        }
        // Every host's connections are closed: their limits start afresh.
        self.hosts.clear();
        Ok(())
    }
}

/// A finding sink that starts version detection on each open port and passes every
/// other finding on at once.
pub struct ProbeOpenPorts<'a> {
    pub inner: &'a mut dyn FindingSink,
    pub scan: &'a mut VersionScan,
}

impl FindingSink for ProbeOpenPorts<'_> {
    fn finding(&mut self, finding: &PortFinding) -> Result<()> {
        if VersionScan::wants(finding) {
            self.scan.start(finding.clone());
            Ok(())
        } else {
            self.inner.finding(finding)
        }
    }
}
