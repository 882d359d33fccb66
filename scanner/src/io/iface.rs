//! Where probes go out: the interface, the source address, and the next hop's MAC for
//! each target, read from the system once, before the scan (nothing here runs per
//! probe), and the next hops' MACs learnt with our own ARP requests.
//!
//! What each system gives, and where it is read:
//! - Linux: routes from `/proc/net/route`, this machine's own addresses from the local
//!   routing table (netlink), MACs and queues from `/sys/class/net`, addresses from
//!   getifaddrs;
//! - macOS and the BSDs: routes from `netstat -rn -f inet`, MACs from getifaddrs'
//!   link-layer entries;
//! - Windows: routes from `route print -4`, MACs from `getmac`, the Npcap device of an
//!   address from libpcap's device list;
//! - everywhere but Linux: an interface's addresses, and so this machine's own, from
//!   libpcap's device list.
//!
//! ARP goes out and comes in through a packet socket in the Linux build, through
//! libpcap in the portable one.

#[cfg(fast_path)]
use super::packet_socket::PacketSocket;
use super::pcap_sender::PcapSender;
use super::pcap_tap::PcapTap;
use anyhow::{bail, Context, Result};
use scanner_common::{ClassifierConfig, ReplyKind, FLAG_ARP};
use std::collections::{HashMap, HashSet};
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
    pub fn from_routes(routes: Vec<Route>) -> Self {
        Self { routes }
    }

    /// This system's IPv4 routing table.
    #[cfg(target_os = "linux")]
    pub fn read() -> Result<Self> {
        let text = std::fs::read_to_string("/proc/net/route").context("reading /proc/net/route")?;
        Self::parse(&text)
    }

    /// This system's IPv4 routing table (`netstat -rn -f inet`).
    #[cfg(all(unix, not(target_os = "linux")))]
    pub fn read() -> Result<Self> {
        let text = command_output("netstat", &["-rn", "-f", "inet"])?;
        Ok(super::route_text::parse_netstat(&text))
    }

    /// This system's IPv4 routing table (`route print -4`), each route's interface
    /// named as Npcap names it.
    #[cfg(windows)]
    pub fn read() -> Result<Self> {
        let text = command_output("route", &["print", "-4"])?;
        let mut table = super::route_text::parse_route_print(&text);
        let devices = pcap_devices()?;
        for route in &mut table.routes {
            if let Ok(addr) = route.iface.parse::<Ipv4Addr>() {
                if let Some((name, _)) = devices.iter().find(|(_, addrs)| addrs.contains(&addr)) {
                    route.iface = name.clone();
                }
            }
        }
        Ok(table)
    }

    /// Parses `/proc/net/route` (addresses as hex in host byte order).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
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

/// The addresses the local routing table (`ip route show table local`) says are this
/// machine's own: each interface's addresses, 127.0.0.0/8 on loopback, and any
/// prefix routed `local` by hand. Packets to them never leave through an interface:
/// the kernel delivers them itself. Read with a netlink route dump, since
/// `/proc/net/route` shows the main table only.
#[cfg(target_os = "linux")]
pub fn local_prefixes() -> Result<Vec<(Ipv4Addr, u8)>> {
    // SAFETY: socket(2) with constant arguments; the descriptor is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error())
            .context("opening a netlink socket to read the local routing table");
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // nlmsghdr (16 bytes) + rtmsg (12): dump every IPv4 route.
    let mut request = [0u8; 28];
    request[0..4].copy_from_slice(&28u32.to_ne_bytes());
    request[4..6].copy_from_slice(&RTM_GETROUTE.to_ne_bytes());
    request[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes());
    request[16] = libc::AF_INET as u8;
    // SAFETY: request is a valid buffer of its length; the kernel is the peer.
    if unsafe { libc::send(raw, request.as_ptr().cast(), request.len(), 0) } < 0 {
        return Err(std::io::Error::last_os_error())
            .context("asking netlink for the routing tables");
    }
    let mut prefixes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(raw, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error())
                .context("reading the routing tables from netlink");
        }
        if n == 0 || parse_local_routes(&buf[..n as usize], &mut prefixes)? {
            return Ok(prefixes);
        }
    }
}

/// This machine's own addresses where there is no local routing table to read:
/// 127.0.0.0/8 and every interface's addresses (libpcap's device list).
#[cfg(not(target_os = "linux"))]
pub fn local_prefixes() -> Result<Vec<(Ipv4Addr, u8)>> {
    let mut prefixes = vec![(Ipv4Addr::new(127, 0, 0, 0), 8)];
    for (_, addrs) in pcap_devices()? {
        prefixes.extend(addrs.into_iter().map(|addr| (addr, 32)));
    }
    Ok(prefixes)
}

/// Every capture device libpcap lists, with its IPv4 addresses.
#[cfg(not(target_os = "linux"))]
fn pcap_devices() -> Result<Vec<(String, Vec<Ipv4Addr>)>> {
    let devices = pcap::Device::list().context(
        "libpcap lists no capture devices (on Windows: install Npcap; elsewhere: run as root)",
    )?;
    Ok(devices
        .into_iter()
        .map(|device| {
            let addrs = device
                .addresses
                .iter()
                .filter_map(|a| match a.addr {
                    std::net::IpAddr::V4(v4) => Some(v4),
                    std::net::IpAddr::V6(_) => None,
                })
                .collect();
            (device.name, addrs)
        })
        .collect())
}

/// What `program args` printed, or an error naming the command.
#[cfg(not(target_os = "linux"))]
fn command_output(program: &str, args: &[&str]) -> Result<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running `{program} {}`", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(target_os = "linux")]
const RTM_NEWROUTE: u16 = 24;
#[cfg(target_os = "linux")]
const RTM_GETROUTE: u16 = 26;
#[cfg(target_os = "linux")]
const NLM_F_REQUEST: u16 = 0x1;
#[cfg(target_os = "linux")]
const NLM_F_DUMP: u16 = 0x300;
#[cfg(target_os = "linux")]
const NLMSG_ERROR: u16 = 2;
#[cfg(target_os = "linux")]
const NLMSG_DONE: u16 = 3;
#[cfg(target_os = "linux")]
const RT_TABLE_LOCAL: u32 = 255;
#[cfg(target_os = "linux")]
const RTN_LOCAL: u8 = 2;
#[cfg(target_os = "linux")]
const RTA_DST: u16 = 1;
#[cfg(target_os = "linux")]
const RTA_TABLE: u16 = 15;

/// Adds the `local` routes of the local table in one netlink datagram of a route
/// dump to `out`; true once the dump is done.
#[cfg(target_os = "linux")]
fn parse_local_routes(mut data: &[u8], out: &mut Vec<(Ipv4Addr, u8)>) -> Result<bool> {
    let u16_at = |b: &[u8], i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    while data.len() >= 16 {
        let len = u32_at(data, 0) as usize;
        if len < 16 || len > data.len() {
            bail!("a malformed netlink message in the route dump");
        }
        let (message, rest) = data.split_at(len);
        data = rest.get(len.next_multiple_of(4) - len..).unwrap_or(&[]);
        match u16_at(message, 4) {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = message
                    .get(16..20)
                    .map_or(0, |_| u32_at(message, 16) as i32);
                if errno != 0 {
                    return Err(std::io::Error::from_raw_os_error(-errno))
                        .context("netlink refused the route dump");
                }
            }
            RTM_NEWROUTE if message.len() >= 28 => {
                let (family, dst_len, table, kind) =
                    (message[16], message[17], message[20], message[23]);
                let mut table = u32::from(table);
                let mut dst = Ipv4Addr::UNSPECIFIED;
                let mut attrs = &message[28..];
                while attrs.len() >= 4 {
                    let attr_len = usize::from(u16_at(attrs, 0));
                    if attr_len < 4 || attr_len > attrs.len() {
                        break;
                    }
                    let value = &attrs[4..attr_len];
                    match (u16_at(attrs, 2), value.len()) {
                        (RTA_DST, 4) => dst = Ipv4Addr::new(value[0], value[1], value[2], value[3]),
                        (RTA_TABLE, 4) => table = u32_at(value, 0),
                        _ => {}
                    }
                    attrs = attrs.get(attr_len.next_multiple_of(4)..).unwrap_or(&[]);
                }
                if i32::from(family) == libc::AF_INET
                    && table == RT_TABLE_LOCAL
                    && kind == RTN_LOCAL
                    && dst_len <= 32
                {
                    out.push((dst, dst_len));
                }
            }
            _ => {}
        }
    }
    Ok(false)
}

/// The interface index, or an error that says how to list interfaces.
#[cfg(unix)]
pub fn ifindex(iface: &str) -> Result<u32> {
    let name = std::ffi::CString::new(iface).context("interface name has a NUL byte")?;
    // SAFETY: `name` is a valid C string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        bail!("no interface named {iface:?} here (see `ip link`; pick one with -e IFACE)");
    }
    Ok(index)
}

/// Windows has no interface indexes the scanner uses (only the fast paths do).
#[cfg(windows)]
pub fn ifindex(_iface: &str) -> Result<u32> {
    Ok(0)
}

/// How many transmit queues the interface has (1 where sysfs does not say).
#[cfg(target_os = "linux")]
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

/// One transmit queue: only Linux says how many an interface has.
#[cfg(not(target_os = "linux"))]
pub fn tx_queue_count(_iface: &str) -> u32 {
    1
}

/// The interface's MAC address.
#[cfg(target_os = "linux")]
pub fn mac_address(iface: &str) -> Result<[u8; 6]> {
    let path = format!("/sys/class/net/{iface}/address");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {path}: no interface {iface:?}?"))?;
    parse_mac(text.trim()).with_context(|| format!("{path} holds no Ethernet address"))
}

/// The interface's MAC address, from its link-layer (AF_LINK) address.
#[cfg(all(unix, not(target_os = "linux")))]
pub fn mac_address(iface: &str) -> Result<[u8; 6]> {
    interface_address(iface, libc::AF_LINK, |sockaddr| {
        // sockaddr_dl: len, family, index (2), type, nlen, alen, slen, then the name
        // (nlen bytes) and the address (alen bytes) in sdl_data.
        let base = sockaddr.cast::<u8>();
        // SAFETY: an AF_LINK address is a sockaddr_dl, at least as long as its
        // sdl_len says, which covers the name and address it holds.
        unsafe {
            let (len, nlen, alen) = (*base, usize::from(*base.add(5)), *base.add(6));
            if alen != 6 || 8 + nlen + 6 > usize::from(len) {
                return None;
            }
            let mut mac = [0u8; 6];
            std::ptr::copy_nonoverlapping(base.add(8 + nlen), mac.as_mut_ptr(), 6);
            Some(mac)
        }
    })?
    .with_context(|| format!("interface {iface:?} has no Ethernet address (see `ifconfig`)"))
}

/// The Npcap device's MAC address, from `getmac`.
#[cfg(windows)]
pub fn mac_address(iface: &str) -> Result<[u8; 6]> {
    let text = command_output("getmac", &["/v", "/fo", "csv", "/nh"])?;
    super::route_text::parse_getmac(&text, iface).with_context(|| {
        format!("`getmac` lists no Ethernet address for {iface} (name an Npcap device \\Device\\NPF_{{GUID}} with -e)")
    })
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
#[cfg(target_os = "linux")]
pub fn ipv4_address(iface: &str) -> Result<Ipv4Addr> {
    interface_address(iface, libc::AF_INET, |sockaddr| {
        // SAFETY: AF_INET addresses are sockaddr_in.
        let sin = unsafe { &*(sockaddr as *const libc::sockaddr_in) };
        Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
    })?
    .with_context(|| format!("interface {iface:?} has no IPv4 address: give one with -S ADDR"))
}

/// The first IPv4 address of the capture device, from libpcap's device list.
#[cfg(not(target_os = "linux"))]
pub fn ipv4_address(iface: &str) -> Result<Ipv4Addr> {
    pcap_devices()?
        .into_iter()
        .find(|(name, _)| name == iface)
        .and_then(|(_, addrs)| addrs.into_iter().next())
        .with_context(|| {
            format!("capture device {iface:?} has no IPv4 address: give one with -S ADDR")
        })
}

/// What `read` makes of the first address of family `family` on interface `iface`
/// that it accepts, from getifaddrs.
#[cfg(unix)]
fn interface_address<T>(
    iface: &str,
    family: i32,
    read: impl Fn(*const libc::sockaddr) -> Option<T>,
) -> Result<Option<T>> {
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `addrs` with a list we free below.
    if unsafe { libc::getifaddrs(&mut addrs) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getifaddrs");
    }
    let mut found = None;
    let mut cursor = addrs;
    while !cursor.is_null() && found.is_none() {
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
            && i32::from(unsafe { (*entry.ifa_addr).sa_family }) == family
        {
            found = read(entry.ifa_addr);
        }
    }
    // SAFETY: `addrs` came from getifaddrs.
    unsafe { libc::freeifaddrs(addrs) };
    Ok(found)
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
    let mut link = ArpLink::open(iface, src_ip)?;
    for round_wait in ARP_ROUNDS {
        let sent_at = tokio::time::Instant::now();
        for &addr in &missing {
            link.send(&arp_request(src_mac, src_ip, addr))?;
        }
        let deadline = sent_at + round_wait;
        while !missing.is_empty() {
            let Ok(received) = tokio::time::timeout_at(deadline, link.recv()).await else {
                break;
            };
            if let Some((addr, mac)) = arp_reply_to(&received?, src_ip) {
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

/// Where our ARP requests go out and the replies come in: a packet socket (Linux
/// build) or a libpcap handle each way (portable build).
enum ArpLink {
    #[cfg(fast_path)]
    Packet(PacketSocket, [u8; 128]),
    #[cfg_attr(fast_path, allow(dead_code))]
    Pcap(PcapTap, PcapSender),
}

impl ArpLink {
    fn open(iface: &str, src_ip: Ipv4Addr) -> Result<Self> {
        #[cfg(fast_path)]
        {
            let _ = src_ip;
            let socket = PacketSocket::open(ifindex(iface)?, ETHERTYPE_ARP)
                .context("opening a packet socket for ARP (needs CAP_NET_RAW: run as root)")?;
            Ok(Self::Packet(socket, [0; 128]))
        }
        #[cfg(not(fast_path))]
        Ok(Self::Pcap(
            PcapTap::open(iface, src_ip)?,
            PcapSender::open(iface)?,
        ))
    }

    fn send(&mut self, frame: &[u8]) -> Result<()> {
        match self {
            #[cfg(fast_path)]
            Self::Packet(socket, _) => socket.send(frame)?,
            Self::Pcap(_, sender) => sender.send_frame(frame)?,
        }
        Ok(())
    }

    /// The next frame that came in.
    async fn recv(&mut self) -> Result<Vec<u8>> {
        match self {
            #[cfg(fast_path)]
            Self::Packet(socket, buf) => {
                let len = socket.recv(buf).await?;
                Ok(buf[..len].to_vec())
            }
            Self::Pcap(tap, _) => tap.next().await.context("the libpcap reader stopped"),
        }
    }
}

use crate::packet::build::ARP_FRAME_LEN;
use crate::packet::wire::ethernet::BROADCAST;
#[cfg(fast_path)]
use scanner_common::wire::ETHERTYPE_ARP;

/// An ARP who-has request for `target` from us, as a broadcast Ethernet frame.
pub fn arp_request(src_mac: [u8; 6], src_ip: Ipv4Addr, target: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    crate::packet::build::arp_request(src_mac, src_ip, BROADCAST, target)
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
    use crate::packet::build::arp_frame;
    use crate::packet::wire::arp::{self, ArpRepr};
    use crate::packet::wire::ethernet::Frame;
    use scanner_common::wire::{ARP_OPER_REPLY, ARP_OPER_REQUEST, ETHERTYPE_ARP, ETH_HEADER_LEN};

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

    /// A netlink route message as the kernel writes it: header, rtmsg, RTA_TABLE
    /// and (unless a default route) RTA_DST.
    fn route_message(table: u32, kind: u8, dst: [u8; 4], dst_len: u8) -> Vec<u8> {
        let mut m = vec![0u8; 28];
        m[4..6].copy_from_slice(&RTM_NEWROUTE.to_ne_bytes());
        m[16] = libc::AF_INET as u8;
        m[17] = dst_len;
        m[20] = table.min(252) as u8; // RT_TABLE_COMPAT above 255, as the kernel does
        m[23] = kind;
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&RTA_TABLE.to_ne_bytes());
        m.extend_from_slice(&table.to_ne_bytes());
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&RTA_DST.to_ne_bytes());
        m.extend_from_slice(&dst);
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_local_table_is_read_from_a_route_dump() {
        let mut dump = Vec::new();
        dump.extend(route_message(255, RTN_LOCAL, [127, 0, 0, 0], 8));
        dump.extend(route_message(255, 3, [127, 255, 255, 255], 32)); // broadcast
        dump.extend(route_message(254, 1, [198, 18, 0, 0], 24)); // main, unicast
        dump.extend(route_message(255, RTN_LOCAL, [198, 18, 0, 1], 32));
        let mut found = Vec::new();
        assert!(!parse_local_routes(&dump, &mut found).unwrap());
        assert_eq!(
            found,
            [
                (Ipv4Addr::new(127, 0, 0, 0), 8),
                (Ipv4Addr::new(198, 18, 0, 1), 32)
            ]
        );
        let mut done = vec![0u8; 20];
        done[0..4].copy_from_slice(&20u32.to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        assert!(parse_local_routes(&done, &mut found).unwrap());
        // Truncated or lying lengths are errors or ignored, never a panic.
        for cut in 0..dump.len() {
            let _ = parse_local_routes(&dump[..cut], &mut Vec::new());
        }
        let mut lying = route_message(255, RTN_LOCAL, [127, 0, 0, 1], 32);
        lying[28..30].copy_from_slice(&200u16.to_ne_bytes());
        let _ = parse_local_routes(&lying, &mut Vec::new());
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_machine_has_loopback_in_its_local_table() {
        let local = local_prefixes().unwrap();
        assert!(
            local.contains(&(Ipv4Addr::new(127, 0, 0, 0), 8)),
            "{local:?}"
        );
    }

    #[test]
    fn arp_request_and_reply_round_trip() {
        let me = [2, 0, 0, 0, 0, 1];
        let (me_ip, host) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let req = arp_request(me, me_ip, host);
        let frame = Frame::new_checked(&req[..]).unwrap();
        assert_eq!(
            (frame.dst_addr(), frame.ethertype()),
            (BROADCAST, ETHERTYPE_ARP)
        );
        let request = ArpRepr::parse(&arp::Packet::new_checked(frame.payload()).unwrap()).unwrap();
        assert_eq!(
            request,
            ArpRepr {
                operation: ARP_OPER_REQUEST,
                sender_mac: me,
                sender_ip: me_ip,
                target_mac: [0; 6],
                target_ip: host,
            }
        );
        // The reply 198.18.0.2 would send.
        let reply = arp_reply(host, [2, 0, 0, 0, 0, 2], me, me_ip);
        assert_eq!(
            parse_arp_reply(&reply, me_ip, host),
            Some([2, 0, 0, 0, 0, 2])
        );
        assert_eq!(parse_arp_reply(&req, me_ip, host), None);
    }

    /// The ARP reply `from`/`from_mac` sends to `to`/`to_mac`.
    fn arp_reply(
        from: Ipv4Addr,
        from_mac: [u8; 6],
        to_mac: [u8; 6],
        to: Ipv4Addr,
    ) -> [u8; ARP_FRAME_LEN] {
        let reply = ArpRepr {
            operation: ARP_OPER_REPLY,
            sender_mac: from_mac,
            sender_ip: from,
            target_mac: to_mac,
            target_ip: to,
        };
        arp_frame(&reply, to_mac)
    }

    #[test]
    fn only_replies_to_our_requests_are_taken() {
        let (me, host) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let host_mac = [2, 0, 0, 0, 0, 2];
        // What `host` sends: a reply from it to `to`.
        let reply = |to: Ipv4Addr| arp_reply(host, host_mac, [2, 0, 0, 0, 0, 1], to);
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
        odd[ETH_HEADER_LEN + arp::field::HARDWARE_LEN] = 16;
        assert_eq!(arp_reply_to(&odd, me), None);
    }
}
