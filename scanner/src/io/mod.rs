//! Sending and receiving frames, and finding where they go.
//!
//! - [`iface`]: interface, source address, route and next-hop MAC lookup;
//! - [`pcap_sender`]: libpcap, the portable send path;
//! - [`pcap_tap`]: libpcap, the portable receive path;
//! - [`privileges`]: whether raw packets are allowed, and giving privileges up;
//! - [`route_text`]: routes and MACs from other systems' `netstat`, `route`, `getmac`;
//! - [`signals`]: SIGINT and SIGTERM, which stop a scan cleanly.
//!
//! The Linux kernel fast paths, built with the `xdp` feature on Linux only
//! (`cfg(fast_path)`; the portable build leaves them out):
//! - [`packet_socket`]: an AF_PACKET raw socket (send fallback, ARP, receive fallback);
//! - [`afxdp`]: the AF_XDP send path;
//! - [`xdp_live`]: the XDP live-frames send path (sweeps);
//! - [`xdp`]: loading and attaching the XDP classifier and reading its ring buffer;
//! - [`xdp_slot`]: who holds an interface's XDP slot.
//!
//! This layer knows frames, not scans: it never decides what to send.

#[cfg(fast_path)]
pub mod afxdp;
pub mod iface;
#[cfg(fast_path)]
pub mod packet_socket;
pub mod pcap_sender;
pub mod pcap_tap;
pub mod privileges;
pub mod route_text;
pub mod signals;
#[cfg(fast_path)]
pub mod xdp;
#[cfg(fast_path)]
pub mod xdp_live;
#[cfg(fast_path)]
pub mod xdp_slot;

/// True in a build with the Linux kernel fast paths (XDP, AF_XDP, AF_PACKET); false
/// in the portable build, where libpcap is the only way in and out.
pub const FAST_PATHS: bool = cfg!(fast_path);

use crate::packet::template::MAX_FRAME_LEN;

/// Frames waiting to be sent, stored back to back at a fixed stride so that filling a
/// batch allocates nothing.
pub struct FrameBatch {
    data: Vec<u8>,
    lens: Vec<usize>,
    /// Bytes reserved per frame.
    stride: usize,
}

/// The largest frame any probe writes (UDP probes carry payloads).
pub const MAX_PROBE_FRAME_LEN: usize = 512;

impl FrameBatch {
    /// Room for `frames` TCP probe frames (the sweep's hot path: small stride).
    pub fn with_capacity(frames: usize) -> Self {
        Self::with_stride(frames, MAX_FRAME_LEN)
    }

    /// Room for `frames` frames of up to `stride` bytes each.
    pub fn with_stride(frames: usize, stride: usize) -> Self {
        Self {
            data: vec![0; frames * stride],
            lens: Vec::with_capacity(frames),
            stride,
        }
    }

    pub fn capacity(&self) -> usize {
        self.data.len() / self.stride
    }

    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    pub fn clear(&mut self) {
        self.lens.clear();
    }

    /// Appends a frame written by `write` (which returns its length) and returns
    /// false when the batch is full.
    pub fn push_with(&mut self, write: impl FnOnce(&mut [u8]) -> usize) -> bool {
        if self.is_full() {
            return false;
        }
        let start = self.len() * self.stride;
        let len = write(&mut self.data[start..start + self.stride]);
        self.lens.push(len);
        true
    }

    pub fn frame(&self, index: usize) -> &[u8] {
        let start = index * self.stride;
        &self.data[start..start + self.lens[index]]
    }

    /// Drops the first `count` frames (those already sent), keeping the rest in order.
    pub fn consume_front(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        let len = self.len();
        let remaining = len - count;
        self.data
            .copy_within(count * self.stride..len * self.stride, 0);
        self.lens.drain(..count);
        debug_assert_eq!(self.lens.len(), remaining);
    }
}

/// Something that puts frames on the wire.
pub trait FrameSender {
    /// Queues as many frames of `batch` as the device takes now, in order, and
    /// returns how many it took. Never blocks.
    fn send(&mut self, batch: &FrameBatch) -> std::io::Result<usize>;
    /// Waits until every frame taken has left (for senders that queue frames for a
    /// thread of their own; the others hand them to the device inside `send`).
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// A short name for messages ("AF_XDP", "AF_PACKET").
    fn name(&self) -> &'static str;
}

/// A kernel receive timestamp (seconds and nanoseconds since the epoch, as
/// `SIOCGSTAMPNS` and libpcap give them) as a time; now, where it makes no sense.
pub fn kernel_time(seconds: i64, nanos: i64) -> std::time::SystemTime {
    let (Ok(seconds), Ok(nanos)) = (u64::try_from(seconds), u32::try_from(nanos)) else {
        return std::time::SystemTime::now();
    };
    std::time::SystemTime::UNIX_EPOCH
        .checked_add(std::time::Duration::new(seconds, nanos))
        .unwrap_or_else(std::time::SystemTime::now)
}

/// Where the XDP program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AttachMode {
    /// Let the kernel choose (native in the driver where it can).
    Auto,
    /// Native (driver) mode.
    Native,
    /// Generic (SKB) mode: works on every interface, slower.
    Skb,
}

/// How frames leave the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SendMode {
    /// AF_XDP socket (the default; only the default falls back to `packet`).
    Afxdp,
    /// XDP live frames: the kernel runs a BPF program per probe that transmits it
    /// straight into the driver (sweeps only; Linux 5.18+, an XDP-capable driver).
    Xdp,
    /// AF_PACKET raw socket.
    Packet,
    /// libpcap (pcap_sendpacket), where nothing else exists.
    Pcap,
}

/// Which way replies come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RecvMode {
    /// The XDP classifier in the kernel, through a BPF ring buffer.
    Xdp,
    /// Every frame through an AF_PACKET socket, classified in userspace.
    Packet,
    /// The frames to this machine through libpcap, classified in userspace: for
    /// systems with neither of the others.
    Pcap,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_keeps_order_when_partly_consumed() {
        let mut batch = FrameBatch::with_capacity(3);
        for n in 1..=3u8 {
            assert!(batch.push_with(|buf| {
                buf[..n as usize].fill(n);
                n as usize
            }));
        }
        assert!(!batch.push_with(|_| 1));
        batch.consume_front(1);
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.frame(0), &[2, 2]);
        assert_eq!(batch.frame(1), &[3, 3, 3]);
    }
}
