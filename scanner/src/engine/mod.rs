//! What every scan phase shares: the probe loop (its rounds, and a fake network that
//! drives it in unit tests), the rate limiter, the congestion window and retry
//! budget, timing templates, round-trip-time estimates, the scan's path to its
//! targets (interface, addresses, next hops), the sources of classified replies (XDP
//! ring buffer or packet socket), and choosing the send and receive paths with their
//! fallbacks.

pub mod congestion;
#[cfg(test)]
pub(crate) mod fake_net;
pub mod path;
pub mod probing;
pub mod rate;
pub mod replies;
mod round;
pub mod rtt;
pub mod senders;
pub mod timing;

use crate::io::AttachMode;
use crate::io::{RecvMode, SendMode};
use std::net::Ipv4Addr;

/// How a scan reaches the network: the same for the SYN scan and for sweeps.
#[derive(Clone, Debug)]
pub struct NetworkOptions {
    /// `--send-mode`; `None`: AF_XDP, falling back to AF_PACKET with a notice.
    pub send_mode: Option<SendMode>,
    /// `--recv-mode`; `None`: the XDP classifier, falling back to AF_PACKET with a notice.
    pub recv_mode: Option<RecvMode>,
    /// `--xdp-mode`; naming one asks for the XDP classifier (no fallback).
    pub xdp_mode: Option<AttachMode>,
    /// `-e`: the interface, instead of the one the routing table picks.
    pub iface: Option<String>,
    /// `-S`: the source address, instead of the interface's.
    pub src_ip: Option<Ipv4Addr>,
    /// Source ports probes are sent from (inclusive).
    pub src_ports: (u16, u16),
}

impl NetworkOptions {
    /// The source port range, checked: ascending and above the privileged ports.
    pub fn source_ports(&self) -> anyhow::Result<(u16, u16)> {
        let (lo, hi) = self.src_ports;
        if lo > hi || lo < 1024 {
            anyhow::bail!("source port range {lo}-{hi} must be ascending and above 1023");
        }
        Ok((lo, hi))
    }
}
