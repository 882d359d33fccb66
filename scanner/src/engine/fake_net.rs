//! A fake network for the probe loop's unit tests (test builds only): a
//! [`FrameSender`] that reads the frames the loop sends (probes, and the RSTs it
//! answers SYN+ACKs with) and a [`ReplySource`] that answers them as configured hosts
//! would, on tokio's clock, so that tests on a paused clock
//! (`#[tokio::test(start_paused = true)]`) are fast and exact.
//!
//! Hosts have open, closed and (the rest) filtered ports, TCP or UDP as the probe is;
//! the network may lose probes, reorder and duplicate replies; a host may rate-limit
//! its ICMP errors as Linux does (a burst of six, then one per second). Everything
//! random comes from a seeded generator: a test sees the same network every run.
//! [`TestScan`] is a minimal probe module (TCP SYN or UDP probes) that records what
//! the loop tells it.

use super::path::ScanPath;
use super::probing::{ProbeContext, ProbeKey, ProbeModule, Prober};
use super::replies::{Recv, ReplySource};
use crate::io::{FrameBatch, FrameSender};
use anyhow::Result;
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use scanner_common::wire::{IPPROTO_TCP, IPPROTO_UDP};
use scanner_common::{ClassifierConfig, ReplyKind, ReplyRecord};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// The scanner's address and MAC, and the next hop's MAC, on the fake network.
pub const SCANNER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const SCANNER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
/// The source ports probes are sent from.
pub const SOURCE_PORTS: (u16, u16) = (40_000, 40_999);

/// Linux's ICMP error rate limit per peer: a burst of this many, then one per second.
const ICMP_BURST: f64 = 6.0;

/// A host on the fake network.
#[derive(Clone, Debug)]
pub struct Host {
    pub addr: Ipv4Addr,
    /// Ports that answer (SYN+ACK, or a UDP datagram).
    pub open: Vec<u16>,
    /// Ports that refuse (RST, or ICMP port unreachable); every other port is
    /// filtered (silent).
    pub closed: Vec<u16>,
    /// Whether its ICMP errors are rate limited as Linux's are.
    pub icmp_limited: bool,
}

/// How the network between the scanner and the hosts behaves.
#[derive(Clone, Debug)]
pub struct Conditions {
    /// Every reply's round trip, before any reordering delay.
    pub rtt: Duration,
    /// The chance that a probe is lost on the way.
    pub loss: f64,
    /// Each reply is held up to this much longer (at random), so that replies
    /// overtake each other.
    pub reorder: Duration,
    /// The chance that a reply arrives twice.
    pub duplicates: f64,
    pub seed: u64,
}

impl Default for Conditions {
    fn default() -> Self {
        Self {
            rtt: Duration::from_millis(2),
            loss: 0.0,
            reorder: Duration::ZERO,
            duplicates: 0.0,
            seed: 1,
        }
    }
}

/// A probe as it left the scanner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentProbe {
    pub at: Instant,
    pub key: ProbeKey,
    pub protocol: u8,
    pub source_port: u16,
    /// The TCP sequence number (the cookie).
    pub seq: u32,
}

/// An RST the scanner sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentRst {
    pub key: ProbeKey,
    pub source_port: u16,
    pub seq: u32,
}

/// What happened on the fake network.
#[derive(Clone, Debug, Default)]
pub struct Log {
    pub probes: Vec<SentProbe>,
    pub rsts: Vec<SentRst>,
    /// Every reply handed to the loop, in the order handed.
    pub delivered: Vec<ReplyRecord>,
    /// Replies the network sent twice.
    pub duplicated: u64,
    /// Frames the sender could not read as an IPv4 TCP or UDP frame to the next hop.
    pub malformed: u64,
}

impl Log {
    /// How many times `key` was sent.
    pub fn sends(&self, key: ProbeKey) -> usize {
        self.probes.iter().filter(|p| p.key == key).count()
    }
}

/// A reply on its way, due at `at` (`order` keeps equal times in sending order).
#[derive(Clone, Copy)]
struct Delivery {
    at: Instant,
    order: u64,
    record: ReplyRecord,
}

struct Wire {
    hosts: HashMap<u32, Host>,
    conditions: Conditions,
    rng: u64,
    /// Each ICMP-limited host's tokens and when they were last topped up.
    icmp_tokens: HashMap<u32, (f64, Instant)>,
    in_flight: Vec<Delivery>,
    sent_replies: u64,
    config: Option<ClassifierConfig>,
    log: Log,
}

impl Wire {
    /// A number in [0, 1) (SplitMix64).
    fn random(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Reads one frame the loop sent.
    fn take_frame(&mut self, frame: &[u8], now: Instant) {
        let Some((dst, protocol, sport, dport, seq, rst)) = read_frame(frame) else {
            self.log.malformed += 1;
            return;
        };
        let key = (u32::from(dst), dport);
        if rst {
            self.log.rsts.push(SentRst {
                key,
                source_port: sport,
                seq,
            });
            return;
        }
        self.log.probes.push(SentProbe {
            at: now,
            key,
            protocol,
            source_port: sport,
            seq,
        });
        if self.random() < self.conditions.loss {
            return;
        }
        if let Some(record) = self.answer(key, protocol, sport, seq, now) {
            self.send_reply(record, now);
        }
    }

    /// What the host at `key.0` answers a probe with, if anything.
    fn answer(
        &mut self,
        (addr, port): ProbeKey,
        protocol: u8,
        sport: u16,
        seq: u32,
        now: Instant,
    ) -> Option<ReplyRecord> {
        let host = self.hosts.get(&addr)?;
        let (open, closed) = (host.open.contains(&port), host.closed.contains(&port));
        let icmp_limited = host.icmp_limited;
        let kind = match (protocol, open, closed) {
            (IPPROTO_TCP, true, _) => ReplyKind::SynAck,
            (IPPROTO_TCP, _, true) => ReplyKind::Rst,
            (IPPROTO_UDP, true, _) => ReplyKind::Udp,
            (IPPROTO_UDP, _, true) => {
                if icmp_limited && !self.icmp_token(addr, now) {
                    return None;
                }
                ReplyKind::IcmpError
            }
            _ => return None,
        };
        let mut record = ReplyRecord {
            remote_addr: addr,
            local_addr: u32::from(SCANNER),
            remote_port: port,
            local_port: sport,
            ttl: 64,
            kind: kind as u8,
            protocol,
            ..Default::default()
        };
        if kind == ReplyKind::IcmpError {
            (record.icmp_type, record.icmp_code, record.icmp_from) = (3, 3, addr);
        }
        if protocol == IPPROTO_TCP {
            (record.seq, record.ack) = (0x5eed_0000 ^ u32::from(port), seq.wrapping_add(1));
        }
        Some(record)
    }

    /// Linux's per-peer limit: tokens accrue one per second up to the burst; an
    /// error goes out if a whole token is there.
    fn icmp_token(&mut self, addr: u32, now: Instant) -> bool {
        let (tokens, last) = self.icmp_tokens.entry(addr).or_insert((ICMP_BURST, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64()).min(ICMP_BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Puts `record` on its way back (late, or twice, as the conditions say).
    fn send_reply(&mut self, record: ReplyRecord, now: Instant) {
        let copies = if self.random() < self.conditions.duplicates {
            self.log.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.conditions.rtt + self.conditions.reorder.mul_f64(self.random());
            self.in_flight.push(Delivery {
                at: now + delay,
                order: self.sent_replies,
                record,
            });
            self.sent_replies += 1;
        }
    }

    /// The replies due by `now`, in the order they arrive.
    fn arrived(&mut self, now: Instant, out: &mut Vec<ReplyRecord>) {
        let mut due: Vec<Delivery> = Vec::new();
        self.in_flight.retain(|d| {
            if d.at <= now {
                due.push(*d);
                false
            } else {
                true
            }
        });
        due.sort_by_key(|d| (d.at, d.order));
        for delivery in due {
            self.log.delivered.push(delivery.record);
            out.push(delivery.record);
        }
    }
}

/// Destination, protocol, ports, TCP sequence number and RST flag of an Ethernet /
/// IPv4 / TCP-or-UDP frame from the scanner to the next hop.
fn read_frame(frame: &[u8]) -> Option<(Ipv4Addr, u8, u16, u16, u32, bool)> {
    let packet = SlicedPacket::from_ethernet(frame).ok()?;
    if frame.get(..6)? != ROUTER_MAC || frame.get(6..12)? != SCANNER_MAC {
        return None;
    }
    let Some(NetSlice::Ipv4(ip)) = &packet.net else {
        return None;
    };
    if ip.header().source_addr() != SCANNER {
        return None;
    }
    let dst = ip.header().destination_addr();
    match &packet.transport {
        Some(TransportSlice::Tcp(tcp)) => Some((
            dst,
            IPPROTO_TCP,
            tcp.source_port(),
            tcp.destination_port(),
            tcp.sequence_number(),
            tcp.rst(),
        )),
        Some(TransportSlice::Udp(udp)) => Some((
            dst,
            IPPROTO_UDP,
            udp.source_port(),
            udp.destination_port(),
            0,
            false,
        )),
        _ => None,
    }
}

/// The fake network: hosts, conditions, and what has happened so far.
#[derive(Clone)]
pub struct FakeNet {
    wire: Arc<Mutex<Wire>>,
}

impl FakeNet {
    pub fn new(hosts: Vec<Host>, conditions: Conditions) -> Self {
        let rng = conditions.seed;
        Self {
            wire: Arc::new(Mutex::new(Wire {
                hosts: hosts.into_iter().map(|h| (u32::from(h.addr), h)).collect(),
                conditions,
                rng,
                icmp_tokens: HashMap::new(),
                in_flight: Vec::new(),
                sent_replies: 0,
                config: None,
                log: Log::default(),
            })),
        }
    }

    fn wire(&self) -> MutexGuard<'_, Wire> {
        // A test that panicked while holding it has failed already.
        self.wire
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A prober whose frames go into this network and whose replies come from it.
    pub fn prober(&self) -> Prober {
        Prober::new(
            ScanPath::fake(SCANNER_MAC, SCANNER, ROUTER_MAC),
            Box::new(FakeSender(self.clone())),
            Box::new(FakeReplies(self.clone())),
            [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210],
            SOURCE_PORTS,
        )
    }

    /// What has happened so far.
    pub fn log(&self) -> Log {
        self.wire().log.clone()
    }

    /// The classifier config the loop last set.
    pub fn config(&self) -> Option<ClassifierConfig> {
        self.wire().config
    }
}

/// The scanner's way out onto the fake network: takes every frame at once.
struct FakeSender(FakeNet);

impl FrameSender for FakeSender {
    fn send(&mut self, batch: &FrameBatch) -> std::io::Result<usize> {
        let now = Instant::now();
        let mut wire = self.0.wire();
        for index in 0..batch.len() {
            wire.take_frame(batch.frame(index), now);
        }
        Ok(batch.len())
    }

    fn name(&self) -> &'static str {
        "fake"
    }
}

/// The replies coming back from the fake network, each when it is due.
struct FakeReplies(FakeNet);

impl ReplySource for FakeReplies {
    fn configure(&mut self, config: ClassifierConfig) -> Result<()> {
        self.0.wire().config = Some(config);
        Ok(())
    }

    fn recv<'a>(&'a mut self, out: &'a mut Vec<ReplyRecord>) -> Recv<'a> {
        Box::pin(async move {
            loop {
                let next = {
                    let mut wire = self.0.wire();
                    wire.arrived(Instant::now(), out);
                    if !out.is_empty() {
                        return Ok(());
                    }
                    wire.in_flight.iter().map(|d| d.at).min()
                };
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    // Nothing on its way: only a send can change that, and the loop
                    // does not send while it waits here.
                    None => std::future::pending().await,
                }
            }
        })
    }

    fn name(&self) -> &'static str {
        "fake"
    }
}

/// A minimal probe module: TCP SYN or UDP probes (cookie in the sequence number, or
/// the keyed source port, as the real scans do), and a record of what the loop told
/// it.
pub struct TestScan {
    protocol: u8,
    paces: bool,
    routers: bool,
    /// Every answer the loop passed on, per probe.
    pub answers: BTreeMap<ProbeKey, Vec<ReplyKind>>,
    /// The probes the loop gave up on.
    pub silent: Vec<ProbeKey>,
}

impl TestScan {
    /// SYN probes.
    pub fn tcp() -> Self {
        Self {
            protocol: IPPROTO_TCP,
            paces: false,
            routers: false,
            answers: BTreeMap::new(),
            silent: Vec::new(),
        }
    }

    /// UDP probes; `paces` as [`ProbeModule::paces_icmp_limited_hosts`] (the UDP
    /// scan says yes).
    pub fn udp(paces: bool) -> Self {
        Self {
            protocol: IPPROTO_UDP,
            paces,
            ..Self::tcp()
        }
    }

    /// These probes as [`ProbeModule::answered_by_routers`] says (traceroute's do).
    pub fn answered_by_routers(self) -> Self {
        Self {
            routers: true,
            ..self
        }
    }

    /// The probes answered more than once.
    pub fn answered_twice(&self) -> Vec<ProbeKey> {
        let twice = self.answers.iter().filter(|(_, kinds)| kinds.len() > 1);
        twice.map(|(&key, _)| key).collect()
    }

    /// The ports of `addr` whose (only) answer was `kind`.
    pub fn ports(&self, addr: Ipv4Addr, kind: ReplyKind) -> HashSet<u16> {
        let ports = self
            .answers
            .iter()
            .filter(|((a, _), kinds)| *a == u32::from(addr) && kinds.first() == Some(&kind));
        ports.map(|(&(_, port), _)| port).collect()
    }
}

impl ProbeModule for TestScan {
    fn name(&self) -> &'static str {
        "test scan"
    }

    fn classifier_flags(&self) -> u32 {
        0
    }

    fn write(&self, (addr, port): ProbeKey, cx: &mut ProbeContext, out: &mut FrameBatch) -> usize {
        let (link, dst) = (cx.link, Ipv4Addr::from(addr));
        let ip = PacketBuilder::ethernet2(link.src_mac, link.dst_mac).ipv4(
            link.src_ip.octets(),
            dst.octets(),
            64,
        );
        let written = if self.protocol == IPPROTO_TCP {
            let sport = cx.rotating_source_port();
            let seq = cx.tcp_cookie(addr, port, sport);
            let builder = ip.tcp(sport, port, seq, 1024).syn();
            let size = builder.size(0);
            out.push_with(|mut buf| builder.write(&mut buf, &[]).map_or(0, |()| size))
        } else {
            let builder = ip.udp(cx.keyed_source_port(addr, port), port);
            let size = builder.size(0);
            out.push_with(|mut buf| builder.write(&mut buf, &[]).map_or(0, |()| size))
        };
        usize::from(written)
    }

    fn probe_of(&self, record: &ReplyRecord) -> Option<ProbeKey> {
        (record.protocol == self.protocol).then_some((record.remote_addr, record.remote_port))
    }

    fn answered(&mut self, key: ProbeKey, record: &ReplyRecord) -> Result<()> {
        if let Some(kind) = ReplyKind::from_u8(record.kind) {
            self.answers.entry(key).or_default().push(kind);
        }
        Ok(())
    }

    fn unanswered(&mut self, key: ProbeKey) -> Result<()> {
        self.silent.push(key);
        Ok(())
    }

    fn paces_icmp_limited_hosts(&self) -> bool {
        self.paces
    }

    fn answered_by_routers(&self) -> bool {
        self.routers
    }
}
