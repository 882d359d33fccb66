//! A sweep's sender thread: walks its part of the permutation of (address × port),
//! writes each probe with the probe-module table's writer (TCP and UDP from the keyed
//! source port, the cookie where the kind carries it), and hands frames to its own
//! socket at its share of the rate.
//!
//! It keeps no per-probe state. On passes after the first it skips the (address,
//! port) pairs that have answered. It never waits for the receive side; it stops when
//! its positions run out or when asked to, after flushing what it built, and says
//! where it stopped so the sweep can be resumed without sending anything twice.

use super::Answered;
use crate::engine::path::ScanPath;
use crate::engine::rate::RateLimiter;
use crate::io::{FrameBatch, FrameSender};
use crate::probe::{ProbeKind, ProbeTo, ProbeWriter};
use crate::target::permutation::{Permutation, Shard};
use crate::target::TargetSet;
use anyhow::{bail, Context, Result};
use scanner_common::cookie::stateless_source_port;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a sender is: the pass it is on and the next position of its part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderPosition {
    pub pass: u8,
    pub next: u64,
}

impl SenderPosition {
    /// The position in one word (`next` is below 2^48: at most one per address and
    /// port of the whole space), for a sender to publish without a lock.
    pub fn packed(self) -> u64 {
        (u64::from(self.pass) << 56) | (self.next & ((1 << 56) - 1))
    }

    pub fn unpacked(word: u64) -> Self {
        Self {
            pass: (word >> 56) as u8,
            next: word & ((1 << 56) - 1),
        }
    }
}

/// Where a sweep's probe of `kind` to `addr:port` goes: TCP and UDP from the keyed
/// source port of (target, port), which the classifier checks; ICMP needs none.
pub fn probe_to(
    kind: ProbeKind,
    key: &[u64; 2],
    (lo, hi): (u16, u16),
    (addr, port): (Ipv4Addr, u16),
    ip_id: u16,
    dst_mac: [u8; 6],
) -> ProbeTo {
    let sport = match kind {
        ProbeKind::Tcp(_) | ProbeKind::Udp => {
            stateless_source_port(key, u32::from(addr), port, lo, hi)
        }
        ProbeKind::Icmp(_) => 0,
    };
    ProbeTo {
        addr: u32::from(addr),
        port,
        sport,
        ip_id,
        dst_mac,
    }
}

/// Everything one sender thread needs; shared parts behind `Arc`.
pub struct SenderJob {
    pub permutation: Arc<Permutation>,
    pub part: Shard,
    /// The whole target set: the permutation indexes it.
    pub targets: Arc<TargetSet>,
    /// The targets minus those found down: only these are sent to.
    pub reachable: Arc<TargetSet>,
    pub ports: Arc<Vec<u16>>,
    pub path: Arc<ScanPath>,
    pub key: [u64; 2],
    pub src_ports: (u16, u16),
    pub writer: ProbeWriter,
    pub rate: u64,
    /// Total passes (1 + retries).
    pub passes: u8,
    pub start: SenderPosition,
    /// Pause before each later pass, so replies to the last one can come in.
    pub pass_gap: Duration,
    pub answered: Arc<Answered>,
    pub stop: Arc<AtomicBool>,
    /// Set while the ports found wait for version detection: send nothing meanwhile.
    pub paused: Arc<AtomicBool>,
    /// Where this sender is, every probe before it handed to the device
    /// ([`SenderPosition::packed`]): what a checkpoint of the resume file records.
    pub published: Arc<AtomicU64>,
    pub sent: Arc<AtomicU64>,
}

const BATCH: usize = 256;

impl SenderJob {
    /// Sends until done or stopped; returns where it stopped (`pass == passes` when done).
    pub fn run(self, sender: &mut dyn FrameSender) -> Result<SenderPosition> {
        let total = self.permutation.len();
        let address_count = self.targets.len();
        let mut batch = FrameBatch::with_stride(BATCH, self.writer.max_frame_len());
        let mut ip_id = (self.key[1] & 0xffff) as u16;
        let mut limiter = RateLimiter::new(self.rate, Instant::now());
        let mut position = self.start;
        while position.pass < self.passes {
            if position.pass > 0 && position.next == 0 && self.pause(self.pass_gap) {
                return Ok(position);
            }
            loop {
                if self.stop.load(Ordering::Relaxed) {
                    self.flush(sender, &mut batch)?;
                    return Ok(position);
                }
                if self.paused.load(Ordering::Relaxed) {
                    self.flush(sender, &mut batch)?;
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                let now = Instant::now();
                let budget = limiter.available(now).min(BATCH - batch.len());
                let mut built = 0;
                let mut exhausted = false;
                while built < budget {
                    let Some(index) = self.part.position(position.next, total) else {
                        exhausted = true;
                        break;
                    };
                    position.next += 1;
                    let element = self.permutation.apply(index);
                    let addr = self
                        .targets
                        .nth(element % address_count)
                        .context("address index out of range")?;
                    let port = self.ports[(element / address_count) as usize];
                    if !self.reachable.contains(addr)
                        || (position.pass > 0 && self.answered.contains(addr, port))
                    {
                        continue;
                    }
                    ip_id = ip_id.wrapping_add(1);
                    self.push_probe(&mut batch, addr, port, ip_id);
                    built += 1;
                }
                limiter.spend(built);
                self.send_some(sender, &mut batch)?;
                if batch.is_empty() {
                    self.published.store(position.packed(), Ordering::Relaxed);
                }
                if exhausted {
                    self.flush(sender, &mut batch)?;
                    break;
                }
                if built == 0 {
                    std::thread::sleep(
                        limiter
                            .next_slot()
                            .clamp(Duration::from_micros(50), Duration::from_millis(2)),
                    );
                }
            }
            position = SenderPosition {
                pass: position.pass + 1,
                next: 0,
            };
            self.published.store(position.packed(), Ordering::Relaxed);
        }
        Ok(position)
    }

    fn push_probe(&self, batch: &mut FrameBatch, addr: Ipv4Addr, port: u16, ip_id: u16) {
        let to = probe_to(
            self.writer.kind(),
            &self.key,
            self.src_ports,
            (addr, port),
            ip_id,
            self.path.next_hop_mac(addr),
        );
        batch.push_with(|buf| self.writer.write(buf, &self.key, &to));
    }

    fn send_some(&self, sender: &mut dyn FrameSender, batch: &mut FrameBatch) -> Result<usize> {
        if batch.is_empty() {
            return Ok(0);
        }
        let sent = sender
            .send(batch)
            .with_context(|| format!("sending through {}", sender.name()))?;
        batch.consume_front(sent);
        self.sent.fetch_add(sent as u64, Ordering::Relaxed);
        Ok(sent)
    }

    fn flush(&self, sender: &mut dyn FrameSender, batch: &mut FrameBatch) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !batch.is_empty() {
            if self.send_some(sender, batch)? == 0 {
                if Instant::now() > deadline {
                    bail!("{} stopped taking frames", sender.name());
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        sender
            .flush()
            .with_context(|| format!("sending through {}", sender.name()))
    }

    /// Sleeps, waking to check the stop flag; true if asked to stop.
    fn pause(&self, duration: Duration) -> bool {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            if self.stop.load(Ordering::Relaxed) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_pack_into_one_word_and_back() {
        for position in [
            SenderPosition::default(),
            SenderPosition {
                pass: 3,
                next: 12_345,
            },
            SenderPosition {
                pass: 20,
                next: (1 << 48) - 1,
            },
        ] {
            assert_eq!(SenderPosition::unpacked(position.packed()), position);
        }
    }
    use crate::engine::probing::ProbeContext;
    use crate::io::MAX_PROBE_FRAME_LEN;
    use crate::packet::template::LinkAddrs;
    use crate::probe::{write_probe, IcmpQuery, Reading, TcpProbe};

    /// The table is what both paths use: for the same (target, port, key, IP id) a
    /// sweep's frame and the probe loop's frame (`-sS`, `-sA`, `-sU`, `-PE`) are the
    /// same bytes. (TCP probes of the loop rotate their source port; with a range of
    /// one port, rotating and keyed choices agree.)
    #[test]
    fn a_sweep_sends_the_same_bytes_as_the_probe_loop() {
        let key = [0x0123_4567_89ab_cdef, 0x0fed_cba9_8765_4321];
        let link = LinkAddrs {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 0x20],
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
        };
        let target = Ipv4Addr::new(198, 19, 3, 7);
        for (kind, port, src_ports) in [
            (
                ProbeKind::Tcp(TcpProbe::standard(Reading::Syn)),
                80,
                (41000, 41000),
            ),
            (
                ProbeKind::Tcp(TcpProbe::standard(Reading::Ack)),
                80,
                (41000, 41000),
            ),
            (ProbeKind::Udp, 53, (40000, 59999)),
            (ProbeKind::Udp, 161, (40000, 59999)),
            (ProbeKind::Icmp(IcmpQuery::Echo), 0, (40000, 59999)),
        ] {
            let writer = ProbeWriter::new(kind, &link);
            let mut cx = ProbeContext::new(key, link, src_ports);
            let ip_id = cx.next_ip_id().wrapping_add(1);
            let mut looped = FrameBatch::with_stride(1, MAX_PROBE_FRAME_LEN);
            write_probe(&writer, (u32::from(target), port), &mut cx, &mut looped);

            let mut swept = FrameBatch::with_stride(1, writer.max_frame_len());
            let to = probe_to(kind, &key, src_ports, (target, port), ip_id, link.dst_mac);
            swept.push_with(|buf| writer.write(buf, &key, &to));
            assert_eq!(swept.frame(0), looped.frame(0), "{}", kind.name());
        }
    }
}
