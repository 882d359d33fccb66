//! Where probes go out: the interface, the source address, and the next hop's MAC for
//! each target, read from the kernel (`/proc/net/route`, `/proc/net/arp`, getifaddrs)
//! and, for a next hop the kernel has not resolved yet, learnt with our own ARP request.
//!
//! Reads happen once, before the scan; nothing here runs per probe.

use super::packet_socket::PacketSocket;
use anyhow::{bail, Context, Result};
use scanner_common::{ClassifierConfig, ReplyKind, FLAG_ARP};
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::net::Ipv4Addr;
use std::time::Duration;

/// One row of the IPv4 routing table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub iface: String,
    pub dest: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub gateway: Option<Ipv4Addr>,
    pub metric: u32,
}

/// The IPv4 routing table of this network namespace.
#[derive(Clone, Debug, Default)]
pub struct RoutingTable {
    routes: Vec<Route>,
}

impl RoutingTable {
    pub fn read() -> Result<Self> {
        let text = std::fs::read_to_string("/proc/net/route").context("reading /proc/net/route")?;
        Self::parse(&text)
    }

    /// Parses `/proc/net/route` (addresses as hex in host byte order).
    pub fn parse(text: &str) -> Result<Self> {
        let hex = |s: &str| -> Result<Ipv4Addr> {
            let v = u32::from_str_radix(s, 16)
                .with_context(|| format!("bad address {s:?} in /proc/net/route"))?;
            Ok(Ipv4Addr::from(v.to_ne_bytes()))
        };
        let mut routes = Vec::new();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 8 {
                continue;
            }
            let flags = u32::from_str_radix(cols[3], 16).unwrap_or(0);
            const RTF_UP: u32 = 0x1;
            const RTF_GATEWAY: u32 = 0x2;
            if flags & RTF_UP == 0 {
                continue;
            }
            let gateway = hex(cols[2])?;
            routes.push(Route {
                iface: cols[0].to_string(),
                dest: hex(cols[1])?,
                gateway: (flags & RTF_GATEWAY != 0).then_some(gateway),
                metric: cols[6].parse().unwrap_or(0),
                mask: hex(cols[7])?,
            });
        }
        Ok(Self { routes })
    }

    /// Every route, in table order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The most specific route to `dst` (lowest metric among equals).
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&Route> {
        let dst = u32::from(dst);
        self.routes
            .iter()
            .filter(|r| dst & u32::from(r.mask) == u32::from(r.dest))
            .max_by_key(|r| (u32::from(r.mask).count_ones(), std::cmp::Reverse(r.metric)))
    }
}

/// The interface index, or an error that says how to list interfaces.
pub fn ifindex(iface: &str) -> Result<u32> {
    let name = CString::new(iface).context("interface name has a NUL byte")?;
    // SAFETY: `name` is a valid C string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        bail!("no interface named {iface:?} here (see `ip link`; pick one with -e IFACE)");
    }
    Ok(index)
}

/// How many transmit queues the interface has (1 where sysfs does not say).
pub fn tx_queue_count(iface: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{iface}/queues"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("tx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1)
}

/// The interface's MAC address.
pub fn mac_address(iface: &str) -> Result<[u8; 6]> {
    let path = format!("/sys/class/net/{iface}/address");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {path}: no interface {iface:?}?"))?;
    parse_mac(text.trim()).with_context(|| format!("{path} holds no Ethernet address"))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// The first IPv4 address of the interface.
pub fn ipv4_address(iface: &str) -> Result<Ipv4Addr> {
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `addrs` with a list we free below.
    if unsafe { libc::getifaddrs(&mut addrs) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getifaddrs");
    }
    let mut found = None;
    let mut cursor = addrs;
    while !cursor.is_null() {
        // SAFETY: cursor walks the list getifaddrs returned; it is freed after the loop.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a C string for every entry.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) };
        // SAFETY: ifa_addr is non-null; its family tells its real type.
        if name.to_bytes() == iface.as_bytes()
            && i32::from(unsafe { (*entry.ifa_addr).sa_family }) == libc::AF_INET
        {
            // SAFETY: AF_INET addresses are sockaddr_in.
            let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
            found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            break;
        }
    }
    // SAFETY: `addrs` came from getifaddrs.
    unsafe { libc::freeifaddrs(addrs) };
    found.with_context(|| format!("interface {iface:?} has no IPv4 address: give one with -S ADDR"))
}

/// How long each ARP round waits: the first for the answers, the others for
/// stragglers (a neighbour on the segment answers in well under a millisecond).
pub const ARP_ROUNDS: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(125),
    Duration::from_millis(125),
];

/// The MACs of `addrs` on `iface`, with how long each took to answer, from our own
/// ARP requests, all sent at once, in the rounds of [`ARP_ROUNDS`]. (The kernel's ARP
/// cache is not asked: an entry there can outlive its host, and whether a host
/// answers ARP now is what host discovery wants to know.) Addresses that never
/// answer are missing from the result.
pub async fn resolve_neighbours(
    iface: &str,
    src_mac: [u8; 6],
    src_ip: Ipv4Addr,
    addrs: &[Ipv4Addr],
) -> Result<HashMap<Ipv4Addr, ([u8; 6], Duration)>> {
    let mut found = HashMap::new();
    let mut missing: HashSet<Ipv4Addr> = addrs.iter().copied().collect();
    if missing.is_empty() {
        return Ok(found);
    }
    let socket = PacketSocket::open(ifindex(iface)?, ETHERTYPE_ARP)
        .context("opening a packet socket for ARP (needs CAP_NET_RAW: run as root)")?;
    let mut buf = [0u8; 128];
    for round_wait in ARP_ROUNDS {
        let sent_at = tokio::time::Instant::now();
        for &addr in &missing {
            socket.send(&arp_request(src_mac, src_ip, addr))?;
        }
        let deadline = sent_at + round_wait;
        while !missing.is_empty() {
            let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await
            else {
                break;
            };
            if let Some((addr, mac)) = arp_reply_to(&buf[..received?], src_ip) {
                if missing.remove(&addr) {
                    found.insert(addr, (mac, sent_at.elapsed()));
                }
            }
        }
        if missing.is_empty() {
            break;
        }
    }
    Ok(found)
}

use scanner_common::wire::ETHERTYPE_ARP;

/// An ARP who-has request for `target` from us, as a broadcast Ethernet frame.
pub fn arp_request(src_mac: [u8; 6], src_ip: Ipv4Addr, target: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet, IPv4, request
    f[22..28].copy_from_slice(&src_mac);
    f[28..32].copy_from_slice(&src_ip.octets());
    f[38..42].copy_from_slice(&target.octets());
    f
}

/// The sender MAC of an ARP reply from `from` to `local` (see [`arp_reply_to`]).
pub fn parse_arp_reply(frame: &[u8], local: Ipv4Addr, from: Ipv4Addr) -> Option<[u8; 6]> {
    arp_reply_to(frame, local)
        .filter(|(addr, _)| *addr == from)
        .map(|(_, mac)| mac)
}

/// The sender address and MAC of an ARP reply that answers a request from `local`,
/// by the classifier's own rule (`scanner_common::classify::classify_arp`): an
/// Ethernet/IPv4 reply whose target address is `local`. Gratuitous ARP and replies
/// to other hosts' requests are not answers to ours.
fn arp_reply_to(frame: &[u8], local: Ipv4Addr) -> Option<(Ipv4Addr, [u8; 6])> {
    let config = ClassifierConfig {
        local_addr: u32::from(local),
        port_lo: 0,
        port_hi: 0,
        key: [0; 2],
        enabled: 1,
        flags: FLAG_ARP,
    };
    let record = crate::packet::reply::classify(frame, &config)?;
    (ReplyKind::from_u8(record.kind) == Some(ReplyKind::Arp))
        .then(|| (Ipv4Addr::from(record.remote_addr), record.remote_mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
        eth0\t000112C6\t020012C6\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
        eth0\t000013C6\t140012C6\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

    #[test]
    fn routes_pick_the_most_specific_entry() {
        let table = RoutingTable::parse(ROUTES).unwrap();
        let on_link = table.lookup(Ipv4Addr::new(198, 18, 0, 10)).unwrap();
        assert_eq!((on_link.iface.as_str(), on_link.gateway), ("eth0", None));
        let far = table.lookup(Ipv4Addr::new(198, 18, 1, 10)).unwrap();
        assert_eq!(far.gateway, Some(Ipv4Addr::new(198, 18, 0, 2)));
        let sweep = table.lookup(Ipv4Addr::new(198, 19, 7, 7)).unwrap();
        assert_eq!(sweep.gateway, Some(Ipv4Addr::new(198, 18, 0, 20)));
        assert!(table.lookup(Ipv4Addr::new(8, 8, 8, 8)).is_none());
    }

    #[test]
    fn arp_request_and_reply_round_trip() {
        let me = [2, 0, 0, 0, 0, 1];
        let req = arp_request(
            me,
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
        );
        assert_eq!(&req[38..42], &[198, 18, 0, 2]);
        // Turn it into the reply 198.18.0.2 would send.
        let mut reply = req;
        reply[21] = 2;
        reply[22..28].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        reply[28..32].copy_from_slice(&[198, 18, 0, 2]);
        reply[32..38].copy_from_slice(&me);
        reply[38..42].copy_from_slice(&[198, 18, 0, 1]);
        let (me, host) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(parse_arp_reply(&reply, me, host), Some([2, 0, 0, 0, 0, 2]));
        assert_eq!(parse_arp_reply(&req, me, host), None);
    }

    #[test]
    fn only_replies_to_our_requests_are_taken() {
        let (me, host) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let host_mac = [2, 0, 0, 0, 0, 2];
        // What `host` sends: a reply from it to `to`.
        let reply = |to: Ipv4Addr| {
            let mut frame = arp_request(host_mac, host, to);
            frame[21] = 2;
            frame
        };
        assert_eq!(arp_reply_to(&reply(me), me), Some((host, host_mac)));
        // Padded to a minimum Ethernet frame, as it comes off the wire.
        let mut padded = reply(me).to_vec();
        padded.resize(60, 0);
        assert_eq!(arp_reply_to(&padded, me), Some((host, host_mac)));
        // A gratuitous ARP reply (its own address as the target) and a reply to
        // another host's request are not answers to ours.
        assert_eq!(arp_reply_to(&reply(host), me), None);
        assert_eq!(arp_reply_to(&reply(Ipv4Addr::new(198, 18, 0, 7)), me), None);
        // Nor is one that is not Ethernet/IPv4.
        let mut odd = reply(me);
        odd[18] = 16;
        assert_eq!(arp_reply_to(&odd, me), None);
    }
}
