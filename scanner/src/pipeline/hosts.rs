//! The hosts of the sequence: which of a group are up and why (ARP and raw pings on
//! the probe loop, connects to ports 80 and 443 without privileges, the kernel for
//! this machine's own addresses, every one with `-Pn`), what is known of each (latency,
//! MAC, why it is up), and its reverse-DNS name: the one place names are looked up, for
//! nmap-style scans and sweeps alike. It does not scan ports nor decide when a host is
//! done (the sequence, `pipeline`, does).

use crate::discovery::{self, HostStatus, PingSpec, Pinger};
use crate::engine::probing::{Prober, Timing};
use crate::model::{Event, EventSink, HostFacts, Reason};
use crate::target::{resolve, TargetSet};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// How live hosts are found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// `-Pn`: every target is taken to be up.
    Skip,
    /// ARP for on-link targets (unless `arp` is false: `--disable-arp-ping`), these
    /// pings for the rest.
    Ping { pings: PingSpec, arp: bool },
    /// Without raw packets, as nmap then does: a connect to ports 80 and 443 of each
    /// target, `parallelism` targets at once.
    Connect { parallelism: usize },
}

/// The hosts of `group` that are up, each with why: this machine's own addresses
/// (`local`) because the kernel answers for them, on-link ones by their answer to the
/// path's ARP (unless `--disable-arp-ping`), the rest by pings or connects; every one
/// with `-Pn`. Hosts found down are left out. Raw pings go through `prober`.
pub(super) async fn discover(
    prober: Option<&mut Prober>,
    discovery: &Discovery,
    local: &TargetSet,
    group: &[Ipv4Addr],
    timing: &Timing,
) -> Result<BTreeMap<Ipv4Addr, HostStatus>> {
    let up = |reason| HostStatus {
        up: true,
        reason,
        ttl: None,
        ping: None,
    };
    let mut statuses = BTreeMap::new();
    let mut to_ping = Vec::new();
    for &target in group {
        let on_link = prober
            .as_ref()
            .is_some_and(|p| p.path.on_link_mac(target).is_some());
        let reason = match discovery {
            Discovery::Skip if on_link && !local.contains(target) => Reason::ArpResponse,
            Discovery::Skip => Reason::UserSet,
            _ if local.contains(target) => Reason::LocalhostResponse,
            Discovery::Ping { arp: true, .. } if on_link => Reason::ArpResponse,
            Discovery::Ping { .. } | Discovery::Connect { .. } => {
                to_ping.push(target);
                continue;
            }
        };
        statuses.insert(target, up(reason));
    }
    if to_ping.is_empty() {
        return Ok(statuses);
    }
    match discovery {
        Discovery::Ping { pings, .. } if !pings.is_empty() => {
            let prober = prober
                .context("raw pings run on the probe loop, which is not open: this is a bug")?;
            let mut pinger = Pinger::new(pings.clone(), &prober.link())?;
            prober
                .run(&mut pinger, &to_ping, &Pinger::SLOTS, timing)
                .await?;
            statuses.extend(pinger.statuses.into_iter().filter(|(_, s)| s.up));
        }
        Discovery::Connect { parallelism } => {
            let targets = TargetSet::from_addrs(to_ping.iter().copied());
            statuses.extend(discovery::connect::ping(&targets, *parallelism).await);
        }
        _ => {}
    }
    Ok(statuses)
}

/// What discovery and the probe loop know of `addr`: why it is up, the smoothed
/// round-trip time of its replies (or of its ARP answer), its MAC if on-link.
pub(super) fn facts(
    addr: Ipv4Addr,
    prober: Option<&Prober>,
    statuses: &BTreeMap<Ipv4Addr, HostStatus>,
) -> HostFacts {
    HostFacts {
        up_reason: statuses.get(&addr).map(|s| s.reason),
        latency: prober.and_then(|p| p.latency(addr).or_else(|| p.path.arp_rtt(addr))),
        mac: prober.and_then(|p| p.path.on_link_mac(addr)),
        ..HostFacts::default()
    }
}

/// Looks up the reverse-DNS names of `hosts` and emits each name found into `sink`.
pub async fn name_hosts(hosts: &[Ipv4Addr], sink: &mut dyn EventSink) -> Result<()> {
    for (addr, name) in resolve::reverse(hosts).await {
        let facts = HostFacts {
            ptr_name: Some(name),
            ..HostFacts::default()
        };
        sink.emit(Event::Host(addr, facts))?;
    }
    Ok(())
}
