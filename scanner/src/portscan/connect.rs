//! The connect scan (`-sT`): a full TCP connection to every (target, port) through
//! ordinary sockets on the tokio loop, so it needs no privileges at all. Accepted is
//! open (the connection is closed at once), refused is closed (Linux also reports an
//! ICMP port-unreachable as refused, as nmap then says), and a connect that times out
//! after its retries, or that the network says cannot be reached, is filtered.
//!
//! Many connects are in flight at once (`--max-parallelism`), each with a timeout
//! taken from the round-trip times seen so far, doubled on every retry. A port is
//! retried up to ten times when its host answered other ports only on retries (it
//! is rate limiting its answers), and retries to hosts that answered wait at least a
//! second, so ICMP answers that a host rate limits, as Linux does
//! by default, are waited for, and ports a firewall drops are not.

use crate::engine::rtt::RttEstimator;
use crate::model::{Event, EventSink, HostFacts, PortFinding, PortState, Proto, Reason, ScanInfo};
use crate::target::{ports::PortList, TargetSet};
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

#[derive(Clone, Debug)]
pub struct ConnectScanOptions {
    pub targets: TargetSet,
    pub ports: PortList,
    /// Extra attempts of a connect that timed out.
    pub retries: u8,
    /// Connects in flight at once.
    pub parallelism: usize,
}

/// Counters a user sees with `-v`.
#[derive(Clone, Debug, Default)]
pub struct ConnectScanStats {
    pub attempts: u64,
    pub timeouts: u64,
}

const INITIAL_TIMEOUT: Duration = Duration::from_millis(1000);
const MIN_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_TIMEOUT: Duration = Duration::from_millis(1250);
/// How long Linux takes to allow another ICMP error to the same peer.
const ICMP_REFILL: Duration = Duration::from_millis(1100);
/// The longest a retried connect waits.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The most retries any connect gets (nmap's default). A port gets them when its host
/// answered some other port only on a retry: that host is rate limiting its answers
/// (Linux does, for ICMP), so its silence is not a firewall's. Elsewhere ports get
/// the --retries asked for, and a firewall that drops is not waited on for long.
const MAX_RETRIES: u8 = 10;

/// What one connect attempt found.
pub(crate) enum Outcome {
    Accepted(Duration),
    Refused(Duration),
    Unreachable,
    TimedOut,
}

/// One connect to `addr:port`, given up after `timeout`.
pub(crate) async fn attempt(addr: Ipv4Addr, port: u16, timeout: Duration) -> Outcome {
    let started = Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect(SocketAddr::from((addr, port)))).await {
        Err(_) => Outcome::TimedOut,
        Ok(Ok(stream)) => {
            drop(stream);
            Outcome::Accepted(started.elapsed())
        }
        Ok(Err(err)) if err.kind() == ErrorKind::ConnectionRefused => {
            Outcome::Refused(started.elapsed())
        }
        Ok(Err(_)) => Outcome::Unreachable,
    }
}

/// What a connect scan scans (nmap's `<scaninfo>`).
pub fn scan_info(ports: &PortList) -> ScanInfo {
    ScanInfo {
        kind: "connect",
        protocol: Proto::Tcp,
        ports: ports.as_slice().to_vec(),
    }
}

/// Runs the scan to the end, emitting each finding into `sink` as it is made, and
/// each host's latency at the end.
pub async fn run(opts: &ConnectScanOptions, sink: &mut dyn EventSink) -> Result<ConnectScanStats> {
    if opts.targets.is_empty() {
        bail!("no targets to scan");
    }
    let mut stats = ConnectScanStats::default();
    let mut rtt = RttEstimator::new(INITIAL_TIMEOUT, MIN_TIMEOUT, MAX_TIMEOUT);
    let mut host_rtt: HashMap<Ipv4Addr, RttEstimator> = HashMap::new();
    // The most tries an answered port of each host needed.
    let mut answered_after: HashMap<Ipv4Addr, u8> = HashMap::new();
    let targets = &opts.targets;
    let ports = opts.ports.as_slice();
    // Port-major order, as the SYN scan, so no host takes every connect at once; the
    // addresses are made as they are needed, never all at once.
    let mut queue = ports
        .iter()
        .flat_map(|&port| targets.iter().map(move |addr| (addr, port, 0u8)));
    let mut retry: Vec<(Ipv4Addr, u16, u8)> = Vec::new();
    let mut in_flight = JoinSet::new();
    // Ports out of tries, each with the tries it had: filtered unless its host's
    // tally grows meanwhile (then they are tried again).
    let mut given_up: Vec<(Ipv4Addr, u16, u8)> = Vec::new();
    loop {
        while in_flight.len() < opts.parallelism.max(1) {
            let Some((addr, port, tries)) = retry.pop().or_else(|| queue.next()) else {
                break;
            };
            // Back off on each retry. A host that answered other ports but not this one
            // may be rate limiting its ICMP answers (Linux refills about once a second):
            // wait at least that long.
            let mut timeout = (rtt.timeout() * 2u32.pow(u32::from(tries))).min(MAX_BACKOFF);
            if tries > 0 && answered_after.contains_key(&addr) {
                timeout = timeout.max(ICMP_REFILL);
            }
            stats.attempts += 1;
            in_flight.spawn(async move { (addr, port, tries, attempt(addr, port, timeout).await) });
        }
        let Some(joined) = in_flight.join_next().await else {
            // Everything sent and settled: give held-back ports the tries their host
            // now deserves, or call them filtered.
            let allowed = |addr: &Ipv4Addr| {
                answered_after
                    .get(addr)
                    .map_or(0, |&most| if most > 0 { MAX_RETRIES } else { 0 })
            };
            let (again, done): (Vec<_>, Vec<_>) = given_up
                .drain(..)
                .partition(|(addr, _, tries)| *tries < allowed(addr).max(opts.retries));
            if again.is_empty() {
                for (addr, port, _) in done {
                    let finding =
                        PortFinding::tcp(addr, port, PortState::Filtered, Reason::NoResponse, None);
                    sink.emit(Event::Port(finding))?;
                }
                break;
            }
            given_up.extend(done);
            retry.extend(
                again
                    .into_iter()
                    .map(|(addr, port, tries)| (addr, port, tries + 1)),
            );
            continue;
        };
        let (addr, port, tries, outcome) = joined?;
        let (state, reason) = match outcome {
            Outcome::Accepted(sample) | Outcome::Refused(sample) => {
                rtt.observe(sample);
                let most = answered_after.entry(addr).or_insert(0);
                *most = (*most).max(tries);
                host_rtt
                    .entry(addr)
                    .or_insert_with(|| {
                        RttEstimator::new(INITIAL_TIMEOUT, Duration::ZERO, MAX_TIMEOUT)
                    })
                    .observe(sample);
                if matches!(outcome, Outcome::Accepted(_)) {
                    (PortState::Open, Reason::ConnAccepted)
                } else {
                    (PortState::Closed, Reason::ConnRefused)
                }
            }
            Outcome::TimedOut
                if tries
                    < opts
                        .retries
                        .max(answered_after.get(&addr).map_or(0, |&most| {
                            if most > 0 {
                                MAX_RETRIES
                            } else {
                                0
                            }
                        })) =>
            {
                stats.timeouts += 1;
                retry.push((addr, port, tries + 1));
                continue;
            }
            Outcome::TimedOut => {
                stats.timeouts += 1;
                given_up.push((addr, port, tries));
                continue;
            }
            Outcome::Unreachable => (PortState::Filtered, Reason::NoResponse),
        };
        let finding = PortFinding::tcp(addr, port, state, reason, None);
        sink.emit(Event::Port(finding))?;
    }
    for (addr, estimator) in host_rtt {
        let facts = HostFacts {
            latency: estimator.srtt(),
            ..Default::default()
        };
        sink.emit(Event::Host(addr, facts))?;
    }
    Ok(stats)
}
