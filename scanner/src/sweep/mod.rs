//! Stateless sweeps (masscan/ZMap style) of large address × port spaces.
//!
//! The space is walked in a keyed pseudo-random order ([`Permutation`]), split among
//! `--shard`s and among sender threads; each probe carries its cookie in the sequence
//! number and source port, and the XDP classifier (or its userspace twin) lets only
//! matching replies through. Userspace keeps no per-probe state: only the open ports
//! found (to report each once and skip them on retry passes). SYN+ACKs are passed on
//! to the kernel, which answers them with the RST. Ctrl-C stops the senders where
//! they are and writes a resume file.
//!
//! The classifier, every sender's socket and the resume file are opened first; then
//! root is dropped, before the sender threads start and the first reply is read.

pub mod resume;
pub mod sender;

use crate::engine::path::ScanPath;
use crate::engine::senders::{open_replies, open_sender};
use crate::engine::NetworkOptions;
use crate::io::iface::tx_queue_count;
use crate::io::privileges::{self, RunAs};
use crate::io::signals::{StopSignal, StopSignals};
use crate::io::SendMode;
use crate::packet::template::{LinkAddrs, SegmentKind, TcpTemplate};
use crate::report::progress::{Progress, ProgressOptions, Snapshot};
use crate::report::{FindingSink, PortFinding, PortState, Reason, ScanInfo, ScanResult};
use crate::target::permutation::{Permutation, Shard};
use crate::target::{ports::PortList, TargetSet};
use anyhow::{bail, Context, Result};
use resume::{ResumeFile, ResumeState};
use scanner_common::{
    ClassifierConfig, ReplyKind, ReplyRecord, FLAG_PASS_SYNACK, FLAG_SPORT_FROM_COOKIE,
};
use sender::{SenderJob, SenderPosition};
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything a sweep needs to know.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// Targets with exclusions and the blocklist already taken out.
    pub targets: TargetSet,
    pub ports: PortList,
    /// Packets per second, all threads together.
    pub rate: u64,
    pub retries: u8,
    /// How long to listen after the last probe (and between retry passes).
    pub wait: Duration,
    pub net: NetworkOptions,
    pub seed: u64,
    pub shard: Shard,
    pub threads: usize,
    pub resume: Option<ResumeState>,
    /// Where an interrupted sweep writes its resume file.
    pub resume_path: PathBuf,
    pub progress: ProgressOptions,
    /// Who to become once the sockets and the classifier are open (`None`: keep the
    /// privileges, for callers that must not change the process).
    pub run_as: Option<RunAs>,
    /// `-d`: say when privileges are dropped.
    pub debug: u8,
}

/// Counters a user sees with `-v`.
#[derive(Clone, Debug, Default)]
pub struct SweepStats {
    pub sent: u64,
    pub replies: u64,
    pub open: u64,
    pub closed: u64,
    pub duplicates: u64,
    pub lost_in_kernel: u64,
    pub threads: usize,
    pub send_path: &'static str,
    pub recv_path: &'static str,
    /// The signal (Ctrl-C, SIGTERM) that stopped the sweep, if one did (the resume
    /// file was written).
    pub interrupted: Option<StopSignal>,
}

/// The (address, port) pairs found open: the only state a sweep keeps.
#[derive(Default)]
pub struct Answered {
    set: Mutex<HashSet<u64>>,
}

impl Answered {
    fn key(addr: Ipv4Addr, port: u16) -> u64 {
        (u64::from(u32::from(addr)) << 16) | u64::from(port)
    }

    /// Records a pair; false if it was there already.
    pub fn insert(&self, addr: Ipv4Addr, port: u16) -> bool {
        self.set
            .lock()
            .expect("answered set")
            .insert(Self::key(addr, port))
    }

    pub fn contains(&self, addr: Ipv4Addr, port: u16) -> bool {
        self.set
            .lock()
            .expect("answered set")
            .contains(&Self::key(addr, port))
    }
}

/// Identifies a sweep for its resume file: targets, ports, shard, threads, retries.
pub fn fingerprint(opts: &SweepOptions, threads: usize) -> String {
    let text = format!(
        "{:?}|{:?}|{}/{}|{threads}|{}",
        opts.targets.ranges(),
        opts.ports.as_slice(),
        opts.shard.index,
        opts.shard.count,
        opts.retries
    );
    let mut hash = 0u64;
    for chunk in text.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hash = scanner_common::cookie::siphash_u64(
            &[hash, 0x0073_7765_6570],
            u64::from_le_bytes(word),
        );
    }
    format!("{hash:016x}")
}

/// Runs the sweep to the end (or to Ctrl-C), passing each open port to `sink` as it
/// is found.
pub async fn run(
    opts: &SweepOptions,
    sink: &mut dyn FindingSink,
    notice: &mut dyn FnMut(&str),
) -> Result<(ScanResult, SweepStats)> {
    if opts.targets.is_empty() {
        bail!("no targets left to sweep after exclusions");
    }
    let mut resume_file = ResumeFile::open(&opts.resume_path)?;
    let (port_lo, port_hi) = opts.net.source_ports()?;
    let path = Arc::new(
        ScanPath::discover(&opts.targets, opts.net.iface.as_deref(), opts.net.src_ip).await?,
    );
    if !path.unreachable.is_empty() {
        notice(&format!(
            "{} on-link target(s) did not answer ARP and are down: not probed",
            path.unreachable.len()
        ));
    }
    let threads = thread_count(opts, &path, notice);
    let fingerprint = fingerprint(opts, threads);
    let starts = match &opts.resume {
        Some(state) => {
            state.check(&fingerprint, threads)?;
            state.positions.clone()
        }
        None => vec![SenderPosition::default(); threads],
    };

    let key: [u64; 2] = [rand::random(), rand::random()];
    let config = ClassifierConfig {
        local_addr: u32::from(path.src_ip),
        port_lo,
        port_hi,
        key,
        enabled: 1,
        flags: FLAG_SPORT_FROM_COOKIE | FLAG_PASS_SYNACK,
    };
    let mut replies = open_replies(opts.net.recv_mode, &path, config, opts.net.xdp_mode, notice)?;

    let space = opts.targets.len() * opts.ports.len() as u64;
    let permutation = Arc::new(Permutation::new(space, opts.seed));
    let reachable = Arc::new(opts.targets.subtract(&path.unreachable));
    let ports = Arc::new(opts.ports.as_slice().to_vec());
    let answered = Arc::new(Answered::default());
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let template = TcpTemplate::new(
        SegmentKind::Syn,
        &LinkAddrs {
            src_mac: path.src_mac,
            dst_mac: [0; 6],
            src_ip: path.src_ip,
        },
    );
    let mut stats = SweepStats {
        threads,
        recv_path: replies.name(),
        ..Default::default()
    };

    let mut senders = Vec::with_capacity(threads);
    for thread in 0..threads {
        let sender = open_sender(opts.net.send_mode, &path, thread as u32, notice)?;
        stats.send_path = sender.name();
        senders.push(sender);
    }
    if let Some(run_as) = &opts.run_as {
        privileges::drop_privileges(run_as, (opts.debug > 0).then_some(&mut *notice))?;
    }

    let mut handles = Vec::with_capacity(threads);
    for (thread, (start, mut sender)) in starts.into_iter().zip(senders).enumerate() {
        let job = SenderJob {
            permutation: permutation.clone(),
            part: opts.shard.split(thread as u64, threads as u64),
            targets: Arc::new(opts.targets.clone()),
            reachable: reachable.clone(),
            ports: ports.clone(),
            path: path.clone(),
            key,
            src_ports: opts.net.src_ports,
            template: template.clone(),
            rate: (opts.rate / threads as u64).max(1),
            passes: opts.retries + 1,
            start,
            pass_gap: opts.wait,
            answered: answered.clone(),
            stop: stop.clone(),
            sent: sent.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("sender-{thread}"))
            .spawn(move || job.run(&mut *sender))
            .context("starting a sender thread")?;
        handles.push(handle);
    }

    let started = Instant::now();
    let mut result = ScanResult::starting_now(opts.targets.len());
    let mut progress = Progress::new("sweep", opts.shard.len(space), opts.progress);
    let mut records: Vec<ReplyRecord> = Vec::with_capacity(4096);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut stop_signals = StopSignals::listen()?;
    let mut senders_done_at: Option<Instant> = None;
    loop {
        tokio::select! {
            received = replies.recv(&mut records) => received?,
            _ = tick.tick() => {}
            signal = stop_signals.recv(), if stats.interrupted.is_none() => {
                stats.interrupted = Some(signal);
                stop.store(true, Ordering::Relaxed);
            }
        }
        for record in records.drain(..) {
            stats.replies += 1;
            let addr = Ipv4Addr::from(record.remote_addr);
            match ReplyKind::from_u8(record.kind) {
                Some(ReplyKind::SynAck) => {
                    if !answered.insert(addr, record.remote_port) {
                        stats.duplicates += 1;
                        continue;
                    }
                    stats.open += 1;
                    let finding = PortFinding::tcp(
                        addr,
                        record.remote_port,
                        PortState::Open,
                        Reason::SynAck,
                        Some(record.ttl),
                    );
                    sink.finding(&finding)?;
                    result.record(finding);
                }
                Some(ReplyKind::Rst) => stats.closed += 1,
                // A sweep sends SYNs only; ICMP errors about them say nothing it reports.
                Some(
                    ReplyKind::IcmpError | ReplyKind::IcmpReply | ReplyKind::Udp | ReplyKind::Arp,
                )
                | None => {}
            }
        }
        progress.tick(&Snapshot {
            sent: sent.load(Ordering::Relaxed),
            replies: stats.replies,
            open: stats.open,
        });
        if handles.iter().all(|h| h.is_finished()) {
            let now = Instant::now();
            let done_at = *senders_done_at.get_or_insert(now);
            if stats.interrupted.is_some() || now >= done_at + opts.wait {
                break;
            }
        }
    }
    progress.finish();

    let mut positions = Vec::with_capacity(handles.len());
    for handle in handles {
        positions.push(
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a sender thread panicked"))??,
        );
    }
    result.scans.push(ScanInfo {
        kind: "syn",
        protocol: "tcp",
        ports: opts.ports.as_slice().to_vec(),
    });
    stats.sent = sent.load(Ordering::Relaxed);
    stats.lost_in_kernel = replies.lost();
    result.elapsed = started.elapsed();
    if let Some(signal) = stats.interrupted {
        let state = ResumeState {
            version: ResumeState::VERSION,
            fingerprint,
            seed: opts.seed,
            positions,
        };
        resume_file.save(&state)?;
        notice(&format!(
            "{} after {} probes; to continue where it stopped, run the same command with --resume {}",
            signal.name(),
            stats.sent,
            resume_file.path().display()
        ));
    } else {
        resume_file.finished()?;
    }
    Ok((result, stats))
}

/// One sender per transmit queue for AF_XDP (at most as many as asked); any number
/// for packet sockets.
fn thread_count(opts: &SweepOptions, path: &ScanPath, notice: &mut dyn FnMut(&str)) -> usize {
    let asked = opts.threads.max(1);
    if opts
        .net
        .send_mode
        .is_some_and(|mode| mode != SendMode::Afxdp)
    {
        return asked;
    }
    let queues = tx_queue_count(&path.iface) as usize;
    if asked > queues {
        notice(&format!(
            "{} has {queues} transmit queue(s): using {queues} AF_XDP sender thread(s), not {asked}",
            path.iface
        ));
        return queues;
    }
    asked
}
