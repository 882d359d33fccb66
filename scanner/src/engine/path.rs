//! The scan's way out: which interface, which source address and MAC, and the next
//! hop's MAC for every target (the target itself on-link, its router otherwise).
//! Worked out once before the first probe; `-e` and `-S` override what the routing
//! table says. On-link targets that do not answer ARP are down: they are listed in
//! [`ScanPath::unreachable`] and never probed.

use crate::io::iface::{self, RoutingTable};
use crate::target::TargetSet;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

pub struct ScanPath {
    pub iface: String,
    pub ifindex: u32,
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    /// Distinct next-hop MACs; targets refer to them by index.
    next_hop_macs: Vec<[u8; 6]>,
    /// For each next hop address (on-link targets are their own), its index.
    next_hop_index: HashMap<Ipv4Addr, u16>,
    routes: RoutingTable,
    forced_iface: bool,
    /// On-link targets that did not answer ARP.
    pub unreachable: TargetSet,
    /// How long each next hop took to answer ARP.
    arp_rtt: HashMap<Ipv4Addr, Duration>,
}

/// The targets that are this machine's own addresses (the local routing table:
/// 127.0.0.0/8, the interfaces' addresses): packets to them never leave through an
/// interface, so only the kernel's own connections (-sT) reach them.
pub fn local_targets(targets: &TargetSet) -> Result<TargetSet> {
    let local = TargetSet::from_ranges(
        iface::local_prefixes()?
            .into_iter()
            .map(|(addr, bits)| {
                let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                let base = u32::from(addr) & mask;
                (base, base | !mask)
            })
            .collect(),
    );
    Ok(targets.subtract(&targets.subtract(&local)))
}

/// Why a raw scan cannot reach `own`, one of this machine's addresses, and what to do.
pub fn own_address_message(own: Ipv4Addr) -> String {
    format!(
        "{own} is this machine's own address: raw packets to it never leave through an interface, \
         so -sS, -sU, the other raw scans and sweeps cannot reach it; \
         scan it with -sT, apart from the other targets"
    )
}

/// Above this many targets, next hops are worked out per route, not per address.
const PER_ADDRESS_LIMIT: u64 = 65_536;

impl ScanPath {
    /// Finds the interface and source for `targets` and resolves every next hop with
    /// ARP through a packet socket (sweeps; nmap-style scans resolve through the
    /// classifier, see `engine::probing`).
    pub async fn discover(
        targets: &TargetSet,
        iface: Option<&str>,
        src_ip: Option<Ipv4Addr>,
    ) -> Result<Self> {
        let (mut path, hops) = Self::locate(targets, iface, src_ip)?;
        let resolved =
            iface::resolve_neighbours(&path.iface, path.src_mac, path.src_ip, &hops).await?;
        path.set_neighbours(targets, hops, &resolved)?;
        Ok(path)
    }

    /// The interface and source for `targets` and their next hops, whose MACs are
    /// still to be found (then given to [`ScanPath::set_neighbours`]).
    pub fn locate(
        targets: &TargetSet,
        iface: Option<&str>,
        src_ip: Option<Ipv4Addr>,
    ) -> Result<(Self, Vec<Ipv4Addr>)> {
        if let Some(own) = local_targets(targets)?.iter().next() {
            bail!("{}", own_address_message(own));
        }
        let routes = RoutingTable::read()?;
        let first = targets.iter().next().context("no targets to scan")?;
        let iface = match iface {
            Some(name) => name.to_string(),
            None => routes
                .lookup(first)
                .map(|r| r.iface.clone())
                .with_context(|| format!("no route to {first}: check `ip route`, or name the interface with -e IFACE"))?,
        };
        let ifindex = iface::ifindex(&iface)?;
        let src_mac = iface::mac_address(&iface)?;
        let src_ip = match src_ip {
            Some(addr) => addr,
            None => iface::ipv4_address(&iface)?,
        };
        let path = Self {
            forced_iface: iface != routes.lookup(first).map(|r| r.iface.as_str()).unwrap_or(""),
            iface,
            ifindex,
            src_mac,
            src_ip,
            next_hop_macs: Vec::new(),
            next_hop_index: HashMap::new(),
            routes,
            unreachable: TargetSet::default(),
            arp_rtt: HashMap::new(),
        };
        let hops = path.next_hops(targets)?;
        Ok((path, hops))
    }

    /// A path from `src_mac`/`src_ip` on which every target is behind one next hop
    /// at `next_hop_mac` (the probe loop's tests, on their fake network).
    #[cfg(test)]
    pub(crate) fn fake(src_mac: [u8; 6], src_ip: Ipv4Addr, next_hop_mac: [u8; 6]) -> Self {
        Self {
            iface: "fake0".into(),
            ifindex: 0,
            src_mac,
            src_ip,
            next_hop_macs: vec![next_hop_mac],
            next_hop_index: HashMap::new(),
            routes: RoutingTable::default(),
            forced_iface: true,
            unreachable: TargetSet::default(),
            arp_rtt: HashMap::new(),
        }
    }

    /// Takes the MACs (and answer times) ARP found for `hops`: on-link targets that
    /// did not answer are unreachable; a router that did not is an error.
    pub fn set_neighbours(
        &mut self,
        targets: &TargetSet,
        hops: Vec<Ipv4Addr>,
        resolved: &HashMap<Ipv4Addr, ([u8; 6], Duration)>,
    ) -> Result<()> {
        let mut unreachable = Vec::new();
        for hop in hops {
            match resolved.get(&hop) {
                Some((mac, rtt)) => {
                    self.arp_rtt.insert(hop, *rtt);
                    let index = self.next_hop_macs.len();
                    if index >= usize::from(u16::MAX) {
                        bail!("more than 65535 distinct next hops: scan smaller ranges");
                    }
                    self.next_hop_macs.push(*mac);
                    self.next_hop_index.insert(hop, index as u16);
                }
                None if targets.contains(hop) && self.next_hop_addr(hop).ok() == Some(hop) => {
                    unreachable.push((u32::from(hop), u32::from(hop)));
                }
                None => bail!(
                    "the router {hop} on {} does not answer ARP: check `ip route` and `ip neigh`",
                    self.iface
                ),
            }
        }
        self.unreachable = TargetSet::from_ranges(unreachable);
        Ok(())
    }

    /// Every distinct next hop of `targets`: per address for small sets, per route
    /// (gateways, and the on-link part of the set) for large ones.
    fn next_hops(&self, targets: &TargetSet) -> Result<Vec<Ipv4Addr>> {
        let mut hops = Vec::new();
        let mut seen = std::collections::HashSet::new();
        if targets.len() <= PER_ADDRESS_LIMIT {
            for target in targets.iter() {
                let hop = self.next_hop_addr(target)?;
                if seen.insert(hop) {
                    hops.push(hop);
                }
            }
            return Ok(hops);
        }
        let mut covered = TargetSet::default();
        for route in self
            .routes
            .routes()
            .iter()
            .filter(|r| r.iface == self.iface)
        {
            let bits = u32::from(route.mask).count_ones();
            let prefix = TargetSet::parse(&[format!("{}/{bits}", route.dest)])?;
            let inside = targets.subtract(&targets.subtract(&prefix));
            if inside.is_empty() {
                continue;
            }
            covered = covered.union(&inside);
            match route.gateway {
                Some(gateway) => {
                    if seen.insert(gateway) {
                        hops.push(gateway);
                    }
                }
                None if inside.len() > PER_ADDRESS_LIMIT => bail!(
                    "{} targets are on-link on {}: sweeping more than {PER_ADDRESS_LIMIT} on-link addresses \
                     needs an ARP entry each; scan them in smaller blocks",
                    inside.len(),
                    self.iface
                ),
                None => {
                    for target in inside.iter() {
                        if seen.insert(target) {
                            hops.push(target);
                        }
                    }
                }
            }
        }
        let unrouted = targets.subtract(&covered);
        if let Some(first) = unrouted.iter().next() {
            bail!(
                "no route to {first} through {} ({} targets unrouted): check `ip route`",
                self.iface,
                unrouted.len()
            );
        }
        Ok(hops)
    }

    /// The address whose MAC frames to `target` carry.
    fn next_hop_addr(&self, target: Ipv4Addr) -> Result<Ipv4Addr> {
        match self.routes.lookup(target) {
            Some(route) if route.iface == self.iface => Ok(route.gateway.unwrap_or(target)),
            Some(route) if !self.forced_iface => bail!(
                "{target} is routed through {} but the scan uses {}: scan them separately, or pick one with -e",
                route.iface,
                self.iface
            ),
            // -e named an interface the table does not route this way: treat as on-link.
            _ if self.forced_iface => Ok(target),
            _ => bail!("no route to {target}: check `ip route`"),
        }
    }

    /// How long an on-link `target` took to answer ARP.
    pub fn arp_rtt(&self, target: Ipv4Addr) -> Option<Duration> {
        self.on_link_mac(target)?;
        self.arp_rtt.get(&target).copied()
    }

    /// The MAC of `target` itself when it is on-link (its own next hop).
    pub fn on_link_mac(&self, target: Ipv4Addr) -> Option<[u8; 6]> {
        (self.next_hop_addr(target).ok()? == target && !self.unreachable.contains(target))
            .then(|| self.next_hop_mac(target))
    }

    /// The next hop's MAC for `target` (which must be one of the scan's targets).
    pub fn next_hop_mac(&self, target: Ipv4Addr) -> [u8; 6] {
        // The common case (everything behind one router, or one host): no lookup.
        if let [only] = self.next_hop_macs[..] {
            return only;
        }
        let hop = self.next_hop_addr(target).unwrap_or(target);
        let index = self.next_hop_index.get(&hop).copied().unwrap_or(0);
        self.next_hop_macs[usize::from(index)]
    }
}
