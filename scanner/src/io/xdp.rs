//! Loading the XDP classifier (built from `scanner-ebpf` and embedded in the binary),
//! configuring it for one scan, attaching it to the scanning interface with a
//! bpf_link (so it detaches when the process dies, however it dies), and reading the
//! records it pushes into its ring buffer from the tokio loop (AsyncFd, no polling).
//!
//! A [`LoadedClassifier`] can also be run on a frame with BPF_PROG_TEST_RUN without
//! being attached anywhere: the tests check the kernel program's verdicts that way.
//!
//! Kernels without bpf_link for XDP attach through netlink, and such an attachment
//! outlives a scanner that is killed. When attaching finds the interface's XDP slot
//! taken, the programs there are looked at (`io::xdp_slot`): a classifier (the
//! program's name) left behind that way is detached and the scan goes on; anyone
//! else's program stops the scan with a message that names it (a live scanner's
//! classifier, held by its bpf_link, is left alone).

use super::xdp_slot::{self, SlotMode};
use super::AttachMode;
use anyhow::{bail, Context, Result};
use aya::maps::{Array, HashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{TestRun, TestRunOptions, Xdp, XdpMode};
use aya::Ebpf;
use scanner_common::capture::{CaptureKey, CAPTURED_MAP, CAPTURE_KEYS_MAP, CAPTURING_MAP};
use scanner_common::{
    ClassifierConfig, Counter, ReplyRecord, CONFIG_MAP, COUNTERS_MAP, REPLIES_MAP, XDP_PROGRAM_NAME,
};
use std::os::fd::AsFd;
use tokio::io::unix::AsyncFd;

/// The eBPF object, built by scanner/build.rs.
static CLASSIFIER_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/scanner"));

/// Loads the embedded object. The programs use no CO-RE relocations, so the kernel's
/// own BTF (5 MB in /sys/kernel/btf/vmlinux) is not needed for relocating them: aya
/// still reads it once when the loader is made, but no longer a second time, which
/// takes a fifth off a small scan's start.
fn load_object() -> Result<Ebpf, aya::EbpfError> {
    aya::EbpfLoader::new().btf(None).load(CLASSIFIER_OBJECT)
}

/// The classifier's maps for script captures (`scanner_common::capture`): the keys
/// scripts wait on, the count that switches the lookup on, and the ring of frames.
pub struct CaptureMaps {
    pub keys: HashMap<MapData, CaptureKey, u32>,
    pub capturing: Array<MapData, u32>,
    pub ring: RingBuf<MapData>,
}

impl CaptureMaps {
    fn take(ebpf: &mut Ebpf) -> Result<Self> {
        let mut take = |name: &str| {
            ebpf.take_map(name)
                .with_context(|| format!("the classifier has no {name} map"))
        };
        Ok(Self {
            keys: HashMap::try_from(take(CAPTURE_KEYS_MAP)?)?,
            capturing: Array::try_from(take(CAPTURING_MAP)?)?,
            ring: RingBuf::try_from(take(CAPTURED_MAP)?)?,
        })
    }
}

/// The classifier loaded into the kernel and configured, not attached yet.
pub struct LoadedClassifier {
    /// Script captures; taken by the capture dispatcher when scripts run.
    pub captures: Option<CaptureMaps>,
    replies: RingBuf<MapData>,
    counters: PerCpuArray<MapData, u64>,
    config: Array<MapData, ClassifierConfig>,
    ebpf: Ebpf,
}

impl LoadedClassifier {
    /// Loads the program and its maps and writes `config`.
    pub fn load(config: ClassifierConfig) -> Result<Self> {
        let mut ebpf = load_object().map_err(|err| {
            let text = format!("{err:?}");
            let hint = if text.contains("EPERM") || text.contains("Operation not permitted") {
                "loading the XDP classifier needs CAP_BPF and CAP_NET_ADMIN: run as root, or use --recv-mode packet"
            } else {
                "loading the XDP classifier failed: the kernel may lack BPF ring buffers (5.8+); use --recv-mode packet"
            };
            anyhow::Error::new(err).context(hint)
        })?;
        let mut config_map: Array<_, ClassifierConfig> = Array::try_from(
            ebpf.map_mut(CONFIG_MAP)
                .context("the classifier has no config map")?,
        )?;
        config_map
            .set(0, config, 0)
            .context("writing the classifier's config")?;
        let program: &mut Xdp = ebpf
            .program_mut(XDP_PROGRAM_NAME)
            .context("the eBPF object has no XDP program")?
            .try_into()?;
        program
            .load()
            .context("the kernel's verifier refused the XDP classifier")?;
        let replies = RingBuf::try_from(
            ebpf.take_map(REPLIES_MAP)
                .context("the classifier has no reply ring")?,
        )?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map(COUNTERS_MAP)
                .context("the classifier has no counters")?,
        )?;
        let config = Array::try_from(
            ebpf.take_map(CONFIG_MAP)
                .context("the classifier has no config map")?,
        )?;
        let captures = Some(CaptureMaps::take(&mut ebpf)?);
        Ok(Self {
            captures,
            replies,
            counters,
            config,
            ebpf,
        })
    }

    fn program(&mut self) -> Result<&mut Xdp> {
        Ok(self
            .ebpf
            .program_mut(XDP_PROGRAM_NAME)
            .context("the eBPF object has no XDP program")?
            .try_into()?)
    }

    /// Attaches the program to interface `ifindex` with a bpf_link, first detaching a
    /// classifier a killed scanner left attached there (see the module's doc).
    pub fn attach(mut self, iface: &str, ifindex: u32, mode: AttachMode) -> Result<Classifier> {
        let mode = match mode {
            AttachMode::Auto => XdpMode::Default,
            AttachMode::Native => XdpMode::Driver,
            AttachMode::Skb => XdpMode::Skb,
        };
        let failed = |iface: &str| {
            format!(
                "attaching the XDP classifier to {iface} failed: another XDP program may be attached \
                 (see `ip link show {iface}`), or the driver refuses this mode (try --xdp-mode skb, or --recv-mode packet)"
            )
        };
        if let Err(err) = self.program()?.attach_to_if_index(ifindex, mode) {
            if !clear_left_behind(iface, ifindex)? {
                return Err(err).with_context(|| failed(iface));
            }
            self.program()?
                .attach_to_if_index(ifindex, mode)
                .with_context(|| failed(iface))?;
        }
        // SAFETY: the ring buffer owns its map descriptor, which stays open and the same
        // for as long as the AsyncFd holds it.
        let replies = unsafe { AsyncFd::register(self.replies) }
            .context("registering the ring buffer with tokio")?;
        Ok(Classifier {
            captures: self.captures,
            replies,
            counters: self.counters,
            config: self.config,
            _ebpf: self.ebpf,
        })
    }

    /// Runs the program once on `frame` (BPF_PROG_TEST_RUN) and returns its verdict
    /// (an `xdp_action`) with the records it pushed.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<(u32, Vec<ReplyRecord>)> {
        let mut out = vec![0u8; frame.len() + 256];
        let options = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..Default::default()
        };
        let result = self
            .program()?
            .test_run(options)
            .context("BPF_PROG_TEST_RUN")?;
        let mut records = Vec::new();
        drain(&mut self.replies, &mut records);
        Ok((result.return_value, records))
    }

    /// The sum over CPUs of one of the classifier's counters.
    pub fn counter(&self, counter: Counter) -> u64 {
        sum_counter(&self.counters, counter)
    }
}

/// Another program holds the interface's XDP slot: not a classifier left behind, so
/// the scan stops rather than scan beside (or behind) it.
#[derive(Debug)]
pub struct SlotTaken(pub String);

impl std::fmt::Display for SlotTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SlotTaken {}

/// The XDP slot of `ifindex` after attaching failed: detaches the classifiers a killed
/// scanner left there through netlink and says whether there were any (then attaching
/// again may work). Anyone else's program is a [`SlotTaken`] error that names it; a
/// classifier a running scanner holds with its bpf_link is an ordinary error (a
/// packet socket can still read beside it).
fn clear_left_behind(iface: &str, ifindex: u32) -> Result<bool> {
    let attached = xdp_slot::attached(ifindex)?;
    let mut cleared = false;
    for slot in attached {
        let Some(info) = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .find(|info| info.id() == slot.prog_id)
        else {
            // Gone meanwhile: the slot is free again.
            cleared = true;
            continue;
        };
        let id = slot.prog_id;
        let name = info.name_as_str().unwrap_or("").to_string();
        let mode = match slot.mode {
            SlotMode::Driver => "native",
            SlotMode::Skb => "generic",
            SlotMode::Hardware => "offloaded",
        };
        if name != XDP_PROGRAM_NAME {
            return Err(SlotTaken(format!(
                "{iface} already has an XDP program that is not the scanner's: {name:?} (id {id}, tag {:016x}, {mode} mode). \
                 Remove it if it is not needed (`ip link set dev {iface} xdp off`), or scan with --recv-mode packet \
                 (replies may not reach the packet socket past that program)",
                info.tag()
            ))
            .into());
        }
        let fd = info.fd().context("opening the left-behind classifier")?;
        match xdp_slot::set(ifindex, None, slot.mode, Some(fd.as_fd())) {
            Ok(()) => {
                eprintln!(
                    "scanner: detached the XDP classifier a killed scanner left attached to {iface} (program id {id}, {mode} mode)"
                );
                cleared = true;
            }
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) => bail!(
                "another scanner is running on {iface}: its XDP classifier (program id {id}) is attached with a bpf_link, \
                 which holds it until that scanner exits"
            ),
            Err(err) => {
                bail!("detaching the classifier left attached to {iface} (program id {id}): {err}")
            }
        }
    }
    Ok(cleared)
}

/// Attaches `program` (the classifier, or `drop_all`) of the embedded object to
/// interface `ifindex` through netlink, in generic mode, and leaves it there: what a
/// scanner killed on a kernel without bpf_link for XDP leaves behind. For the tests
/// of [`LoadedClassifier::attach`]; `xdp_slot::set` with no program detaches it.
pub fn leave_attached(program: &str, ifindex: u32) -> Result<()> {
    let mut ebpf = load_object().context("loading the eBPF object (needs root)")?;
    let xdp: &mut Xdp = ebpf
        .program_mut(program)
        .with_context(|| format!("the eBPF object has no {program} program"))?
        .try_into()?;
    xdp.load()?;
    xdp_slot::set(ifindex, Some(xdp.fd()?.as_fd()), SlotMode::Skb, None)
        .with_context(|| format!("attaching {program} through netlink"))?;
    // The netlink attachment keeps its own reference: the program stays attached
    // after this object is gone.
    Ok(())
}

fn drain(ring: &mut RingBuf<MapData>, out: &mut Vec<ReplyRecord>) {
    while let Some(item) = ring.next() {
        if item.len() >= std::mem::size_of::<ReplyRecord>() {
            // SAFETY: the classifier writes whole ReplyRecords; read unaligned.
            out.push(unsafe { std::ptr::read_unaligned(item.as_ptr() as *const ReplyRecord) });
        }
    }
}

fn sum_counter(counters: &PerCpuArray<MapData, u64>, counter: Counter) -> u64 {
    counters
        .get(&(counter as u32), 0)
        .map(|values| values.iter().sum())
        .unwrap_or(0)
}

/// The benchmark sink: an XDP program that drops (and counts) every IPv4 frame,
/// attached while this value lives. Benchmarks use it so that a lab host can absorb a
/// sender at any rate; the scanner never does.
pub struct DropAll {
    counters: PerCpuArray<MapData, u64>,
    _ebpf: Ebpf,
}

impl DropAll {
    pub fn attach(iface: &str) -> Result<Self> {
        let mut ebpf = load_object().context("loading the eBPF object (needs root)")?;
        let program: &mut Xdp = ebpf
            .program_mut(scanner_common::DROP_ALL_PROGRAM_NAME)
            .context("the eBPF object has no drop_all program")?
            .try_into()?;
        program.load()?;
        program
            .attach(iface, XdpMode::Default)
            .with_context(|| format!("attaching drop_all to {iface}"))?;
        let counters =
            PerCpuArray::try_from(ebpf.take_map(COUNTERS_MAP).context("no counters map")?)?;
        Ok(Self {
            counters,
            _ebpf: ebpf,
        })
    }

    /// Frames dropped so far.
    pub fn dropped(&self) -> u64 {
        sum_counter(&self.counters, Counter::Frames)
    }
}

/// The attached classifier. Dropping it detaches the program.
pub struct Classifier {
    captures: Option<CaptureMaps>,
    replies: AsyncFd<RingBuf<MapData>>,
    counters: PerCpuArray<MapData, u64>,
    config: Array<MapData, ClassifierConfig>,
    // Owns the program and its link; dropped last.
    _ebpf: Ebpf,
}

impl Classifier {
    /// Loads the classifier, writes `config`, and attaches it to interface `ifindex`.
    pub fn attach(
        iface: &str,
        ifindex: u32,
        config: ClassifierConfig,
        mode: AttachMode,
    ) -> Result<Self> {
        LoadedClassifier::load(config)?.attach(iface, ifindex, mode)
    }

    /// The maps of script captures, for the dispatcher (once).
    pub fn take_captures(&mut self) -> Option<CaptureMaps> {
        self.captures.take()
    }

    /// Replaces the config the running program classifies by.
    pub fn configure(&mut self, config: ClassifierConfig) -> Result<()> {
        self.config
            .set(0, config, 0)
            .context("writing the classifier's config")
    }

    /// Waits until the ring buffer has records, then moves all of them into `out`.
    pub async fn recv(&mut self, out: &mut Vec<ReplyRecord>) -> Result<()> {
        loop {
            let mut guard = self.replies.readable_mut().await?;
            drain(guard.get_inner_mut(), out);
            guard.clear_ready();
            if !out.is_empty() {
                return Ok(());
            }
        }
    }

    /// The sum over CPUs of one of the classifier's counters.
    pub fn counter(&self, counter: Counter) -> u64 {
        sum_counter(&self.counters, counter)
    }
}
