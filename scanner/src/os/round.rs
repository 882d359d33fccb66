//! One host's round of OS probes on the scan's loop: the sixteen probes of
//! [`super::probes`] sent through the scan's raw access (its checks: our address, a
//! host found up), the replies caught by capture keys on the classifier (the same
//! dispatcher scripts use: one lookup per frame however many rounds wait), the SEQ
//! probes 100 ms apart as nmap sends them, and what went unanswered sent once more.
//! Rounds of many hosts interleave on the loop; each holds local ports of its own for
//! its probes while it runs, so no other socket is given them.
//!
//! What comes out is the raw material of a fingerprint (`observe::Exchange`s, in the
//! order the probes were first sent); `os::observe` computes the tests from it.

use super::observe::{Exchange, Reply};
use super::probes::{to_closed_tcp_port, OsProbe, RoundPlan, ROUND};
use crate::dispatch::Capture;
use crate::raw_access::RawAccess;
use anyhow::{anyhow, Result};
use scanner_common::capture::CaptureKey;
use scanner_common::wire::{IPPROTO_TCP, IPPROTO_UDP};
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

/// nmap's gap between SEQ probes (`OS_SEQ_PROBE_DELAY`).
pub const SEQ_GAP: Duration = Duration::from_millis(100);

/// Where a host's probes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OsTarget {
    pub addr: Ipv4Addr,
    pub open_tcp_port: u16,
    /// A port the scan found closed; without one T5–T7 go to a port chosen at random
    /// (nmap does the same and says so: the tests are less sure).
    pub closed_tcp_port: u16,
    pub closed_udp_port: u16,
}

/// How long a round waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundTiming {
    /// How long replies are waited for after the last probe of a try.
    pub wait: Duration,
    /// Tries of the unanswered probes (the first send included).
    pub tries: u8,
}

/// Runs one round of probes at `target` through `raw`; `random` supplies the numbers
/// nmap draws at random (sequence, acknowledgement, ICMP identifier, IP IDs).
pub async fn probe_host(
    raw: &RawAccess,
    target: OsTarget,
    timing: RoundTiming,
    mut random: impl FnMut() -> u32,
) -> Result<Vec<Exchange>> {
    // Local ports held for the round: the kernel gives them to nobody else, and
    // answers the replies' SYN+ACKs with resets as nmap's host does.
    let held: Vec<TcpListener> = (0..14)
        .map(|_| TcpListener::bind((raw.src_ip, 0)))
        .collect::<std::io::Result<_>>()
        .map_err(|e| anyhow!("holding local ports for OS probes: {e}"))?;
    let mut source_ports = [0u16; 14];
    for (port, listener) in source_ports.iter_mut().zip(&held) {
        *port = listener.local_addr()?.port();
    }
    let plan = RoundPlan {
        src: raw.src_ip,
        dst: target.addr,
        open_tcp_port: target.open_tcp_port,
        closed_tcp_port: target.closed_tcp_port,
        closed_udp_port: target.closed_udp_port,
        source_ports,
        seq_base: random(),
        ack: random(),
        icmp_id: random() as u16,
        // nmap's U1 TTL: 51-64, varying with the time.
        udp_ttl: 51 + (random() % 14) as u8,
        ip_ids: std::array::from_fn(|_| random() as u16),
    };
    let mut captures = Vec::with_capacity(ROUND.len());
    for probe in ROUND {
        let capture = raw
            .hub
            .open(reply_key(&plan, probe))
            .map_err(|e| anyhow!("capturing OS probe replies: {e:#}"))?;
        captures.push((probe, capture));
    }
    let started = Instant::now();
    let mut exchanges: Vec<Exchange> = Vec::with_capacity(ROUND.len());
    for try_number in 0..timing.tries.max(1) {
        let unanswered: Vec<OsProbe> = ROUND
            .into_iter()
            .filter(|probe| {
                exchanges
                    .iter()
                    .find(|e| e.probe == *probe)
                    .is_none_or(|e| e.reply.is_none())
            })
            // SEQ's timing is only nmap's on the first try.
            .filter(|probe| try_number == 0 || !matches!(probe, OsProbe::Seq(_)))
            .collect();
        if unanswered.is_empty() {
            break;
        }
        for (i, probe) in unanswered.iter().enumerate() {
            if i > 0 && matches!(probe, OsProbe::Seq(_)) {
                tokio::time::sleep(SEQ_GAP).await;
            }
            let sent = raw
                .send_ip_framed(&plan.packet(*probe))
                .map_err(|e| anyhow!("sending an OS probe to {}: {e}", target.addr))?;
            let exchange = Exchange {
                probe: *probe,
                sent,
                sent_at: started.elapsed(),
                reply: None,
            };
            match exchanges.iter_mut().find(|e| e.probe == *probe) {
                Some(old) => *old = exchange,
                None => exchanges.push(exchange),
            }
        }
        let deadline = tokio::time::Instant::now() + timing.wait;
        for (probe, capture) in &mut captures {
            let Some(exchange) = exchanges.iter_mut().find(|e| e.probe == *probe) else {
                continue;
            };
            if exchange.reply.is_some() {
                continue;
            }
            exchange.reply = first_reply(capture, deadline, started).await;
        }
    }
    drop(held);
    Ok(exchanges)
}

/// The first frame of `capture` by `deadline`, as a reply.
async fn first_reply(
    capture: &mut Capture,
    deadline: tokio::time::Instant,
    started: Instant,
) -> Option<Reply> {
    let captured = tokio::time::timeout_at(deadline, capture.next())
        .await
        .ok()
        .flatten()?;
    Some(Reply {
        received_at: captured.received.saturating_duration_since(started),
        frame_len: captured.frame_len,
        frame: captured.frame,
    })
}

/// The capture key of the replies to `probe` (and of ICMP errors quoting it).
fn reply_key(plan: &RoundPlan, probe: OsProbe) -> CaptureKey {
    let dst = u32::from(plan.dst);
    let sport = plan.source_port(probe).unwrap_or(0);
    match probe {
        OsProbe::U1 => CaptureKey::transport(IPPROTO_UDP, dst, plan.closed_udp_port, sport),
        OsProbe::Ie(n) => CaptureKey::icmp(dst, plan.icmp_id.wrapping_add(u16::from(n == 2))),
        _ => {
            let dport = if to_closed_tcp_port(probe) {
                plan.closed_tcp_port
            } else {
                plan.open_tcp_port
            };
            CaptureKey::transport(IPPROTO_TCP, dst, dport, sport)
        }
    }
}
