//! The scan's way out: which interface, which source address and MAC, and the next
//! hop's MAC for every target (the target itself on-link, its router otherwise).
//! Worked out once before the first probe; `-e` and `-S` override what the routing
//! table says.

use crate::io::iface::{self, RoutingTable};
use crate::target::TargetSet;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::net::Ipv4Addr;

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
}

impl ScanPath {
    /// Finds the interface and source for `targets` and resolves every next hop.
    pub async fn discover(
        targets: &TargetSet,
        iface: Option<&str>,
        src_ip: Option<Ipv4Addr>,
    ) -> Result<Self> {
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
        let mut path = Self {
            forced_iface: iface != routes.lookup(first).map(|r| r.iface.as_str()).unwrap_or(""),
            iface,
            ifindex,
            src_mac,
            src_ip,
            next_hop_macs: Vec::new(),
            next_hop_index: HashMap::new(),
            routes,
        };
        let mut hops = Vec::new();
        for target in targets.iter() {
            let hop = path.next_hop_addr(target)?;
            if let std::collections::hash_map::Entry::Vacant(slot) = path.next_hop_index.entry(hop)
            {
                slot.insert(u16::MAX);
                hops.push(hop);
            }
        }
        for hop in hops {
            let mac = iface::resolve_next_hop(&path.iface, path.src_mac, path.src_ip, hop).await?;
            let index = path.next_hop_macs.len();
            if index >= usize::from(u16::MAX) {
                bail!("more than 65535 distinct next hops: scan smaller ranges");
            }
            path.next_hop_macs.push(mac);
            path.next_hop_index.insert(hop, index as u16);
        }
        Ok(path)
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

    /// The next hop's MAC for `target` (which must be one of the scan's targets).
    pub fn next_hop_mac(&self, target: Ipv4Addr) -> [u8; 6] {
        let hop = self.next_hop_addr(target).unwrap_or(target);
        let index = self.next_hop_index.get(&hop).copied().unwrap_or(0);
        self.next_hop_macs[usize::from(index)]
    }
}
