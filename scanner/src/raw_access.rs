//! Raw packets for the phases that craft their own (scripts' `rawpacket`, OS
//! detection's probes): a send-only packet socket (or, with `--send-mode pcap` and in
//! the portable build, a libpcap handle) opened before the privileges are dropped, the capture dispatcher for the replies, the hosts packets may go to with
//! their next hops, and local ports held so the kernel gives them to nobody else.
//!
//! Every packet must come from the scan's own address and go to a host the scan found
//! up among its targets (for ARP: ask about one), or it is refused.

use crate::dispatch::CaptureHub;
#[cfg(fast_path)]
use crate::io::packet_socket::{RawPacketSocket, SEND_ONLY};
use crate::io::pcap_sender::PcapSender;
use crate::packet::raw;
use crate::packet::ETHERTYPE_IPV4;
use anyhow::Result;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};
use std::time::Instant;

/// Local ports the scan's scripts and OS probes may hold at once.
const MAX_RESERVED_PORTS: usize = 1024;

/// Where raw frames leave.
enum RawOut {
    #[cfg(fast_path)]
    Packet(RawPacketSocket),
    Pcap(RefCell<PcapSender>),
}

impl RawOut {
    fn send_frame(&self, frame: &[u8]) -> Result<(), String> {
        match self {
            #[cfg(fast_path)]
            RawOut::Packet(socket) => socket.send_frame(frame),
            RawOut::Pcap(pcap) => pcap.borrow_mut().send_frame(frame),
        }
        .map_err(|e| e.to_string())
    }
}

/// What scripts and OS detection need to send and receive raw packets during one scan.
pub struct RawAccess {
    pub(crate) hub: CaptureHub,
    out: RawOut,
    pub(crate) src_mac: [u8; 6],
    pub(crate) src_ip: Ipv4Addr,
    /// The hosts packets may go to, with the MAC of their next hop: the hosts found
    /// up so far (each host group's are added as it is found, [`RawAccess::allow`]).
    pub(crate) next_hops: RefCell<HashMap<Ipv4Addr, [u8; 6]>>,
    /// Ports held (bound) so the kernel gives them to nothing else.
    reserved: RefCell<Vec<TcpListener>>,
    pub(crate) started: Instant,
}

impl RawAccess {
    /// Raw access on the scan's interface from `src_mac`/`src_ip`, with captures
    /// from `hub`, sending through libpcap when `via_pcap` (always, in the portable
    /// build) and a packet socket otherwise; packets go nowhere until
    /// [`RawAccess::allow`]. Opened before the scan drops its privileges (the socket
    /// needs them), used after.
    pub fn new(
        hub: CaptureHub,
        path: &crate::engine::path::ScanPath,
        via_pcap: bool,
    ) -> Result<Self> {
        let out = if via_pcap || !crate::io::FAST_PATHS {
            RawOut::Pcap(RefCell::new(PcapSender::open(&path.iface)?))
        } else {
            #[cfg(fast_path)]
            {
                RawOut::Packet(RawPacketSocket::open(path.ifindex, SEND_ONLY)?)
            }
            #[cfg(not(fast_path))]
            unreachable!("the portable build always sends through libpcap")
        };
        let (src_mac, src_ip) = (path.src_mac, path.src_ip);
        Ok(Self {
            hub,
            out,
            src_mac,
            src_ip,
            next_hops: RefCell::new(HashMap::new()),
            reserved: RefCell::new(Vec::new()),
            started: Instant::now(),
        })
    }

    /// Lets packets go to these hosts too (hosts found up), each with its next hop's MAC.
    pub fn allow(&self, hosts: impl IntoIterator<Item = (Ipv4Addr, [u8; 6])>) {
        self.next_hops.borrow_mut().extend(hosts);
    }

    /// The dispatcher's counts.
    pub fn hub(&self) -> &CaptureHub {
        &self.hub
    }

    /// Sends an IP packet, in a frame to the next hop of its destination; the frame.
    pub(crate) fn send_ip_framed(&self, packet: &[u8]) -> Result<Vec<u8>, String> {
        let dissected = raw::dissect(packet, false);
        let ip = dissected.ip.ok_or("not an IPv4 packet")?;
        self.check_source(ip.src)?;
        let hop = next_hop(&self.next_hops, ip.dst)?;
        let frame = raw::ethernet(hop, self.src_mac, ETHERTYPE_IPV4, packet);
        self.out.send_frame(&frame)?;
        Ok(frame)
    }

    /// Sends an IP packet, in a frame to the next hop of its destination.
    pub(crate) fn send_ip(&self, packet: &[u8]) -> Result<(), String> {
        self.send_ip_framed(packet).map(|_| ())
    }

    /// Sends an Ethernet frame (IPv4 or ARP), after the same checks.
    pub(crate) fn send_frame(&self, frame: &[u8]) -> Result<(), String> {
        let dissected = raw::dissect(frame, true);
        if let Some(arp) = &dissected.arp {
            self.check_source(arp.sender_ip)?;
            next_hop(&self.next_hops, arp.target_ip)?;
        } else {
            let ip = dissected.ip.ok_or("neither an ARP nor an IPv4 frame")?;
            self.check_source(ip.src)?;
            next_hop(&self.next_hops, ip.dst)?;
        }
        self.out.send_frame(frame)
    }

    fn check_source(&self, src: Ipv4Addr) -> Result<(), String> {
        if src != self.src_ip {
            return Err(format!(
                "the source {src} is not this scan's address {}",
                self.src_ip
            ));
        }
        Ok(())
    }

    /// A local TCP port no one else will be given while the scan runs.
    pub(crate) fn reserve_port(&self) -> Result<u16, String> {
        let mut reserved = self.reserved.borrow_mut();
        if reserved.len() >= MAX_RESERVED_PORTS {
            return Err(format!("{MAX_RESERVED_PORTS} ports are held already"));
        }
        let listener = TcpListener::bind((self.src_ip, 0)).map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        reserved.push(listener);
        Ok(port)
    }
}

/// The next hop of `host`, if it is a host the scan found up among its targets:
/// the one rule for where packets go and whose replies a capture may see.
pub(crate) fn next_hop(
    next_hops: &RefCell<HashMap<Ipv4Addr, [u8; 6]>>,
    host: Ipv4Addr,
) -> Result<[u8; 6], String> {
    next_hops
        .borrow()
        .get(&host)
        .copied()
        .ok_or_else(|| format!("{host} is not a host this scan found up"))
}
