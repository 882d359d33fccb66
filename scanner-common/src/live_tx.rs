//! The layout shared by the XDP live-frames sender (`scanner-ebpf`'s `live_tx`
//! program) and userspace (`scanner::io::xdp_live`).
//!
//! Each sender thread has a ring of [`SLOTS_PER_SENDER`] frame slots in
//! [`LIVE_TX_SLOTS_MAP`] and a [`LiveTxRing`] of counters in [`LIVE_TX_RINGS_MAP`],
//! both memory-mapped arrays. The thread writes frames into free slots and then
//! advances `produced`. A pump thread pinned to a CPU of its own keeps the kernel
//! running `live_tx` (`BPF_PROG_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`, a million
//! runs a call); each run takes the next frame of the running CPU's ring, copies it
//! into a page the kernel recycles, advances `consumed` and transmits it (`XDP_TX`)
//! straight into the driver, without a socket or an skb on the sending side. A run
//! that finds the ring empty drops its page and sends nothing. Which ring a CPU
//! serves is in the per-CPU [`LIVE_TX_CPU_MAP`].

/// Name of the program in the sender's eBPF object.
pub const LIVE_TX_PROGRAM_NAME: &str = "live_tx";
/// Name of the memory-mapped array of [`LiveTxSlot`]s.
pub const LIVE_TX_SLOTS_MAP: &str = "LIVE_TX_SLOTS";
/// Name of the memory-mapped array of [`LiveTxRing`]s, one per sender.
pub const LIVE_TX_RINGS_MAP: &str = "LIVE_TX_RINGS";
/// Name of the per-CPU array (one entry): the sender whose ring a CPU serves.
pub const LIVE_TX_CPU_MAP: &str = "LIVE_TX_CPU";
/// Sender threads one object serves (a sweep starts at most 8).
pub const MAX_LIVE_SENDERS: u32 = 8;
/// Slots in each sender's ring.
pub const SLOTS_PER_SENDER: u32 = 2048;
/// The longest frame a slot holds (the scanner's longest probe frame).
pub const LIVE_FRAME_MAX: u32 = 512;
/// The shortest frame `live_tx` sends (an Ethernet header).
pub const LIVE_FRAME_MIN: u32 = 14;
/// The sender of CPUs no pump runs on: `live_tx` sends nothing there.
pub const NO_SENDER: u32 = u32::MAX;

/// One frame to send: its length, then its bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LiveTxSlot {
    pub len: u32,
    pub _pad: u32,
    pub frame: [u8; LIVE_FRAME_MAX as usize],
}

/// A sender's ring: frames written so far (by userspace) and taken so far (by the
/// program); the next slot to take is `consumed % SLOTS_PER_SENDER`. Each counter
/// has one writer, and a cache line to itself.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveTxRing {
    pub produced: u64,
    pub _pad0: [u64; 7],
    pub consumed: u64,
    pub _pad1: [u64; 7],
}

// Both cross the kernel/user boundary as raw bytes: no hidden padding.
const _: () = assert!(core::mem::size_of::<LiveTxSlot>() == 8 + LIVE_FRAME_MAX as usize);
const _: () = assert!(core::mem::size_of::<LiveTxRing>() == 128);
