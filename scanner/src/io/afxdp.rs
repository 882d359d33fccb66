//! The AF_XDP send path: one XDP socket on queue 0 of the interface, a UMEM of frames
//! we copy probe frames into, and the completion ring to take frames back.
//!
//! Transmit only: the classifier's replies come through the BPF ring buffer, so no
//! XDP program is needed for this socket (libxdp's default one is not loaded). The
//! kernel picks zero-copy where the driver supports it and copy mode elsewhere (veth).

use super::{FrameBatch, FrameSender};
use anyhow::{anyhow, Result};
use std::io::{self, Write};
use std::num::NonZeroU32;
use xsk_rs::config::{FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

/// The TX ring's slots, and as many UMEM frames: a send never has more frames out
/// than the ring holds (it waits for the kernel to drain the ring), so more frames
/// would only be memory. Each socket's UMEM is pinned, so it counts in full.
const TX_RING: u32 = 2048;
const FRAME_COUNT: u32 = TX_RING;
/// The smallest frame AF_XDP allows; probes are a few hundred bytes, a full Ethernet
/// frame 1,514. A 2,048 × 2,048 UMEM is 4 MiB a sender (it was 16).
const FRAME_SIZE: u32 = 2048;
/// Frames the kernel sends per wakeup in copy mode.
const KERNEL_TX_BATCH: u32 = 32;
/// `SOL_XDP` and its `XDP_MAX_TX_SKB_BUDGET` option (Linux 6.17+), which raises that.
const SOL_XDP: libc::c_int = 283;
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// Asks the kernel to send up to a whole TX ring per wakeup in copy mode; returns the
/// per-wakeup batch in force (32 on kernels without the option).
fn raise_tx_budget(tx: &TxQueue) -> u32 {
    use std::os::fd::AsRawFd;
    let budget: u32 = TX_RING;
    // SAFETY: setsockopt with a valid u32 option value; failure is harmless.
    let rc = unsafe {
        libc::setsockopt(
            tx.fd().as_raw_fd(),
            SOL_XDP,
            XDP_MAX_TX_SKB_BUDGET,
            &budget as *const u32 as *const libc::c_void,
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        budget
    } else {
        KERNEL_TX_BATCH
    }
}

pub struct AfXdpSender {
    umem: Umem,
    tx: TxQueue,
    completions: CompQueue,
    /// Frames the kernel sends per wakeup in copy mode.
    tx_batch: u32,
    free: Vec<FrameDesc>,
    reclaimed: Vec<FrameDesc>,
    // Held so the socket stays bound; never used (receive goes through XDP + ring buffer).
    _rx: RxQueue,
    _fill: FillQueue,
}

impl AfXdpSender {
    /// Opens an XDP socket on `iface`, queue `queue`.
    pub fn open(iface: &str, queue: u32) -> Result<Self> {
        let explain = |what: &str, err: &dyn std::error::Error| {
            let cause = err.source().map(|c| format!(": {c}")).unwrap_or_default();
            anyhow!(
                "AF_XDP {what} failed on {iface}: {err}{cause} (needs CAP_NET_ADMIN and CAP_NET_RAW, a kernel \
                 with XDP sockets, and no other AF_XDP socket on the queue; --send-mode packet avoids AF_XDP)"
            )
        };
        let umem_config = UmemConfig::builder()
            .frame_size(FrameSize::new(FRAME_SIZE).map_err(|e| explain("setup", &e))?)
            .comp_queue_size(QueueSize::new(TX_RING).map_err(|e| explain("setup", &e))?)
            .build()
            .map_err(|e| explain("UMEM setup", &e))?;
        let (umem, free) = Umem::new(
            umem_config,
            NonZeroU32::new(FRAME_COUNT).expect("non-zero"),
            false,
        )
        .map_err(|e| explain("UMEM creation", &e))?;
        let socket_config = SocketConfig::builder()
            .tx_queue_size(QueueSize::new(TX_RING).map_err(|e| explain("setup", &e))?)
            .rx_queue_size(QueueSize::new(64).map_err(|e| explain("setup", &e))?)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .build();
        let name = Interface::new(std::ffi::CString::new(iface).map_err(|e| explain("setup", &e))?);
        // SAFETY: the UMEM is not shared with any other socket.
        let (tx, rx, queues) = unsafe { Socket::new(socket_config, &umem, &name, queue) }
            .map_err(|e| explain("socket creation", &e))?;
        let (fill, completions) = queues
            .ok_or_else(|| anyhow!("AF_XDP socket on {iface} came without its UMEM rings"))?;
        let tx_batch = raise_tx_budget(&tx);
        Ok(Self {
            umem,
            tx,
            completions,
            reclaimed: free.clone(),
            tx_batch,
            free,
            _rx: rx,
            _fill: fill,
        })
    }

    /// Makes the kernel transmit everything in the TX ring. In copy mode (veth, and
    /// drivers without zero-copy) frames leave only inside the `sendto` wakeup, and at
    /// most 32 per call (the kernel's TX_BATCH_SIZE): one wakeup per batch would leave
    /// the rest sitting in the ring, and the last frames of a scan would never leave.
    /// So wake it until the ring is empty, taking completions back as they come.
    fn kick(&mut self) -> io::Result<()> {
        for _ in 0..=TX_RING / self.tx_batch + 1 {
            self.tx.wakeup()?;
            self.reclaim();
            if self.tx.nb_free_exact() >= TX_RING {
                break;
            }
        }
        Ok(())
    }

    /// Takes back frames the kernel has finished sending.
    fn reclaim(&mut self) {
        // SAFETY: completed descriptors belong to our UMEM and are no longer in use.
        let done = unsafe { self.completions.consume(&mut self.reclaimed) };
        self.free.extend_from_slice(&self.reclaimed[..done]);
    }
}

impl FrameSender for AfXdpSender {
    fn send(&mut self, batch: &FrameBatch) -> io::Result<usize> {
        self.reclaim();
        let count = batch.len().min(self.free.len());
        if count == 0 {
            self.kick()?;
            return Ok(0);
        }
        let start = self.free.len() - count;
        for (i, desc) in self.free[start..].iter_mut().enumerate() {
            // SAFETY: the descriptor is free: not in any ring, so not in use by the kernel.
            let mut data = unsafe { self.umem.data_mut(desc) };
            let mut cursor = data.cursor();
            cursor.set_pos(0);
            cursor.write_all(batch.frame(i))?;
        }
        // SAFETY: the descriptors point into our UMEM and hold complete frames.
        let queued = unsafe { self.tx.produce(&self.free[start..]) };
        // Frames the ring took are the kernel's until they come back as completions.
        self.free.drain(start..start + queued);
        self.kick()?;
        Ok(queued)
    }

    fn name(&self) -> &'static str {
        "AF_XDP"
    }
}
