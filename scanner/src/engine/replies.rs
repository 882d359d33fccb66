//! Where classified replies come from: the XDP classifier's ring buffer, or (where it
//! cannot be loaded) a packet socket whose frames are classified in userspace by the
//! same rule. Either way the scan sees a stream of [`ReplyRecord`]s.

use crate::io::packet_socket::{PacketSocket, ALL_FRAMES};
use crate::io::xdp::{AttachMode, CaptureMaps, Classifier};
use crate::io::RecvMode;
use crate::packet::reply::classify;
use anyhow::Result;
use scanner_common::{ClassifierConfig, Counter, ReplyRecord};

pub enum ReplySource {
    Xdp(Box<Classifier>),
    Packet {
        socket: PacketSocket,
        config: ClassifierConfig,
        buf: Vec<u8>,
    },
}

impl ReplySource {
    pub fn open(
        mode: RecvMode,
        iface: &str,
        ifindex: u32,
        config: ClassifierConfig,
        attach: AttachMode,
    ) -> Result<Self> {
        Ok(match mode {
            RecvMode::Xdp => Self::Xdp(Box::new(Classifier::attach(
                iface, ifindex, config, attach,
            )?)),
            RecvMode::Packet => Self::Packet {
                socket: PacketSocket::open(ifindex, ALL_FRAMES)?,
                config,
                buf: vec![0; 2048],
            },
        })
    }

    /// Replaces the classifier's config (between the phases of a scan).
    pub fn configure(&mut self, new: ClassifierConfig) -> Result<()> {
        match self {
            Self::Xdp(classifier) => classifier.configure(new),
            Self::Packet { config, .. } => {
                *config = new;
                Ok(())
            }
        }
    }

    /// Waits for at least one reply and appends what is there to `out`.
    pub async fn recv(&mut self, out: &mut Vec<ReplyRecord>) -> Result<()> {
        match self {
            Self::Xdp(classifier) => classifier.recv(out).await,
            Self::Packet {
                socket,
                config,
                buf,
            } => loop {
                let len = socket.recv(buf).await?;
                if let Some(record) = classify(&buf[..len], config) {
                    out.push(record);
                    return Ok(());
                }
            },
        }
    }

    /// The XDP classifier's capture maps, for the script capture dispatcher (once);
    /// `None` on the packet-socket path, where the dispatcher reads frames itself.
    pub fn take_captures(&mut self) -> Option<CaptureMaps> {
        match self {
            Self::Xdp(classifier) => classifier.take_captures(),
            Self::Packet { .. } => None,
        }
    }

    /// Replies the classifier had to drop because userspace fell behind.
    pub fn lost(&self) -> u64 {
        match self {
            Self::Xdp(classifier) => classifier.counter(Counter::RingFull),
            Self::Packet { .. } => 0,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Xdp(_) => "XDP",
            Self::Packet { .. } => "AF_PACKET",
        }
    }
}
