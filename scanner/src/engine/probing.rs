//! The probe loop that every stateful raw-packet phase shares: host discovery and the
//! port scans (TCP of every kind, UDP). It owns the way out and in (one sender, one
//! reply source, one classifier for all phases of a scan) and, per phase, the pacing,
//! timeouts, retransmissions and RTT estimates. What a probe looks like and what a
//! reply means is the business of a [`ProbeModule`], as ZMap's probe modules are: the
//! loop knows nothing about what it sends.
//!
//! A probe is named by a [`ProbeKey`]: the target and a 16-bit slot (the port, for port
//! scans; 0 for a host's discovery probes). Each key is sent until it is answered or
//! its retries run out; the module hears of every answer the moment it arrives and of
//! every silent probe at the end.

use super::congestion::{Congestion, RetryBudget};
use super::path::ScanPath;
use super::rate::RateLimiter;
use super::replies::ReplySource;
use super::rtt::RttEstimator;
use super::senders::{open_replies, open_sender};
pub use super::timing::Timing;
use super::NetworkOptions;
use crate::io::iface::{arp_request, ARP_ROUNDS};
use crate::io::{FrameBatch, FrameSender, MAX_PROBE_FRAME_LEN};
use crate::packet::template::{LinkAddrs, SegmentKind, TcpTemplate};
use crate::report::progress::{Progress, ProgressOptions, Snapshot};
use crate::target::TargetSet;
use anyhow::{bail, Context, Result};
use scanner_common::cookie::{probe_cookie, stateless_source_port};
use scanner_common::{ClassifierConfig, ReplyKind, ReplyRecord, FLAG_ARP};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// A probe: target address (host order) and its slot (port, or discovery slot).
pub type ProbeKey = (u32, u16);

/// What a probe module is given to write its frames.
pub struct ProbeContext {
    /// This scan's cookie key.
    pub key: [u64; 2],
    /// Source addresses; `dst_mac` is the next hop's for the probe being written.
    pub link: LinkAddrs,
    /// The scan's source port range (inclusive).
    pub src_ports: (u16, u16),
    next_sport: u32,
    ip_id: u16,
}

impl ProbeContext {
    /// A fresh source port from the range, in turn (TCP probes: every send its own).
    pub fn rotating_source_port(&mut self) -> u16 {
        let (lo, hi) = self.src_ports;
        let span = u32::from(hi - lo) + 1;
        let port = lo + (self.next_sport % span) as u16;
        self.next_sport = self.next_sport.wrapping_add(1);
        port
    }

    /// The keyed source port for `addr:port` (UDP probes: replies are recognised by it).
    pub fn keyed_source_port(&self, addr: u32, port: u16) -> u16 {
        stateless_source_port(&self.key, addr, port, self.src_ports.0, self.src_ports.1)
    }

    /// The sequence-number cookie of a TCP probe.
    pub fn tcp_cookie(&self, addr: u32, port: u16, sport: u16) -> u32 {
        probe_cookie(&self.key, addr, port, sport)
    }

    /// The next IP identification number.
    pub fn next_ip_id(&mut self) -> u16 {
        self.ip_id = self.ip_id.wrapping_add(1);
        self.ip_id
    }
}

/// One kind of probe: how its frames are built and what replies to it mean.
pub trait ProbeModule {
    /// The phase's name for the progress line ("SYN scan").
    fn name(&self) -> &'static str;
    /// How many findings worth counting (open ports, hosts up) it has made so far.
    fn found(&self) -> u64 {
        0
    }
    /// The classifier's `FLAG_*` bits for these probes' replies.
    fn classifier_flags(&self) -> u32;
    /// Writes the frames of one send of `key` into `out`; returns how many.
    fn write(&self, key: ProbeKey, cx: &mut ProbeContext, out: &mut FrameBatch) -> usize;
    /// The probe a reply answers, or `None` if it answers none of this module's.
    fn probe_of(&self, record: &ReplyRecord) -> Option<ProbeKey>;
    /// `key` was answered by `record`.
    fn answered(&mut self, key: ProbeKey, record: &ReplyRecord) -> Result<()>;
    /// `key` stayed silent through all its sends.
    fn unanswered(&mut self, key: ProbeKey) -> Result<()>;
    /// Whether retransmissions to a host that has answered anything are paced to the
    /// rate at which hosts send ICMP errors. UDP scans: a closed port's only answer is
    /// such an error, and Linux sends one per second per peer after a burst of six, so
    /// a second probe sent sooner would go unanswered and the port would be misread.
    fn paces_icmp_limited_hosts(&self) -> bool {
        false
    }
    /// The most frames [`ProbeModule::write`] writes for one key.
    fn frames_per_probe(&self) -> usize {
        1
    }
}

/// What the whole scan's probing has done (every phase), for `-v`.
#[derive(Clone, Debug, Default)]
pub struct ProbeStats {
    pub probes_sent: u64,
    pub retransmits: u64,
    pub replies: u64,
    pub duplicates: u64,
    pub rsts_sent: u64,
    pub replies_lost_in_kernel: u64,
    /// Times the congestion window was halved because probes were lost.
    pub window_cuts: u64,
    pub send_path: &'static str,
    pub recv_path: &'static str,
}

/// Frames built per send call.
const BATCH: usize = 256;

struct Outstanding {
    /// How many times it has been sent.
    sends: u8,
    last_sent: Instant,
}

/// The way out and in, shared by the phases of one scan.
pub struct Prober {
    pub path: ScanPath,
    sender: Box<dyn FrameSender + Send>,
    replies: ReplySource,
    config: ClassifierConfig,
    cx: ProbeContext,
    rst: TcpTemplate,
    /// Smoothed RTT per host, over every phase.
    host_rtt: HashMap<u32, RttEstimator>,
    /// Hosts given up on after --host-timeout (left out of every later phase too).
    timed_out: HashSet<u32>,
    /// When a progress line is shown.
    pub progress: ProgressOptions,
    /// `-d`: 1 prints every reply and each phase's timing at its end, 2 also every
    /// probe given up on.
    pub debug: u8,
    pub stats: ProbeStats,
}

impl Prober {
    /// Finds the path to `targets`, opens the sender, attaches the classifier, and
    /// resolves every next hop with ARP through them (the on-link targets that do not
    /// answer are down).
    pub async fn open(
        targets: &TargetSet,
        net: &NetworkOptions,
        key: [u64; 2],
        notice: &mut dyn FnMut(&str),
    ) -> Result<Self> {
        let src_ports = net.source_ports()?;
        let (path, hops) = ScanPath::locate(targets, net.iface.as_deref(), net.src_ip)?;
        let config = ClassifierConfig {
            local_addr: u32::from(path.src_ip),
            port_lo: src_ports.0,
            port_hi: src_ports.1,
            key,
            enabled: 1,
            flags: 0,
        };
        let replies = open_replies(net.recv_mode, &path, config, net.xdp_mode, notice)?;
        let sender = open_sender(net.send_mode, &path, 0, notice)?;
        let link = LinkAddrs {
            src_mac: path.src_mac,
            dst_mac: [0; 6],
            src_ip: path.src_ip,
        };
        let mut prober = Self {
            stats: ProbeStats {
                send_path: sender.name(),
                recv_path: replies.name(),
                ..Default::default()
            },
            rst: TcpTemplate::new(SegmentKind::Rst, &link),
            cx: ProbeContext {
                key,
                link,
                src_ports,
                next_sport: 0,
                ip_id: (key[0] >> 16) as u16,
            },
            path,
            sender,
            replies,
            config,
            host_rtt: HashMap::new(),
            timed_out: HashSet::new(),
            progress: ProgressOptions::OFF,
            debug: 0,
        };
        let resolved = prober.arp(&hops).await?;
        prober.path.set_neighbours(targets, hops, &resolved)?;
        Ok(prober)
    }

    /// ARP for `addrs`: requests through the sender, replies through the classifier,
    /// all at once in the rounds of [`ARP_ROUNDS`]; each answer with its MAC and how
    /// long it took. Addresses that never answer are missing from the result.
    async fn arp(&mut self, addrs: &[Ipv4Addr]) -> Result<HashMap<Ipv4Addr, ([u8; 6], Duration)>> {
        let mut found = HashMap::new();
        let mut missing: HashSet<Ipv4Addr> = addrs.iter().copied().collect();
        if missing.is_empty() {
            return Ok(found);
        }
        self.config.flags = FLAG_ARP;
        self.replies.configure(self.config)?;
        let (src_mac, src_ip) = (self.path.src_mac, self.path.src_ip);
        let mut records = Vec::new();
        for round_wait in ARP_ROUNDS {
            let sent_at = Instant::now();
            let asking: Vec<Ipv4Addr> = missing.iter().copied().collect();
            for chunk in asking.chunks(BATCH) {
                let mut requests = FrameBatch::with_capacity(chunk.len());
                for &addr in chunk {
                    requests.push_with(|buf| {
                        let frame = arp_request(src_mac, src_ip, addr);
                        buf[..frame.len()].copy_from_slice(&frame);
                        frame.len()
                    });
                }
                while !requests.is_empty() {
                    let sent = self
                        .sender
                        .send(&requests)
                        .with_context(|| format!("sending ARP through {}", self.sender.name()))?;
                    requests.consume_front(sent);
                    if sent == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }
            let deadline = tokio::time::Instant::from_std(sent_at + round_wait);
            while !missing.is_empty() {
                match tokio::time::timeout_at(deadline, self.replies.recv(&mut records)).await {
                    Err(_) => break,
                    Ok(received) => received?,
                }
                for record in records.drain(..) {
                    let addr = Ipv4Addr::from(record.remote_addr);
                    if ReplyKind::from_u8(record.kind) == Some(ReplyKind::Arp)
                        && missing.remove(&addr)
                    {
                        found.insert(addr, (record.remote_mac, sent_at.elapsed()));
                    }
                }
            }
            if missing.is_empty() {
                break;
            }
        }
        Ok(found)
    }

    /// The source addresses of every probe (the next hop's MAC is filled in per probe).
    /// The classifier's capture maps, for the script capture dispatcher (once; `None`
    /// on the packet-socket receive path).
    pub fn take_captures(&mut self) -> Option<crate::io::xdp::CaptureMaps> {
        self.replies.take_captures()
    }

    pub fn link(&self) -> LinkAddrs {
        self.cx.link
    }

    /// How long a probe to `addr` waits for its reply: from the host's own round
    /// trips once it has answered, from the phase's until then.
    fn host_timeout(&self, addr: u32, phase: &RttEstimator, timing: &Timing) -> Duration {
        match self.host_rtt.get(&addr) {
            Some(host) if host.srtt().is_some() => {
                host.timeout().clamp(timing.min_timeout, timing.max_timeout)
            }
            _ => phase.timeout(),
        }
    }

    /// The hosts given up on after `--host-timeout`.
    pub fn timed_out(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.timed_out.iter().map(|&a| Ipv4Addr::from(a))
    }

    /// Forgets what the phases learnt about `hosts` (their round trips, whether they
    /// timed out): they are finished, and a scan of any size keeps state only for the
    /// hosts it is working on.
    pub fn forget(&mut self, hosts: &[Ipv4Addr]) {
        for &host in hosts {
            let addr = u32::from(host);
            self.host_rtt.remove(&addr);
            self.timed_out.remove(&addr);
        }
    }

    /// The smoothed RTT of `addr`'s replies so far.
    pub fn latency(&self, addr: Ipv4Addr) -> Option<Duration> {
        self.host_rtt.get(&u32::from(addr)).and_then(|r| r.srtt())
    }

    /// Sends every slot of `slots` to every target (interleaved across targets),
    /// until each is answered or its retries run out, telling `module` as it goes.
    pub async fn run(
        &mut self,
        module: &mut dyn ProbeModule,
        targets: &[Ipv4Addr],
        slots: &[u16],
        timing: &Timing,
    ) -> Result<()> {
        if targets.is_empty() || slots.is_empty() {
            return Ok(());
        }
        self.config.flags = module.classifier_flags();
        self.replies.configure(self.config)?;
        let allowed: HashSet<u32> = targets.iter().map(|&t| u32::from(t)).collect();
        let macs: HashMap<u32, [u8; 6]> = targets
            .iter()
            .map(|&t| (u32::from(t), self.path.next_hop_mac(t)))
            .collect();
        let total = targets.len() as u64 * slots.len() as u64;
        let started = Instant::now();
        let mut limiter = RateLimiter::per_second(timing.rate, started);
        let mut rtt = RttEstimator::new(
            timing.initial_timeout,
            timing.min_timeout,
            timing.max_timeout,
        );
        let mut outstanding: HashMap<ProbeKey, Outstanding> = HashMap::new();
        let mut timeouts: VecDeque<(Instant, ProbeKey, u8)> = VecDeque::new();
        let mut resend: VecDeque<ProbeKey> = VecDeque::new();
        // Retransmissions held back for ICMP rate-limited hosts, with when the next may go.
        let mut limited: HashMap<u32, (Instant, VecDeque<ProbeKey>)> = HashMap::new();
        // Probes out of sends, with how many they had: silent unless the retry budget
        // grows (the network turns out lossier) and they get another chance.
        let mut unanswered: HashMap<ProbeKey, u8> = HashMap::new();
        let mut congestion = Congestion::new(timing.min_parallelism, timing.max_parallelism);
        let mut budget = RetryBudget::new(timing.retries);
        // When each host's first probe left (for --host-timeout), and the hosts given up on.
        let mut first_sent: HashMap<u32, Instant> = HashMap::new();
        let mut last_host_check = started;
        let mut next_probe: u64 = 0;
        let mut probes = FrameBatch::with_stride(BATCH, MAX_PROBE_FRAME_LEN);
        let mut rsts = FrameBatch::with_capacity(BATCH);
        let mut records: Vec<ReplyRecord> = Vec::with_capacity(1024);
        let mut drained_at: Option<Instant> = None;
        let mut progress = Progress::new(module.name(), total, self.progress);
        let replies_before = self.stats.replies;

        loop {
            let now = Instant::now();
            // 1. Probes whose timeout ran out: send again (paced, for a rate-limited
            //    host), or give up on them. Each host's own RTT sets its timeout.
            //    (Probes wait in the order they were sent: one to a slow host can hold
            //    back, by at most its timeout, the retransmissions queued behind it.)
            let timeout_for = |addr: u32| self.host_timeout(addr, &rtt, timing);
            while let Some(&(sent, probe, sends)) = timeouts.front() {
                if sent + timeout_for(probe.0) > now {
                    break;
                }
                timeouts.pop_front();
                match outstanding.get(&probe) {
                    Some(o) if o.sends == sends => {
                        if !budget.may_resend(sends) {
                            outstanding.remove(&probe);
                            unanswered.insert(probe, sends);
                        } else if let Some((_, queue)) = limited.get_mut(&probe.0) {
                            queue.push_back(probe);
                        } else {
                            resend.push_back(probe);
                        }
                    }
                    _ => {}
                }
            }
            if let Some(limit) = timing.host_timeout {
                if now >= last_host_check + Duration::from_millis(100) {
                    last_host_check = now;
                    // Hosts with probes still to send or to settle; the rest are done.
                    let busy: HashSet<u32> = outstanding.keys().map(|key| key.0).collect();
                    let all_busy = next_probe < total;
                    for (&addr, &since) in &first_sent {
                        if now >= since + limit
                            && (all_busy || busy.contains(&addr))
                            && self.timed_out.insert(addr)
                        {
                            outstanding.retain(|key, _| key.0 != addr);
                            unanswered.retain(|key, _| key.0 != addr);
                            limited.remove(&addr);
                        }
                    }
                }
            }
            for (gate, queue) in limited.values_mut() {
                if *gate <= now {
                    if let Some(probe) = queue.pop_front() {
                        resend.push_back(probe);
                        *gate = now + timing.icmp_limit_gap;
                    }
                }
            }

            // 2. New frames, as many as the rate allows, retransmissions first; new
            //    probes only while the congestion window has room.
            let allowance = limiter.available(now).min(BATCH - probes.len());
            let mut built = 0;
            while built < allowance {
                let (probe, is_retry) = if let Some(probe) = resend.pop_front() {
                    // Answered while it waited in the queue: nothing to resend.
                    if !outstanding.contains_key(&probe) {
                        continue;
                    }
                    (probe, true)
                } else if next_probe < total && congestion.room(outstanding.len()) > 0 {
                    let target = targets[(next_probe % targets.len() as u64) as usize];
                    let slot = slots[(next_probe / targets.len() as u64) as usize];
                    next_probe += 1;
                    let addr = u32::from(target);
                    if self.timed_out.contains(&addr) {
                        continue;
                    }
                    first_sent.entry(addr).or_insert(now);
                    ((addr, slot), false)
                } else {
                    break;
                };
                if !allowed.contains(&probe.0) {
                    bail!(
                        "internal error: refusing to send to {}, which is not a target",
                        Ipv4Addr::from(probe.0)
                    );
                }
                self.cx.link.dst_mac = macs[&probe.0];
                if probes.capacity() - probes.len() < module.frames_per_probe() {
                    // No room for all of this key's frames: send what is there first.
                    resend.push_front(probe);
                    break;
                }
                let frames = module.write(probe, &mut self.cx, &mut probes);
                let entry = outstanding.entry(probe).or_insert(Outstanding {
                    sends: 0,
                    last_sent: now,
                });
                entry.sends += 1;
                entry.last_sent = now;
                timeouts.push_back((now, probe, entry.sends));
                if is_retry {
                    self.stats.retransmits += 1;
                }
                built += frames;
            }
            limiter.spend(built);
            if !probes.is_empty() {
                let sent = self
                    .sender
                    .send(&probes)
                    .with_context(|| format!("sending through {}", self.sender.name()))?;
                self.stats.probes_sent += sent as u64;
                probes.consume_front(sent);
            }

            progress.tick(&Snapshot {
                sent: next_probe,
                replies: self.stats.replies - replies_before,
                open: module.found(),
            });

            // 3. Done? Everything sent and settled, then the wait for late replies.
            let held = limited.values().any(|(_, queue)| !queue.is_empty());
            let settled = next_probe >= total
                && resend.is_empty()
                && probes.is_empty()
                && outstanding.is_empty()
                && !held;
            if settled {
                // Late replies can only change probes that went unanswered: with none,
                // there is nothing to wait for.
                let since = *drained_at.get_or_insert(now);
                if unanswered.is_empty() || now >= since + timing.wait {
                    break;
                }
            }

            // 4. Sleep until there is something to send or a timeout runs out, waking
            //    at once for replies.
            let window_open = congestion.room(outstanding.len()) > 0;
            let more_to_send =
                !resend.is_empty() || (next_probe < total && window_open) || !probes.is_empty();
            let mut sleep = if more_to_send {
                limiter.next_slot().max(Duration::from_micros(500))
            } else if let Some(&(sent, probe, _)) = timeouts.front() {
                (sent + self.host_timeout(probe.0, &rtt, timing))
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1))
            } else {
                Duration::from_millis(10)
            };
            if let Some(gate) = limited
                .values()
                .filter(|(_, queue)| !queue.is_empty())
                .map(|(gate, _)| *gate)
                .min()
            {
                sleep = sleep.min(
                    gate.saturating_duration_since(now)
                        .max(Duration::from_millis(1)),
                );
            }
            tokio::select! {
                received = self.replies.recv(&mut records) => received?,
                _ = tokio::time::sleep(sleep) => {}
            }

            // 5. Replies: the module's findings, RTT samples, and an RST for every SYN+ACK.
            let now = Instant::now();
            for record in records.drain(..) {
                self.stats.replies += 1;
                let kind = ReplyKind::from_u8(record.kind);
                if kind == Some(ReplyKind::SynAck) {
                    if let Some(mac) = macs.get(&record.remote_addr) {
                        let remote = Ipv4Addr::from(record.remote_addr);
                        let ip_id = self.cx.next_ip_id();
                        rsts.push_with(|buf| {
                            let len = self.rst.write(
                                buf,
                                remote,
                                record.local_port,
                                record.remote_port,
                                record.ack,
                                ip_id,
                            );
                            buf[0..6].copy_from_slice(mac);
                            len
                        });
                    }
                }
                if self.debug > 0 {
                    eprintln!("scanner: {}: {}", module.name(), describe(&record));
                }
                let Some(probe) = module.probe_of(&record) else {
                    continue;
                };
                if !allowed.contains(&probe.0) || self.timed_out.contains(&probe.0) {
                    continue;
                }
                // A host that answers at all (an ICMP error of its own, or a reply on
                // another port) may be rate limiting its errors: its silent probes are
                // resent at the pace it can answer them. (One that answers nothing is
                // most likely behind a firewall that drops: no pacing.)
                let from_host =
                    kind != Some(ReplyKind::IcmpError) || record.icmp_from == record.remote_addr;
                if from_host && module.paces_icmp_limited_hosts() {
                    limited
                        .entry(probe.0)
                        .or_insert_with(|| (now, VecDeque::new()));
                }
                if let Some(o) = outstanding.remove(&probe) {
                    congestion.on_reply();
                    // An answer to a retransmission: an earlier send (or its reply) was
                    // lost, unless the host was only pacing its ICMP errors.
                    if o.sends > 1 && !limited.contains_key(&probe.0) {
                        congestion.on_loss(now, rtt.timeout());
                        if budget.answered_after(o.sends) {
                            // Probes that gave up too early get the sends they now may.
                            unanswered.retain(|&key, &mut sends| {
                                if !budget.may_resend(sends) {
                                    return true;
                                }
                                outstanding.insert(
                                    key,
                                    Outstanding {
                                        sends,
                                        last_sent: now,
                                    },
                                );
                                resend.push_back(key);
                                false
                            });
                        }
                    }
                    let sample = now.saturating_duration_since(o.last_sent);
                    rtt.observe(sample);
                    self.host_rtt
                        .entry(record.remote_addr)
                        .or_insert_with(|| {
                            RttEstimator::new(
                                timing.initial_timeout,
                                Duration::ZERO,
                                timing.max_timeout,
                            )
                        })
                        .observe(sample);
                } else if unanswered.remove(&probe).is_none() {
                    self.stats.duplicates += 1;
                    continue;
                }
                module.answered(probe, &record)?;
            }
            while !rsts.is_empty() {
                let sent = self.sender.send(&rsts)?;
                self.stats.rsts_sent += sent as u64;
                rsts.consume_front(sent);
                if sent == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }

        progress.finish();
        if self.debug > 0 {
            eprintln!(
                "scanner: {}: done in {:.2}s; timeout {:?}, congestion window {} (halved {} times), {} ICMP rate-limited host(s), {} silent probe(s)",
                module.name(),
                started.elapsed().as_secs_f64(),
                rtt.timeout(),
                congestion.window(),
                congestion.cuts,
                limited.len(),
                unanswered.len()
            );
        }
        // Whatever never answered.
        let mut silent: Vec<ProbeKey> = unanswered.into_keys().collect();
        silent.sort_unstable();
        for probe in silent {
            if self.debug > 1 {
                eprintln!(
                    "scanner: {}: no reply from {}:{}",
                    module.name(),
                    Ipv4Addr::from(probe.0),
                    probe.1
                );
            }
            module.unanswered(probe)?;
        }
        self.stats.replies_lost_in_kernel = self.replies.lost();
        self.stats.window_cuts += congestion.cuts;
        Ok(())
    }
}

/// One line about a classified reply, for `-d`.
fn describe(record: &ReplyRecord) -> String {
    let remote = Ipv4Addr::from(record.remote_addr);
    let what = match ReplyKind::from_u8(record.kind) {
        Some(ReplyKind::SynAck) => format!("SYN+ACK from {remote}:{}", record.remote_port),
        Some(ReplyKind::Rst) => format!("RST from {remote}:{}", record.remote_port),
        Some(ReplyKind::Udp) => format!("UDP reply from {remote}:{}", record.remote_port),
        Some(ReplyKind::Arp) => format!(
            "ARP reply: {remote} is at {}",
            crate::report::format_mac(&record.remote_mac)
        ),
        Some(ReplyKind::IcmpReply) => format!("ICMP type {} reply from {remote}", record.icmp_type),
        Some(ReplyKind::IcmpError) => format!(
            "ICMP type {} code {} from {} about protocol {} to {remote}:{}",
            record.icmp_type,
            record.icmp_code,
            Ipv4Addr::from(record.icmp_from),
            record.protocol,
            record.remote_port
        ),
        None => format!("unknown reply kind {} from {remote}", record.kind),
    };
    format!("{what}, ttl {}", record.ttl)
}

/// A random cookie key per scan, or one derived from `--seed` for reproducible probes.
pub fn cookie_key(seed: Option<u64>) -> [u64; 2] {
    match seed {
        Some(seed) => {
            let k0 = scanner_common::cookie::siphash_u64(&[0x7363_616e_6e65_7200, 1], seed);
            let k1 = scanner_common::cookie::siphash_u64(&[0x7363_616e_6e65_7200, 2], seed);
            [k0, k1]
        }
        None => [rand::random(), rand::random()],
    }
}
