//! One run of the probe loop: a phase's probes to its targets, from the first send
//! to the last silent probe given up on. A [`Round`] holds what is in flight, what
//! waits to be resent (paced, for hosts that rate-limit their ICMP errors), what went
//! unanswered, and the phase's pacing, RTT estimate, congestion window and retry
//! budget; each turn of the loop calls its steps in order (see `Prober::run`).
//!
//! The loop reads the time from tokio's clock, so that its unit tests run on a paused
//! one (`engine::fake_net`).

use super::congestion::{Congestion, RetryBudget};
use super::probing::{describe, ProbeKey, ProbeModule, Prober, Timing};
use super::rate::RateLimiter;
use super::rtt::RttEstimator;
use crate::io::{FrameBatch, MAX_PROBE_FRAME_LEN};
use crate::report::progress::{Progress, Snapshot};
use anyhow::{bail, Context, Result};
use scanner_common::{ReplyKind, ReplyRecord};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Frames built per send call.
pub(super) const BATCH: usize = 256;

/// The time now, on tokio's clock (the real one, or a test's paused one).
pub(super) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A probe that has been sent and not yet answered or given up on.
struct Outstanding {
    /// How many times it has been sent.
    sends: u8,
    last_sent: Instant,
}

/// The state of one run of the probe loop over `targets` × `slots`.
pub(super) struct Round<'a> {
    targets: &'a [Ipv4Addr],
    slots: &'a [u16],
    timing: &'a Timing,
    /// The targets as numbers: nothing else is ever sent to.
    allowed: HashSet<u32>,
    /// Each target's next-hop MAC.
    macs: HashMap<u32, [u8; 6]>,
    /// Probes of the round, and the index of the next new one (interleaved across
    /// targets: target = index % targets, slot = index / targets).
    total: u64,
    next_probe: u64,
    started: Instant,
    limiter: RateLimiter,
    /// The phase's RTT estimate (hosts that have answered use their own).
    rtt: RttEstimator,
    congestion: Congestion,
    budget: RetryBudget,
    outstanding: HashMap<ProbeKey, Outstanding>,
    /// When each send left, in the order sent, with the send's number.
    timeouts: VecDeque<(Instant, ProbeKey, u8)>,
    /// Retransmissions to build next.
    resend: VecDeque<ProbeKey>,
    /// The least wait before a silent probe is resent (see
    /// [`ProbeModule::answered_by_routers`]).
    least_timeout: Duration,
    /// Retransmissions held back for ICMP rate-limited hosts, with when the next may go.
    limited: HashMap<u32, (Instant, VecDeque<ProbeKey>)>,
    /// Probes out of sends, with how many they had: silent unless the retry budget
    /// grows (the network turns out lossier) and they get another chance.
    unanswered: HashMap<ProbeKey, u8>,
    /// When each host's first probe left (for --host-timeout).
    first_sent: HashMap<u32, Instant>,
    last_host_check: Instant,
    probes: FrameBatch,
    rsts: FrameBatch,
    records: Vec<ReplyRecord>,
    /// When everything was first settled (the wait for late replies starts).
    drained_at: Option<Instant>,
    progress: Progress,
    replies_before: u64,
}

impl<'a> Round<'a> {
    pub(super) fn new(
        prober: &Prober,
        module: &dyn ProbeModule,
        targets: &'a [Ipv4Addr],
        slots: &'a [u16],
        timing: &'a Timing,
    ) -> Self {
        let started = now();
        let total = targets.len() as u64 * slots.len() as u64;
        Self {
            targets,
            slots,
            timing,
            allowed: targets.iter().map(|&t| u32::from(t)).collect(),
            macs: targets
                .iter()
                .map(|&t| (u32::from(t), prober.path.next_hop_mac(t)))
                .collect(),
            total,
            next_probe: 0,
            started,
            limiter: RateLimiter::per_second(timing.rate, started),
            rtt: RttEstimator::new(
                timing.initial_timeout,
                timing.min_timeout,
                timing.max_timeout,
            ),
            congestion: Congestion::new(timing.min_parallelism, timing.max_parallelism),
            budget: RetryBudget::new(timing.retries),
            outstanding: HashMap::new(),
            timeouts: VecDeque::new(),
            resend: VecDeque::new(),
            least_timeout: if module.answered_by_routers() {
                timing.icmp_limit_gap
            } else {
                Duration::ZERO
            },
            limited: HashMap::new(),
            unanswered: HashMap::new(),
            first_sent: HashMap::new(),
            last_host_check: started,
            probes: FrameBatch::with_stride(BATCH, MAX_PROBE_FRAME_LEN),
            rsts: FrameBatch::with_capacity(BATCH),
            records: Vec::with_capacity(1024),
            drained_at: None,
            progress: Progress::new(module.name(), total, prober.progress),
            replies_before: prober.stats.replies,
        }
    }

    /// Probes whose timeout ran out: queued to be sent again (held back, for a
    /// rate-limited host), or given up on once the retry budget says so. Each host's
    /// own RTT sets its timeout. (Probes wait in the order they were sent: one to a
    /// slow host can hold back, by at most its timeout, the retransmissions queued
    /// behind it.)
    pub(super) fn retransmit_or_give_up(&mut self, prober: &Prober, now: Instant) {
        while let Some(&(sent, probe, sends)) = self.timeouts.front() {
            let timeout = prober.host_timeout(probe.0, &self.rtt, self.timing);
            if sent + timeout.max(self.least_timeout) > now {
                break;
            }
            self.timeouts.pop_front();
            match self.outstanding.get(&probe) {
                Some(o) if o.sends == sends => {
                    if !self.budget.may_resend(sends) {
                        self.outstanding.remove(&probe);
                        self.unanswered.insert(probe, sends);
                    } else if let Some((_, queue)) = self.limited.get_mut(&probe.0) {
                        queue.push_back(probe);
                    } else {
                        self.resend.push_back(probe);
                    }
                }
                _ => {}
            }
        }
    }

    /// `--host-timeout`: hosts still busy (probes to send or to settle) that long
    /// after their first probe are given up on, in this phase and every later one.
    /// Checked every 100 ms.
    pub(super) fn give_up_slow_hosts(&mut self, prober: &mut Prober, now: Instant) {
        let Some(limit) = self.timing.host_timeout else {
            return;
        };
        if now < self.last_host_check + Duration::from_millis(100) {
            return;
        }
        self.last_host_check = now;
        let busy: HashSet<u32> = self.outstanding.keys().map(|key| key.0).collect();
        let all_busy = self.next_probe < self.total;
        for (&addr, &since) in &self.first_sent {
            if now >= since + limit
                && (all_busy || busy.contains(&addr))
                && prober.timed_out.insert(addr)
            {
                self.outstanding.retain(|key, _| key.0 != addr);
                self.unanswered.retain(|key, _| key.0 != addr);
                self.limited.remove(&addr);
            }
        }
    }

    /// One held-back retransmission per rate-limited host whose gap has passed.
    pub(super) fn release_paced(&mut self, now: Instant) {
        for (gate, queue) in self.limited.values_mut() {
            if *gate <= now {
                if let Some(probe) = queue.pop_front() {
                    self.resend.push_back(probe);
                    *gate = now + self.timing.icmp_limit_gap;
                }
            }
        }
    }

    /// The next probe to build: a retransmission first, else a new probe while the
    /// congestion window has room; `None` when there is neither. Skips what needs
    /// no send (answered while queued, hosts given up on).
    fn next_to_send(&mut self, prober: &Prober, now: Instant) -> Option<(ProbeKey, bool)> {
        loop {
            if let Some(probe) = self.resend.pop_front() {
                // Answered while it waited in the queue: nothing to resend.
                if self.outstanding.contains_key(&probe) {
                    return Some((probe, true));
                }
            } else if self.next_probe < self.total
                && self.congestion.room(self.outstanding.len()) > 0
            {
                let count = self.targets.len() as u64;
                let target = self.targets[(self.next_probe % count) as usize];
                let slot = self.slots[(self.next_probe / count) as usize];
                self.next_probe += 1;
                let addr = u32::from(target);
                if !prober.timed_out.contains(&addr) {
                    self.first_sent.entry(addr).or_insert(now);
                    return Some(((addr, slot), false));
                }
            } else {
                return None;
            }
        }
    }

    /// Builds as many frames as the rate allows (retransmissions first) and sends
    /// what the sender takes; the rest goes with the next turn.
    pub(super) fn send(
        &mut self,
        prober: &mut Prober,
        module: &dyn ProbeModule,
        now: Instant,
    ) -> Result<()> {
        let allowance = self.limiter.available(now).min(BATCH - self.probes.len());
        let mut built = 0;
        while built < allowance {
            let Some((probe, is_retry)) = self.next_to_send(prober, now) else {
                break;
            };
            if !self.allowed.contains(&probe.0) {
                bail!(
                    "internal error: refusing to send to {}, which is not a target",
                    Ipv4Addr::from(probe.0)
                );
            }
            prober.cx.link.dst_mac = self.macs[&probe.0];
            if self.probes.capacity() - self.probes.len() < module.frames_per_probe() {
                // No room for all of this key's frames: send what is there first.
                self.resend.push_front(probe);
                break;
            }
            let frames = module.write(probe, &mut prober.cx, &mut self.probes);
            let entry = self.outstanding.entry(probe).or_insert(Outstanding {
                sends: 0,
                last_sent: now,
            });
            entry.sends += 1;
            entry.last_sent = now;
            self.timeouts.push_back((now, probe, entry.sends));
            if is_retry {
                prober.stats.retransmits += 1;
            }
            built += frames;
        }
        self.limiter.spend(built);
        if !self.probes.is_empty() {
            let sent = prober
                .sender
                .send(&self.probes)
                .with_context(|| format!("sending through {}", prober.sender.name()))?;
            prober.stats.probes_sent += sent as u64;
            self.probes.consume_front(sent);
        }
        Ok(())
    }

    /// Updates the progress line.
    pub(super) fn show_progress(&mut self, prober: &Prober, module: &dyn ProbeModule) {
        self.progress.tick(&Snapshot {
            sent: self.next_probe,
            replies: prober.stats.replies - self.replies_before,
            open: module.found(),
        });
    }

    /// Whether the round is over: every probe sent and settled, then (if any went
    /// unanswered) the wait for late replies, which can only change those.
    pub(super) fn is_done(&mut self, now: Instant) -> bool {
        let held = self.limited.values().any(|(_, queue)| !queue.is_empty());
        let settled = self.next_probe >= self.total
            && self.resend.is_empty()
            && self.probes.is_empty()
            && self.outstanding.is_empty()
            && !held;
        if !settled {
            return false;
        }
        let since = *self.drained_at.get_or_insert(now);
        self.unanswered.is_empty() || now >= since + self.timing.wait
    }

    /// How long to sleep: until there is something to send, a timeout runs out, or
    /// a held-back retransmission may go.
    fn sleep_time(&self, prober: &Prober, now: Instant) -> Duration {
        let window_open = self.congestion.room(self.outstanding.len()) > 0;
        let more_to_send = !self.resend.is_empty()
            || (self.next_probe < self.total && window_open)
            || !self.probes.is_empty();
        let mut sleep = if more_to_send {
            self.limiter.next_slot().max(Duration::from_micros(500))
        } else if let Some(&(sent, probe, _)) = self.timeouts.front() {
            (sent + prober.host_timeout(probe.0, &self.rtt, self.timing))
                .saturating_duration_since(now)
                .max(Duration::from_millis(1))
        } else {
            Duration::from_millis(10)
        };
        if let Some(gate) = self
            .limited
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
        sleep
    }

    /// Sleeps (see [`Round::sleep_time`]), waking at once for replies.
    pub(super) async fn wait(&mut self, prober: &mut Prober, now: Instant) -> Result<()> {
        let sleep = self.sleep_time(prober, now);
        tokio::select! {
            received = prober.replies.recv(&mut self.records) => received?,
            _ = tokio::time::sleep(sleep) => {}
        }
        Ok(())
    }

    /// The replies received: an RST queued for every SYN+ACK, then each reply to a
    /// probe of this round told to the module (once per probe; later ones are
    /// counted as duplicates), with its RTT sample and what it says about loss.
    pub(super) fn handle_replies(
        &mut self,
        prober: &mut Prober,
        module: &mut dyn ProbeModule,
    ) -> Result<()> {
        let now = now();
        let mut records = std::mem::take(&mut self.records);
        let handled = records
            .drain(..)
            .try_for_each(|record| self.handle_reply(prober, module, &record, now));
        self.records = records;
        handled
    }

    fn handle_reply(
        &mut self,
        prober: &mut Prober,
        module: &mut dyn ProbeModule,
        record: &ReplyRecord,
        now: Instant,
    ) -> Result<()> {
        prober.stats.replies += 1;
        let kind = ReplyKind::from_u8(record.kind);
        if kind == Some(ReplyKind::SynAck) {
            self.queue_rst(prober, record);
        }
        if prober.debug > 0 {
            eprintln!("scanner: {}: {}", module.name(), describe(record));
        }
        let Some(probe) = module.probe_of(record) else {
            return Ok(());
        };
        if !self.allowed.contains(&probe.0) || prober.timed_out.contains(&probe.0) {
            return Ok(());
        }
        // A host that answers at all (an ICMP error of its own, or a reply on
        // another port) may be rate limiting its errors: its silent probes are
        // resent at the pace it can answer them. (One that answers nothing is
        // most likely behind a firewall that drops: no pacing.)
        let from_host =
            kind != Some(ReplyKind::IcmpError) || record.icmp_from == record.remote_addr;
        if from_host && module.paces_icmp_limited_hosts() {
            self.limited
                .entry(probe.0)
                .or_insert_with(|| (now, VecDeque::new()));
        }
        if let Some(o) = self.outstanding.remove(&probe) {
            self.learn_from_answer(prober, probe, record.remote_addr, &o, now);
        } else if self.unanswered.remove(&probe).is_none() {
            prober.stats.duplicates += 1;
            return Ok(());
        }
        module.answered(probe, record)
    }

    /// An RST for a SYN+ACK from a target, so that it keeps no half-open connection.
    fn queue_rst(&mut self, prober: &mut Prober, record: &ReplyRecord) {
        let Some(mac) = self.macs.get(&record.remote_addr) else {
            return;
        };
        let remote = Ipv4Addr::from(record.remote_addr);
        let ip_id = prober.cx.next_ip_id();
        let rst = &prober.rst;
        self.rsts.push_with(|buf| {
            let len = rst.write(
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

    /// A probe in flight was answered: the window grows, the RTT estimates take the
    /// sample, and an answer to a retransmission shows loss (unless the host was only
    /// pacing its ICMP errors): the window is cut, and if the retry budget grows,
    /// probes that gave up too early get the sends they now may.
    fn learn_from_answer(
        &mut self,
        prober: &mut Prober,
        probe: ProbeKey,
        from: u32,
        o: &Outstanding,
        now: Instant,
    ) {
        self.congestion.on_reply();
        if o.sends > 1 && !self.limited.contains_key(&probe.0) {
            self.congestion.on_loss(now, self.rtt.timeout());
            if self.budget.answered_after(o.sends) {
                self.retry_given_up(now);
            }
        }
        let sample = now.saturating_duration_since(o.last_sent);
        self.rtt.observe(sample);
        let timing = self.timing;
        prober
            .host_rtt
            .entry(from)
            .or_insert_with(|| {
                RttEstimator::new(timing.initial_timeout, Duration::ZERO, timing.max_timeout)
            })
            .observe(sample);
    }

    /// Probes given up on that the grown retry budget allows more sends: back in
    /// flight, queued to be resent.
    fn retry_given_up(&mut self, now: Instant) {
        let (budget, outstanding, resend) = (&self.budget, &mut self.outstanding, &mut self.resend);
        self.unanswered.retain(|&key, &mut sends| {
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

    /// Sends the RSTs queued by [`Round::handle_replies`], waiting for the sender
    /// where it is full.
    pub(super) async fn send_rsts(&mut self, prober: &mut Prober) -> Result<()> {
        while !self.rsts.is_empty() {
            let sent = prober.sender.send(&self.rsts)?;
            prober.stats.rsts_sent += sent as u64;
            self.rsts.consume_front(sent);
            if sent == 0 {
                tokio::task::yield_now().await;
            }
        }
        Ok(())
    }

    /// The end of the round: the module hears of every probe that never answered
    /// (in key order), and the scan's statistics take the round's.
    pub(super) fn finish(
        mut self,
        prober: &mut Prober,
        module: &mut dyn ProbeModule,
    ) -> Result<()> {
        self.progress.finish();
        if prober.debug > 0 {
            eprintln!(
                "scanner: {}: done in {:.2}s; timeout {:?}, congestion window {} (halved {} times), {} ICMP rate-limited host(s), {} silent probe(s)",
                module.name(),
                now().saturating_duration_since(self.started).as_secs_f64(),
                self.rtt.timeout(),
                self.congestion.window(),
                self.congestion.cuts,
                self.limited.len(),
                self.unanswered.len()
            );
        }
        let mut silent: Vec<ProbeKey> = self.unanswered.into_keys().collect();
        silent.sort_unstable();
        for probe in silent {
            if prober.debug > 1 {
                eprintln!(
                    "scanner: {}: no reply from {}:{}",
                    module.name(),
                    Ipv4Addr::from(probe.0),
                    probe.1
                );
            }
            module.unanswered(probe)?;
        }
        prober.stats.replies_lost_in_kernel = prober.replies.lost();
        prober.stats.window_cuts += self.congestion.cuts;
        Ok(())
    }
}

/// The probe loop driven through the fake network: loss, reordering, duplicates,
/// ICMP rate limits and `--host-timeout`, on a paused clock.
#[cfg(test)]
mod tests {
    use super::super::fake_net::{Conditions, FakeNet, Host, TestScan};
    use super::super::probing::Timing;
    use scanner_common::ReplyKind;
    use std::collections::HashSet;
    use std::net::Ipv4Addr;
    use std::time::Duration;
    use tokio::time::Instant;

    const WEB: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
    const DNS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 11);

    /// -T3 (nmap's default timing).
    fn normal() -> Timing {
        Timing::template(3).expect("-T3")
    }

    /// A host with every third port of `ports` open and the rest closed.
    fn host(addr: Ipv4Addr, ports: &[u16]) -> Host {
        let (open, closed) = ports.iter().partition(|&&p| p % 3 == 0);
        Host {
            addr,
            open,
            closed,
            icmp_limited: false,
        }
    }

    /// Scans `targets` × `ports` with `scan` through `net`; how long it took.
    async fn scan(
        net: &FakeNet,
        scan: &mut TestScan,
        targets: &[Ipv4Addr],
        ports: &[u16],
        timing: &Timing,
    ) -> (super::Prober, Duration) {
        let mut prober = net.prober();
        let started = Instant::now();
        prober
            .run(scan, targets, ports, timing)
            .await
            .expect("the scan runs");
        (prober, started.elapsed())
    }

    /// Every port of `host` answered once, with what it is.
    fn assert_all_read(scan: &TestScan, host: &Host, open: ReplyKind, closed: ReplyKind) {
        assert_eq!(scan.answered_twice(), vec![], "answered more than once");
        assert_eq!(scan.silent, vec![], "probes given up on");
        let want_open: HashSet<u16> = host.open.iter().copied().collect();
        let want_closed: HashSet<u16> = host.closed.iter().copied().collect();
        assert_eq!(scan.ports(host.addr, open), want_open, "open ports");
        assert_eq!(scan.ports(host.addr, closed), want_closed, "closed ports");
    }

    #[tokio::test(start_paused = true)]
    async fn lost_probes_are_retried_until_every_port_is_known_and_the_window_is_cut() {
        let ports: Vec<u16> = (1..=300).collect();
        let web = host(WEB, &ports);
        let conditions = Conditions {
            loss: 0.3,
            ..Default::default()
        };
        let net = FakeNet::new(vec![web.clone()], conditions);
        let mut syn = TestScan::tcp();
        let (prober, _) = scan(&net, &mut syn, &[WEB], &ports, &normal()).await;
        assert_all_read(&syn, &web, ReplyKind::SynAck, ReplyKind::Rst);
        let log = net.log();
        assert_eq!(log.malformed, 0);
        assert_eq!(prober.stats.probes_sent, log.probes.len() as u64);
        assert_eq!(
            prober.stats.retransmits,
            log.probes.len() as u64 - ports.len() as u64
        );
        assert!(prober.stats.retransmits >= 60, "{:?}", prober.stats);
        assert!(
            prober.stats.window_cuts >= 1,
            "loss cuts the window: {:?}",
            prober.stats
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_retry_budget_grows_with_the_loss_it_sees() {
        // Half the probes are lost: one port in eight loses all of its first three
        // sends, and only the budget's growth (twice the most any answer needed,
        // up to -T3's ten retries) gets them a reply.
        let ports: Vec<u16> = (1..=200).collect();
        let web = host(WEB, &ports);
        let conditions = Conditions {
            loss: 0.5,
            seed: 7,
            ..Default::default()
        };
        let net = FakeNet::new(vec![web.clone()], conditions);
        let mut syn = TestScan::tcp();
        scan(&net, &mut syn, &[WEB], &ports, &normal()).await;
        assert_all_read(&syn, &web, ReplyKind::SynAck, ReplyKind::Rst);
        let log = net.log();
        let most = ports.iter().map(|&p| log.sends((u32::from(WEB), p))).max();
        assert!(
            most > Some(3),
            "the budget never grew past three sends: {most:?}"
        );
        assert!(
            most <= Some(11),
            "more sends than -T3's 10 retries: {most:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reordered_and_duplicated_replies_answer_each_port_once() {
        let ports: Vec<u16> = (1..=150).collect();
        let hosts = vec![host(WEB, &ports), host(DNS, &ports)];
        let conditions = Conditions {
            rtt: Duration::from_millis(5),
            reorder: Duration::from_millis(40),
            duplicates: 0.3,
            seed: 3,
            ..Default::default()
        };
        let net = FakeNet::new(hosts.clone(), conditions);
        let mut syn = TestScan::tcp();
        let (prober, _) = scan(&net, &mut syn, &[WEB, DNS], &ports, &normal()).await;
        for host in &hosts {
            assert_all_read(&syn, host, ReplyKind::SynAck, ReplyKind::Rst);
        }
        let log = net.log();
        // Replies overtook each other: some came back in another order than sent.
        let sent: Vec<_> = log.probes.iter().map(|p| p.key).collect();
        let back: Vec<_> = log
            .delivered
            .iter()
            .map(|r| (r.remote_addr, r.remote_port))
            .collect();
        let position = |key| sent.iter().position(|&k| k == key);
        assert!(
            back.windows(2).any(|w| position(w[0]) > position(w[1])),
            "no reordering"
        );
        assert!(log.duplicated > 20, "{}", log.duplicated);
        let keys = 2 * ports.len() as u64;
        assert_eq!(prober.stats.replies, log.delivered.len() as u64);
        assert_eq!(prober.stats.duplicates, prober.stats.replies - keys);
        assert!(
            prober.stats.duplicates >= log.duplicated,
            "{:?}",
            prober.stats
        );
        // Every SYN+ACK (duplicates too) is reset, with the acknowledgement it carried
        // as the sequence number, to the port and from the source port it came.
        let syn_acks: Vec<_> = log
            .delivered
            .iter()
            .filter(|r| r.kind == ReplyKind::SynAck as u8)
            .collect();
        assert_eq!(log.rsts.len(), syn_acks.len());
        assert_eq!(prober.stats.rsts_sent, syn_acks.len() as u64);
        for rst in &log.rsts {
            let probe = log
                .probes
                .iter()
                .find(|p| p.key == rst.key && p.source_port == rst.source_port)
                .expect("an RST answers a probe's SYN+ACK");
            assert_eq!(rst.seq, probe.seq.wrapping_add(1), "{rst:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn udp_closed_ports_behind_icmp_rate_limits_all_read_closed() {
        // Linux answers six closed ports at once, then one a second: the other
        // fourteen are resent at that pace, none is misread as open|filtered.
        let ports: Vec<u16> = (1..=20).chain([53]).collect();
        let dns = Host {
            addr: DNS,
            open: vec![53],
            closed: (1..=20).collect(),
            icmp_limited: true,
        };
        let net = FakeNet::new(vec![dns.clone()], Conditions::default());
        let mut udp = TestScan::udp(true);
        let timing = normal();
        let (prober, took) = scan(&net, &mut udp, &[DNS], &ports, &timing).await;
        assert_all_read(&udp, &dns, ReplyKind::Udp, ReplyKind::IcmpError);
        // Paced retransmissions, at least the gap apart.
        let log = net.log();
        let retries: Vec<Instant> = log.probes[ports.len()..].iter().map(|p| p.at).collect();
        for pair in retries.windows(2) {
            assert!(pair[1] - pair[0] >= timing.icmp_limit_gap, "{pair:?}");
        }
        // Fourteen errors at one a second (one more try for the first, sent before
        // the host had a token again), and no more.
        assert!(
            took >= Duration::from_secs(14) && took <= Duration::from_secs(18),
            "{took:?}"
        );
        assert_eq!(prober.stats.window_cuts, 0, "pacing is not loss");
    }

    #[tokio::test(start_paused = true)]
    async fn probes_routers_answer_are_resent_no_sooner_than_a_router_has_a_token() {
        // A host that answers in a millisecond: its own timeout is the least, 100 ms.
        // A silent probe that a router should answer (traceroute's) waits out the
        // ICMP gap between its sends all the same; any other is resent on time.
        let fast = Conditions {
            rtt: Duration::from_millis(1),
            ..Conditions::default()
        };
        let ports = [80, 81, 82];
        let far = Host {
            addr: DNS,
            open: vec![80],
            closed: vec![81],
            icmp_limited: true,
        };
        // Traceroute's retries.
        let timing = Timing {
            retries: 2,
            ..normal()
        };
        for routers in [false, true] {
            let net = FakeNet::new(vec![far.clone()], fast.clone());
            let mut trace = if routers {
                TestScan::tcp().answered_by_routers()
            } else {
                TestScan::tcp()
            };
            scan(&net, &mut trace, &[DNS], &ports, &timing).await;
            let log = net.log();
            let silent: Vec<Instant> = log
                .probes
                .iter()
                .filter(|p| p.key == (u32::from(DNS), 82))
                .map(|p| p.at)
                .collect();
            assert_eq!(silent.len(), 3, "{routers}");
            for pair in silent.windows(2) {
                let gap = pair[1] - pair[0];
                assert_eq!(gap >= timing.icmp_limit_gap, routers, "{gap:?}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn host_timeout_gives_up_a_silent_host_and_keeps_the_others() {
        // The web host answers at once; probes to one that never answers wait a
        // second each, three times (3 s), unless --host-timeout gives up at 1.5 s.
        let ports: Vec<u16> = (1..=100).collect();
        let web = host(WEB, &ports);
        let net = FakeNet::new(vec![web.clone()], Conditions::default());
        let silent = Ipv4Addr::new(198, 18, 0, 99);
        let limit = Duration::from_millis(1_500);
        let timing = Timing {
            min_timeout: Duration::from_secs(1),
            host_timeout: Some(limit),
            ..normal()
        };
        let mut syn = TestScan::tcp();
        let (prober, took) = scan(&net, &mut syn, &[WEB, silent], &ports, &timing).await;
        assert_eq!(prober.timed_out().collect::<Vec<_>>(), vec![silent]);
        assert_all_read(&syn, &web, ReplyKind::SynAck, ReplyKind::Rst);
        let first = net.log().probes[0].at;
        let resent = net.log().probes.iter().any(|p| p.at - first >= limit);
        assert!(!resent, "probes after the host timeout");
        // Checked when the loop wakes (here at the next timeout, 2 s), before the
        // third round of sends at 2 s and the 3 s a full wait would take.
        assert!(
            took >= limit && took < Duration::from_millis(2_500),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn probes_leave_at_the_rate_asked_for() {
        let ports: Vec<u16> = (1..=1_000).collect();
        let web = host(WEB, &ports);
        let net = FakeNet::new(vec![web.clone()], Conditions::default());
        let timing = Timing {
            rate: 1_000.0,
            ..normal()
        };
        let mut syn = TestScan::tcp();
        scan(&net, &mut syn, &[WEB], &ports, &timing).await;
        assert_all_read(&syn, &web, ReplyKind::SynAck, ReplyKind::Rst);
        let log = net.log();
        let first = log.probes[0].at;
        let last = log.probes[log.probes.len() - 1].at - first;
        assert!(
            last >= Duration::from_millis(980) && last <= Duration::from_millis(1_050),
            "1000 probes at 1000/s took {last:?}"
        );
        // Bursts of at most 10 ms worth (10 probes) beyond the rate.
        for (i, probe) in log.probes.iter().enumerate() {
            let in_100ms = log.probes[i..]
                .iter()
                .take_while(|p| p.at - probe.at < Duration::from_millis(100))
                .count();
            assert!(in_100ms <= 111, "{in_100ms} probes in 100 ms");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_sets_the_modules_classifier_flags_and_sends_only_to_targets() {
        let ports: Vec<u16> = (1..=10).collect();
        let web = host(WEB, &ports);
        let net = FakeNet::new(vec![web.clone()], Conditions::default());
        let mut syn = TestScan::tcp();
        scan(&net, &mut syn, &[WEB], &ports, &normal()).await;
        let config = net.config().expect("configured");
        assert_eq!(
            config.local_addr,
            u32::from(super::super::fake_net::SCANNER)
        );
        assert!(net.log().probes.iter().all(|p| p.key.0 == u32::from(WEB)));
        assert_all_read(&syn, &web, ReplyKind::SynAck, ReplyKind::Rst);
    }
}
