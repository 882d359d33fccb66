//! Stateless sweeps (masscan/ZMap style) of large address × port spaces.
//!
//! The space is walked in a keyed pseudo-random order ([`Permutation`]), split among
//! `--shard`s and among sender threads. What is sent is an entry of the probe-module
//! table ([`crate::probe`]), as the flags say: TCP SYN (the default) or ACK, UDP with
//! the port's payload, or ICMP echo (one slot per host). Each probe carries its cookie
//! (TCP: sequence number and keyed source port; UDP: keyed source port; ICMP:
//! identifier and sequence number), and the XDP classifier (or its userspace twin)
//! lets only matching replies through. Userspace keeps no per-probe state: only the
//! answers found (to report each once and skip them on retry passes). A sweep reports
//! what answers: open ports (SYN, UDP), unfiltered ports (ACK), hosts up (ICMP echo).
//! SYN+ACKs are passed on to the kernel, which answers them with the RST. Ctrl-C stops
//! the senders where they are and writes a resume file.
//!
//! The classifier, every sender's socket and the resume file are opened first; then
//! root is dropped, before the sender threads start and the first reply is read.

pub mod resume;
pub mod run_record;
pub mod scripts;
pub mod sender;
pub mod services;

use crate::engine::path::ScanPath;
use crate::engine::senders::{open_replies, open_sweep_senders};
use crate::engine::NetworkOptions;
use crate::io::iface::tx_queue_count;
use crate::io::privileges::{self, RunAs};
use crate::io::signals::{StopSignal, StopSignals};
use crate::io::SendMode;
use crate::model::{Event, EventSink, HostFacts, PortFinding, PortState, ScanInfo};
use crate::packet::template::LinkAddrs;
use crate::probe::{host_reading, ProbeKind, ProbeWriter, SweepAnswer};
use crate::report::progress::{Progress, ProgressOptions, Snapshot};
use crate::script::engine::{Engine, Phase};
use crate::target::permutation::{Permutation, Shard};
use crate::target::{ports::PortList, TargetSet};
use anyhow::{bail, Context, Result};
use resume::{ResumeFile, ResumeState};
use run_record::{RunRecordPaths, RunRecords, StatusReading, SweepPlan};
use scanner_common::{ClassifierConfig, ReplyRecord, FLAG_PASS_SYNACK, FLAG_SPORT_FROM_COOKIE};
use scripts::SweepScripts;
use sender::{SenderJob, SenderPosition};
use services::SweepServices;
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
    /// What is sent: a kind whose [`ProbeKind::sweep_answer`] is known.
    pub probe: ProbeKind,
    /// The ports probed (`None` for ICMP, which probes each host once).
    pub ports: Option<PortList>,
    /// Packets per second, all threads together.
    pub rate: u64,
    pub retries: u8,
    /// How long to listen after the last probe (and between retry passes).
    pub wait: Duration,
    pub net: NetworkOptions,
    pub seed: u64,
    pub shard: Shard,
    pub threads: SenderThreads,
    pub resume: Option<ResumeState>,
    /// Where an interrupted sweep writes its resume file.
    pub resume_path: PathBuf,
    pub progress: ProgressOptions,
    /// Who to become once the sockets and the classifier are open (`None`: keep the
    /// privileges, for callers that must not change the process).
    pub run_as: Option<RunAs>,
    /// `-d`: say when privileges are dropped.
    pub debug: u8,
    /// `--metadata-file`, `--status-updates-file`.
    pub records: RunRecordPaths,
    /// The exclusions as the user gave them, for the metadata.
    pub exclusions: Vec<String>,
    /// `-sV`: version detection of every port found, as found.
    pub versions: Option<crate::service::scan::VersionOptions>,
    /// `--max-connections`: ports probed by version detection at once.
    pub max_connections: usize,
}

/// How many sender threads a sweep starts, and whether the user asked for that many
/// (`--threads`) or it is the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderThreads {
    pub count: usize,
    pub asked: bool,
}

/// How often a running sweep saves where its senders are to the resume file, so that
/// one killed without a chance to save (SIGKILL, a lost machine) continues from
/// there, sending again at most this long's probes.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

/// Counters a user sees with `-v`.
#[derive(Clone, Debug, Default)]
pub struct SweepStats {
    pub sent: u64,
    pub replies: u64,
    /// Answers reported: open ports (SYN, UDP), unfiltered ports (ACK), hosts up (ICMP).
    pub open: u64,
    /// Closed ports: resets to SYNs, ICMP port-unreachable for UDP.
    pub closed: u64,
    pub duplicates: u64,
    pub lost_in_kernel: u64,
    /// Ports version detection named (`-sV`).
    pub identified: u64,
    /// Ports whose scripts all ran (`--script`).
    pub scripted: u64,
    pub threads: usize,
    pub send_path: &'static str,
    pub recv_path: &'static str,
    /// The signal (Ctrl-C, SIGTERM) that stopped the sweep, if one did (the resume
    /// file was written).
    pub interrupted: Option<StopSignal>,
}

/// The (address, port) pairs that answered (port 0: hosts, for ICMP sweeps): the only
/// state a sweep keeps.
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

/// The slots each address is probed on: the ports, or one slot (0) for ICMP.
fn slots(opts: &SweepOptions) -> Vec<u16> {
    match (opts.probe, &opts.ports) {
        (ProbeKind::Tcp(_) | ProbeKind::Udp, Some(ports)) => ports.as_slice().to_vec(),
        _ => vec![0],
    }
}

/// Identifies a sweep for its resume file: probe kind, targets, ports, shard, threads,
/// retries.
pub fn fingerprint(opts: &SweepOptions, threads: usize) -> String {
    let text = format!(
        "{:?}|{:?}|{:?}|{}/{}|{threads}|{}",
        opts.probe,
        opts.targets.ranges(),
        slots(opts),
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

/// What a sweep scans (nmap's `<scaninfo>`): its probe kind to `ports`, if it probes
/// ports at all (a ping sweep scans none).
pub fn scan_info(opts: &SweepOptions) -> Option<ScanInfo> {
    Some(ScanInfo {
        kind: opts.probe.scan_type(),
        protocol: opts.probe.proto()?,
        ports: opts.ports.as_ref()?.as_slice().to_vec(),
    })
}

/// Runs the sweep to the end (or to Ctrl-C), emitting each answer into `sink` as it
/// is found: a port finding, or a host up for ping sweeps. With `engine`, its
/// prerule scripts run first, each port's and host's scripts as found
/// ([`scripts`]), its postrule scripts last.
pub async fn run(
    opts: &SweepOptions,
    engine: Option<&Engine>,
    sink: &mut dyn EventSink,
    notice: &mut dyn FnMut(&str),
) -> Result<SweepStats> {
    if opts.targets.is_empty() {
        bail!("no targets left to sweep after exclusions");
    }
    if opts.probe.proto().is_some() && opts.ports.as_ref().is_none_or(PortList::is_empty) {
        bail!("a {} sweep needs ports (-p)", opts.probe.name());
    }
    let Some(answer) = opts.probe.sweep_answer() else {
        bail!(
            "a sweep reports only what answers; {} probes find ports by silence: scan them nmap-style (without --sweep)",
            opts.probe.name()
        );
    };
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
            state.check(opts.probe.name(), &fingerprint, threads)?;
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
        flags: FLAG_SPORT_FROM_COOKIE | FLAG_PASS_SYNACK | opts.probe.classifier_flags(),
    };
    let mut replies = open_replies(opts.net.recv_mode, &path, config, opts.net.xdp_mode, notice)?;

    let ports = slots(opts);
    let space = opts.targets.len() * ports.len() as u64;
    let mut run_records = RunRecords::open(
        &opts.records,
        SweepPlan {
            seed: opts.seed,
            shard: opts.shard,
            probe: opts.probe.name(),
            ports: opts
                .ports
                .as_ref()
                .map(|p| p.as_slice().to_vec())
                .unwrap_or_default(),
            targets: opts.targets.ranges().to_vec(),
            exclusions: opts.exclusions.clone(),
            probes_per_pass: opts.shard.len(space),
            rate: opts.rate,
            threads,
            resumed: opts.resume.is_some(),
        },
    )?;
    let permutation = Arc::new(Permutation::new(space, opts.seed));
    let reachable = Arc::new(opts.targets.subtract(&path.unreachable));
    let ports = Arc::new(ports);
    let answered = Arc::new(Answered::default());
    let stop = Arc::new(AtomicBool::new(false));
    let paused = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut services = opts
        .versions
        .clone()
        .map(|versions| SweepServices::new(versions, opts.max_connections));
    let writer = ProbeWriter::new(
        opts.probe,
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

    let senders = open_sweep_senders(opts.net.send_mode, &path, threads, notice)?;
    if let Some(sender) = senders.first() {
        stats.send_path = sender.name();
    }
    if let Some(run_as) = &opts.run_as {
        privileges::drop_privileges(run_as, (opts.debug > 0).then_some(&mut *notice))?;
    }

    let mut handles = Vec::with_capacity(threads);
    let published: Vec<Arc<AtomicU64>> = starts
        .iter()
        .map(|start| Arc::new(AtomicU64::new(start.packed())))
        .collect();
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
            writer: writer.clone(),
            rate: (opts.rate / threads as u64).max(1),
            passes: opts.retries + 1,
            start,
            pass_gap: opts.wait,
            answered: answered.clone(),
            stop: stop.clone(),
            paused: paused.clone(),
            published: published[thread].clone(),
            sent: sent.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("sender-{thread}"))
            .spawn(move || job.run(&mut *sender))
            .context("starting a sender thread")?;
        handles.push(handle);
    }

    let mut progress = Progress::new("sweep", opts.shard.len(space), opts.progress);
    let mut records: Vec<ReplyRecord> = Vec::with_capacity(4096);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut stop_signals = StopSignals::listen()?;
    let mut scripts = match engine {
        Some(engine) => {
            run_phase(engine, Phase::PreScan, sink, notice).await?;
            Some(SweepScripts::new(engine).await)
        }
        None => None,
    };
    let mut senders_done_at: Option<Instant> = None;
    let mut checkpointed_at = Instant::now();
    let state_now = |positions: Vec<SenderPosition>| ResumeState {
        version: ResumeState::VERSION,
        kind: opts.probe.name().to_string(),
        fingerprint: fingerprint.clone(),
        seed: opts.seed,
        positions,
    };
    loop {
        let probing = services.as_ref().is_some_and(SweepServices::busy);
        let scripting = scripts.as_mut().is_some_and(SweepScripts::busy);
        tokio::select! {
            received = replies.recv(&mut records) => received?,
            named = std::future::poll_fn(|cx| match services.as_mut() {
                Some(services) => services.poll_next(cx),
                None => std::task::Poll::Pending,
            }), if probing => {
                if let Some(finding) = named {
                    match scripts.as_mut() {
                        Some(scripts) => scripts.found(finding?, sink, notice)?,
                        None => sink.emit(Event::Service(finding?))?,
                    }
                }
            }
            ended = async {
                match scripts.as_mut() {
                    Some(scripts) => scripts.next(notice).await,
                    None => Ok(None),
                }
            }, if scripting => {
                if let (Some(ended), Some(scripts)) = (ended?, scripts.as_mut()) {
                    scripts.ended(ended, sink)?;
                }
            }
            _ = tick.tick() => {}
            signal = stop_signals.recv(), if stats.interrupted.is_none() => {
                stats.interrupted = Some(signal);
                stop.store(true, Ordering::Relaxed);
            }
        }
        for record in records.drain(..) {
            stats.replies += 1;
            let found = record_answer(opts.probe, answer, &record, &answered, &mut stats, sink)?;
            match (found, services.as_mut(), scripts.as_mut()) {
                (None, ..) => {}
                (Some(finding), Some(services), _) => services.found(finding),
                (Some(finding), None, Some(scripts)) => scripts.found(finding, sink, notice)?,
                (Some(finding), None, None) => sink.emit(Event::Port(finding))?,
            }
        }
        let backlogged = services.as_ref().is_some_and(SweepServices::backlogged)
            || scripts.as_ref().is_some_and(SweepScripts::backlogged);
        paused.store(backlogged, Ordering::Relaxed);
        // A task killed outright (SIGKILL, a lost node) continues from here.
        if checkpointed_at.elapsed() >= CHECKPOINT_EVERY && stats.interrupted.is_none() {
            let positions = published
                .iter()
                .map(|p| SenderPosition::unpacked(p.load(Ordering::Relaxed)))
                .collect();
            resume_file.save(&state_now(positions))?;
            checkpointed_at = Instant::now();
        }
        let sent_now = sent.load(Ordering::Relaxed);
        progress.tick(&Snapshot {
            sent: sent_now,
            replies: stats.replies,
            open: stats.open,
        });
        run_records.tick(Instant::now(), || StatusReading {
            sent: sent_now,
            replies: stats.replies,
            answers: stats.open,
            lost: replies.lost(),
        })?;
        if handles.iter().all(|h| h.is_finished()) {
            let now = Instant::now();
            let done_at = *senders_done_at.get_or_insert(now);
            let named_all = services.as_ref().is_none_or(SweepServices::done)
                && scripts.as_mut().is_none_or(SweepScripts::done);
            if stats.interrupted.is_some() || (now >= done_at + opts.wait && named_all) {
                break;
            }
        }
    }
    progress.finish();
    if let Some(services) = services {
        stats.identified = services.identified;
        // Stopped early: what was found and not named yet is written as found.
        for finding in services.abandon() {
            sink.emit(Event::Port(finding))?;
        }
    }
    if let Some(scripts) = scripts {
        stats.scripted = scripts.scripted;
        scripts.abandon(sink)?;
    }
    if let (Some(engine), None) = (engine, stats.interrupted) {
        run_phase(engine, Phase::PostScan, sink, notice).await?;
    }

    let mut positions = Vec::with_capacity(handles.len());
    for handle in handles {
        positions.push(
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a sender thread panicked"))??,
        );
    }
    stats.sent = sent.load(Ordering::Relaxed);
    stats.lost_in_kernel = replies.lost();
    if let Some(signal) = stats.interrupted {
        resume_file.save(&state_now(positions))?;
        notice(&format!(
            "{} after {} probes; to continue where it stopped, run the same command with --resume {}",
            signal.name(),
            stats.sent,
            resume_file.path().display()
        ));
    } else {
        resume_file.finished()?;
    }
    run_records.finish(&stats)?;
    Ok(stats)
}

/// Runs the `prerule` or `postrule` scripts, without raw packets, and emits what they
/// said into `sink`.
async fn run_phase(
    engine: &Engine,
    phase: Phase,
    sink: &mut dyn EventSink,
    notice: &mut dyn FnMut(&str),
) -> Result<()> {
    let events = engine.run_phase(phase, None, notice).await?;
    events.into_iter().try_for_each(|event| sink.emit(event))
}

/// Reads one reply as the sweep's probe kind says: the first answer of each (address,
/// port) is returned (a port found) or emitted into `sink` (a host up); repeats are
/// counted as duplicates, closed ports counted; anything else says nothing.
fn record_answer(
    probe: ProbeKind,
    answer: SweepAnswer,
    record: &ReplyRecord,
    answered: &Answered,
    stats: &mut SweepStats,
    sink: &mut dyn EventSink,
) -> Result<Option<PortFinding>> {
    let addr = Ipv4Addr::from(record.remote_addr);
    match answer {
        SweepAnswer::HostUp => {
            let Some(status) = host_reading(record).filter(|status| status.up) else {
                return Ok(None);
            };
            if !answered.insert(addr, 0) {
                stats.duplicates += 1;
                return Ok(None);
            }
            stats.open += 1;
            let facts = HostFacts {
                up_reason: Some(status.reason),
                ..HostFacts::default()
            };
            sink.emit(Event::Host(addr, facts))?;
            Ok(None)
        }
        SweepAnswer::Port(wanted) => {
            let (Some((state, reason)), Some(proto)) = (probe.port_reading(record), probe.proto())
            else {
                return Ok(None);
            };
            if state != wanted {
                stats.closed += u64::from(state == PortState::Closed);
                return Ok(None);
            }
            if !answered.insert(addr, record.remote_port) {
                stats.duplicates += 1;
                return Ok(None);
            }
            stats.open += 1;
            Ok(Some(PortFinding::now(
                proto,
                addr,
                record.remote_port,
                state,
                reason,
                Some(record.ttl),
            )))
        }
    }
}

/// One sender per transmit queue for AF_XDP (at most as many as asked, said if they
/// were asked for); one CPU left free for XDP live frames unless asked; any number
/// for packet sockets.
fn thread_count(opts: &SweepOptions, path: &ScanPath, notice: &mut dyn FnMut(&str)) -> usize {
    let wanted = opts.threads.count.max(1);
    if opts.net.send_mode == Some(SendMode::Xdp) && !opts.threads.asked {
        // Each live-frames pump keeps a CPU busy in the kernel: by default one CPU is
        // left to the receive side, which otherwise loses replies (measured on the
        // 2-CPU lab: a /16 found 65,534 with one pump, 49,177 with two).
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        return if wanted >= cpus { wanted - 1 } else { wanted }.max(1);
    }
    if opts
        .net
        .send_mode
        .is_some_and(|mode| mode != SendMode::Afxdp)
    {
        // Packet sockets share a queue: any number.
        return wanted;
    }
    let queues = tx_queue_count(&path.iface) as usize;
    if wanted > queues {
        if !opts.threads.asked {
            return queues;
        }
        notice(&format!(
            "{} has {queues} transmit queue(s): using {queues} AF_XDP sender thread(s), not {wanted}",
            path.iface
        ));
        return queues;
    }
    wanted
}
