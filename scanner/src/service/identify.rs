//! Naming the service on one open TCP port, nmap's way, on the tokio loop: connect
//! and listen (the NULL probe); if the greeting is not a hard match, the probes that
//! list the port, in rarity order, each on a fresh connection, until one hard match
//! (a soft match narrows the later ones to its service). Answers are read until the
//! probe's wait runs out, the peer closes, or a size cap, so a service that never
//! stops talking is cut off.
//!
//! This is the core the `-sV` engine will run for many ports at once; TLS, UDP,
//! rarity intensity and parallel probes of one port are still to come (issue 5).

use super::matcher::ServiceMatch;
use super::probes::{Probe, ProbeDb, Transport};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most bytes of an answer kept (a banner that never ends is cut here).
pub const MAX_ANSWER: usize = 64 * 1024;
/// How long an answer is waited for when the probe does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(5);
/// Once some bytes came, how long a pause ends the answer.
const QUIET_AFTER_DATA: Duration = Duration::from_millis(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Sends `probe`'s payload on a new connection to `addr` and returns what came back
/// (possibly nothing), or `None` if the connection failed.
async fn exchange(addr: SocketAddr, probe: &Probe) -> Option<Vec<u8>> {
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    if !probe.payload.is_empty() {
        stream.write_all(&probe.payload).await.ok()?;
    }
    let wait = probe
        .total_wait_ms
        .map_or(DEFAULT_WAIT, |ms| Duration::from_millis(u64::from(ms)));
    let deadline = tokio::time::Instant::now() + wait;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while answer.len() < MAX_ANSWER {
        let limit = if answer.is_empty() {
            deadline
        } else {
            deadline.min(tokio::time::Instant::now() + QUIET_AFTER_DATA)
        };
        match tokio::time::timeout_at(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n.min(MAX_ANSWER - answer.len())]),
        }
    }
    Some(answer)
}

/// The TCP probes to try on `port` after NULL: those listing the port, by rarity.
fn probes_for(db: &ProbeDb, port: u16) -> Vec<&Probe> {
    let mut probes: Vec<&Probe> = db
        .probes
        .iter()
        .filter(|p| p.transport == Transport::Tcp && p.name != "NULL")
        .filter(|p| p.ports.iter().any(|&(lo, hi)| (lo..=hi).contains(&port)))
        .collect();
    probes.sort_by_key(|p| p.rarity.unwrap_or(1));
    probes
}

/// What runs on `addr`, or `None` if nothing matched.
pub async fn identify_tcp(db: &ProbeDb, addr: SocketAddr) -> Option<ServiceMatch> {
    let mut soft: Option<ServiceMatch> = None;
    let null = db.probe(Transport::Tcp, "NULL");
    let later = probes_for(db, addr.port());
    for probe in null.into_iter().chain(later) {
        let Some(answer) = exchange(addr, probe).await else {
            continue;
        };
        if answer.is_empty() {
            continue;
        }
        let known = soft.as_ref().map(|s| s.service.as_str());
        if let Some(hit) = db.match_response(probe, &answer, known) {
            if !hit.soft {
                return Some(hit);
            }
            soft.get_or_insert(hit);
        }
    }
    soft
}
