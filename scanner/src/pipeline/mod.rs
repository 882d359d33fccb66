//! The one phase sequence of every nmap-style scan, raw or connect: the probe loop
//! and the scripts' raw access are opened (where the scan sends raw packets), root is
//! dropped, the prerule scripts run, then the targets go through in host groups
//! (`--max-hostgroup`): the group's hosts are found up (`hosts`); their ports are
//! scanned by the [`PortScanner`] (raw probes or connects, `ports`), each open port's
//! version detected from the moment it is found (`-sV`), each port's scripts started
//! the moment its service is known and each host's once its ports are done
//! (`stream`); then the group's hosts' OS is detected (`-O`), they are traced
//! (`--traceroute`) and finished (facts,
//! reverse-DNS names, done: written out); after the last group, the postrule scripts.
//!
//! This module only decides what runs after what; how hosts are found, ports scanned
//! and scripts streamed is its submodules', what each phase does is the phase's own
//! module. Everything that needs privileges is opened before anything reads what a
//! target sent, so the prerule scripts, discovery's replies, banners and scripts are
//! all handled without them.

mod hosts;
mod ports;
mod stream;
mod syn_acks;

pub use hosts::{name_hosts, Discovery};
pub use ports::PortScanner;

use crate::dispatch::CaptureHub;
use crate::engine::probing::{cookie_key, ProbeStats, Prober, Timing};
use crate::engine::NetworkOptions;
use crate::io::privileges::{self, RunAs};
use crate::io::SendMode;
use crate::model::{Collector, Event, EventSink, HostFacts};
use crate::os::detect::OsOptions;
use crate::os::synack_db::SynAckDb;
use crate::portscan::connect::ConnectScanStats;
use crate::raw_access::RawAccess;
use crate::report::progress::ProgressOptions;
use crate::script::engine::{Engine, Phase};
use crate::service::scan::{VersionOptions, VersionScan};
use crate::target::TargetSet;
use crate::traceroute::{self, Tracer};
use anyhow::{bail, Result};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;
use stream::OsStep;
use syn_acks::{unsigned_open_ports, SynAckPrints};

/// The most hosts in one group, whatever `--max-hostgroup` says: a group's addresses
/// and per-host state are all held at once.
pub const MAX_HOSTGROUP: usize = 1 << 16;

/// Everything an nmap-style scan needs to know.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    pub targets: TargetSet,
    /// This machine's own addresses among the targets: the kernel answers for them
    /// (up, localhost-response), and only connects reach their ports.
    pub local: TargetSet,
    pub discovery: Discovery,
    /// How the ports of the hosts up are scanned; `None` for host discovery only (-sn).
    pub ports: Option<PortScanner>,
    pub timing: Timing,
    pub net: NetworkOptions,
    /// Makes the cookie key (and so the probes) reproducible.
    pub seed: Option<u64>,
    /// When each phase shows a progress line.
    pub progress: ProgressOptions,
    /// `-d` level.
    pub debug: u8,
    /// Hosts scanned at once (`--max-hostgroup`): each group is finished, and its
    /// hosts written to a `-oG` log, before the next starts.
    pub hostgroup: usize,
    /// Look up the reverse-DNS names of the hosts up (not `-n`).
    pub reverse_dns: bool,
    /// Version detection (`-sV`) of the open ports, started as each is found.
    pub version: Option<VersionOptions>,
    /// Who to become once the sockets and the classifier are open (`None`: keep the
    /// privileges, for callers that must not change the process).
    pub run_as: Option<RunAs>,
    /// `--traceroute`: trace each group's hosts once their ports are done.
    pub traceroute: bool,
    /// Read each open port's SYN+ACK into p0f's signature and match it against this
    /// database (`--synack-signatures`, and for the scripts' `port.synack`).
    pub synack_signatures: Option<Arc<SynAckDb>>,
    /// `-O`: each group's hosts' OS, once their ports are done.
    pub os: Option<OsOptions>,
}

/// What the scan counted, for `-v`.
#[derive(Clone, Debug, Default)]
pub struct ScanStats {
    /// The probe loop's, where raw packets were sent.
    pub probes: Option<ProbeStats>,
    /// The connect scan's, where it ran.
    pub connects: Option<ConnectScanStats>,
}

/// Runs the scan, emitting what each phase learns into `collector` (each host done
/// once finished). `notice` gets one-line messages for the user (fallbacks, hosts
/// found down).
pub async fn run(
    opts: &ScanOptions,
    scripts: Option<&Engine>,
    collector: &mut Collector<'_>,
    notice: &mut dyn FnMut(&str),
) -> Result<ScanStats> {
    if opts.targets.is_empty() {
        bail!("no targets to scan");
    }
    let started = Instant::now();
    let raw_ports = opts.ports.as_ref().is_some_and(PortScanner::is_raw);
    // The probe loop, for raw port scans, raw pings and traceroute; never for this
    // machine's own addresses, which raw packets do not reach.
    let probed = opts.targets.subtract(&opts.local);
    let raw_pings = matches!(opts.discovery, Discovery::Ping { .. }) && !probed.is_empty();
    let mut prober = if raw_ports || raw_pings || opts.traceroute {
        let mut prober = Prober::open(&probed, &opts.net, cookie_key(opts.seed), notice).await?;
        prober.progress = opts.progress;
        prober.debug = opts.debug;
        Some(prober)
    } else {
        None
    };
    // The captures are opened now, while they can be: the scripts' raw access, which
    // reaches hosts once discovery has found them up (a connect scan's scripts have
    // none), and the SYN+ACKs of a SYN scan (its open ports' passive fingerprints).
    let scripts_raw = (scripts.is_some() || opts.os.is_some()) && raw_ports;
    let syn_probe_mss = opts
        .synack_signatures
        .as_ref()
        .and_then(|_| opts.ports.as_ref().and_then(PortScanner::syn_probe_mss));
    let hub = match prober.as_mut() {
        Some(prober) if scripts_raw || syn_probe_mss.is_some() => open_hub(prober, notice),
        _ => None,
    };
    let mut syn_acks = match (&hub, syn_probe_mss, &opts.synack_signatures) {
        (Some(hub), Some(mss), Some(db)) => match SynAckPrints::open(hub, mss, db.clone()) {
            Ok(prints) => Some(prints),
            Err(err) => {
                notice(&format!(
                    "{err:#}\nno passive fingerprints of SYN+ACKs in this scan"
                ));
                None
            }
        },
        _ => None,
    };
    // Without scripts, the hub is kept alive here for the SYN+ACKs.
    let (raw_access, _hub) = match (hub, prober.as_ref()) {
        (Some(hub), Some(prober)) if scripts_raw => (
            open_raw_access(hub, prober, opts.net.send_mode, notice).map(Rc::new),
            None,
        ),
        (hub, _) => (None, hub),
    };
    if let Some(run_as) = &opts.run_as {
        privileges::drop_privileges(run_as, (opts.debug > 0).then_some(&mut *notice))?;
    }
    if let Some(engine) = scripts {
        run_phase_scripts(
            engine,
            Phase::PreScan,
            raw_access.as_ref(),
            collector,
            notice,
        )
        .await?;
    }
    let path_down = prober
        .as_ref()
        .map_or_else(TargetSet::default, |p| p.path.unreachable.clone());
    // This machine's own address is up (as nmap says), but raw probes to it never
    // leave the interface: a raw scan does not probe it, and finishes it last.
    let mut local = opts.local.clone();
    if let Some(own) = prober.as_ref().map(|p| p.path.src_ip) {
        if opts.targets.contains(own) && !local.contains(own) {
            if raw_ports {
                notice(&format!(
                    "{own} is this machine's own address: raw probes cannot reach it, so it is not port scanned (-sT can)"
                ));
            }
            local = local.union(&TargetSet::from_addrs([own]));
        }
    }
    let reachable = opts.targets.subtract(&path_down);
    if prober.is_some()
        && local.is_empty()
        && reachable.is_empty()
        && opts.discovery == Discovery::Skip
    {
        bail!("no target answered ARP: nothing to scan");
    }
    // The targets stream through groups of `--max-hostgroup`: each group's addresses
    // are made from the target set when its turn comes, its hosts are found up or
    // down, the ones up are port scanned, finished and handed on, and only then does
    // the next group start. State is kept for the group at hand and the hosts up;
    // the hosts down are counted, not kept, so a scan of any size takes the memory
    // of one group. A raw scan's own addresses come last, not port scanned.
    let (scanned, apart) = if raw_ports {
        (reachable.subtract(&local), local.clone())
    } else {
        (reachable, TargetSet::default())
    };
    let own_group = (!apart.is_empty()).then(|| apart.iter().collect::<Vec<_>>());
    let groups = scanned
        .groups(opts.hostgroup.clamp(1, MAX_HOSTGROUP))
        .map(|group| (group, true))
        .chain(own_group.map(|group| (group, false)));
    let mut version = opts.version.clone().map(VersionScan::new);
    let mut tracer = opts.traceroute.then(Tracer::new);
    let mut connects = ConnectScanStats::default();
    // A connect scan measures its own latencies: discovery's facts go in first.
    let facts_first = matches!(opts.ports, Some(PortScanner::Connect { .. }));
    let mut up = 0u64;
    for (targets, port_scan) in groups {
        // 1. Which of the group's hosts are up, and why.
        let statuses = hosts::discover(
            prober.as_mut(),
            &opts.discovery,
            &local,
            &targets,
            &opts.timing,
        )
        .await?;
        up += statuses.len() as u64;
        let group: Vec<Ipv4Addr> = statuses.keys().copied().collect();
        let probed_up: Vec<Ipv4Addr> = group
            .iter()
            .copied()
            .filter(|&addr| !local.contains(addr))
            .collect();
        if let (Some(raw), Some(prober)) = (raw_access.as_ref(), prober.as_ref()) {
            raw.allow(
                probed_up
                    .iter()
                    .map(|&addr| (addr, prober.path.next_hop_mac(addr))),
            );
        }
        if facts_first {
            for &addr in &group {
                let facts = hosts::facts(addr, prober.as_ref(), &statuses);
                collector.emit(Event::Host(addr, facts))?;
            }
        }
        // Scripts see the MACs of on-link hosts (host.mac_addr).
        let scripts = scripts.filter(|_| port_scan && !group.is_empty());
        if let (Some(_), Some(prober)) = (scripts, prober.as_ref()) {
            for &addr in &probed_up {
                if let Some(mac) = prober.path.on_link_mac(addr) {
                    let facts = HostFacts {
                        mac: Some(mac),
                        ..Default::default()
                    };
                    collector.emit(Event::Host(addr, facts))?;
                }
            }
        }
        // 2–3. Their ports; with -sV the version of each open one as it is found;
        // scripts on each port as its service is known, on each host as its ports are;
        // with -O their OS once their ports are scanned, beside versions and scripts.
        let os = match (opts.os.as_ref(), raw_access.as_deref(), prober.as_ref()) {
            (Some(os), Some(raw), Some(prober)) if port_scan => Some(OsStep {
                opts: os,
                raw,
                hosts: probed_up
                    .iter()
                    .map(|&addr| (addr, prober.path.on_link_mac(addr).map(|_| 1)))
                    .collect(),
            }),
            _ => None,
        };
        stream::ports_versions_scripts(
            opts.ports.as_ref().filter(|_| port_scan),
            prober.as_mut(),
            &group,
            &opts.timing,
            version.as_mut(),
            scripts.map(|engine| (engine, raw_access.as_ref())),
            syn_acks.as_mut(),
            os,
            collector,
            &mut connects,
            notice,
        )
        .await?;
        if let Some(version) = version.as_mut() {
            // Every host's connections are closed: their limits start afresh.
            version.finish(collector).await?;
        }
        // 4. The way to each host.
        if let (Some(tracer), Some(prober)) = (tracer.as_mut(), prober.as_mut()) {
            let traces = traceroute::trace_group(
                prober,
                tracer,
                &probed_up,
                &statuses,
                Some(collector.result()).filter(|_| port_scan && opts.ports.is_some()),
                &opts.timing,
                opts.reverse_dns,
            )
            .await?;
            for (addr, trace) in traces {
                let facts = HostFacts {
                    trace: Some(trace),
                    ..HostFacts::default()
                };
                collector.emit(Event::Host(addr, facts))?;
            }
        }
        // 5. Finished: written out, and forgotten by the probe loop.
        let timed_out: Vec<Ipv4Addr> = prober
            .as_ref()
            .map(|p| p.timed_out().collect())
            .unwrap_or_default();
        let mut finished = Vec::with_capacity(group.len());
        for addr in group {
            if timed_out.contains(&addr) {
                notice(&format!("skipping {addr}: it ran past --host-timeout"));
                collector.emit(Event::HostDropped(addr))?;
            } else {
                finished.push(addr);
            }
        }
        if !facts_first {
            for &addr in &finished {
                let facts = hosts::facts(addr, prober.as_ref(), &statuses);
                collector.emit(Event::Host(addr, facts))?;
            }
        }
        if let Some(syn_acks) = syn_acks.as_mut() {
            // The hosts whose scripts did not take theirs already.
            let open: Vec<(Ipv4Addr, Vec<u16>)> = finished
                .iter()
                .map(|&addr| (addr, unsigned_open_ports(collector.result(), addr)))
                .collect();
            syn_acks::emit(syn_acks.take_hosts(&open).await, collector)?;
        }
        if opts.reverse_dns {
            name_hosts(&finished, collector).await?;
        }
        for addr in finished {
            collector.emit(Event::HostDone(addr))?;
        }
        if let Some(prober) = prober.as_mut() {
            prober.forget(&targets);
        }
    }
    let down = opts.targets.len() - up;
    if down > 0 && opts.discovery != Discovery::Skip && opts.ports.is_some() {
        notice(&format!(
            "{down} target(s) did not answer host discovery and are not port scanned; -Pn scans them anyway"
        ));
    }
    if let Some(engine) = scripts {
        run_phase_scripts(
            engine,
            Phase::PostScan,
            raw_access.as_ref(),
            collector,
            notice,
        )
        .await?;
    }
    if let Some(raw) = raw_access.filter(|_| opts.debug > 0) {
        let stats = raw.hub().stats();
        notice(&format!(
            "script captures via {}: {} frames, {} deliveries, {} dropped on full queues",
            raw.hub().source,
            stats.frames,
            stats.delivered,
            stats.overflowed
        ));
    }
    collector.result_mut().elapsed = started.elapsed();
    Ok(ScanStats {
        probes: prober.map(|p| p.stats.clone()),
        connects: facts_first.then_some(connects),
    })
}

/// The capture dispatcher: fed by the classifier's capture ring, by the libpcap
/// handle's frames on that receive path, or else by a packet socket. `None`, with a
/// notice, if it cannot be had.
fn open_hub(prober: &mut Prober, notice: &mut dyn FnMut(&str)) -> Option<CaptureHub> {
    match hub_for(prober) {
        Ok(hub) => Some(hub),
        Err(err) => {
            notice(&format!(
                "{err:#}\nno captures in this scan: scripts get no raw packets, open ports no passive fingerprints"
            ));
            None
        }
    }
}

/// The capture dispatcher fed by whatever the prober's reply source reads.
fn hub_for(prober: &mut Prober) -> Result<CaptureHub> {
    let local_addr = u32::from(prober.path.src_ip);
    #[cfg(fast_path)]
    if let Some(maps) = prober.take_captures() {
        return CaptureHub::from_classifier(maps);
    }
    match prober.take_frames() {
        Some(frames) => Ok(CaptureHub::from_frames(frames, local_addr, "libpcap")),
        #[cfg(fast_path)]
        None => CaptureHub::from_packet_socket(prober.path.ifindex, local_addr),
        #[cfg(not(fast_path))]
        None => anyhow::bail!("the libpcap reader's frames went to an earlier dispatcher"),
    }
}

/// Raw packets for scripts: captures from `hub` and a way out to the hosts found up
/// (each group's are allowed as it is found, see [`RawAccess::allow`]). `None`, with
/// a notice, if it cannot be had; scripts then hear why from `rawpacket.available()`.
fn open_raw_access(
    hub: CaptureHub,
    prober: &Prober,
    send_mode: Option<SendMode>,
    notice: &mut dyn FnMut(&str),
) -> Option<RawAccess> {
    let via_pcap = send_mode == Some(SendMode::Pcap);
    match RawAccess::new(hub, &prober.path, via_pcap) {
        Ok(access) => Some(access),
        Err(err) => {
            notice(&format!("{err:#}\nscripts get no raw packets in this scan"));
            None
        }
    }
}

/// Runs the `prerule` or `postrule` scripts and emits what they said into `sink`.
async fn run_phase_scripts(
    engine: &Engine,
    phase: Phase,
    raw: Option<&Rc<RawAccess>>,
    sink: &mut dyn EventSink,
    notice: &mut dyn FnMut(&str),
) -> Result<()> {
    let events = engine.run_phase(phase, raw, notice).await?;
    events.into_iter().try_for_each(|event| sink.emit(event))
}

#[cfg(test)]
mod tests;
