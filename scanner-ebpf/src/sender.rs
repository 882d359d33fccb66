//! The XDP live-frames sender: each run of `live_tx` sends one probe frame.
//!
//! Userspace never attaches this program. A sweep's sender threads write probe frames
//! into their rings of `LIVE_TX_SLOTS`, and pump threads pinned one to a CPU run the
//! program over and over with `BPF_PROG_RUN` in live-frames mode
//! (`scanner::io::xdp_live`). Each run takes the next frame of the ring its CPU
//! serves, copies it into the kernel's recycled page and returns `XDP_TX`, which the
//! kernel turns into a transmit on the scanning interface through the driver's XDP
//! path. A run that finds the ring empty drops its page (`XDP_DROP`: nothing leaves);
//! a frame it cannot send (a length out of bounds) is taken and aborted. See
//! `scanner_common::live_tx` for the layout.
#![no_std]
#![no_main]

mod runtime;

use aya_ebpf::{
    bindings::{xdp_action, BPF_F_MMAPABLE},
    helpers::generated::{bpf_xdp_adjust_tail, bpf_xdp_store_bytes},
    macros::{map, xdp},
    maps::{Array, PerCpuArray},
    programs::XdpContext,
};
use scanner_common::live_tx::{
    LiveTxRing, LiveTxSlot, LIVE_FRAME_MAX, LIVE_FRAME_MIN, MAX_LIVE_SENDERS, SLOTS_PER_SENDER,
};

#[map(name = "LIVE_TX_SLOTS")]
static LIVE_TX_SLOTS: Array<LiveTxSlot> =
    Array::with_max_entries(MAX_LIVE_SENDERS * SLOTS_PER_SENDER, BPF_F_MMAPABLE);

#[map(name = "LIVE_TX_RINGS")]
static LIVE_TX_RINGS: Array<LiveTxRing> = Array::with_max_entries(MAX_LIVE_SENDERS, BPF_F_MMAPABLE);

#[map(name = "LIVE_TX_CPU")]
static LIVE_TX_CPU: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

#[xdp]
pub fn live_tx(ctx: XdpContext) -> u32 {
    take(&ctx).unwrap_or(xdp_action::XDP_DROP)
}

/// Takes the next frame of this CPU's ring into the page: `XDP_TX` to send it,
/// `XDP_ABORTED` for a frame that cannot be sent, `None` when there is none.
#[inline(always)]
fn take(ctx: &XdpContext) -> Option<u32> {
    // A per-CPU value only userspace writes, before any run.
    let sender = *LIVE_TX_CPU.get(0)?;
    if sender >= MAX_LIVE_SENDERS {
        return None;
    }
    let ring = LIVE_TX_RINGS.get_ptr_mut(sender)?;
    // SAFETY: the map returned a pointer to a whole ring. `produced` is written by
    // userspace after the slot it covers (a volatile read: it changes under us);
    // `consumed` only by the runs on this CPU, one at a time.
    let (produced, consumed) = unsafe {
        (
            core::ptr::read_volatile(&(*ring).produced),
            (*ring).consumed,
        )
    };
    if consumed == produced {
        return None;
    }
    let index = sender * SLOTS_PER_SENDER + (consumed % u64::from(SLOTS_PER_SENDER)) as u32;
    let slot = LIVE_TX_SLOTS.get_ptr(index)?;
    // SAFETY: the map returned a pointer to a whole slot, which stays ours (userspace
    // does not rewrite it) until `consumed` passes it: so that comes last.
    let len = unsafe { (*slot).len };
    let verdict = if copy_frame(ctx, slot, len).is_some() {
        xdp_action::XDP_TX
    } else {
        xdp_action::XDP_ABORTED
    };
    // SAFETY: as above; only the runs on this CPU write `consumed`.
    unsafe { core::ptr::write_volatile(&mut (*ring).consumed, consumed + 1) };
    Some(verdict)
}

/// Makes the page's frame `len` bytes long and copies the slot's frame into it.
#[inline(always)]
fn copy_frame(ctx: &XdpContext, slot: *const LiveTxSlot, len: u32) -> Option<()> {
    if !(LIVE_FRAME_MIN..=LIVE_FRAME_MAX).contains(&len) {
        return None;
    }
    // The same value, in a form whose bounds the verifier can follow (LLVM folds the
    // check above into one compare on another register): 1..=LIVE_FRAME_MAX.
    let len = ((len - 1) & (LIVE_FRAME_MAX - 1)) + 1;
    let have = (ctx.data_end() - ctx.data()) as i32;
    let delta = len as i32 - have;
    // SAFETY: helpers on this program's own context; the kernel checks the bounds.
    unsafe {
        if delta != 0 && bpf_xdp_adjust_tail(ctx.ctx, delta) != 0 {
            return None;
        }
        let frame = (*slot).frame.as_ptr() as *mut core::ffi::c_void;
        if bpf_xdp_store_bytes(ctx.ctx, 0, frame, len) != 0 {
            return None;
        }
    }
    Some(())
}
