//! A host group's ports, versions, scripts and OS, streamed on the one loop: each open
//! port found goes to version detection at once (`-sV`); a port's scripts start the
//! moment its service is known (or the port is, without `-sV`); a host's scripts start
//! once its ports and versions are done, not when the whole group's are; OS detection
//! (`-O`) starts once the group's ports are scanned, while versions and scripts still
//! run. Four parts run side by side in one task (the port scan, the versions ending,
//! the scripts, the OS probes), sharing the collector through a `RefCell` that none
//! holds across a wait.
//!
//! A host's ports are done when it has a finding for every port scanned (silent
//! ports are settled at the end of the probe loop's run, so a host with some ends
//! with the run); every host not started by then is started when the scan ends.

use super::ports::PortScanner;
use super::syn_acks::{self, unsigned_open_ports, SynAckPrints};
use crate::engine::probing::{Prober, Timing};
use crate::model::{Collector, Event, EventSink, HostFacts, PortFinding, PortState, Proto};
use crate::os::detect::{self, OsOptions};
use crate::portscan::connect::ConnectScanStats;
use crate::raw_access::RawAccess;
use crate::script::engine::Engine;
use crate::service::scan::VersionScan;
use anyhow::Result;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use tokio::sync::mpsc;

/// What the scripts may start on.
#[derive(Clone, Debug)]
enum Known {
    /// A port: open, with its service where version detection ran.
    Port(Ipv4Addr, u16, Proto),
    /// A host whose ports and versions are all done, with the ports whose scripts
    /// waited for it.
    Host(Ipv4Addr, Vec<(u16, Proto)>),
}

/// The most ports of one host whose scripts start one by one; the scripts of the
/// rest start with the host's (each start shows the rules every open port so far,
/// and a host that answers on every port would make that quadratic).
const STREAMED_PORTS: usize = 32;

/// OS detection of a group's hosts (`-O`).
pub(super) struct OsStep<'a> {
    pub opts: &'a OsOptions,
    pub raw: &'a RawAccess,
    /// The hosts, each with its distance where it is known (one hop on the segment).
    pub hosts: Vec<(Ipv4Addr, Option<u8>)>,
}

impl OsStep<'_> {
    /// Detects the OS of the hosts that have the ports it needs (from `collector`'s
    /// findings), emitting each host's; returns what failed, for the user.
    async fn run(&self, collector: &RefCell<&mut Collector<'_>>) -> Result<Vec<String>> {
        let mut random = rand::random::<u32>;
        let targets: Vec<_> = {
            let collector = collector.borrow();
            self.hosts
                .iter()
                .filter_map(|&(addr, distance)| {
                    let host = collector.result().hosts.get(&addr)?;
                    let target = detect::target_of(addr, host, self.opts.limit, &mut random)?;
                    Some((target, distance, host.open_tcp_ports()))
                })
                .collect()
        };
        let mut failed = Vec::new();
        if targets.is_empty() {
            return Ok(failed);
        }
        for (addr, result) in detect::detect_hosts(self.raw, self.opts, &targets, &mut random).await
        {
            match result {
                Ok(found) => {
                    let facts = HostFacts {
                        os: Some(found),
                        ..HostFacts::default()
                    };
                    collector.borrow_mut().emit(Event::Host(addr, facts))?;
                }
                Err(err) => failed.push(format!("OS detection of {addr} failed: {err:#}")),
            }
        }
        Ok(failed)
    }
}

/// Scans the ports of `group` (with `scanner`, if any), detects the versions of the
/// open ones (with `version`), runs the scripts (with `scripts`, and the raw access
/// they may have), each as soon as its input is known, and the hosts' OS (with `os`)
/// once their ports are scanned, emitting all that is learnt into `collector`.
/// Returns once every script and OS probe has ended, with the port changes scripts
/// asked for emitted last.
#[allow(clippy::too_many_arguments)]
pub(super) async fn ports_versions_scripts(
    scanner: Option<&PortScanner>,
    prober: Option<&mut Prober>,
    group: &[Ipv4Addr],
    timing: &Timing,
    version: Option<&mut VersionScan>,
    scripts: Option<(&Engine, Option<&Rc<RawAccess>>)>,
    syn_acks: Option<&mut SynAckPrints>,
    os: Option<OsStep<'_>>,
    collector: &mut Collector<'_>,
    connects: &mut ConnectScanStats,
    notice: &mut dyn FnMut(&str),
) -> Result<()> {
    let collector = RefCell::new(collector);
    let (ports_scanned, when_ports_scanned) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = mpsc::unbounded_channel();
    let per_host = scanner.map_or(0, PortScanner::ports_per_host);
    let ready = Ready::new(group, per_host, scripts.is_some().then_some(tx));
    let versions = version.map(Versions::new);
    let ports = async {
        if let Some(scanner) = scanner {
            let mut found = Found {
                collector: &collector,
                versions: versions.as_ref(),
                ready: &ready,
            };
            let scan = async {
                let scanned = scanner
                    .scan(prober, group, timing, &mut found, connects)
                    .await;
                let _ = ports_scanned.send(());
                if let Some(versions) = &versions {
                    versions.scan_ended();
                }
                scanned
            };
            let probed = async {
                if let Some(versions) = &versions {
                    while let Some(finding) = versions.next().await {
                        let finding = finding?;
                        let (addr, key, state) =
                            (finding.addr, (finding.port, finding.proto), finding.state);
                        collector.borrow_mut().emit(Event::Service(finding))?;
                        ready.probed(addr, key, state);
                    }
                }
                anyhow::Ok(())
            };
            tokio::try_join!(scan, probed)?;
        }
        ready.close();
        anyhow::Ok(())
    };
    let run_scripts = async {
        if let Some((engine, raw)) = scripts {
            run_scripts(engine, raw, rx, syn_acks, &collector, notice).await?;
        }
        anyhow::Ok(())
    };
    let os_detection = async {
        match os {
            // Without a port scan (or if it failed) there is nothing to start from.
            Some(os) if when_ports_scanned.await.is_ok() => os.run(&collector).await,
            _ => Ok(Vec::new()),
        }
    };
    let ((), (), failed) = tokio::try_join!(ports, run_scripts, os_detection)?;
    for failure in failed {
        notice(&failure);
    }
    Ok(())
}

/// Runs the scripts of each port and host as it is known (`known`, until it closes),
/// emitting what they said as each ends. A host's open ports get their SYN+ACK
/// signatures (`syn_acks`) before its scripts start.
async fn run_scripts(
    engine: &Engine,
    raw: Option<&Rc<RawAccess>>,
    mut known: mpsc::UnboundedReceiver<Known>,
    mut syn_acks: Option<&mut SynAckPrints>,
    collector: &RefCell<&mut Collector<'_>>,
    notice: &mut dyn FnMut(&str),
) -> Result<()> {
    let mut runs = engine.runs(raw).await;
    let mut open = true;
    while open || !runs.is_idle() {
        tokio::select! {
            first = known.recv(), if open => {
                let Some(first) = first else {
                    open = false;
                    continue;
                };
                // What came at once is asked of the rules host by host (a UDP scan's
                // silent ports all come at its end).
                let mut batch: BTreeMap<Ipv4Addr, (Vec<(u16, Proto)>, bool)> = BTreeMap::new();
                let mut next = Some(first);
                while let Some(item) = next {
                    match item {
                        Known::Port(addr, port, proto) => {
                            batch.entry(addr).or_default().0.push((port, proto));
                        }
                        Known::Host(addr, waited) => {
                            let (ports, host) = batch.entry(addr).or_default();
                            ports.extend(waited);
                            *host = true;
                        }
                    }
                    next = known.try_recv().ok();
                }
                if let Some(syn_acks) = syn_acks.as_deref_mut() {
                    let hosts: Vec<(Ipv4Addr, Vec<u16>)> = {
                        let collector = collector.borrow();
                        batch
                            .iter()
                            .filter(|(_, (_, host))| *host)
                            .map(|(&addr, _)| (addr, unsigned_open_ports(collector.result(), addr)))
                            .collect()
                    };
                    let prints = syn_acks.take_hosts(&hosts).await;
                    syn_acks::emit(prints, &mut **collector.borrow_mut())?;
                }
                let collector = collector.borrow();
                for (addr, (ports, host)) in batch {
                    runs.add_host(collector.result(), addr, Some(&ports), host, notice)?;
                }
            }
            said = runs.next(notice), if !runs.is_idle() => {
                if let Some((subject, output)) = said? {
                    collector.borrow_mut().emit(Event::Script(subject, output))?;
                }
            }
        }
    }
    drop(runs);
    let changes = engine.take_port_changes(collector.borrow().result());
    changes
        .into_iter()
        .try_for_each(|event| collector.borrow_mut().emit(event))
}

/// The sink of the port scan: each finding goes to the collector, and on to version
/// detection or the scripts.
struct Found<'a, 'c> {
    collector: &'a RefCell<&'a mut Collector<'c>>,
    versions: Option<&'a Versions<'a>>,
    ready: &'a Ready,
}

impl EventSink for Found<'_, '_> {
    fn emit(&mut self, event: Event) -> Result<()> {
        let Event::Port(finding) = &event else {
            return self.collector.borrow_mut().emit(event);
        };
        let (addr, key, state) = (finding.addr, (finding.port, finding.proto), finding.state);
        let probe = match self.versions {
            Some(versions) if finding.gets_version_probes() => {
                versions.start(finding.clone());
                true
            }
            _ => false,
        };
        self.collector.borrow_mut().emit(event)?;
        self.ready.found(addr, key, state, probe);
        Ok(())
    }
}

/// Version detection while the port scan goes on: ports start as they are found, and
/// end in any order.
struct Versions<'v> {
    scan: RefCell<&'v mut VersionScan>,
    /// Whether the port scan may still start ports.
    scanning: Cell<bool>,
    /// Who waits for the next port to end while none is being probed.
    waker: RefCell<Option<Waker>>,
}

impl<'v> Versions<'v> {
    fn new(scan: &'v mut VersionScan) -> Self {
        Self {
            scan: RefCell::new(scan),
            scanning: Cell::new(true),
            waker: RefCell::new(None),
        }
    }

    fn start(&self, finding: PortFinding) {
        self.scan.borrow_mut().start(finding);
        self.wake();
    }

    fn scan_ended(&self) {
        self.scanning.set(false);
        self.wake();
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// The next port whose probing ended, with its service; `None` once the scan is
    /// over and every port it started has ended.
    async fn next(&self) -> Option<Result<PortFinding>> {
        std::future::poll_fn(|cx| match self.scan.borrow_mut().poll_next(cx) {
            Poll::Ready(None) if self.scanning.get() => {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
            other => other,
        })
        .await
    }
}

/// When each port and host is known, told to the scripts (if they run).
struct Ready {
    /// Findings a host has once its ports are done.
    per_host: u64,
    hosts: RefCell<HashMap<Ipv4Addr, Tally>>,
    tell: RefCell<Option<mpsc::UnboundedSender<Known>>>,
}

/// One host's ports so far.
#[derive(Default)]
struct Tally {
    found: u64,
    /// Ports still in version detection.
    probing: u64,
    /// Ports whose scripts were started.
    told: usize,
    /// Ports whose scripts wait for the host's (past [`STREAMED_PORTS`]).
    waiting: Vec<(u16, Proto)>,
    /// Its host scripts were started.
    started: bool,
}

impl Ready {
    fn new(group: &[Ipv4Addr], per_host: u64, tell: Option<mpsc::UnboundedSender<Known>>) -> Self {
        Self {
            per_host,
            hosts: RefCell::new(group.iter().map(|&a| (a, Tally::default())).collect()),
            tell: RefCell::new(tell),
        }
    }

    fn tell(&self, known: Known) {
        if let Some(tell) = self.tell.borrow().as_ref() {
            // The scripts' side ends only after this side: it is there to hear.
            let _ = tell.send(known);
        }
    }

    /// The port scan found `key` of `addr` in `state`; `probing` if version
    /// detection took it (its scripts wait for its service).
    fn found(&self, addr: Ipv4Addr, key: (u16, Proto), state: PortState, probing: bool) {
        {
            let mut hosts = self.hosts.borrow_mut();
            let tally = hosts.entry(addr).or_default();
            tally.found += 1;
            tally.probing += u64::from(probing);
        }
        if !probing {
            self.port_known(addr, key, state);
        }
        self.host_done(addr);
    }

    /// Version detection ended on `key` of `addr`, now in `state`.
    fn probed(&self, addr: Ipv4Addr, key: (u16, Proto), state: PortState) {
        if let Some(tally) = self.hosts.borrow_mut().get_mut(&addr) {
            tally.probing = tally.probing.saturating_sub(1);
        }
        self.port_known(addr, key, state);
        self.host_done(addr);
    }

    fn port_known(&self, addr: Ipv4Addr, (port, proto): (u16, Proto), state: PortState) {
        if !matches!(state, PortState::Open | PortState::OpenFiltered) {
            return;
        }
        {
            let mut hosts = self.hosts.borrow_mut();
            let tally = hosts.entry(addr).or_default();
            if tally.told >= STREAMED_PORTS {
                tally.waiting.push((port, proto));
                return;
            }
            tally.told += 1;
        }
        self.tell(Known::Port(addr, port, proto));
    }

    /// Starts `addr`'s host scripts if its ports and versions are all done.
    fn host_done(&self, addr: Ipv4Addr) {
        let waited = self.hosts.borrow_mut().get_mut(&addr).and_then(|t| {
            let done = !t.started && t.found >= self.per_host && t.probing == 0;
            t.started |= done;
            done.then(|| std::mem::take(&mut t.waiting))
        });
        if let Some(waited) = waited {
            self.tell(Known::Host(addr, waited));
        }
    }

    /// The scan and its versions are over: the hosts not started yet start now, and
    /// nothing more will be known.
    fn close(&self) {
        let mut rest: Vec<(Ipv4Addr, Vec<(u16, Proto)>)> = self
            .hosts
            .borrow_mut()
            .iter_mut()
            .filter(|(_, t)| !t.started)
            .map(|(addr, t)| {
                t.started = true;
                (*addr, std::mem::take(&mut t.waiting))
            })
            .collect();
        rest.sort();
        for (addr, waited) in rest {
            self.tell(Known::Host(addr, waited));
        }
        self.tell.borrow_mut().take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 11);

    fn told(rx: &mut mpsc::UnboundedReceiver<Known>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|known| match known {
                Known::Port(addr, port, _) => format!("port {addr}:{port}"),
                Known::Host(addr, waited) => format!("host {addr} +{}", waited.len()),
            })
            .collect()
    }

    #[test]
    fn a_host_is_known_once_its_ports_and_versions_are() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ready = Ready::new(&[A, B], 3, Some(tx));
        ready.found(A, (22, Proto::Tcp), PortState::Open, false);
        ready.found(A, (23, Proto::Tcp), PortState::Closed, false);
        // With -sV: port 80's scripts wait for its service, the host for it too.
        ready.found(A, (80, Proto::Tcp), PortState::Open, true);
        ready.found(B, (22, Proto::Tcp), PortState::Filtered, false);
        assert_eq!(told(&mut rx), ["port 198.18.0.10:22"]);
        ready.probed(A, (80, Proto::Tcp), PortState::Open);
        assert_eq!(
            told(&mut rx),
            ["port 198.18.0.10:80", "host 198.18.0.10 +0"]
        );
        // The scan ends: B, with ports still unsettled, is started then; A not again.
        ready.close();
        assert_eq!(told(&mut rx), ["host 198.18.0.11 +0"]);
        assert!(rx.try_recv().is_err(), "closed");
    }

    #[test]
    fn past_a_few_ports_their_scripts_wait_for_the_host() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ports = STREAMED_PORTS as u16 + 8;
        let ready = Ready::new(&[A], u64::from(ports), Some(tx));
        for port in 1..=ports {
            ready.found(A, (port, Proto::Tcp), PortState::Open, false);
        }
        let told = told(&mut rx);
        assert_eq!(told.len(), STREAMED_PORTS + 1);
        assert_eq!(told[STREAMED_PORTS], "host 198.18.0.10 +8");
    }
}
