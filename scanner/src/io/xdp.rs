//! Loading the XDP classifier (built from `scanner-ebpf` and embedded in the binary),
//! configuring it for one scan, attaching it to the scanning interface with a
//! bpf_link (so it detaches when the process dies, however it dies), and reading the
//! records it pushes into its ring buffer from the tokio loop (AsyncFd, no polling).
//!
//! A [`LoadedClassifier`] can also be run on a frame with BPF_PROG_TEST_RUN without
//! being attached anywhere: the tests check the kernel program's verdicts that way.

use anyhow::{Context, Result};
use aya::maps::{Array, HashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{TestRun, TestRunOptions, Xdp, XdpMode};
use aya::Ebpf;
use scanner_common::capture::{CaptureKey, CAPTURED_MAP, CAPTURE_KEYS_MAP, CAPTURING_MAP};
use scanner_common::{
    ClassifierConfig, Counter, ReplyRecord, CONFIG_MAP, COUNTERS_MAP, REPLIES_MAP, XDP_PROGRAM_NAME,
};
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

    /// Attaches the program to interface `ifindex` with a bpf_link.
    pub fn attach(mut self, iface: &str, ifindex: u32, mode: AttachMode) -> Result<Classifier> {
        let mode = match mode {
            AttachMode::Auto => XdpMode::Default,
            AttachMode::Native => XdpMode::Driver,
            AttachMode::Skb => XdpMode::Skb,
        };
        self.program()?.attach_to_if_index(ifindex, mode).with_context(|| {
            format!(
                "attaching the XDP classifier to {iface} failed: another XDP program may be attached \
                 (see `ip link show {iface}`), or the driver refuses this mode (try --xdp-mode skb, or --recv-mode packet)"
            )
        })?;
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
