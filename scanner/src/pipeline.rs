//! An nmap-style raw-packet scan from start to end: the path and the classifier are set
//! up once, host discovery finds the live targets (unless `-Pn`), then each port scan
//! asked for (a TCP probe scan, a UDP scan, or both) runs over them, and the hosts'
//! facts (latency, MAC, why they are up) go into the result.
//!
//! Every phase is a probe module run by the one probe loop (`engine::probing`); this
//! module only decides what runs after what.

use crate::discovery::{HostStatus, PingSpec, Pinger};
use crate::engine::probing::{cookie_key, ProbeStats, Prober, Timing};
use crate::engine::NetworkOptions;
use crate::portscan::syn::{TcpProbe, TcpScan};
use crate::portscan::udp::UdpScan;
use crate::report::progress::ProgressOptions;
use crate::report::{FindingSink, ScanInfo, ScanResult};
use crate::target::{ports::PortList, TargetSet};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

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
}

/// Runs the scan, passing each port finding to `sink` as it is made. `notice` gets
/// one-line messages for the user (fallbacks, hosts found down).
pub async fn run(
    opts: &RawScanOptions,
    sink: &mut dyn FindingSink,
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
    let path_down = prober.path.unreachable.clone();
    let reachable: Vec<Ipv4Addr> = opts.targets.subtract(&path_down).iter().collect();

    // 1. Which hosts are up, and why. This machine's own address is up (as nmap says),
    //    but raw probes to it never leave the interface: it is not port scanned.
    let mut statuses: BTreeMap<Ipv4Addr, HostStatus> = BTreeMap::new();
    let own = prober.path.src_ip;
    if opts.targets.contains(own) {
        statuses.insert(
            own,
            HostStatus {
                up: true,
                reason: "localhost-response",
                ttl: None,
            },
        );
    }
    let mut to_ping = Vec::new();
    for &target in &reachable {
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
            statuses.extend(pinger.statuses);
        }
    }
    let up: Vec<Ipv4Addr> = statuses
        .iter()
        .filter(|(_, s)| s.up)
        .map(|(addr, _)| *addr)
        .collect();
    let down = opts.targets.len() - up.len() as u64;
    let port_scanned = opts.tcp.is_some() || opts.udp.is_some();
    if port_scanned && statuses.contains_key(&own) {
        notice(&format!(
            "{own} is this machine's own address: raw probes cannot reach it, so it is not port scanned (-sT can)"
        ));
    }
    let up: Vec<Ipv4Addr> = up.into_iter().filter(|&addr| addr != own).collect();
    if down > 0 && opts.discovery != Discovery::Skip && port_scanned {
        notice(&format!(
            "{down} target(s) did not answer host discovery and are not port scanned; -Pn scans them anyway"
        ));
    }
    if up.is_empty() && path_down.len() == opts.targets.len() && opts.discovery == Discovery::Skip {
        bail!("no target answered ARP: nothing to scan");
    }

    // 2. The port scans.
    let link = prober.link();
    if let Some((probe, ports)) = &opts.tcp {
        let mut scan = TcpScan::new(*probe, &link, sink, &mut result);
        prober
            .run(&mut scan, &up, ports.as_slice(), &opts.timing)
            .await?;
        result.scans.push(ScanInfo {
            kind: probe.reading.name(),
            protocol: "tcp",
            ports: ports.as_slice().to_vec(),
        });
    }
    if let Some(ports) = &opts.udp {
        let mut scan = UdpScan::new(sink, &mut result);
        prober
            .run(&mut scan, &up, ports.as_slice(), &opts.timing)
            .await?;
        result.scans.push(ScanInfo {
            kind: "udp",
            protocol: "udp",
            ports: ports.as_slice().to_vec(),
        });
    }

    // 3. What is known about each live host; those that ran out of --host-timeout
    //    are left out, as nmap does.
    for addr in prober.timed_out().collect::<Vec<_>>() {
        notice(&format!("skipping {addr}: it ran past --host-timeout"));
        result.hosts.remove(&addr);
        statuses.remove(&addr);
    }
    let up: Vec<Ipv4Addr> = up
        .into_iter()
        .filter(|addr| statuses.contains_key(addr))
        .collect();
    for target in up
        .into_iter()
        .chain(statuses.contains_key(&own).then_some(own))
    {
        let host = result.hosts.entry(target).or_default();
        host.latency = prober
            .latency(target)
            .or_else(|| prober.path.arp_rtt(target));
        host.mac = prober.path.on_link_mac(target);
        host.up_reason = statuses.get(&target).map(|s| s.reason);
    }
    result.elapsed = started.elapsed();
    Ok((result, prober.stats.clone()))
}
