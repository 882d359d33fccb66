//! Where classified replies come from: a [`ReplySource`]. Three are real: the XDP
//! classifier's ring buffer, and (where it cannot be loaded) a packet socket or a
//! libpcap handle whose frames are classified in userspace by the same rule. Either way the scan sees a
//! stream of [`ReplyRecord`]s; the probe loop's unit tests put a fake network behind
//! the same trait (`engine::fake_net`).

#[cfg(fast_path)]
use crate::io::packet_socket::{PacketSocket, ALL_FRAMES};
use crate::io::pcap_tap::PcapTap;
#[cfg(fast_path)]
use crate::io::xdp::{CaptureMaps, Classifier};
use crate::io::{AttachMode, RecvMode};
use crate::packet::reply::classify;
use anyhow::Result;
#[cfg(fast_path)]
use scanner_common::Counter;
use scanner_common::{ClassifierConfig, ReplyRecord};
use std::future::Future;
use std::pin::Pin;

/// What [`ReplySource::recv`] returns: a wait for replies, which may be dropped
/// (cancelled) before it ends without losing any.
pub type Recv<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// A stream of classified replies to the scan's probes.
pub trait ReplySource: Send {
    /// Replaces the classifier's config (between the phases of a scan).
    fn configure(&mut self, config: ClassifierConfig) -> Result<()>;

    /// Waits for at least one reply and appends what is there to `out`.
    fn recv<'a>(&'a mut self, out: &'a mut Vec<ReplyRecord>) -> Recv<'a>;

    /// The XDP classifier's capture maps, for the script capture dispatcher (once);
    /// `None` where there are none (the packet-socket path, whose dispatcher reads
    /// frames itself).
    #[cfg(fast_path)]
    fn take_captures(&mut self) -> Option<CaptureMaps> {
        None
    }

    /// Every frame the source reads, for the script capture dispatcher (once), where
    /// the source reads frames that nothing else can (libpcap's one handle).
    fn take_frames(
        &mut self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<crate::io::pcap_tap::StampedFrame>> {
        None
    }

    /// Replies the classifier had to drop because userspace fell behind.
    fn lost(&self) -> u64 {
        0
    }

    /// A short name for messages ("XDP", "AF_PACKET").
    fn name(&self) -> &'static str;
}

/// The reply source of `mode`: the XDP classifier attached to `iface`, or a packet
/// socket on it.
pub fn open(
    mode: RecvMode,
    iface: &str,
    ifindex: u32,
    config: ClassifierConfig,
    attach: AttachMode,
) -> Result<Box<dyn ReplySource>> {
    Ok(match mode {
        #[cfg(fast_path)]
        RecvMode::Xdp => Box::new(Classifier::attach(iface, ifindex, config, attach)?),
        #[cfg(fast_path)]
        RecvMode::Packet => Box::new(PacketReplies {
            socket: PacketSocket::open(ifindex, ALL_FRAMES)?,
            config,
            buf: vec![0; 2048],
        }),
        RecvMode::Pcap => Box::new(PcapReplies {
            tap: PcapTap::open(iface, std::net::Ipv4Addr::from(config.local_addr))?,
            config,
        }),
        #[cfg(not(fast_path))]
        RecvMode::Xdp | RecvMode::Packet => {
            let _ = (ifindex, attach);
            anyhow::bail!("the portable build receives through libpcap only")
        }
    })
}

#[cfg(fast_path)]
impl ReplySource for Classifier {
    fn configure(&mut self, config: ClassifierConfig) -> Result<()> {
        Classifier::configure(self, config)
    }

    fn recv<'a>(&'a mut self, out: &'a mut Vec<ReplyRecord>) -> Recv<'a> {
        Box::pin(Classifier::recv(self, out))
    }

    fn take_captures(&mut self) -> Option<CaptureMaps> {
        Classifier::take_captures(self)
    }

    fn lost(&self) -> u64 {
        self.counter(Counter::RingFull)
    }

    fn name(&self) -> &'static str {
        "XDP"
    }
}

/// Every frame of the interface through a packet socket, classified here by the XDP
/// program's userspace twin.
#[cfg(fast_path)]
struct PacketReplies {
    socket: PacketSocket,
    config: ClassifierConfig,
    buf: Vec<u8>,
}

#[cfg(fast_path)]
impl ReplySource for PacketReplies {
    fn configure(&mut self, config: ClassifierConfig) -> Result<()> {
        self.config = config;
        Ok(())
    }

    fn recv<'a>(&'a mut self, out: &'a mut Vec<ReplyRecord>) -> Recv<'a> {
        Box::pin(async move {
            loop {
                let len = self.socket.recv(&mut self.buf).await?;
                if let Some(record) = classify(&self.buf[..len], &self.config) {
                    out.push(record);
                    return Ok(());
                }
            }
        })
    }

    fn name(&self) -> &'static str {
        "AF_PACKET"
    }
}

/// The frames to this machine through libpcap's one handle, classified here by the XDP
/// program's userspace twin.
struct PcapReplies {
    tap: PcapTap,
    config: ClassifierConfig,
}

impl ReplySource for PcapReplies {
    fn configure(&mut self, config: ClassifierConfig) -> Result<()> {
        self.config = config;
        Ok(())
    }

    fn recv<'a>(&'a mut self, out: &'a mut Vec<ReplyRecord>) -> Recv<'a> {
        Box::pin(async move {
            loop {
                let Some(frame) = self.tap.next().await else {
                    anyhow::bail!("the libpcap reader stopped");
                };
                if let Some(record) = classify(&frame, &self.config) {
                    out.push(record);
                    // And whatever else is already there.
                    while let Some(frame) = self.tap.try_next() {
                        out.extend(classify(&frame, &self.config));
                    }
                    return Ok(());
                }
            }
        })
    }

    fn take_frames(
        &mut self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<crate::io::pcap_tap::StampedFrame>> {
        self.tap.frames()
    }

    fn lost(&self) -> u64 {
        self.tap.dropped()
    }

    fn name(&self) -> &'static str {
        "libpcap"
    }
}
