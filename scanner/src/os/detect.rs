//! The OS-detection phase (`-O`): each host of a group with an open TCP port gets a
//! round of nmap's probes ([`super::round`], all hosts' rounds at once on the loop),
//! the fingerprint the replies give ([`super::observe`]), its matches in the database
//! ([`super::matching`]), and what the output shows of it ([`HostOs`]: the matches,
//! the fingerprint to submit, distance, uptime and sequence classes), and beside it
//! a probe to each open port ([`super::per_port`]): the ports another stack answers.

use super::db::Database;
use super::fingerprint::Fingerprint;
use super::matching::{GUESS_THRESHOLD, MOST_MATCHES};
use super::observe::{self, Exchange, OsProbe};
use super::per_port;
use super::round::{self, OsTarget, RoundTiming};
use super::synack::SynAckSignature;
use super::synack_db::SynAckDb;
use crate::model::os::{HostOs, PortsUsed, Sequence, TcpSequence, Uptime};
use crate::model::{HostResult, PortState, Proto};
use crate::packet::reply::ipv4_tcp_headers;
use crate::raw_access::RawAccess;
use anyhow::Result;
use futures_util::future::join_all;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What `-O` was asked to do.
#[derive(Clone, Debug)]
pub struct OsOptions {
    pub db: Arc<Database>,
    /// `--osscan-limit`: only hosts with an open and a closed TCP port.
    pub limit: bool,
    /// `--max-os-tries`.
    pub tries: u8,
    /// `--osscan-per-port`: list every open port's fingerprint, matched against this
    /// SYN+ACK signature database (else only the ports another stack answers).
    pub list_ports: Option<Arc<SynAckDb>>,
}

/// nmap's default of `--max-os-tries` is 5 rounds for hosts without a perfect match;
/// here the unanswered probes of one round are sent once more.
pub const DEFAULT_TRIES: u8 = 2;

/// How long a round waits for replies after its last probe.
const REPLY_WAIT: Duration = Duration::from_millis(1500);

/// Uptimes above two years are clocks that do not count from boot (nmap's rule).
const MOST_UPTIME: u64 = 2 * 365 * 86400;

/// The ports a host's probes use, from its port scan: `None` when it has no open TCP
/// port, or (with `--osscan-limit`) no closed one either.
pub fn target_of(
    addr: Ipv4Addr,
    host: &HostResult,
    limit: bool,
    mut random: impl FnMut() -> u32,
) -> Option<OsTarget> {
    let first = |proto: Proto, state: PortState| {
        host.ports
            .values()
            .find(|p| p.proto == proto && p.state == state)
            .map(|p| p.port)
    };
    let open_tcp_port = first(Proto::Tcp, PortState::Open)?;
    let closed_tcp_port = match first(Proto::Tcp, PortState::Closed) {
        Some(port) => port,
        None if limit => return None,
        // nmap picks one at random too, and says the result is less sure.
        None => 30000 + (random() % 30000) as u16,
    };
    let closed_udp_port =
        first(Proto::Udp, PortState::Closed).unwrap_or_else(|| 30000 + (random() % 30000) as u16);
    Some(OsTarget {
        addr,
        open_tcp_port,
        closed_tcp_port,
        closed_udp_port,
    })
}

/// Detects the OS of every target at once: each result with its host.
/// `targets` holds each host's probe ports, its distance where known, and all its
/// open TCP ports (each gets a probe of its own: the OS of every port).
pub async fn detect_hosts(
    raw: &RawAccess,
    opts: &OsOptions,
    targets: &[(OsTarget, Option<u8>, Vec<u16>)],
    random: &mut dyn FnMut() -> u32,
) -> Vec<(Ipv4Addr, Result<HostOs>)> {
    let timing = RoundTiming {
        wait: REPLY_WAIT,
        tries: opts.tries.max(1),
    };
    let rounds = targets.iter().map(|(target, distance, open_ports)| {
        // Each round draws its numbers before any runs (the draw is not shared).
        let numbers: Vec<u32> = (0..24 + 3 * open_ports.len()).map(|_| random()).collect();
        async move {
            let mut numbers = numbers.into_iter().cycle();
            let mut next = || numbers.next().unwrap_or(0);
            let (exchanges, stacks) = tokio::join!(
                round::probe_host(raw, *target, timing, &mut next),
                per_port::probe_ports(raw, target.addr, open_ports, rand::random::<u32>)
            );
            let result = exchanges.and_then(|exchanges| {
                let mut found = report(opts, target, *distance, &exchanges);
                let stacks = stacks?;
                found.odd_ports = per_port::odd_ports(&stacks);
                if let Some(db) = &opts.list_ports {
                    found.port_stacks = per_port::port_stacks(&stacks, db);
                }
                Ok(found)
            });
            (target.addr, result)
        }
    });
    join_all(rounds).await
}

/// What the output shows of one host's round.
fn report(
    opts: &OsOptions,
    target: &OsTarget,
    known_distance: Option<u8>,
    exchanges: &[Exchange],
) -> HostOs {
    // The distance reported: one hop on the segment, else what U1 measured. The
    // fingerprint's TTLs use U1's alone, as nmap's do.
    let distance = known_distance.or_else(|| observe::hop_distance(exchanges));
    let print = observe::fingerprint(exchanges, None);
    let detection = opts.db.best_matches(&print, MOST_MATCHES, GUESS_THRESHOLD);
    let seq_replies = seq_replies(exchanges);
    HostOs {
        ports_used: PortsUsed {
            open_tcp: target.open_tcp_port,
            closed_tcp: target.closed_tcp_port,
            closed_udp: target.closed_udp_port,
        },
        detection,
        fingerprint: format!("{}\n{print}", scan_line(target, distance)),
        distance,
        uptime: uptime(&print, &seq_replies),
        tcp_sequence: test_value(&print, "SEQ", "SP")
            .and_then(|sp| u32::from_str_radix(sp, 16).ok())
            .map(|index| TcpSequence::new(index, seq_replies.iter().map(|r| r.isn).collect())),
        ip_id_sequence: test_value(&print, "SEQ", "TI").map(|class| Sequence {
            class: ip_id_words(class),
            values: seq_replies.iter().map(|r| u32::from(r.ip_id)).collect(),
        }),
        timestamp_sequence: test_value(&print, "SEQ", "TS").map(|class| Sequence {
            class: timestamp_words(class),
            values: seq_replies.iter().map(|r| r.timestamp).collect(),
        }),
        odd_ports: Vec::new(),
        port_stacks: Vec::new(),
    }
}

/// The SCAN test of the printed fingerprint: who made it, when, with which ports, at
/// what distance, as nmap's SCAN line (with this scanner's name as the version).
fn scan_line(target: &OsTarget, distance: Option<u8>) -> String {
    let date = crate::text::month_day(SystemTime::now());
    let (ds, dc) = match distance {
        Some(1) => ("%DS=1".to_string(), "%DC=D"),
        Some(hops) => (format!("%DS={hops}"), "%DC=I"),
        None => (String::new(), ""),
    };
    format!(
        "SCAN(V=scanner-{}%E=4%D={date}%OT={}%CT={}%CU={}%PV={}{ds}{dc}%G=Y%P={}-{})",
        env!("CARGO_PKG_VERSION"),
        target.open_tcp_port,
        target.closed_tcp_port,
        target.closed_udp_port,
        if target.addr.is_private() { "Y" } else { "N" },
        std::env::consts::ARCH,
        std::env::consts::OS,
    )
}

fn test_value<'a>(print: &'a Fingerprint, test: &str, attr: &str) -> Option<&'a str> {
    print.test(test)?.get(attr)
}

/// nmap's words for an IP ID sequence class (`TI`).
fn ip_id_words(class: &str) -> &'static str {
    match class {
        "Z" => "All zeros",
        "I" => "Incremental",
        "BI" => "Broken little-endian incremental",
        "RI" => "Random positive increments",
        "RD" => "Randomized",
        _ => "Duplicated ipid (!)",
    }
}

/// nmap's words for a timestamp class (`TS`).
fn timestamp_words(class: &str) -> &'static str {
    match class {
        "U" => "none returned (unsupported)",
        "0" => "zero timestamp",
        "1" => "2HZ",
        "7" => "100HZ",
        "A" => "1000HZ",
        _ => "other",
    }
}

/// What a SEQ probe's SYN+ACK carried.
struct SeqReply {
    sent_at: Duration,
    isn: u32,
    ip_id: u16,
    timestamp: u32,
}

fn seq_replies(exchanges: &[Exchange]) -> Vec<SeqReply> {
    exchanges
        .iter()
        .filter(|e| matches!(e.probe, OsProbe::Seq(_)))
        .filter_map(|e| {
            let reply = e.reply.as_ref()?;
            let (ip, segment, _) = ipv4_tcp_headers(&reply.frame)?;
            let timestamp = SynAckSignature::read(&reply.frame, None).map_or(0, |s| s.timestamp);
            Some(SeqReply {
                sent_at: e.sent_at,
                isn: segment.seq_number(),
                ip_id: ip.ident(),
                timestamp,
            })
        })
        .collect()
}

/// The uptime guess: the first reply's timestamp over the clock's rate, where the
/// rate is one nmap trusts (TS 1, 7, A, or another measured rate).
fn uptime(print: &Fingerprint, replies: &[SeqReply]) -> Option<Uptime> {
    let class = test_value(print, "SEQ", "TS")?;
    let hz = match class {
        "U" | "0" => return None,
        "1" => 2.0,
        "7" => 100.0,
        "A" => 1000.0,
        _ => measured_rate(replies)?,
    };
    let first = replies.first()?;
    let seconds = (f64::from(first.timestamp) / hz) as u64;
    if seconds > MOST_UPTIME {
        return None;
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Uptime {
        seconds,
        last_boot: now.saturating_sub(seconds),
    })
}

/// The timestamp clock's mean rate over consecutive SEQ replies (ticks per second of
/// send time, as nmap measures it).
fn measured_rate(replies: &[SeqReply]) -> Option<f64> {
    let rates: Vec<f64> = replies
        .windows(2)
        .filter_map(|pair| {
            let ticks = f64::from(pair[1].timestamp.wrapping_sub(pair[0].timestamp));
            let seconds = pair[1].sent_at.checked_sub(pair[0].sent_at)?.as_secs_f64();
            (seconds > 0.0).then_some(ticks / seconds)
        })
        .collect();
    if rates.is_empty() {
        return None;
    }
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    (mean > 0.0).then_some(mean)
}
