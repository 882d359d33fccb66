//! An nmap-style raw-packet scan from start to end: the path and the classifier are set
//! up once, host discovery finds the live targets (unless `-Pn`), then each port scan
//! asked for (a TCP probe scan, a UDP scan, or both) runs over them, and the hosts'
//! facts (latency, MAC, why they are up) go into the result.
//!
//! Every phase is a probe module run by the one probe loop (`engine::probing`); this
//! module only decides what runs after what. Version detection (`-sV`) is the
//! exception: it runs beside the port scans, on the same loop, from the moment each
//! open port is found, and a group's hosts are finished once it is done with them.
//! Scripts run on a group once its ports and services are known.
//!
//! Everything that needs privileges (the classifier, the sender, the scripts' raw
//! access) is opened before anything else runs; then root is dropped, so the
//! prerule scripts, discovery's replies, banners and scripts are all handled without
//! it.

use crate::discovery::{HostStatus, PingSpec, Pinger};
use crate::dispatch::CaptureHub;
use crate::engine::probing::{cookie_key, ProbeStats, Prober, Timing};
use crate::engine::NetworkOptions;
use crate::io::privileges::{self, RunAs};
use crate::portscan::syn::{TcpProbe, TcpScan};
use crate::portscan::udp::UdpScan;
use crate::report::progress::ProgressOptions;
use crate::report::{FindingSink, HostSink, ScanInfo, ScanResult, ScriptSubject};
use crate::script::engine::{Engine, Phase};
use crate::script::raw::RawAccess;
use crate::service::scan::{ProbeOpenPorts, VersionOptions, VersionScan};
use crate::target::{ports::PortList, resolve, TargetSet};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Instant;

/// The most hosts in one group, whatever `--max-hostgroup` says: a group's addresses
/// and per-host state are all held at once.
pub const MAX_HOSTGROUP: usize = 1 << 16;

/// How live hosts are found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// `-Pn`: every target is taken to be up.
    Skip,
    /// ARP for on-link targets (unless `arp` is false: `--disable-arp-ping`), these
    /// pings for the rest.
    Ping { pings: PingSpec, arp: bool },
}

/// Everything a raw-packet scan needs to know.
#[derive(Clone, Debug)]
pub struct RawScanOptions {
    pub targets: TargetSet,
    pub discovery: Discovery,
    /// The TCP probe scan to run, if any, and its ports.
    pub tcp: Option<(TcpProbe, PortList)>,
    /// The UDP ports to scan, if a UDP scan runs.
    pub udp: Option<PortList>,
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
}

/// Runs the scan, passing each port finding to `sink` as it is made and each host to
/// `hosts_done` once finished. `notice` gets one-line messages for the user
/// (fallbacks, hosts found down).
pub async fn run(
    opts: &RawScanOptions,
    scripts: Option<&Engine>,
    sink: &mut dyn FindingSink,
    hosts_done: &mut dyn HostSink,
    notice: &mut dyn FnMut(&str),
) -> Result<(ScanResult, ProbeStats)> {
    if opts.targets.is_empty() {
        bail!("no targets to scan");
    }
    let started = Instant::now();
    let mut result = ScanResult::starting_now(opts.targets.len());
    let mut prober = Prober::open(&opts.targets, &opts.net, cookie_key(opts.seed), notice).await?;
    prober.progress = opts.progress;
    prober.debug = opts.debug;
    // Scripts' raw access is opened now, while it can be; it reaches hosts once
    // discovery has found them up.
    let raw_access = scripts
        .and_then(|_| open_raw_access(&mut prober, notice))
        .map(Rc::new);
    if let Some(run_as) = &opts.run_as {
        privileges::drop_privileges(run_as, (opts.debug > 0).then_some(&mut *notice))?;
    }
    if let Some(engine) = scripts {
        engine.set_raw_access(raw_access.clone());
        run_phase_scripts(engine, Phase::PreScan, &mut result, sink, notice).await?;
    }
    let path_down = prober.path.unreachable.clone();
    // This machine's own address is up (as nmap says), but raw probes to it never
    // leave the interface: it is not probed, and is finished last.
    let own = prober.path.src_ip;
    let own_targeted = opts.targets.contains(own);
    let reachable = opts
        .targets
        .subtract(&path_down)
        .subtract(&TargetSet::from_addrs([own]));
    let port_scanned = opts.tcp.is_some() || opts.udp.is_some();
    if port_scanned && own_targeted {
        notice(&format!(
            "{own} is this machine's own address: raw probes cannot reach it, so it is not port scanned (-sT can)"
        ));
    }
    if reachable.is_empty()
        && path_down.len() == opts.targets.len()
        && opts.discovery == Discovery::Skip
    {
        bail!("no target answered ARP: nothing to scan");
    }

    // The targets stream through groups of `--max-hostgroup`: each group's addresses
    // are made from the target set when its turn comes, its hosts are found up or
    // down, the ones up are port scanned, finished and handed on, and only then does
    // the next group start. State is kept for the group at hand and the hosts up;
    // the hosts down are counted, not kept, so a scan of any size takes the memory
    // of one group.
    let link = prober.link();
    let mut version = opts.version.clone().map(VersionScan::new);
    let mut up = 0u64;
    let own_group = own_targeted.then_some(vec![own]);
    let groups = reachable
        .groups(opts.hostgroup.clamp(1, MAX_HOSTGROUP))
        .map(|group| (group, true))
        .chain(own_group.map(|group| (group, false)));
    for (targets, port_scan) in groups {
        // 1. Which of the group's hosts are up, and why.
        let statuses = if port_scan {
            discover(&mut prober, opts, &targets).await?
        } else {
            BTreeMap::from([(
                own,
                HostStatus {
                    up: true,
                    reason: "localhost-response",
                    ttl: None,
                },
            )])
        };
        up += statuses.len() as u64;
        let group: Vec<Ipv4Addr> = statuses.keys().copied().collect();
        // (Not this machine's own address: raw probes to it never leave.)
        if let Some(raw) = raw_access.as_ref().filter(|_| port_scan) {
            raw.allow(
                group
                    .iter()
                    .map(|&addr| (addr, prober.path.next_hop_mac(addr))),
            );
        }
        // 2. Their ports, versions and scripts.
        {
            // With -sV, open ports go to version detection first, and on when named.
            let mut probing = version.as_mut().map(|scan| ProbeOpenPorts {
                inner: &mut *sink,
                scan,
            });
            let group_sink: &mut dyn FindingSink = match probing.as_mut() {
                Some(probing) => probing,
                None => &mut *sink,
            };
            if let Some((probe, ports)) = opts.tcp.as_ref().filter(|_| port_scan) {
                let mut scan = TcpScan::new(*probe, &link, group_sink, &mut result);
                prober
                    .run(&mut scan, &group, ports.as_slice(), &opts.timing)
                    .await?;
            }
            if let Some(ports) = opts.udp.as_ref().filter(|_| port_scan) {
                let mut scan = UdpScan::new(group_sink, &mut result);
                prober
                    .run(&mut scan, &group, ports.as_slice(), &opts.timing)
                    .await?;
            }
        }
        if let Some(version) = version.as_mut() {
            version.finish(sink, &mut result).await?;
        }
        if let Some(engine) = scripts.filter(|_| port_scan && !group.is_empty()) {
            // Scripts see the MACs of on-link hosts (host.mac_addr).
            for &addr in &group {
                if let Some(mac) = prober.path.on_link_mac(addr) {
                    result.hosts.entry(addr).or_default().mac = Some(mac);
                }
            }
            run_scripts(engine, &group, &mut result, sink, notice).await?;
        }
        // 3. Finished: written out, and forgotten by the probe loop.
        finish_hosts(
            &group,
            &prober,
            &statuses,
            opts,
            &mut result,
            hosts_done,
            notice,
        )
        .await?;
        prober.forget(&targets);
    }
    let down = opts.targets.len() - up;
    if down > 0 && opts.discovery != Discovery::Skip && port_scanned {
        notice(&format!(
            "{down} target(s) did not answer host discovery and are not port scanned; -Pn scans them anyway"
        ));
    }
    if let Some((probe, ports)) = &opts.tcp {
        result.scans.push(ScanInfo {
            kind: probe.reading.name(),
            protocol: "tcp",
            ports: ports.as_slice().to_vec(),
        });
    }
    if let Some(ports) = &opts.udp {
        result.scans.push(ScanInfo {
            kind: "udp",
            protocol: "udp",
            ports: ports.as_slice().to_vec(),
        });
    }
    if let Some(engine) = scripts {
        run_phase_scripts(engine, Phase::PostScan, &mut result, sink, notice).await?;
        engine.set_raw_access(None);
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
    result.elapsed = started.elapsed();
    Ok((result, prober.stats.clone()))
}

/// The hosts of `targets` that are up, each with why: on-link ones by their answer
/// to the path's ARP (unless `--disable-arp-ping`), the rest by pings; every one with
/// `-Pn`. Hosts found down are left out.
async fn discover(
    prober: &mut Prober,
    opts: &RawScanOptions,
    targets: &[Ipv4Addr],
) -> Result<BTreeMap<Ipv4Addr, HostStatus>> {
    let mut statuses = BTreeMap::new();
    let mut to_ping = Vec::new();
    for &target in targets {
        let on_link = prober.path.on_link_mac(target).is_some();
        match &opts.discovery {
            Discovery::Ping { arp: false, .. } => to_ping.push(target),
            Discovery::Ping { .. } if !on_link => to_ping.push(target),
            _ => {
                let reason = if on_link { "arp-response" } else { "user-set" };
                statuses.insert(
                    target,
                    HostStatus {
                        up: true,
                        reason,
                        ttl: None,
                    },
                );
            }
        }
    }
    if let Discovery::Ping { pings, .. } = &opts.discovery {
        if !to_ping.is_empty() && !pings.is_empty() {
            let mut pinger = Pinger::new(pings.clone(), &prober.link())?;
            prober
                .run(&mut pinger, &to_ping, &Pinger::SLOTS, &opts.timing)
                .await?;
            statuses.extend(pinger.statuses.into_iter().filter(|(_, s)| s.up));
        }
    }
    Ok(statuses)
}

/// Raw packets for scripts: the classifier's captures (or a packet socket's, on that
/// path) and a way out to the hosts found up (each group's are allowed as it is
/// found, see [`RawAccess::allow`]). `None`, with a notice, if it cannot
/// be had; scripts then hear why from `rawpacket.available()`.
fn open_raw_access(prober: &mut Prober, notice: &mut dyn FnMut(&str)) -> Option<RawAccess> {
    let path = &prober.path;
    let (ifindex, src_mac, src_ip) = (path.ifindex, path.src_mac, path.src_ip);
    let hub = match prober.take_captures() {
        Some(maps) => CaptureHub::from_classifier(maps),
        None => CaptureHub::from_packet_socket(ifindex, u32::from(src_ip)),
    };
    match hub.and_then(|hub| RawAccess::new(hub, ifindex, src_mac, src_ip)) {
        Ok(access) => Some(access),
        Err(err) => {
            notice(&format!("{err:#}\nscripts get no raw packets in this scan"));
            None
        }
    }
}

/// Runs the scripts on `hosts` (after their port scans and version detection) and
/// passes each result to `sink`.
pub async fn run_scripts(
    engine: &Engine,
    hosts: &[Ipv4Addr],
    result: &mut ScanResult,
    sink: &mut dyn FindingSink,
    notice: &mut dyn FnMut(&str),
) -> Result<()> {
    engine.run(result, hosts, notice).await?;
    for addr in hosts {
        let Some(host) = result.hosts.get(addr) else {
            continue;
        };
        for output in &host.scripts {
            sink.script_result(ScriptSubject::Host(*addr), output)?;
        }
        for ((port, proto), finding) in &host.ports {
            for output in &finding.scripts {
                sink.script_result(ScriptSubject::Port(*addr, *port, proto), output)?;
            }
        }
    }
    Ok(())
}

/// Runs the `prerule` or `postrule` scripts and passes each result to `sink`.
pub async fn run_phase_scripts(
    engine: &Engine,
    phase: Phase,
    result: &mut ScanResult,
    sink: &mut dyn FindingSink,
    notice: &mut dyn FnMut(&str),
) -> Result<()> {
    engine.run_phase(phase, result, notice).await?;
    let (subject, outputs) = match phase {
        Phase::PreScan => (ScriptSubject::PreScan, &result.prescripts),
        Phase::PostScan => (ScriptSubject::PostScan, &result.postscripts),
    };
    for output in outputs {
        sink.script_result(subject, output)?;
    }
    Ok(())
}

/// Puts what is known about each host of `group` into the result (latency, MAC, why
/// it is up, its reverse-DNS name) and hands it to `hosts_done`. Hosts that ran out
/// of `--host-timeout` are left out, as nmap does.
async fn finish_hosts(
    group: &[Ipv4Addr],
    prober: &Prober,
    statuses: &BTreeMap<Ipv4Addr, HostStatus>,
    opts: &RawScanOptions,
    result: &mut ScanResult,
    hosts_done: &mut dyn HostSink,
    notice: &mut dyn FnMut(&str),
) -> Result<()> {
    let timed_out: Vec<Ipv4Addr> = prober.timed_out().collect();
    let finished: Vec<Ipv4Addr> = group
        .iter()
        .copied()
        .filter(|addr| !timed_out.contains(addr))
        .collect();
    for addr in group.iter().filter(|addr| timed_out.contains(addr)) {
        notice(&format!("skipping {addr}: it ran past --host-timeout"));
        result.hosts.remove(addr);
    }
    let names = if opts.reverse_dns {
        resolve::reverse(&finished).await
    } else {
        Default::default()
    };
    for target in finished {
        let host = result.hosts.entry(target).or_default();
        host.latency = prober
            .latency(target)
            .or_else(|| prober.path.arp_rtt(target));
        host.mac = prober.path.on_link_mac(target);
        host.up_reason = statuses.get(&target).map(|s| s.reason);
        host.ptr_name = names.get(&target).cloned();
        hosts_done.host_done(target, host)?;
    }
    Ok(())
}
