//! Version detection over a whole scan: every open port's probing starts the moment
//! the port scan reports it, as a task on the same tokio loop, while the port scan
//! goes on. Connections are bounded per host and in all, so a host with many open
//! ports, or a large scan, is probed at a steady pace.
//!
//! Each probed port is emitted again with its service ([`Event::Service`]); the
//! collector holds it back from the writers until then, so it is written once, with
//! its service. UDP ports that stayed silent (open|filtered) are probed too; one that
//! answers a probe is open.

use super::engine::{identify_tcp, identify_udp, Limits};
use super::probes::ProbeDb;
use super::ServiceInfo;
use crate::model::{Event, EventSink, PortFinding, PortState, Proto, Reason};
use crate::target::services::ServicesTable;
use anyhow::Result;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
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
    /// The services table: a port's name where no probe named it.
    pub services: Arc<ServicesTable>,
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
        let services = self.opts.services.clone();
        self.running.spawn(async move {
            let addr = SocketAddr::from((finding.addr, finding.port));
            let found = if finding.proto == Proto::Udp {
                identify_udp(&db, addr, intensity, &limits).await
            } else {
                identify_tcp(&db, addr, intensity, &limits).await
            };
            let answered = found.answered;
            let service =
                ServiceInfo::from_identified(found, finding.port, finding.proto, &services);
            (finding, service, answered)
        });
    }

    /// The next port whose probing ended, with its service (the waker is told when
    /// one ends); `None` while no port is being probed.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<PortFinding>>> {
        self.running.poll_join_next(cx).map(|joined| {
            joined.map(|joined| {
                let (mut finding, service, answered) = joined?;
                if finding.proto == Proto::Udp
                    && answered
                    && finding.state == PortState::OpenFiltered
                {
                    finding.state = PortState::Open;
                    finding.reason = Reason::UdpResponse;
                }
                // A silent UDP port keeps no guess beyond the table's, as before.
                finding.service = Some(service);
                Ok(finding)
            })
        })
    }

    /// How many ports are being probed now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Forgets the connection limits of hosts none of whose ports is being probed (a
    /// sweep meets each host once: without this the map grows with the range).
    pub fn forget_idle_hosts(&mut self) {
        self.hosts.retain(|_, limit| Arc::strong_count(limit) > 1);
    }

    /// Waits for every port started so far and emits each with its service.
    pub async fn finish(&mut self, sink: &mut dyn EventSink) -> Result<()> {
        while let Some(finding) = std::future::poll_fn(|cx| self.poll_next(cx)).await {
            sink.emit(Event::Service(finding?))?;
        }
        // Every host's connections are closed: their limits start afresh.
        self.hosts.clear();
        Ok(())
    }
}
