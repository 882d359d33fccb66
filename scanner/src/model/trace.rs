//! What a traceroute found, as data: the probe it used, each hop (TTL, address, round
//! trip, name), and which leading hops it shares with an earlier host's trace. Nothing
//! here depends on the rest of the crate (std and serde only); `traceroute` finds
//! them, the writers of `report` show them.

use serde::Serialize;
use std::net::Ipv4Addr;

/// The highest TTL a trace goes up to when the target itself never answers (nmap's).
pub const MAX_TTL: u8 = 30;

/// The probe a trace sends, TTL by TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "proto", rename_all = "lowercase")]
pub enum TraceProbe {
    /// A TCP SYN to `port` (an open port: SYN+ACK; a closed one: RST).
    Tcp { port: u16 },
    /// A UDP datagram to `port`.
    Udp { port: u16 },
    /// An ICMP echo request.
    Icmp,
}

impl TraceProbe {
    /// The port probed, if the probe has one.
    pub fn port(self) -> Option<u16> {
        match self {
            TraceProbe::Tcp { port } | TraceProbe::Udp { port } => Some(port),
            TraceProbe::Icmp => None,
        }
    }

    /// The protocol's name, as nmap writes it ("tcp", "udp", "icmp").
    pub fn proto(self) -> &'static str {
        match self {
            TraceProbe::Tcp { .. } => "tcp",
            TraceProbe::Udp { .. } => "udp",
            TraceProbe::Icmp => "icmp",
        }
    }
}

/// One hop of a trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hop {
    pub ttl: u8,
    /// Who answered a probe with this TTL; `None` when nothing did (a timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<Ipv4Addr>,
    /// Round trip in milliseconds, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Its reverse-DNS name (unless `-n`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Leading hops of a trace that another host's trace found first (nmap folds them
/// into "Hops 1-N are the same as for ...").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SharedHops {
    /// Hops 1 to `last_ttl` are shared.
    pub last_ttl: u8,
    /// The host whose trace they were found for.
    pub with: Ipv4Addr,
}

/// A host's trace: hops in TTL order, the last one the host itself when it answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trace {
    /// `None` for an on-link host: it is one hop away and nothing was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<TraceProbe>,
    pub hops: Vec<Hop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedHops>,
}

/// The TTL a host most likely set on a reply that arrived with `ttl`: the smallest of
/// the usual initial values (32, 64, 128, 255) not below it.
pub fn initial_ttl_guess(ttl: u8) -> u8 {
    match ttl {
        0..=32 => 32,
        33..=64 => 64,
        65..=128 => 128,
        _ => 255,
    }
}

/// How many hops away a host is whose reply arrived with `ttl` (1: on the same
/// link), within 1..=[`MAX_TTL`].
pub fn distance_from_reply_ttl(ttl: u8) -> u8 {
    (initial_ttl_guess(ttl) - ttl)
        .saturating_add(1)
        .clamp(1, MAX_TTL)
}

/// Where a trace's timeouts run together: the TTL ranges of consecutive hops with
/// no answer, each as (first, last). nmap writes one "..." line per range.
pub fn timeout_runs(hops: &[Hop]) -> Vec<(u8, u8)> {
    let mut runs: Vec<(u8, u8)> = Vec::new();
    for hop in hops.iter().filter(|h| h.addr.is_none()) {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == hop.ttl => *last = hop.ttl,
            _ => runs.push((hop.ttl, hop.ttl)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_distance_is_guessed_from_the_usual_initial_ttls() {
        assert_eq!(distance_from_reply_ttl(64), 1);
        assert_eq!(distance_from_reply_ttl(63), 2);
        assert_eq!(distance_from_reply_ttl(128), 1);
        assert_eq!(distance_from_reply_ttl(120), 9);
        assert_eq!(distance_from_reply_ttl(250), 6);
        assert_eq!(distance_from_reply_ttl(30), 3);
        // Beyond MAX_TTL (or a nonsense TTL of 0) stays within the range.
        assert_eq!(distance_from_reply_ttl(129), MAX_TTL);
        assert_eq!(distance_from_reply_ttl(0), MAX_TTL);
    }

    #[test]
    fn consecutive_timeouts_run_together() {
        let hop = |ttl, answered: bool| Hop {
            ttl,
            addr: answered.then_some(Ipv4Addr::new(198, 18, 0, ttl)),
            rtt_ms: None,
            host: None,
        };
        let hops = [
            hop(1, false),
            hop(2, true),
            hop(3, false),
            hop(4, false),
            hop(5, false),
            hop(6, true),
        ];
        assert_eq!(timeout_runs(&hops), vec![(1, 1), (3, 5)]);
    }
}
