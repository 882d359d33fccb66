//! The XDP live-frames send path (`--send-mode xdp`): the kernel's own packet
//! generator, fed by the sweep.
//!
//! Each sender thread writes its frames into its ring of slots in a memory-mapped BPF
//! array (`scanner_common::live_tx`). A pump thread of its own, pinned to one CPU,
//! keeps the kernel running the `live_tx` program (`BPF_PROG_RUN` with
//! `BPF_F_TEST_XDP_LIVE_FRAMES`, Linux 5.18+), up to a million runs a call: every run
//! takes one frame off the ring into a page the kernel recycles and transmits it with
//! `XDP_TX`, which becomes a transmit on the scanning interface through the driver's
//! XDP path. There is no socket, skb or completion ring on the sending side, so a
//! probe costs the kernel a fraction of what AF_XDP's copy mode does. Calls are long
//! because each one sets up and tears down a page pool (about 20 ms here); a pump
//! whose ring stays empty makes short calls and sleeps between them.
//!
//! The driver must take XDP frames: native XDP drivers do; a veth does when its peer
//! has NAPI on (GRO or an XDP program) and drops them otherwise, so the pump checks
//! that its first frames left (the interface's transmit counter moved) rather than
//! send into nothing.

use super::{FrameBatch, FrameSender};
use anyhow::{anyhow, bail, Context, Result};
use aya::maps::{MapData, PerCpuArray, PerCpuValues};
use aya::programs::Xdp;
use aya::Ebpf;
use scanner_common::live_tx::{
    LiveTxRing, LiveTxSlot, LIVE_FRAME_MAX, LIVE_FRAME_MIN, LIVE_TX_CPU_MAP, LIVE_TX_PROGRAM_NAME,
    LIVE_TX_RINGS_MAP, LIVE_TX_SLOTS_MAP, MAX_LIVE_SENDERS, NO_SENDER, SLOTS_PER_SENDER,
};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The sender's eBPF object, built by scanner/build.rs beside the classifier.
static SENDER_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sender"));

/// `BPF_PROG_RUN`'s command number and its live-frames flag.
const BPF_PROG_RUN: libc::c_long = 10;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;
/// Frames the kernel hands the driver at once. After each batch the kernel runs the
/// receive work the batch raised on this CPU (a veth peer's NAPI, and on the lab all
/// that follows it) unless that work has outgrown one softirq round and was left to
/// ksoftirqd; then the next batches fill the peer's 256-frame ring faster than it
/// drains. Measured on the lab's veth, 128 lost 1.5-18% of a /16 sweep's frames
/// (the interface's `xdp_xmit_errors`) at 50k-1M pps, worst just after each call's
/// setup, when the frames queued meanwhile go out at once; 16 lost none.
const KERNEL_BATCH: u32 = 16;
/// The most runs in one call, and the fewest: a call costs about 20 ms to set up and
/// tear down, and an empty run about a tenth of a microsecond.
const MOST_RUNS: u32 = 1 << 20;
const FEWEST_RUNS: u32 = 4096;
/// How long the first frames may take to show in the transmit counter.
const FIRST_FRAMES_CHECK: Duration = Duration::from_millis(500);
/// How long a sender waits for its ring to drain before saying the pump stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// The `test` member of `union bpf_attr`, as far as `BPF_PROG_RUN` reads it.
#[repr(C)]
#[derive(Default)]
struct ProgRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// `struct xdp_md` as `BPF_PROG_RUN` takes it: the frame's bounds and where it
/// "arrived", which is where `XDP_TX` sends it.
#[repr(C)]
#[derive(Default)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
}

/// A memory-mapped array map of `T`s; unmapped when dropped.
struct Mapped<T> {
    base: *mut T,
    len: usize,
}

// SAFETY: each sender writes only its own ring's slots and `produced`, its pump's
// program only that ring's `consumed`; what crosses threads is ordered below.
unsafe impl<T> Send for Mapped<T> {}
unsafe impl<T> Sync for Mapped<T> {}

impl<T> Mapped<T> {
    /// Maps the array `name` of `ebpf` (created `BPF_F_MMAPABLE`), `count` entries.
    fn map(ebpf: &Ebpf, name: &str, count: usize) -> Result<Self> {
        let Some(aya::maps::Map::Array(data)) = ebpf.map(name) else {
            bail!("the sender object has no array {name}");
        };
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let len = (count * std::mem::size_of::<T>()).div_ceil(page) * page;
        // SAFETY: a shared mapping of the map's own fd, no larger than the map
        // rounded to pages (what the kernel allows for an mmapable array).
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                data.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error()).with_context(|| format!("mapping {name}"));
        }
        Ok(Self {
            base: base.cast(),
            len,
        })
    }
}

impl<T> Drop for Mapped<T> {
    fn drop(&mut self) {
        // SAFETY: the mapping this struct made, unmapped once.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// What the senders and pumps share: the program, its mapped maps and the interface.
struct Shared {
    program: OwnedFd,
    slots: Mapped<LiveTxSlot>,
    rings: Mapped<LiveTxRing>,
    iface: String,
    ifindex: u32,
}

impl Shared {
    /// Sender `index`'s ring counters.
    fn ring(&self, index: u32) -> *mut LiveTxRing {
        // SAFETY: `index` is below the number of rings mapped (checked at open).
        unsafe { self.rings.base.add(index as usize) }
    }

    fn consumed(&self, index: u32) -> u64 {
        // SAFETY: an aligned u64 in the mapping; the program writes it, so it is
        // read volatile, then ordered before the slot reuse that depends on it.
        let value = unsafe { std::ptr::read_volatile(&(*self.ring(index)).consumed) };
        std::sync::atomic::fence(Ordering::Acquire);
        value
    }
}

/// One sender thread's end of the live-frames path: its ring, and the pump that
/// keeps the kernel taking frames off it.
pub struct LiveFrameSender {
    shared: Arc<Shared>,
    index: u32,
    /// Frames written to the ring so far (the ring's `produced`).
    produced: u64,
    pump: Option<Pump>,
}

/// A thread pinned to one CPU that calls `BPF_PROG_RUN` while its sender runs.
struct Pump {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
    /// Frames written, for the pump to size its calls by.
    produced: Arc<AtomicU64>,
    /// Why the pump stopped, when it stopped on an error.
    failed: Arc<Mutex<Option<String>>>,
    /// Set once the first frames were seen leaving (or could not be counted).
    verified: Arc<AtomicBool>,
}

/// Opens the live-frames path on `iface` for `senders` sender threads, with one pump
/// pinned to each of the first `senders` CPUs this process may run on.
pub fn open(iface: &str, ifindex: u32, senders: usize) -> Result<Vec<LiveFrameSender>> {
    let cpus = allowed_cpus()?;
    let most = cpus.len().min(MAX_LIVE_SENDERS as usize);
    if senders == 0 || senders > most {
        bail!(
            "--send-mode xdp pins each sender's pump to a CPU of its own, at most {most} here: \
             {senders} asked; use fewer --threads"
        );
    }
    let mut ebpf = aya::EbpfLoader::new()
        .btf(None)
        .map_max_entries(LIVE_TX_SLOTS_MAP, senders as u32 * SLOTS_PER_SENDER)
        .map_max_entries(LIVE_TX_RINGS_MAP, senders as u32)
        .load(SENDER_OBJECT)
        .map_err(|err| {
            anyhow!(
                "loading the XDP live-frames sender needs CAP_BPF and CAP_NET_ADMIN ({err}): \
                 run as root, or use --send-mode afxdp"
            )
        })?;
    let program: &mut Xdp = ebpf
        .program_mut(LIVE_TX_PROGRAM_NAME)
        .context("the sender object has no live_tx program")?
        .try_into()?;
    program.load().map_err(|err| {
        anyhow!("the kernel refused the live-frames sender ({err}): use --send-mode afxdp")
    })?;
    let program = program.fd()?.as_fd().try_clone_to_owned()?;
    let slots = Mapped::map(
        &ebpf,
        LIVE_TX_SLOTS_MAP,
        senders * SLOTS_PER_SENDER as usize,
    )?;
    let rings = Mapped::map(&ebpf, LIVE_TX_RINGS_MAP, senders)?;
    let mut cpu_map: PerCpuArray<&mut MapData, u32> = PerCpuArray::try_from(
        ebpf.map_mut(LIVE_TX_CPU_MAP)
            .context("the sender object has no CPU map")?,
    )?;
    let possible = aya::util::nr_cpus().map_err(|(_, err)| anyhow!("counting CPUs: {err}"))?;
    let mut serves = vec![NO_SENDER; possible];
    for (index, &cpu) in cpus.iter().take(senders).enumerate() {
        if let Some(value) = serves.get_mut(cpu) {
            *value = index as u32;
        }
    }
    cpu_map.set(0, PerCpuValues::try_from(serves)?, 0)?;
    let shared = Arc::new(Shared {
        program,
        slots,
        rings,
        iface: iface.to_string(),
        ifindex,
    });
    cpus.into_iter()
        .take(senders)
        .enumerate()
        .map(|(index, cpu)| {
            let index = index as u32;
            Ok(LiveFrameSender {
                pump: Some(Pump::start(shared.clone(), index, cpu)?),
                shared: shared.clone(),
                index,
                produced: 0,
            })
        })
        .collect()
}

/// The CPUs this process may run on, in order.
fn allowed_cpus() -> Result<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: our own thread's mask, into a set of the size we pass.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        return Err(io::Error::last_os_error()).context("reading the CPUs this process may use");
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET within the set's size.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed set with one CPU set, applied to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::sched_getcpu() != cpu as i32 {
            return Err(io::Error::other(format!(
                "the thread did not move to CPU {cpu}"
            )));
        }
    }
    Ok(())
}

/// The interface's transmit counter, as the kernel keeps it.
fn tx_packets(iface: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/statistics/tx_packets"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Pump {
    fn start(shared: Arc<Shared>, index: u32, cpu: usize) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let produced = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(Mutex::new(None));
        let verified = Arc::new(AtomicBool::new(false));
        let handle = {
            let (stop, produced, failed) = (stop.clone(), produced.clone(), failed.clone());
            let verified = verified.clone();
            std::thread::Builder::new()
                .name(format!("xdp-pump-{index}"))
                .spawn(move || {
                    if let Err(err) = pump(&shared, index, cpu, &stop, &produced, &verified) {
                        *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(err.to_string());
                    }
                })
                .context("starting a live-frames pump thread")?
        };
        Ok(Self {
            handle,
            stop,
            produced,
            failed,
            verified,
        })
    }

    fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The pump's loop: calls the program until told to stop with the ring empty. Each
/// call runs it about twice as many times as the last call sent frames (within
/// `FEWEST_RUNS..=MOST_RUNS`), and a pump whose ring is empty sleeps between calls.
fn pump(
    shared: &Shared,
    index: u32,
    cpu: usize,
    stop: &AtomicBool,
    produced: &AtomicU64,
    verified: &AtomicBool,
) -> io::Result<()> {
    pin_to(cpu)?;
    let mut runs = FEWEST_RUNS;
    let mut checked = false;
    loop {
        let consumed = shared.consumed(index);
        if produced.load(Ordering::Acquire) == consumed {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            runs = FEWEST_RUNS;
            std::thread::sleep(Duration::from_micros(500));
            continue;
        }
        let before = (!checked).then(|| tx_packets(&shared.iface)).flatten();
        run_program(shared, runs)?;
        let sent = shared.consumed(index) - consumed;
        runs = (sent.saturating_mul(2)).clamp(u64::from(FEWEST_RUNS), u64::from(MOST_RUNS)) as u32;
        if !checked && sent > 0 {
            checked = true;
            if let Some(before) = before {
                first_frames_left(&shared.iface, before, sent)?;
            }
            verified.store(true, Ordering::Release);
        }
    }
}

/// Runs the program `runs` times on this CPU. A signal may end the call early; the
/// ring's counters say what was sent either way.
fn run_program(shared: &Shared, runs: u32) -> io::Result<()> {
    // Any frame will do as the pages' first contents: every run rewrites its page.
    let first = [0u8; LIVE_FRAME_MIN as usize];
    let ctx = XdpMd {
        data_end: first.len() as u32,
        ingress_ifindex: shared.ifindex,
        ..Default::default()
    };
    let attr = ProgRunAttr {
        prog_fd: shared.program.as_raw_fd() as u32,
        data_size_in: first.len() as u32,
        data_in: first.as_ptr() as u64,
        repeat: runs,
        ctx_size_in: std::mem::size_of::<XdpMd>() as u32,
        ctx_in: &ctx as *const XdpMd as u64,
        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
        batch_size: KERNEL_BATCH,
        ..Default::default()
    };
    // SAFETY: bpf(2) with a valid attribute block of the size we pass; the pointers
    // in it outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_RUN,
            &attr as *const ProgRunAttr,
            std::mem::size_of::<ProgRunAttr>(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::Interrupted {
        return Ok(());
    }
    Err(io::Error::new(
        err.kind(),
        format!(
            "running the live-frames sender failed ({err}): it needs Linux 5.18 or later; \
             use --send-mode afxdp"
        ),
    ))
}

/// The first frames must show in the interface's transmit counter: a driver without
/// XDP transmit (or a veth whose peer has no NAPI) drops them silently.
fn first_frames_left(iface: &str, before: u64, sent: u64) -> io::Result<()> {
    let deadline = Instant::now() + FIRST_FRAMES_CHECK;
    loop {
        let counted = tx_packets(iface).unwrap_or(u64::MAX).wrapping_sub(before);
        if counted >= sent {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "XDP live frames did not leave {iface} ({counted} of {sent} counted): its driver \
                 takes no XDP frames (on a veth, the peer needs GRO or an XDP program); \
                 use --send-mode afxdp"
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl LiveFrameSender {
    fn pump(&self) -> io::Result<&Pump> {
        let pump = self
            .pump
            .as_ref()
            .ok_or_else(|| io::Error::other("the live-frames pump has stopped"))?;
        if let Some(why) = pump.failure() {
            return Err(io::Error::other(why));
        }
        Ok(pump)
    }

    /// Writes `frame` into the ring's slot for frame number `number`.
    fn write_slot(&self, number: u64, frame: &[u8]) -> io::Result<()> {
        if !(LIVE_FRAME_MIN as usize..=LIVE_FRAME_MAX as usize).contains(&frame.len()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {}-byte frame does not fit a live-frames slot",
                    frame.len()
                ),
            ));
        }
        let slot = u64::from(self.index * SLOTS_PER_SENDER) + number % u64::from(SLOTS_PER_SENDER);
        // SAFETY: the slot is in this sender's ring, which only this sender writes,
        // and free: the program has taken every frame before `number - ring size`.
        unsafe {
            let slot = self.shared.slots.base.add(slot as usize);
            (*slot).len = frame.len() as u32;
            (&mut (*slot).frame)[..frame.len()].copy_from_slice(frame);
        }
        Ok(())
    }
}

impl FrameSender for LiveFrameSender {
    fn send(&mut self, batch: &FrameBatch) -> io::Result<usize> {
        self.pump()?;
        let room = u64::from(SLOTS_PER_SENDER) - (self.produced - self.shared.consumed(self.index));
        let count = (batch.len() as u64).min(room) as usize;
        for i in 0..count {
            self.write_slot(self.produced + i as u64, batch.frame(i))?;
        }
        self.produced += count as u64;
        std::sync::atomic::fence(Ordering::Release);
        // SAFETY: an aligned u64 in the mapping that only this sender writes; the
        // fence orders the slots before it for the program that reads it.
        unsafe {
            std::ptr::write_volatile(&mut (*self.shared.ring(self.index)).produced, self.produced)
        };
        if let Some(pump) = &self.pump {
            pump.produced.store(self.produced, Ordering::Release);
        }
        Ok(count)
    }

    /// Waits until the pump has sent every frame written and, when any were, seen
    /// the first ones leave: a sweep that ended before that check would report a
    /// silent range instead of its error.
    fn flush(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + DRAIN_LIMIT;
        loop {
            let pump = self.pump()?;
            let drained = self.shared.consumed(self.index) == self.produced;
            if drained && (self.produced == 0 || pump.verified.load(Ordering::Acquire)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(
                    "the live-frames pump stopped taking frames",
                ));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn name(&self) -> &'static str {
        "XDP live frames"
    }
}

impl Drop for LiveFrameSender {
    fn drop(&mut self) {
        if let Some(pump) = self.pump.take() {
            // Frames still in the ring go out first (the pump stops when it is empty).
            pump.stop.store(true, Ordering::Release);
            let _ = pump.handle.join();
        }
    }
}
