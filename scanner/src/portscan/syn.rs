//! The SYN scan (`-sS`): a SYN to every (target, port), sent through AF_XDP or a
//! packet socket at a paced rate; replies classified by the XDP program (or its
//! userspace twin) by the cookie in the sequence number. SYN+ACK is open (and gets
//! an RST so the target keeps no half-open connection), RST is closed, and a probe
//! that stays unanswered after its retries is filtered.
//!
//! Open and closed findings stream out as replies arrive; filtered ones are only
//! known at the end, after the wait for late replies.

use crate::engine::path::ScanPath;
use crate::engine::rate::RateLimiter;
use crate::engine::rtt::RttEstimator;
use crate::engine::senders::{open_replies, open_sender};
use crate::engine::NetworkOptions;
use crate::io::FrameBatch;
use crate::packet::template::{LinkAddrs, SegmentKind, TcpTemplate};
use crate::report::{FindingSink, PortFinding, PortState, Reason, ScanInfo, ScanResult};
use crate::target::{ports::PortList, TargetSet};
use anyhow::{bail, Context, Result};
use scanner_common::wire::{TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_PSH, TCP_FLAG_SYN, TCP_FLAG_URG};
use scanner_common::{
    ClassifierConfig, ReplyKind, ReplyRecord, FLAG_ACK_IS_COOKIE, FLAG_SEQ_IS_COOKIE,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// How replies to a TCP probe read, as nmap's scan types do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// -sS: SYN+ACK open, RST closed, silence filtered.
    Syn,
    /// -sA: RST unfiltered, silence filtered.
    Ack,
    /// -sF, -sN, -sX: RST closed, silence open|filtered.
    Fin,
    Null,
    Xmas,
}

impl Reading {
    /// nmap's scan type word (XML `scaninfo type`).
    pub fn name(self) -> &'static str {
        match self {
            Reading::Syn => "syn",
            Reading::Ack => "ack",
            Reading::Fin => "fin",
            Reading::Null => "null",
            Reading::Xmas => "xmas",
        }
    }

    /// The flags nmap sends for this scan type.
    pub fn default_flags(self) -> u8 {
        match self {
            Reading::Syn => TCP_FLAG_SYN,
            Reading::Ack => TCP_FLAG_ACK,
            Reading::Fin => TCP_FLAG_FIN,
            Reading::Null => 0,
            Reading::Xmas => TCP_FLAG_FIN | TCP_FLAG_PSH | TCP_FLAG_URG,
        }
    }

    /// The state and reason of a port that answered.
    pub fn answered(self, kind: ReplyKind) -> (PortState, Reason) {
        match (self, kind) {
            (_, ReplyKind::SynAck) => (PortState::Open, Reason::SynAck),
            (Reading::Ack, ReplyKind::Rst) => (PortState::Unfiltered, Reason::Reset),
            (_, ReplyKind::Rst) => (PortState::Closed, Reason::Reset),
        }
    }

    /// The state of a port that never answered.
    pub fn unanswered(self) -> PortState {
        match self {
            Reading::Syn | Reading::Ack => PortState::Filtered,
            Reading::Fin | Reading::Null | Reading::Xmas => PortState::OpenFiltered,
        }
    }
}

/// The TCP probe of a scan: its flags (nmap's, or `--scanflags`) and how replies read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpProbe {
    pub flags: u8,
    pub reading: Reading,
}

impl TcpProbe {
    /// The probe nmap sends for `reading`.
    pub fn standard(reading: Reading) -> Self {
        Self {
            flags: reading.default_flags(),
            reading,
        }
    }

    /// The frame template for these flags.
    pub fn segment(self) -> SegmentKind {
        if self.flags == TCP_FLAG_SYN {
            SegmentKind::Syn
        } else {
            SegmentKind::Flags(self.flags)
        }
    }

    /// How the classifier recognises replies to it (see `scanner_common::FLAG_*`).
    pub fn classifier_flags(self) -> u32 {
        if self.flags & TCP_FLAG_ACK != 0 {
            FLAG_SEQ_IS_COOKIE
        } else if self.flags & (TCP_FLAG_SYN | TCP_FLAG_FIN) == 0 {
            FLAG_ACK_IS_COOKIE
        } else {
            0
        }
    }
}

/// Parses `--scanflags`: a number (`0x29`, `41`) or flag names run together
/// (`URGPSHFIN`, `synfin`).
pub fn parse_scan_flags(text: &str) -> anyhow::Result<u8> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u8::from_str_radix(hex, 16)
            .map_err(|_| anyhow::anyhow!("--scanflags {text:?}: not a hex byte"));
    }
    if let Ok(value) = text.parse::<u8>() {
        return Ok(value);
    }
    const NAMES: [(&str, u8); 8] = [
        ("FIN", 0x01),
        ("SYN", 0x02),
        ("RST", 0x04),
        ("PSH", 0x08),
        ("ACK", 0x10),
        ("URG", 0x20),
        ("ECE", 0x40),
        ("CWR", 0x80),
    ];
    let upper = text.to_ascii_uppercase();
    let mut rest = upper.as_str();
    let mut flags = 0u8;
    while !rest.is_empty() {
        let (name, bit) = NAMES
            .iter()
            .find(|(name, _)| rest.starts_with(name))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--scanflags {text:?}: use a number or names such as URGACKPSHRSTSYNFIN"
                )
            })?;
        flags |= bit;
        rest = &rest[name.len()..];
    }
    Ok(flags)
}

/// Everything a TCP probe scan (-sS, -sA, -sF, -sN, -sX) needs to know.
#[derive(Clone, Debug)]
pub struct SynScanOptions {
    /// Which TCP probe, and how its replies read (SYN, ACK, FIN, NULL, Xmas).
    pub probe: TcpProbe,
    pub targets: TargetSet,
    pub ports: PortList,
    /// Packets per second.
    pub rate: u64,
    /// Extra sends of an unanswered probe before it is called filtered.
    pub retries: u8,
    /// How long to keep listening for late replies after the last probe's timeout.
    pub wait: Duration,
    pub net: NetworkOptions,
    /// Makes the cookie key (and so the probes) reproducible.
    pub seed: Option<u64>,
}

/// Counters a user sees with `-v`.
#[derive(Clone, Debug, Default)]
pub struct SynScanStats {
    pub probes_sent: u64,
    pub retransmits: u64,
    pub replies: u64,
    pub duplicates: u64,
    pub rsts_sent: u64,
    pub replies_lost_in_kernel: u64,
    pub send_path: &'static str,
    pub recv_path: &'static str,
}

/// Frames built per send call.
const BATCH: usize = 256;
/// Timeouts for the first probe and the bounds adaptive ones stay within (nmap -T4's).
const INITIAL_TIMEOUT: Duration = Duration::from_millis(500);
const MIN_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_TIMEOUT: Duration = Duration::from_millis(1250);

type Key = (u32, u16);

struct Outstanding {
    /// How many times it has been sent.
    sends: u8,
    last_sent: Instant,
}

/// Runs the scan to the end, passing each finding to `sink` as it is made, and
/// returns the results with the counters. `notice` gets one-line messages for the
/// user (fallbacks).
pub async fn run(
    opts: &SynScanOptions,
    sink: &mut dyn FindingSink,
    notice: &mut dyn FnMut(&str),
) -> Result<(ScanResult, SynScanStats)> {
    if opts.targets.is_empty() {
        bail!("no targets to scan");
    }
    let (port_lo, port_hi) = opts.net.source_ports()?;
    let path =
        ScanPath::discover(&opts.targets, opts.net.iface.as_deref(), opts.net.src_ip).await?;
    let key = cookie_key(opts.seed);
    let config = ClassifierConfig {
        local_addr: u32::from(path.src_ip),
        port_lo,
        port_hi,
        key,
        enabled: 1,
        flags: opts.probe.classifier_flags(),
    };
    let mut replies = open_replies(opts.net.recv_mode, &path, config, opts.net.xdp_mode, notice)?;
    let mut sender = open_sender(opts.net.send_mode, &path, 0, notice)?;
    let mut stats = SynScanStats {
        send_path: sender.name(),
        recv_path: replies.name(),
        ..Default::default()
    };
    let link = LinkAddrs {
        src_mac: path.src_mac,
        dst_mac: [0; 6],
        src_ip: path.src_ip,
    };
    let syn = TcpTemplate::new(opts.probe.segment(), &link);
    let rst = TcpTemplate::new(SegmentKind::Rst, &link);

    let reachable = opts.targets.subtract(&path.unreachable);
    if !path.unreachable.is_empty() {
        notice(&format!(
            "{} on-link target(s) did not answer ARP and are down: not scanned",
            path.unreachable.len()
        ));
    }
    if reachable.is_empty() {
        bail!("no target answered ARP: nothing to scan");
    }
    let targets: Vec<Ipv4Addr> = reachable.iter().collect();
    let macs: HashMap<u32, [u8; 6]> = targets
        .iter()
        .map(|&t| (u32::from(t), path.next_hop_mac(t)))
        .collect();
    let ports = opts.ports.as_slice();
    let total = targets.len() as u64 * ports.len() as u64;

    let started = Instant::now();
    let mut result = ScanResult::starting_now(opts.targets.len());
    let mut limiter = RateLimiter::new(opts.rate, started);
    let mut rtt = RttEstimator::new(INITIAL_TIMEOUT, MIN_TIMEOUT, MAX_TIMEOUT);
    let mut host_rtt: HashMap<u32, RttEstimator> = HashMap::new();
    let mut outstanding: HashMap<Key, Outstanding> = HashMap::new();
    let mut timeouts: VecDeque<(Instant, Key, u8)> = VecDeque::new();
    let mut resend: VecDeque<Key> = VecDeque::new();
    let mut unanswered: HashSet<Key> = HashSet::new();
    let mut next_probe: u64 = 0;
    let mut next_sport: u32 = 0;
    let span = u32::from(port_hi - port_lo) + 1;
    let mut probes = FrameBatch::with_capacity(BATCH);
    let mut rsts = FrameBatch::with_capacity(BATCH);
    let mut records: Vec<ReplyRecord> = Vec::with_capacity(1024);
    let mut drained_at: Option<Instant> = None;
    let mut ip_id: u16 = (key[0] >> 16) as u16;

    loop {
        let now = Instant::now();
        // 1. Probes whose timeout ran out: send again, or give up on them.
        let timeout = rtt.timeout();
        while let Some(&(sent, probe, sends)) = timeouts.front() {
            if sent + timeout > now {
                break;
            }
            timeouts.pop_front();
            match outstanding.get(&probe) {
                Some(o) if o.sends == sends => {
                    if sends <= opts.retries {
                        resend.push_back(probe);
                    } else {
                        outstanding.remove(&probe);
                        unanswered.insert(probe);
                    }
                }
                _ => {}
            }
        }

        // 2. New frames, as many as the rate allows, retransmissions first.
        let budget = limiter.available(now).min(BATCH - probes.len());
        let mut built = 0;
        while built < budget {
            let (probe, is_retry) = if let Some(probe) = resend.pop_front() {
                // Answered while it waited in the queue: nothing to resend.
                if !outstanding.contains_key(&probe) {
                    continue;
                }
                (probe, true)
            } else if next_probe < total {
                let target = targets[(next_probe % targets.len() as u64) as usize];
                let port = ports[(next_probe / targets.len() as u64) as usize];
                next_probe += 1;
                ((u32::from(target), port), false)
            } else {
                break;
            };
            let (addr, port) = probe;
            let dst = Ipv4Addr::from(addr);
            if !reachable.contains(dst) {
                bail!("internal error: refusing to send to {dst}, which is not a target");
            }
            let sport = port_lo + (next_sport % span) as u16;
            next_sport = next_sport.wrapping_add(1);
            ip_id = ip_id.wrapping_add(1);
            let seq = scanner_common::cookie::probe_cookie(&key, addr, port, sport);
            let mac = macs[&addr];
            probes.push_with(|buf| {
                let len = syn.write(buf, dst, sport, port, seq, ip_id);
                buf[0..6].copy_from_slice(&mac);
                len
            });
            let entry = outstanding.entry(probe).or_insert(Outstanding {
                sends: 0,
                last_sent: now,
            });
            entry.sends += 1;
            entry.last_sent = now;
            timeouts.push_back((now, probe, entry.sends));
            if is_retry {
                stats.retransmits += 1;
            }
            built += 1;
        }
        limiter.spend(built);
        if !probes.is_empty() {
            let sent = sender
                .send(&probes)
                .with_context(|| format!("sending through {}", sender.name()))?;
            stats.probes_sent += sent as u64;
            probes.consume_front(sent);
        }

        // 3. Done? Everything sent and settled, then the wait for late replies.
        let settled =
            next_probe >= total && resend.is_empty() && probes.is_empty() && outstanding.is_empty();
        if settled {
            let since = *drained_at.get_or_insert(now);
            if now >= since + opts.wait {
                break;
            }
        }

        // 4. Sleep until there is something to send or a timeout runs out, waking
        //    at once for replies.
        let more_to_send = !resend.is_empty() || next_probe < total || !probes.is_empty();
        let sleep = if more_to_send {
            limiter.next_slot().max(Duration::from_micros(500))
        } else if let Some(&(sent, ..)) = timeouts.front() {
            (sent + timeout)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1))
        } else {
            Duration::from_millis(10)
        };
        tokio::select! {
            received = replies.recv(&mut records) => received?,
            _ = tokio::time::sleep(sleep) => {}
        }

        // 5. Replies: findings, RTT samples, and an RST for every SYN+ACK.
        let now = Instant::now();
        for record in records.drain(..) {
            stats.replies += 1;
            let Some(kind) = ReplyKind::from_u8(record.kind) else {
                continue;
            };
            let remote = Ipv4Addr::from(record.remote_addr);
            if kind == ReplyKind::SynAck && opts.targets.contains(remote) {
                let mac = macs.get(&record.remote_addr).copied().unwrap_or([0xff; 6]);
                rsts.push_with(|buf| {
                    let len = rst.write(
                        buf,
                        remote,
                        record.local_port,
                        record.remote_port,
                        record.ack,
                        ip_id,
                    );
                    buf[0..6].copy_from_slice(&mac);
                    len
                });
            }
            let probe = (record.remote_addr, record.remote_port);
            if let Some(o) = outstanding.remove(&probe) {
                let sample = now.saturating_duration_since(o.last_sent);
                rtt.observe(sample);
                host_rtt
                    .entry(record.remote_addr)
                    .or_insert_with(|| {
                        RttEstimator::new(INITIAL_TIMEOUT, Duration::ZERO, MAX_TIMEOUT)
                    })
                    .observe(sample);
            } else if !unanswered.remove(&probe) {
                stats.duplicates += 1;
                continue;
            }
            let (state, reason) = opts.probe.reading.answered(kind);
            let finding =
                PortFinding::tcp(remote, record.remote_port, state, reason, Some(record.ttl));
            sink.finding(&finding)?;
            result.record(finding);
        }
        while !rsts.is_empty() {
            let sent = sender.send(&rsts)?;
            stats.rsts_sent += sent as u64;
            rsts.consume_front(sent);
            if sent == 0 {
                tokio::task::yield_now().await;
            }
        }
    }

    // Whatever never answered is filtered.
    let mut silent: Vec<Key> = unanswered.into_iter().collect();
    silent.sort_unstable();
    for (addr, port) in silent {
        let finding = PortFinding::tcp(
            Ipv4Addr::from(addr),
            port,
            opts.probe.reading.unanswered(),
            Reason::NoResponse,
            None,
        );
        sink.finding(&finding)?;
        result.record(finding);
    }
    result.info = ScanInfo {
        kind: opts.probe.reading.name(),
        protocol: "tcp",
        ports: ports.to_vec(),
        args: String::new(),
    };
    for target in &targets {
        let host = result.hosts.entry(*target).or_default();
        host.latency = host_rtt.get(&u32::from(*target)).and_then(|r| r.srtt());
        host.mac = path.on_link_mac(*target);
        host.up_reason = Some(if host.mac.is_some() {
            "arp-response"
        } else {
            "user-set"
        });
    }
    stats.replies_lost_in_kernel = replies.lost();
    result.elapsed = started.elapsed();
    Ok((result, stats))
}

/// A random key per scan, or one derived from `--seed` for reproducible probes.
fn cookie_key(seed: Option<u64>) -> [u64; 2] {
    match seed {
        Some(seed) => {
            let k0 = scanner_common::cookie::siphash_u64(&[0x7363_616e_6e65_7200, 1], seed);
            let k1 = scanner_common::cookie::siphash_u64(&[0x7363_616e_6e65_7200, 2], seed);
            [k0, k1]
        }
        None => [rand::random(), rand::random()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_flags_parse_as_nmap_takes_them() {
        assert_eq!(parse_scan_flags("0x29").unwrap(), 0x29);
        assert_eq!(parse_scan_flags("41").unwrap(), 41);
        assert_eq!(parse_scan_flags("URGPSHFIN").unwrap(), 0x29);
        assert_eq!(parse_scan_flags("synfin").unwrap(), 0x03);
        assert!(parse_scan_flags("SYNX").is_err());
    }

    #[test]
    fn probes_pick_the_classifier_rule_their_replies_follow() {
        assert_eq!(TcpProbe::standard(Reading::Syn).classifier_flags(), 0);
        assert_eq!(TcpProbe::standard(Reading::Fin).classifier_flags(), 0);
        assert_eq!(TcpProbe::standard(Reading::Xmas).classifier_flags(), 0);
        assert_eq!(
            TcpProbe::standard(Reading::Null).classifier_flags(),
            FLAG_ACK_IS_COOKIE
        );
        assert_eq!(
            TcpProbe::standard(Reading::Ack).classifier_flags(),
            FLAG_SEQ_IS_COOKIE
        );
        assert_eq!(TcpProbe::standard(Reading::Syn).segment(), SegmentKind::Syn);
        assert_eq!(
            Reading::Ack.answered(ReplyKind::Rst).0,
            PortState::Unfiltered
        );
        assert_eq!(Reading::Null.unanswered(), PortState::OpenFiltered);
    }
}
