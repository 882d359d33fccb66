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
//!
//! [`Prober::run`] is the loop's outline; each run's state and steps are a `Round`
//! (`engine::round`). The sender and the reply source are trait objects: `Prober::open`
//! opens the real ones, [`Prober::new`] takes any (the unit tests' fake network).

use super::path::ScanPath;
use super::replies::ReplySource;
use super::round::{self, Round, BATCH};
use super::rtt::RttEstimator;
use super::senders::{open_replies, open_sender};
pub use super::timing::Timing;
use super::NetworkOptions;
use crate::io::iface::{arp_request, ARP_ROUNDS};
use crate::io::{FrameBatch, FrameSender};
use crate::packet::template::{LinkAddrs, SegmentKind, TcpTemplate};
use crate::report::progress::ProgressOptions;
use crate::target::TargetSet;
use anyhow::{Context, Result};
use scanner_common::cookie::{probe_cookie, stateless_source_port};
use scanner_common::{ClassifierConfig, ReplyKind, ReplyRecord, FLAG_ARP};
use std::collections::{HashMap, HashSet};
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
    /// A context for a scan with cookie `key` from `link`'s addresses and source
    /// ports `src_ports`.
    pub fn new(key: [u64; 2], link: LinkAddrs, src_ports: (u16, u16)) -> Self {
        Self {
            key,
            link,
            src_ports,
            next_sport: 0,
            ip_id: (key[0] >> 16) as u16,
        }
    }

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
    /// Whether its probes are answered by routers on the way (traceroute's time
    /// exceeded): a silent probe is resent no sooner than `Timing::icmp_limit_gap`
    /// after its last send, however fast the host answers. A router that has spent
    /// its burst of ICMP errors to us (on any probe, of any scan) sends one a second,
    /// so a sooner retry finds no token either and its hop is lost.
    fn answered_by_routers(&self) -> bool {
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

/// The way out and in, shared by the phases of one scan.
pub struct Prober {
    pub path: ScanPath,
    pub(super) sender: Box<dyn FrameSender + Send>,
    pub(super) replies: Box<dyn ReplySource>,
    config: ClassifierConfig,
    pub(super) cx: ProbeContext,
    pub(super) rst: TcpTemplate,
    /// Smoothed RTT per host, over every phase.
    pub(super) host_rtt: HashMap<u32, RttEstimator>,
    /// Hosts given up on after --host-timeout (left out of every later phase too).
    pub(super) timed_out: HashSet<u32>,
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
        let config = Self::classifier_config(&path, key, src_ports);
        let replies = open_replies(net.recv_mode, &path, config, net.xdp_mode, notice)?;
        let sender = open_sender(net.send_mode, &path, 0, notice)?;
        let mut prober = Self::new(path, sender, replies, key, src_ports);
        let resolved = prober.arp(&hops).await?;
        prober.path.set_neighbours(targets, hops, &resolved)?;
        Ok(prober)
    }

    /// A prober that sends through `sender` and hears `replies` on `path`, with the
    /// scan's cookie `key` and source ports (checked, see
    /// [`NetworkOptions::source_ports`]). [`Prober::open`] builds the real ones.
    pub fn new(
        path: ScanPath,
        sender: Box<dyn FrameSender + Send>,
        replies: Box<dyn ReplySource>,
        key: [u64; 2],
        src_ports: (u16, u16),
    ) -> Self {
        let config = Self::classifier_config(&path, key, src_ports);
        let link = LinkAddrs {
            src_mac: path.src_mac,
            dst_mac: [0; 6],
            src_ip: path.src_ip,
        };
        Self {
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
        }
    }

    /// The classifier's config for a scan from `path` with `key` and `src_ports`
    /// (its flags are set per phase).
    fn classifier_config(
        path: &ScanPath,
        key: [u64; 2],
        src_ports: (u16, u16),
    ) -> ClassifierConfig {
        ClassifierConfig {
            local_addr: u32::from(path.src_ip),
            port_lo: src_ports.0,
            port_hi: src_ports.1,
            key,
            enabled: 1,
            flags: 0,
        }
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
    #[cfg(fast_path)]
    pub fn take_captures(&mut self) -> Option<crate::io::xdp::CaptureMaps> {
        self.replies.take_captures()
    }

    /// Every frame the reply source reads, for the script capture dispatcher (once;
    /// only on the libpcap receive path, whose one handle nothing else may read).
    pub fn take_frames(
        &mut self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<crate::io::pcap_tap::StampedFrame>> {
        self.replies.take_frames()
    }

    pub fn link(&self) -> LinkAddrs {
        self.cx.link
    }

    /// How long a probe to `addr` waits for its reply: from the host's own round
    /// trips once it has answered, from the phase's until then.
    pub(super) fn host_timeout(
        &self,
        addr: u32,
        phase: &RttEstimator,
        timing: &Timing,
    ) -> Duration {
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
        let mut round = Round::new(self, module, targets, slots, timing);
        loop {
            let now = round::now();
            round.retransmit_or_give_up(self, now);
            round.give_up_slow_hosts(self, now);
            round.release_paced(now);
            round.send(self, module, now)?;
            round.show_progress(self, module);
            if round.is_done(now) {
                break;
            }
            round.wait(self, now).await?;
            round.handle_replies(self, module)?;
            round.send_rsts(self).await?;
        }
        round.finish(self, module)
    }
}

/// One line about a classified reply, for `-d`.
pub(super) fn describe(record: &ReplyRecord) -> String {
    let remote = Ipv4Addr::from(record.remote_addr);
    let what = match ReplyKind::from_u8(record.kind) {
        Some(ReplyKind::SynAck) => format!("SYN+ACK from {remote}:{}", record.remote_port),
        Some(ReplyKind::Rst) => format!("RST from {remote}:{}", record.remote_port),
        Some(ReplyKind::Udp) => format!("UDP reply from {remote}:{}", record.remote_port),
        Some(ReplyKind::Arp) => format!(
            "ARP reply: {remote} is at {}",
            crate::text::format_mac(&record.remote_mac)
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
