//! One probe's exchange with a service: open a connection (TCP, TCP inside TLS, or a
//! UDP socket), send the probe's payload, and read what comes back until the probe's
//! wait runs out, a pause after some data, the peer closing, or a size cap. Whatever
//! the service does (a banner that never ends, a slow drip, a reset, garbage), the
//! exchange ends in bounded time with at most [`MAX_ANSWER`] bytes.

use super::probes::Probe;
use super::tls::{self, CertificateInfo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

/// The most bytes of an answer kept (a banner that never ends is cut here).
pub const MAX_ANSWER: usize = 64 * 1024;
/// How long an answer is waited for when the probe does not say.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);
/// How soon a connection closed without a word reads as `tcpwrapped`, when the probe
/// does not say.
pub const DEFAULT_TCPWRAPPED: Duration = Duration::from_secs(2);
/// Once some bytes came, how long a pause ends the answer.
const QUIET_AFTER_DATA: Duration = Duration::from_millis(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How much one read of a TCP answer takes at most.
const READ_CHUNK: usize = 4096;

/// How a probe reaches the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Tcp,
    /// TCP with a TLS session on top.
    Tls,
    Udp,
}

/// What one exchange gave.
#[derive(Debug, Default)]
pub struct Answer {
    /// The connection (or TLS handshake) could not be made.
    pub failed: bool,
    pub bytes: Vec<u8>,
    /// The peer closed or reset the connection (rather than the wait running out).
    pub closed: bool,
    /// The peer closed or reset the connection before its tcpwrapped time, having
    /// said nothing.
    pub closed_at_once: bool,
    /// The TLS server's certificate.
    pub certificate: Option<CertificateInfo>,
}

/// The wait of `probe`.
pub fn wait_of(probe: &Probe) -> Duration {
    probe
        .total_wait_ms
        .map_or(DEFAULT_WAIT, |ms| Duration::from_millis(u64::from(ms)))
}

/// Sends `probe` to `addr` over `layer` and returns the answer. `heard` is set the
/// moment the first byte arrives (the engine watches it to tell a silent probe).
pub async fn exchange(addr: SocketAddr, layer: Layer, probe: &Probe, heard: &AtomicBool) -> Answer {
    let failed = Answer {
        failed: true,
        ..Answer::default()
    };
    if layer == Layer::Udp {
        return udp_exchange(addr, probe, heard).await.unwrap_or(failed);
    }
    let Ok(Ok(tcp)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await else {
        return failed;
    };
    let started = Instant::now();
    if layer == Layer::Tcp {
        return read_answer(tcp, probe, heard, started).await;
    }
    // The TLS states are boxed: inline they would make every exchange's future (and a
    // port's probes wait for a connection as futures, thousands in a sweep) as large
    // as a TLS handshake's.
    let Some(session) = Box::pin(tls::connect(addr, tcp)).await else {
        return failed;
    };
    let certificate = tls::certificate_of(&session);
    Answer {
        certificate,
        ..Box::pin(read_answer(session, probe, heard, started)).await
    }
}

/// Writes the payload and reads the answer on an open stream.
async fn read_answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    probe: &Probe,
    heard: &AtomicBool,
    started: Instant,
) -> Answer {
    let mut answer = Answer::default();
    if !probe.payload.is_empty() && stream.write_all(&probe.payload).await.is_err() {
        answer.closed = true;
        answer.closed_at_once = true;
        return answer;
    }
    let tcpwrapped = probe.tcpwrapped_ms.map_or(DEFAULT_TCPWRAPPED, |ms| {
        Duration::from_millis(u64::from(ms))
    });
    let deadline = started + wait_of(probe);
    // On the heap, and only once connected: a probe waiting for its connection holds
    // no buffer.
    let mut buf = vec![0u8; READ_CHUNK];
    while answer.bytes.len() < MAX_ANSWER {
        let limit = if answer.bytes.is_empty() {
            deadline
        } else {
            deadline.min(Instant::now() + QUIET_AFTER_DATA)
        };
        match tokio::time::timeout_at(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                answer.closed = true;
                answer.closed_at_once = answer.bytes.is_empty() && started.elapsed() < tcpwrapped;
                break;
            }
            Err(_) => break,
            Ok(Ok(n)) => {
                heard.store(true, Ordering::Relaxed);
                let room = MAX_ANSWER - answer.bytes.len();
                answer.bytes.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    answer
}

/// Sends one datagram and waits for the first answer.
async fn udp_exchange(addr: SocketAddr, probe: &Probe, heard: &AtomicBool) -> Option<Answer> {
    let socket = UdpSocket::bind(("0.0.0.0", 0)).await.ok()?;
    socket.connect(addr).await.ok()?;
    socket.send(&probe.payload).await.ok()?;
    let mut buf = vec![0u8; MAX_ANSWER];
    let mut answer = Answer::default();
    // A port-unreachable shows as an error on the connected socket: no answer.
    if let Ok(Ok(n)) = tokio::time::timeout(wait_of(probe), socket.recv(&mut buf)).await {
        heard.store(true, Ordering::Relaxed);
        buf.truncate(n);
        answer.bytes = buf;
    }
    Some(answer)
}

/// A flag shared between a running exchange and the engine watching it.
pub fn new_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
