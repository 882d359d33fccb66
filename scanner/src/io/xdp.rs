//! Loading the XDP classifier (built from `scanner-ebpf` and embedded in the binary),
//! configuring it for one scan, attaching it to the scanning interface with a
//! bpf_link (so it detaches when the process dies, however it dies), and reading the
//! records it pushes into its ring buffer from the tokio loop (AsyncFd, no polling).

use anyhow::{Context, Result};
use aya::maps::{Array, MapData, PerCpuArray, RingBuf};
use aya::programs::{Xdp, XdpMode};
use aya::Ebpf;
use scanner_common::{
    ClassifierConfig, Counter, ReplyRecord, CONFIG_MAP, COUNTERS_MAP, REPLIES_MAP, XDP_PROGRAM_NAME,
};
use tokio::io::unix::AsyncFd;

/// The eBPF object, built by scanner/build.rs.
static CLASSIFIER_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/scanner"));

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

/// The attached classifier. Dropping it detaches the program.
pub struct Classifier {
    replies: AsyncFd<RingBuf<MapData>>,
    counters: PerCpuArray<MapData, u64>,
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
        let mut ebpf = Ebpf::load(CLASSIFIER_OBJECT).map_err(|err| {
            let hint = if format!("{err:?}").contains("EPERM") || format!("{err:?}").contains("Operation not permitted") {
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
        let mode = match mode {
            AttachMode::Auto => XdpMode::Default,
            AttachMode::Native => XdpMode::Driver,
            AttachMode::Skb => XdpMode::Skb,
        };
        program.attach_to_if_index(ifindex, mode).with_context(|| {
            format!(
                "attaching the XDP classifier to {iface} failed: another XDP program may be attached \
                 (see `ip link show {iface}`), or the driver refuses this mode (try --xdp-mode skb, or --recv-mode packet)"
            )
        })?;
        let replies = RingBuf::try_from(
            ebpf.take_map(REPLIES_MAP)
                .context("the classifier has no reply ring")?,
        )?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map(COUNTERS_MAP)
                .context("the classifier has no counters")?,
        )?;
        // SAFETY: the ring buffer owns its map descriptor, which stays open and the same
        // for as long as the AsyncFd holds it.
        let replies = unsafe { AsyncFd::register(replies) }
            .context("registering the ring buffer with tokio")?;
        Ok(Self {
            replies,
            counters,
            _ebpf: ebpf,
        })
    }

    /// Waits until the ring buffer has records, then moves all of them into `out`.
    pub async fn recv(&mut self, out: &mut Vec<ReplyRecord>) -> Result<()> {
        loop {
            let mut guard = self.replies.readable_mut().await?;
            let ring = guard.get_inner_mut();
            while let Some(item) = ring.next() {
                if item.len() >= std::mem::size_of::<ReplyRecord>() {
                    // SAFETY: the classifier writes whole ReplyRecords; read unaligned.
                    out.push(unsafe {
                        std::ptr::read_unaligned(item.as_ptr() as *const ReplyRecord)
                    });
                }
            }
            guard.clear_ready();
            if !out.is_empty() {
                return Ok(());
            }
        }
    }

    /// The sum over CPUs of one of the classifier's counters.
    pub fn counter(&self, counter: Counter) -> u64 {
        self.counters
            .get(&(counter as u32), 0)
            .map(|values| values.iter().sum())
            .unwrap_or(0)
    }
}
