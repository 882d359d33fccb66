//! nmap's `--traceroute`: after a group's port scans, probes with growing and
//! shrinking TTLs find the routers on the way to each host, every host at once on the
//! shared probe loop (`engine::probing`).
//!
//! The probe is the one nmap would pick ([`choose_probe`]), its "ping probe": the
//! most trusted of the probes the host answered, the ping that found it up (with
//! `-sn`, the only one) or a port scan's, else an ICMP echo. Each
//! host starts at the distance its replies' TTL suggests and counts down: a router's
//! time exceeded names the hop at that TTL; a hop some other host's trace already found
//! at the same TTL means the rest of the way down is that host's too (the traces are
//! joined, and the shared hops are written "Hops 1-N are the same as for ..."). Then it
//! counts up from its first guess until the host itself answers (or [`MAX_TTL`]). This
//! is nmap's algorithm (traceroute.cc), played one TTL per host per round
//! (`Tracer::round`, `Tracer::record`): that order alone decides the hops.
//!
//! The probing runs ahead of it, as nmap's does: each run of the probe loop sends a
//! window of up to [`WINDOW`] TTLs per host, the one the algorithm asks for next and
//! those it would ask for after it if that one stayed silent; the answers are kept and
//! the algorithm is played over them, so the hops are the same as one TTL at a time,
//! and a host silent beyond some hop costs three or four rounds of timeouts instead of
//! one per TTL. A TCP probe carries its TTL in its source port, so its answers name
//! their TTL; UDP and ICMP probes carry nothing of it (their replies echo only the scan's
//! cookie), so their windows are sent only while the host is silent (silence needs no
//! naming): once one of them is answered, that host goes one TTL at a time again
//! until the next silent one. On-link hosts are one hop away and get no probes, as in
//! nmap.
//!
//! The XDP classifier (and its userspace twin) already recognise a time exceeded that
//! quotes one of our probes (`scanner_common::classify::classify_icmp_error`).

mod probe;

pub use crate::model::trace::{Hop, SharedHops, Trace, TraceProbe, MAX_TTL};

use crate::engine::probing::{Prober, Timing};
use crate::model::trace::distance_from_reply_ttl;
use crate::model::{HostResult, PortFinding, Proto, Reason, ScanResult};
use crate::probe::{HostStatus, PingProbe, ProbeKind};
use crate::target::resolve;
use anyhow::Result;
use probe::TraceModule;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The TTL a trace starts at when nothing suggests the host's distance (nmap's; later
/// groups start at the longest trace of the one before).
const DEFAULT_START_TTL: u8 = 10;
/// The most sends of one probe (nmap's traceroute resends twice at most).
const MAX_RETRIES: u8 = 2;
/// The hop cache is emptied after a group once it holds more hops than this (nmap's).
const MAX_CACHE: usize = 1000;
/// The most TTLs of one host probed at once (nmap's `MAX_OUTSTANDING_PROBES`).
pub const WINDOW: usize = 10;

/// What came back for a probe with some TTL.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Answer {
    /// `from` answered (a router's time exceeded, or the host itself), after `rtt`,
    /// in a packet that arrived with TTL `reply_ttl`.
    From {
        from: Ipv4Addr,
        rtt: Duration,
        reply_ttl: u8,
    },
    /// Nothing, through every send.
    Silent,
}

/// What one run of the probe loop heard for one host's window of TTLs.
#[derive(Clone, Debug, PartialEq)]
pub enum Heard {
    /// The answer for each TTL that was answered (the others stayed silent).
    Exact(BTreeMap<u8, Answer>),
    /// Answers that cannot be told apart: several TTLs of a probe that does not carry
    /// its TTL, and something answered.
    Ambiguous,
}

/// Whether replies to `probe` tell which TTL they answer (a TCP probe's source port
/// is its TTL's own; UDP and ICMP replies echo only the scan's cookie).
pub fn tells_ttl(probe: PingProbe) -> bool {
    matches!(probe.kind, ProbeKind::Tcp(_))
}

/// How a trace with `probe` is written: the protocol, and the port if it has one.
pub fn trace_probe(probe: PingProbe) -> TraceProbe {
    match probe.kind {
        ProbeKind::Tcp(_) => TraceProbe::Tcp { port: probe.port },
        ProbeKind::Udp => TraceProbe::Udp { port: probe.port },
        ProbeKind::Icmp(_) => TraceProbe::Icmp,
    }
}

/// The ports nmap sends to first in a port scan (nmap.cc's `random_port_cheat`): of
/// ports whose answers are worth the same, the one it heard from first.
const POPULAR_PORTS: [u16; 28] = [
    80, 23, 443, 21, 22, 25, 3389, 110, 445, 139, 143, 53, 135, 3306, 8080, 1723, 111, 995, 993,
    5900, 1025, 587, 8888, 199, 1720, 113, 554, 256,
];

/// Where `port` comes in nmap's order of probing: the popular ports first, then the
/// rest by number.
fn probing_order(port: u16) -> (usize, u16) {
    let rank = POPULAR_PORTS.iter().position(|&p| p == port);
    (rank.unwrap_or(POPULAR_PORTS.len()), port)
}

/// The port scan's answer from `port` as a probe: a SYN for TCP, a datagram for UDP.
fn port_probe(port: &PortFinding) -> PingProbe {
    match port.proto {
        Proto::Tcp => PingProbe::syn(port.port),
        Proto::Udp => PingProbe::udp(port.port),
    }
}

/// How much nmap trusts a port's answer as a probe that gets through
/// ([`PingProbe::score`]); nothing for silence.
fn port_score(port: &PortFinding) -> u8 {
    if port.reason == Reason::NoResponse {
        return 0;
    }
    port_probe(port).score(Some(port.state))
}

/// The probe for `host`, and the TTL of a reply to it (for the first guess of its
/// distance), as nmap picks its "ping probe": the best-scoring answer
/// ([`PingProbe::score`]), first the ping that found the host up (in `discovery`),
/// then the port scan's answers, each only if better than the one before (of equal
/// ports, the one nmap probes first, TCP before UDP); with none, an ICMP echo (whose
/// distance guess is the TTL of the reply that found the host up). When the host's
/// ports were scanned (`port_scanned`), an ICMP ping is forgotten first, as nmap's
/// port scan forgets a ping probe its replies would not be caught with
/// (scan_engine.cc's `pingprobe_is_appropriate`): a TCP or UDP ping is kept.
pub fn choose_probe(
    host: &HostResult,
    discovery: Option<&HostStatus>,
    port_scanned: bool,
) -> (PingProbe, Option<u8>) {
    let ttl = discovery.and_then(|s| s.ttl);
    let ping = discovery
        .and_then(|s| s.ping)
        .filter(|ping| !(port_scanned && matches!(ping.kind, ProbeKind::Icmp(_))))
        .map(|ping| (ping, ttl));
    let best = host
        .ports
        .values()
        .filter(|p| port_score(p) > 0)
        .min_by_key(|p| {
            (
                Reverse(port_score(p)),
                p.proto != Proto::Tcp,
                probing_order(p.port),
            )
        });
    match (ping, best) {
        (Some(ping), Some(port)) if port_score(port) <= ping.0.score(None) => ping,
        (_, Some(port)) => (port_probe(port), port.ttl),
        (Some(ping), None) => ping,
        (None, None) => (PingProbe::echo(), ttl),
    }
}

/// The trace of an on-link host: one hop, itself, nothing sent (as nmap's).
pub fn direct(addr: Ipv4Addr, latency: Option<Duration>, name: Option<String>) -> Trace {
    Trace {
        probe: None,
        hops: vec![Hop {
            ttl: 1,
            addr: Some(addr),
            rtt_ms: latency.map(millis),
            host: name,
        }],
        shared: None,
    }
}

fn millis(rtt: Duration) -> f64 {
    rtt.as_secs_f64() * 1000.0
}

/// A hop as found: who answered (if anyone), the round trip, and the host whose trace
/// found it (traces that share hops point at the one that found them).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Found {
    addr: Option<Ipv4Addr>,
    rtt: Option<Duration>,
    found_for: Ipv4Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Down,
    Up,
}

/// One host's trace in progress.
#[derive(Clone, Debug)]
struct HostTrace {
    probe: PingProbe,
    direction: Direction,
    /// The TTL to try next (or the nearest one not yet sent).
    next: u8,
    /// The first guess: counting up starts above it.
    guess: u8,
    sent: [bool; MAX_TTL as usize + 1],
    /// The lowest TTL the host itself answered.
    reached: Option<u8>,
    hops: BTreeMap<u8, Found>,
    /// At this TTL the trace met a hop another host's trace had found: below it, the
    /// hops are that host's.
    joined: Option<(u8, Ipv4Addr)>,
    done: bool,
    /// Whether its next probes go as a window of TTLs: always for probes that tell
    /// their TTL (unless their answers could not be told apart), and for the others
    /// from a silent TTL on until something answers.
    window: bool,
}

impl HostTrace {
    /// The TTL to probe next, if any (and moves from counting down to counting up).
    fn next_ttl(&mut self) -> Option<u8> {
        if self.done {
            return None;
        }
        if self.direction == Direction::Down {
            if let Some(ttl) = (1..=self.next).rev().find(|&t| !self.sent[t as usize]) {
                return Some(ttl);
            }
            self.direction = Direction::Up;
            self.next = self.guess + 1;
        }
        let below = self.reached.unwrap_or(MAX_TTL + 1);
        let ttl = (self.next..below.min(MAX_TTL + 1)).find(|&t| !self.sent[t as usize]);
        if ttl.is_none() {
            self.done = true;
        }
        ttl
    }

    /// Where the trace goes after `ttl` stayed silent (or a router answered it).
    fn step_past(&mut self, ttl: u8) {
        self.next = match self.direction {
            Direction::Down => ttl.saturating_sub(1),
            Direction::Up => ttl + 1,
        };
    }
}

/// Traces every host of a group together; the hops found are kept across groups so
/// that later hosts join the traces of earlier ones, as nmap's hop cache does.
#[derive(Debug, Default)]
pub struct Tracer {
    /// (TTL, router) -> the host whose trace found it.
    cache: HashMap<(u8, Ipv4Addr), Ipv4Addr>,
    /// The hops of finished traces (for traces that join them later).
    finished: HashMap<Ipv4Addr, BTreeMap<u8, Found>>,
    hosts: BTreeMap<Ipv4Addr, HostTrace>,
    /// Where a trace with no distance guess starts.
    start_ttl: u8,
    /// The round being played: the (TTL, host) probes not yet recorded, in order.
    pending: VecDeque<(u8, Ipv4Addr)>,
    /// What each (host, TTL) probe got, as far as the probing has run ahead.
    known: HashMap<(Ipv4Addr, u8), Answer>,
}

impl Tracer {
    pub fn new() -> Self {
        Self {
            start_ttl: DEFAULT_START_TTL,
            ..Default::default()
        }
    }

    /// Adds `addr`, to be traced with `probe`; `reply_ttl` (a reply's TTL from it)
    /// makes the first guess of its distance.
    pub fn add(&mut self, addr: Ipv4Addr, probe: PingProbe, reply_ttl: Option<u8>) {
        let guess = reply_ttl.map_or(self.start_ttl, distance_from_reply_ttl);
        self.hosts.insert(
            addr,
            HostTrace {
                probe,
                direction: Direction::Down,
                next: guess,
                guess,
                sent: [false; MAX_TTL as usize + 1],
                reached: None,
                hops: BTreeMap::new(),
                joined: None,
                done: false,
                window: tells_ttl(probe),
            },
        );
    }

    /// The next round: which hosts probe which TTL (each host one), marked as sent.
    fn round(&mut self) -> BTreeMap<u8, Vec<Ipv4Addr>> {
        let mut round: BTreeMap<u8, Vec<Ipv4Addr>> = BTreeMap::new();
        for (&addr, host) in &mut self.hosts {
            if let Some(ttl) = host.next_ttl() {
                host.sent[ttl as usize] = true;
                round.entry(ttl).or_default().push(addr);
            }
        }
        round
    }

    /// What came back for `addr`'s probe with `ttl`.
    fn record(&mut self, addr: Ipv4Addr, ttl: u8, answer: Answer) {
        let Some(host) = self.hosts.get_mut(&addr) else {
            return;
        };
        let down = host.direction == Direction::Down;
        match answer {
            Answer::From {
                from,
                rtt,
                reply_ttl,
            } if from == addr => {
                host.reached = Some(host.reached.map_or(ttl, |r| r.min(ttl)));
                host.hops.insert(
                    ttl,
                    Found {
                        addr: Some(from),
                        rtt: Some(rtt),
                        found_for: addr,
                    },
                );
                // Probed past the host: skip down to where its reply says it is.
                let distance = distance_from_reply_ttl(reply_ttl);
                host.next = if down && distance < ttl {
                    distance
                } else {
                    ttl.saturating_sub(1)
                };
            }
            Answer::From { from, rtt, .. } => match self.cache.get(&(ttl, from)) {
                Some(&other) if other != addr && down && host.joined.is_none() => {
                    // Another trace came this way: below here, the way is the same.
                    host.joined = Some((ttl, other));
                    host.direction = Direction::Up;
                    host.next = host.guess.max(ttl) + 1;
                }
                _ => {
                    self.cache.entry((ttl, from)).or_insert(addr);
                    host.hops.insert(
                        ttl,
                        Found {
                            addr: Some(from),
                            rtt: Some(rtt),
                            found_for: addr,
                        },
                    );
                    host.next = ttl.saturating_sub(1);
                }
            },
            Answer::Silent => {
                host.window = true;
                host.hops.insert(
                    ttl,
                    Found {
                        addr: None,
                        rtt: None,
                        found_for: addr,
                    },
                );
                host.next = ttl.saturating_sub(1);
            }
        }
        if !down {
            host.next = ttl + 1;
        }
    }

    /// Plays the algorithm over the answers known so far, and returns the windows of
    /// TTLs to probe next, by host (none: every trace is done). Each host's window
    /// starts with the TTL the round in play asks of it.
    fn windows(&mut self) -> BTreeMap<Ipv4Addr, Vec<u8>> {
        loop {
            if self.pending.is_empty() {
                // Highest TTL first: the traces that meet lower down meet sooner. In
                // address order, so that which trace finds a shared hop first does
                // not depend on which reply came first.
                let round = self.round();
                if round.is_empty() {
                    return BTreeMap::new();
                }
                let order = round.into_iter().rev();
                self.pending = order
                    .flat_map(|(ttl, hosts)| hosts.into_iter().map(move |addr| (ttl, addr)))
                    .collect();
            }
            while let Some(&(ttl, addr)) = self.pending.front() {
                let Some(&answer) = self.known.get(&(addr, ttl)) else {
                    break;
                };
                self.pending.pop_front();
                self.record(addr, ttl, answer);
            }
            if !self.pending.is_empty() {
                break;
            }
        }
        self.pending
            .iter()
            .filter(|&&(ttl, addr)| !self.known.contains_key(&(addr, ttl)))
            .map(|&(ttl, addr)| (addr, self.window_from(addr, ttl)))
            .collect()
    }

    /// `addr`'s window from `ttl` on: the TTLs the algorithm would ask for next if
    /// each stayed silent (those not known yet), [`WINDOW`] at most, or `ttl` alone.
    fn window_from(&self, addr: Ipv4Addr, ttl: u8) -> Vec<u8> {
        let mut ttls = vec![ttl];
        let Some(host) = self.hosts.get(&addr).filter(|h| h.window) else {
            return ttls;
        };
        let mut ahead = host.clone();
        ahead.step_past(ttl);
        while ttls.len() < WINDOW {
            let Some(next) = ahead.next_ttl() else {
                break;
            };
            ahead.sent[next as usize] = true;
            ahead.step_past(next);
            if !self.known.contains_key(&(addr, next)) {
                ttls.push(next);
            }
        }
        ttls
    }

    /// What the probes of `addr`'s window `ttls` heard.
    fn learn(&mut self, addr: Ipv4Addr, ttls: &[u8], heard: Heard) {
        match heard {
            Heard::Exact(answers) => {
                for &ttl in ttls {
                    let answer = answers.get(&ttl).copied().unwrap_or(Answer::Silent);
                    self.known.insert((addr, ttl), answer);
                }
            }
            // One TTL at a time until the next silent one.
            Heard::Ambiguous => {
                if let Some(host) = self.hosts.get_mut(&addr) {
                    host.window = false;
                }
            }
        }
    }

    /// The hops of `addr`'s trace, with those of the traces it joined, in TTL order.
    fn resolve(&self, addr: Ipv4Addr, depth: u8) -> BTreeMap<u8, Found> {
        let (own, joined, reached) = match self.hosts.get(&addr) {
            Some(host) => (&host.hops, host.joined, host.reached),
            None => match self.finished.get(&addr) {
                Some(hops) => return hops.clone(),
                None => return BTreeMap::new(),
            },
        };
        let mut hops = BTreeMap::new();
        if let Some((at, other)) = joined.filter(|_| depth < MAX_TTL) {
            hops.extend(
                self.resolve(other, depth + 1)
                    .into_iter()
                    .filter(|(ttl, _)| *ttl <= at),
            );
            hops.extend(
                own.iter()
                    .filter(|(ttl, _)| **ttl > at)
                    .map(|(t, f)| (*t, *f)),
            );
        } else {
            hops.extend(own.iter().map(|(t, f)| (*t, *f)));
        }
        // Nothing past the host itself.
        if let Some(reached) = reached {
            hops.retain(|ttl, _| *ttl <= reached);
        }
        hops
    }

    /// The finished traces of the hosts added since the last call (without names).
    fn finish(&mut self) -> BTreeMap<Ipv4Addr, Trace> {
        let mut traces = BTreeMap::new();
        let resolved: Vec<(Ipv4Addr, PingProbe, BTreeMap<u8, Found>)> = self
            .hosts
            .iter()
            .map(|(&addr, host)| (addr, host.probe, self.resolve(addr, 0)))
            .collect();
        for (addr, probe, found) in resolved {
            let shared = found
                .iter()
                .take_while(|(_, f)| f.found_for != addr)
                .last()
                .map(|(&last_ttl, f)| SharedHops {
                    last_ttl,
                    with: f.found_for,
                });
            let hops = found
                .iter()
                .map(|(&ttl, f)| Hop {
                    ttl,
                    addr: f.addr,
                    rtt_ms: f.rtt.map(millis),
                    host: None,
                })
                .collect();
            traces.insert(
                addr,
                Trace {
                    probe: Some(trace_probe(probe)),
                    hops,
                    shared,
                },
            );
            self.finished.insert(addr, found);
        }
        // The next group starts where this one's traces ended.
        if let Some(longest) = traces
            .values()
            .filter_map(|t| t.hops.last())
            .map(|h| h.ttl)
            .max()
        {
            self.start_ttl = longest.clamp(1, MAX_TTL);
        }
        self.hosts.clear();
        self.known.clear();
        if self.cache.len() > MAX_CACHE {
            self.cache.clear();
            self.finished.clear();
        }
        traces
    }

    /// Traces the hosts added since the last call, every host at once, and returns
    /// their traces (without names).
    pub async fn run(
        &mut self,
        prober: &mut Prober,
        timing: &Timing,
    ) -> Result<BTreeMap<Ipv4Addr, Trace>> {
        let timing = Timing {
            retries: timing.retries.min(MAX_RETRIES),
            ..*timing
        };
        let probes: HashMap<u32, PingProbe> = self
            .hosts
            .iter()
            .map(|(&addr, host)| (u32::from(addr), host.probe))
            .collect();
        let link = prober.link();
        loop {
            let windows = self.windows();
            if windows.is_empty() {
                break;
            }
            // One run of the probe loop per window size: slot i is each host's i-th TTL.
            let mut by_size: BTreeMap<usize, HashMap<u32, Vec<u8>>> = BTreeMap::new();
            for (addr, ttls) in windows {
                by_size
                    .entry(ttls.len())
                    .or_default()
                    .insert(u32::from(addr), ttls);
            }
            for (size, windows) in by_size {
                let mut hosts: Vec<Ipv4Addr> = windows.keys().map(|&a| Ipv4Addr::from(a)).collect();
                hosts.sort_unstable();
                let slots: Vec<u16> = (0..size as u16).collect();
                let mut module = TraceModule::new(&windows, &probes, &link);
                prober.run(&mut module, &hosts, &slots, &timing).await?;
                for (addr, heard) in module.into_heard() {
                    self.learn(addr, &windows[&u32::from(addr)], heard);
                }
            }
        }
        Ok(self.finish())
    }
}

/// Traces the hosts of `group` (but those given up on after `--host-timeout`): on-link
/// ones are one hop away, the others are traced together with `tracer`'s probes.
/// `discovery` has why each host is up (the ping it answered, and the reply's TTL);
/// `port_scan` has the port scan's findings if the group's ports were scanned (raw,
/// TCP or UDP); `names` asks for the hops' reverse-DNS names.
pub async fn trace_group(
    prober: &mut Prober,
    tracer: &mut Tracer,
    group: &[Ipv4Addr],
    discovery: &BTreeMap<Ipv4Addr, HostStatus>,
    port_scan: Option<&ScanResult>,
    timing: &Timing,
    names: bool,
) -> Result<BTreeMap<Ipv4Addr, Trace>> {
    let timed_out: BTreeSet<Ipv4Addr> = prober.timed_out().collect();
    let mut direct_hosts = BTreeMap::new();
    for &addr in group.iter().filter(|a| !timed_out.contains(a)) {
        if prober.path.on_link_mac(addr).is_some() {
            let latency = prober.latency(addr).or_else(|| prober.path.arp_rtt(addr));
            direct_hosts.insert(addr, direct(addr, latency, None));
        } else {
            let host = port_scan.and_then(|result| result.hosts.get(&addr));
            let (probe, reply_ttl) = choose_probe(
                &host.cloned().unwrap_or_default(),
                discovery.get(&addr),
                port_scan.is_some(),
            );
            tracer.add(addr, probe, reply_ttl);
        }
    }
    let mut traces = tracer.run(prober, timing).await?;
    traces.extend(direct_hosts);
    if names {
        name_hops(&mut traces).await;
    }
    Ok(traces)
}

/// Fills in the hops' reverse-DNS names, all looked up at once.
async fn name_hops(traces: &mut BTreeMap<Ipv4Addr, Trace>) {
    let addrs: BTreeSet<Ipv4Addr> = traces
        .values()
        .flat_map(|t| t.hops.iter().filter_map(|h| h.addr))
        .collect();
    let names = resolve::reverse(&addrs.into_iter().collect::<Vec<_>>()).await;
    for hop in traces.values_mut().flat_map(|t| t.hops.iter_mut()) {
        hop.host = hop.addr.and_then(|a| names.get(&a).cloned());
    }
}

#[cfg(test)]
mod tests;
