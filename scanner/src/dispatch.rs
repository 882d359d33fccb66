//! The capture dispatcher: hands each frame a raw-packet script waits for to exactly
//! the scripts waiting on its key.
//!
//! A script opens a [`Capture`] on a [`CaptureKey`] (protocol, the other end, ports or
//! ICMP identifier). The key goes into the XDP classifier's key map, which copies each
//! frame with that key into the capture ring; one task on the loop drains the ring and
//! looks each frame's key up in one hash map to find its captures. Neither side's cost
//! per frame depends on how many captures wait, unlike one BPF filter per consumer,
//! which runs every filter on every frame.
//!
//! Where the classifier is not loaded (`--recv-mode packet`), the task reads every
//! frame from a packet socket and computes the same key in userspace
//! (`packet::reply::capture_key`); with `--recv-mode pcap` (and in the portable
//! build, which has only that) it keys the frames libpcap's one handle reads.
//!
//! Besides the scripts' keys, one consumer may wait on [`CaptureKey::syn_acks`]: every
//! SYN+ACK answering a probe (the passive fingerprints of the open ports).
//!
//! This module moves frames; what they mean is the script's business.

use crate::packet::reply::{capture_key, is_syn_ack_to};
use anyhow::Result;
use scanner_common::capture::{CaptureKey, CAPTURE_KEYS_MAX};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::mpsc;

#[cfg(fast_path)]
use crate::io::packet_socket::{PacketSocket, ALL_FRAMES};
#[cfg(fast_path)]
use crate::io::xdp::CaptureMaps;
#[cfg(fast_path)]
use anyhow::Context;
#[cfg(fast_path)]
use aya::maps::{Array, HashMap as KernelMap, MapData, RingBuf};
#[cfg(fast_path)]
use scanner_common::capture::CapturedFrame;
#[cfg(fast_path)]
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

/// Frames a capture keeps that its script has not read yet; more are dropped.
const QUEUE: usize = 64;

/// A frame delivered to a capture.
#[derive(Clone, Debug)]
pub struct Captured {
    /// The frame from its Ethernet header, cut at `CAPTURE_SNAP` bytes.
    pub frame: Vec<u8>,
    /// Its whole length on the wire.
    pub frame_len: usize,
    /// When the dispatcher read it (from the ring or the socket, as it came).
    pub received: std::time::Instant,
}

/// What the dispatcher did, for `-d`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DispatchStats {
    /// Frames read from the ring (or the packet socket, with a key waited on).
    pub frames: u64,
    /// Deliveries made (a frame two captures wait on counts twice).
    pub delivered: u64,
    /// Deliveries dropped because a capture's queue was full.
    pub overflowed: u64,
}

/// The classifier's key map and its count of keys (absent on the userspace paths).
#[cfg(fast_path)]
struct KernelKeys {
    keys: KernelMap<MapData, CaptureKey, u32>,
    capturing: Array<MapData, u32>,
}

#[cfg(fast_path)]
impl KernelKeys {
    fn add(&mut self, key: CaptureKey) -> Result<()> {
        self.keys
            .insert(key, 1, 0)
            .context("adding a capture key to the classifier")
    }

    fn remove(&mut self, key: &CaptureKey) {
        let _ = self.keys.remove(key);
    }

    /// Tells the classifier how many keys are waited on (0 turns its lookup off).
    fn publish_count(&mut self, count: u32) -> Result<()> {
        self.capturing
            .set(0, count, 0)
            .context("switching the classifier's captures")
    }
}

/// The portable build has no classifier: no kernel keys can exist.
#[cfg(not(fast_path))]
enum KernelKeys {}

#[cfg(not(fast_path))]
impl KernelKeys {
    fn add(&mut self, _: CaptureKey) -> Result<()> {
        match *self {}
    }

    fn remove(&mut self, _: &CaptureKey) {
        match *self {}
    }

    fn publish_count(&mut self, _: u32) -> Result<()> {
        match *self {}
    }
}

/// Where captures are registered: the waiting captures by key, and the classifier's
/// key map, kept in step.
struct Registry {
    /// Each capture's id, its queue, and when it was opened: frames the kernel
    /// received before then are not its (the classifier, which looks keys up as
    /// frames arrive, never gives it those; a userspace reader may read them later).
    waiting: HashMap<CaptureKey, Vec<(u64, mpsc::Sender<Captured>, SystemTime)>>,
    kernel: Option<KernelKeys>,
    next_id: u64,
    stats: DispatchStats,
}

impl Registry {
    /// Hands `captured` to the captures of `key` that were open when the kernel
    /// received it (`arrived`; `None` where the classifier already decided).
    fn deliver(&mut self, key: &CaptureKey, captured: Captured, arrived: Option<SystemTime>) {
        self.stats.frames += 1;
        let Some(waiting) = self.waiting.get(key) else {
            return;
        };
        let open_then = |opened: &SystemTime| arrived.is_none_or(|arrived| arrived >= *opened);
        for (_, sender, _) in waiting.iter().filter(|(_, _, opened)| open_then(opened)) {
            match sender.try_send(captured.clone()) {
                Ok(()) => self.stats.delivered += 1,
                Err(_) => self.stats.overflowed += 1,
            }
        }
    }

    /// Tells the classifier how many keys are waited on (0 turns its lookup off).
    fn publish_count(&mut self) -> Result<()> {
        let count = self.waiting.len() as u32;
        match &mut self.kernel {
            Some(kernel) => kernel.publish_count(count),
            None => Ok(()),
        }
    }
}

/// The dispatcher: the registry and the task that feeds it.
pub struct CaptureHub {
    registry: Arc<Mutex<Registry>>,
    pump: JoinHandle<()>,
    /// `XDP`, `AF_PACKET` or `libpcap`: where frames come from.
    pub source: &'static str,
}

impl CaptureHub {
    /// A dispatcher fed by the XDP classifier's capture ring.
    #[cfg(fast_path)]
    pub fn from_classifier(maps: CaptureMaps) -> Result<Self> {
        let CaptureMaps {
            keys,
            capturing,
            ring,
        } = maps;
        let registry = Self::registry(Some(KernelKeys { keys, capturing }));
        // SAFETY: the ring owns its map descriptor, open for the AsyncFd's whole life.
        let ring = unsafe { AsyncFd::register(ring) }
            .context("registering the capture ring with tokio")?;
        let pump = tokio::spawn(pump_ring(ring, registry.clone()));
        Ok(Self {
            registry,
            pump,
            source: "XDP",
        })
    }

    /// A dispatcher that reads every frame on interface `ifindex` from a packet
    /// socket and keys it in userspace (where the classifier is not loaded).
    #[cfg(fast_path)]
    pub fn from_packet_socket(ifindex: u32, local_addr: u32) -> Result<Self> {
        let socket = PacketSocket::open(ifindex, ALL_FRAMES)?;
        let registry = Self::registry(None);
        let pump = tokio::spawn(pump_socket(socket, local_addr, registry.clone()));
        Ok(Self {
            registry,
            pump,
            source: "AF_PACKET",
        })
    }

    /// A dispatcher fed the frames a reply source reads (`source` names it: the
    /// libpcap receive path's one handle), keyed in userspace.
    pub fn from_frames(
        frames: tokio::sync::mpsc::UnboundedReceiver<crate::io::pcap_tap::StampedFrame>,
        local_addr: u32,
        source: &'static str,
    ) -> Self {
        let registry = Self::registry(None);
        let pump = tokio::spawn(pump_frames(frames, local_addr, registry.clone()));
        Self {
            registry,
            pump,
            source,
        }
    }

    fn registry(kernel: Option<KernelKeys>) -> Arc<Mutex<Registry>> {
        Arc::new(Mutex::new(Registry {
            waiting: HashMap::new(),
            kernel,
            next_id: 0,
            stats: DispatchStats::default(),
        }))
    }

    /// Starts capturing the frames with `key`.
    pub fn open(&self, key: CaptureKey) -> Result<Capture> {
        self.open_with_queue(key, QUEUE)
    }

    /// Starts capturing the frames with `key`, keeping up to `queue` of them unread.
    pub fn open_with_queue(&self, key: CaptureKey, queue: usize) -> Result<Capture> {
        let mut registry = self
            .registry
            .lock()
            .expect("the registry is never poisoned");
        if !registry.waiting.contains_key(&key) {
            if registry.waiting.len() >= CAPTURE_KEYS_MAX as usize {
                anyhow::bail!("{CAPTURE_KEYS_MAX} captures are open already: close some first");
            }
            if let Some(kernel) = &mut registry.kernel {
                kernel.add(key)?;
            }
        }
        let (sender, receiver) = mpsc::channel(queue.max(1));
        let id = registry.next_id;
        registry.next_id += 1;
        registry
            .waiting
            .entry(key)
            .or_default()
            .push((id, sender, SystemTime::now()));
        registry.publish_count()?;
        Ok(Capture {
            key,
            id,
            receiver,
            registry: self.registry.clone(),
        })
    }

    pub fn stats(&self) -> DispatchStats {
        self.registry.lock().expect("never poisoned").stats
    }
}

impl Drop for CaptureHub {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

/// Frames with one key, as they come; closed when dropped.
pub struct Capture {
    key: CaptureKey,
    id: u64,
    receiver: mpsc::Receiver<Captured>,
    registry: Arc<Mutex<Registry>>,
}

impl Capture {
    /// The next frame (waits for it; wrap in a timeout).
    pub async fn next(&mut self) -> Option<Captured> {
        self.receiver.recv().await
    }

    /// The next frame if one is waiting (never waits).
    pub fn try_next(&mut self) -> Option<Captured> {
        self.receiver.try_recv().ok()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let Ok(mut registry) = self.registry.lock() else {
            return;
        };
        let now_unwaited = match registry.waiting.get_mut(&self.key) {
            Some(list) => {
                list.retain(|(id, _, _)| *id != self.id);
                list.is_empty()
            }
            None => false,
        };
        if now_unwaited {
            registry.waiting.remove(&self.key);
            if let Some(kernel) = &mut registry.kernel {
                kernel.remove(&self.key);
            }
            let _ = registry.publish_count();
        }
    }
}

/// Drains the capture ring whenever it has frames, for as long as the hub lives.
#[cfg(fast_path)]
async fn pump_ring(mut ring: AsyncFd<RingBuf<MapData>>, registry: Arc<Mutex<Registry>>) {
    loop {
        let Ok(mut guard) = ring.readable_mut().await else {
            return;
        };
        let ring = guard.get_inner_mut();
        let mut registry = registry.lock().expect("never poisoned");
        while let Some(item) = ring.next() {
            if item.len() < std::mem::size_of::<CapturedFrame>() {
                continue;
            }
            // SAFETY: the classifier writes whole CapturedFrames; read unaligned.
            let record = unsafe { std::ptr::read_unaligned(item.as_ptr() as *const CapturedFrame) };
            let len = usize::from(record.captured_len).min(record.data.len());
            registry.deliver(
                &record.key,
                Captured {
                    frame: record.data[..len].to_vec(),
                    frame_len: usize::from(record.frame_len),
                    received: std::time::Instant::now(),
                },
                None,
            );
        }
        drop(registry);
        guard.clear_ready();
    }
}

/// Reads every frame from `socket` and delivers those whose key is waited on.
#[cfg(fast_path)]
async fn pump_socket(socket: PacketSocket, local_addr: u32, registry: Arc<Mutex<Registry>>) {
    let mut buf = vec![0u8; 65536];
    while let Ok((len, arrived)) = socket.recv_stamped(&mut buf).await {
        deliver_frame(&buf[..len], arrived, local_addr, &registry);
    }
}

/// Delivers each of `frames` whose key is waited on.
async fn pump_frames(
    mut frames: tokio::sync::mpsc::UnboundedReceiver<crate::io::pcap_tap::StampedFrame>,
    local_addr: u32,
    registry: Arc<Mutex<Registry>>,
) {
    while let Some((frame, arrived)) = frames.recv().await {
        deliver_frame(&frame, arrived, local_addr, &registry);
    }
}

/// Keys `frame` in userspace (as the classifier keys it) and delivers it to whoever
/// waited on its key, and on the SYN+ACKs' if it is one, when it `arrived`.
fn deliver_frame(frame: &[u8], arrived: SystemTime, local_addr: u32, registry: &Mutex<Registry>) {
    let len = frame.len();
    let mut registry = registry.lock().expect("never poisoned");
    // The SYN+ACK test reads the headers again: only while someone waits on it.
    let syn_acks = CaptureKey::syn_acks();
    let wants_syn_acks = registry.waiting.contains_key(&syn_acks);
    let keys = [
        capture_key(frame, local_addr),
        (wants_syn_acks && is_syn_ack_to(frame, local_addr)).then_some(syn_acks),
    ];
    for key in keys.into_iter().flatten() {
        if registry.waiting.contains_key(&key) {
            let snap = len.min(scanner_common::capture::CAPTURE_SNAP);
            registry.deliver(
                &key,
                Captured {
                    frame: frame[..snap].to_vec(),
                    frame_len: len,
                    received: std::time::Instant::now(),
                },
                Some(arrived),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hub with no source: frames are handed to its registry by the test.
    fn hub() -> CaptureHub {
        CaptureHub {
            registry: CaptureHub::registry(None),
            pump: tokio::spawn(async {}),
            source: "test",
        }
    }

    fn frame(byte: u8) -> Captured {
        Captured {
            frame: vec![byte; 4],
            frame_len: 4,
            received: std::time::Instant::now(),
        }
    }

    #[tokio::test]
    async fn each_frame_goes_to_every_capture_of_its_key_and_no_other() {
        let hub = hub();
        let key = CaptureKey::icmp(1, 7);
        let other = CaptureKey::icmp(1, 8);
        let (mut a, mut b, mut c) = (
            hub.open(key).unwrap(),
            hub.open(key).unwrap(),
            hub.open(other).unwrap(),
        );
        hub.registry.lock().unwrap().deliver(&key, frame(1), None);
        assert_eq!(a.next().await.unwrap().frame, [1; 4]);
        assert_eq!(b.next().await.unwrap().frame, [1; 4]);
        assert!(c.receiver.try_recv().is_err());
        // Closing one capture of a key leaves the other listening.
        drop(a);
        hub.registry.lock().unwrap().deliver(&key, frame(2), None);
        assert_eq!(b.next().await.unwrap().frame, [2; 4]);
        drop(b);
        assert!(!hub.registry.lock().unwrap().waiting.contains_key(&key));
        assert!(hub.registry.lock().unwrap().waiting.contains_key(&other));
        let stats = hub.stats();
        assert_eq!((stats.frames, stats.delivered), (2, 3));
    }

    #[tokio::test]
    async fn a_frame_received_before_a_capture_opened_is_not_its() {
        let hub = hub();
        let key = CaptureKey::arp(7);
        let before = SystemTime::now() - std::time::Duration::from_millis(5);
        let mut capture = hub.open(key).unwrap();
        // Read from a userspace reader's queue after the capture opened, but received
        // by the kernel before: as the classifier would, the capture does not get it.
        hub.registry
            .lock()
            .unwrap()
            .deliver(&key, frame(1), Some(before));
        hub.registry
            .lock()
            .unwrap()
            .deliver(&key, frame(2), Some(SystemTime::now()));
        assert_eq!(capture.next().await.unwrap().frame, [2; 4]);
        assert!(capture.receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_capture_that_is_not_read_drops_what_overflows_its_queue() {
        let hub = hub();
        let key = CaptureKey::arp(9);
        let mut capture = hub.open(key).unwrap();
        for n in 0..QUEUE + 10 {
            hub.registry
                .lock()
                .unwrap()
                .deliver(&key, frame(n as u8), None);
        }
        assert_eq!(hub.stats().overflowed, 10);
        assert_eq!(capture.next().await.unwrap().frame, [0; 4]);
    }
}
