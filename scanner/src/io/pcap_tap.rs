//! The libpcap receive path (`--recv-mode pcap`), for systems with neither the XDP
//! classifier nor AF_PACKET: one libpcap handle for the whole scan, whose kernel
//! filter admits only frames addressed to the scan's address (and ARP), read on a
//! thread of its own (libpcap's reads block) and handed to the loop. Every frame goes
//! to the reply classifier (`engine::replies`, the XDP program's userspace twin) and,
//! once the scripts' capture dispatcher has asked for them ([`PcapTap::frames`]), to
//! it too: one handle, one copy of each frame per consumer.

use anyhow::{Context, Result};
use pcap::{Active, Capture};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;
use tokio::sync::mpsc;

/// Frames waiting for the classifier; past this many the reader drops (and counts).
const QUEUE: usize = 1 << 16;
/// How long one libpcap read waits, so that the reader notices the scan has ended.
const READ_TIMEOUT_MS: i32 = 100;
/// Bytes kept of each frame: a whole frame at Ethernet's MTU (the classifier reads
/// headers, the scripts' captures keep `CAPTURE_SNAP` bytes). With immediate mode
/// libpcap gives each frame a slot of this size in its kernel ring, so a snap length
/// of 64 KiB left room for only a few hundred frames and a sweep's burst of replies
/// overflowed it.
const SNAPLEN: i32 = 2048;
/// The kernel ring libpcap reads from: room for about 16,000 frames of [`SNAPLEN`].
const BUFFER_BYTES: i32 = 32 << 20;

/// A frame and when the kernel received it (libpcap's timestamp).
pub type StampedFrame = (Vec<u8>, SystemTime);

/// Where the reader sends the dispatcher's copies, once it has asked (set once, read
/// for every frame without a lock).
type DispatcherSlot = Arc<OnceLock<mpsc::UnboundedSender<StampedFrame>>>;

/// The reading end of the scan's libpcap handle.
pub struct PcapTap {
    replies: mpsc::Receiver<Vec<u8>>,
    dispatcher: DispatcherSlot,
    dropped: Arc<AtomicU64>,
}

impl PcapTap {
    /// Opens `iface` through libpcap for frames to `local` (and ARP), and starts
    /// reading.
    pub fn open(iface: &str, local: Ipv4Addr) -> Result<Self> {
        let mut capture = Capture::from_device(iface)
            .with_context(|| format!("libpcap has no device {iface}"))?
            .snaplen(SNAPLEN)
            .immediate_mode(true)
            .timeout(READ_TIMEOUT_MS)
            .buffer_size(BUFFER_BYTES)
            .open()
            .with_context(|| {
                format!("libpcap cannot capture on {iface} (needs CAP_NET_RAW: run as root)")
            })?;
        capture
            .filter(&filter(local), true)
            .context("libpcap refused the scan's capture filter")?;
        let (replies_tx, replies) = mpsc::channel(QUEUE);
        let dispatcher: DispatcherSlot = Arc::default();
        let dropped = Arc::new(AtomicU64::new(0));
        let reader = Reader {
            capture,
            replies: replies_tx,
            dispatcher: dispatcher.clone(),
            dropped: dropped.clone(),
            read: 0,
            kernel_dropped: 0,
        };
        std::thread::Builder::new()
            .name("pcap-recv".into())
            .spawn(move || reader.run())
            .context("starting the libpcap reader thread")?;
        Ok(Self {
            replies,
            dispatcher,
            dropped,
        })
    }

    /// The next frame, waiting for one; `None` once the reader has stopped.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        self.replies.recv().await
    }

    /// A frame already there, without waiting.
    pub fn try_next(&mut self) -> Option<Vec<u8>> {
        self.replies.try_recv().ok()
    }

    /// From now on, a copy of every frame for the scripts' capture dispatcher; `None`
    /// once it has been asked for (there is one dispatcher).
    pub fn frames(&self) -> Option<mpsc::UnboundedReceiver<StampedFrame>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.dispatcher.set(tx).ok().map(|()| rx)
    }

    /// Frames dropped because the classifier fell behind, or because libpcap's kernel
    /// ring was full (as libpcap last counted).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The kernel filter (classic BPF, compiled by libpcap): what is addressed to the
/// scan's address, and ARP. The classifier checks each frame's cookie after capture.
fn filter(local: Ipv4Addr) -> String {
    format!("arp or (ip and dst host {local})")
}

/// The thread that reads the handle.
struct Reader {
    capture: Capture<Active>,
    replies: mpsc::Sender<Vec<u8>>,
    dispatcher: DispatcherSlot,
    dropped: Arc<AtomicU64>,
    /// Frames read so far, and libpcap's count of kernel drops when last asked.
    read: u64,
    kernel_dropped: u64,
}

impl Reader {
    /// Reads until the scan drops its end or libpcap fails.
    fn run(mut self) {
        loop {
            match self.capture.next_packet() {
                Ok(packet) => {
                    let frame = packet.data.to_vec();
                    if let Some(tx) = self.dispatcher.get() {
                        let ts = packet.header.ts;
                        // time_t and suseconds_t are i64 here, narrower on some systems.
                        #[allow(clippy::useless_conversion)]
                        let arrived =
                            super::kernel_time(ts.tv_sec.into(), i64::from(ts.tv_usec) * 1000);
                        let _ = tx.send((frame.clone(), arrived));
                    }
                    match self.replies.try_send(frame) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            self.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
                Err(pcap::Error::TimeoutExpired) if !self.replies.is_closed() => {
                    self.count_kernel_drops();
                    continue;
                }
                Err(_) => return,
            }
            self.read += 1;
            if self.read.is_multiple_of(1024) {
                self.count_kernel_drops();
            }
        }
    }

    /// Adds what libpcap's kernel ring dropped since the last count to `dropped`.
    fn count_kernel_drops(&mut self) {
        if let Ok(stats) = self.capture.stats() {
            let total = u64::from(stats.dropped) + u64::from(stats.if_dropped);
            // libpcap's counts are totals since the handle opened.
            let new = total.saturating_sub(self.kernel_dropped);
            self.kernel_dropped = total;
            self.dropped.fetch_add(new, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_admits_our_address_and_arp() {
        assert_eq!(
            filter(Ipv4Addr::new(198, 18, 0, 1)),
            "arp or (ip and dst host 198.18.0.1)"
        );
        // libpcap compiles it (no device needed for a dead handle).
        let dead = Capture::dead(pcap::Linktype::ETHERNET).unwrap();
        assert!(dead
            .compile(&filter(Ipv4Addr::new(198, 18, 0, 1)), true)
            .is_ok());
    }
}
