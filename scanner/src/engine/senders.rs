//! Choosing the way frames leave and replies come in. A mode the user named
//! (`--send-mode`, `--recv-mode`, `--xdp-mode`) is honoured or the scan stops with an
//! error that says what to do; only the defaults fall back (AF_XDP → AF_PACKET for
//! sending, XDP → AF_PACKET for receiving), each with one line saying why.
//!
//! In the portable build (`cfg(fast_path)` unset) libpcap is the only mode both ways:
//! the defaults are libpcap, said once, and naming another mode is an error.

use super::path::ScanPath;
use super::replies::{self, ReplySource};
use crate::io::pcap_sender::PcapSender;
use crate::io::{AttachMode, FrameSender, RecvMode, SendMode};
use anyhow::Result;
use scanner_common::ClassifierConfig;

#[cfg(fast_path)]
use crate::io::afxdp::AfXdpSender;
#[cfg(fast_path)]
use crate::io::packet_socket::{RawPacketSocket, SEND_ONLY};
#[cfg(fast_path)]
use crate::io::xdp::SlotTaken;
#[cfg(fast_path)]
use anyhow::anyhow;
#[cfg(fast_path)]
use clap::ValueEnum;

/// A sender on queue `queue` of the scan's interface: `mode`, or (none named) AF_XDP
/// with AF_PACKET as the fallback.
#[cfg(fast_path)]
pub fn open_sender(
    mode: Option<SendMode>,
    path: &ScanPath,
    queue: u32,
    notice: &mut dyn FnMut(&str),
) -> Result<Box<dyn FrameSender + Send>> {
    let packet = || -> Result<Box<dyn FrameSender + Send>> {
        Ok(Box::new(RawPacketSocket::open(path.ifindex, SEND_ONLY)?))
    };
    match mode {
        None | Some(SendMode::Afxdp) => honour_or_fall_back(
            mode.is_some(),
            AfXdpSender::open(&path.iface, queue)
                .map(|sender| Box::new(sender) as Box<dyn FrameSender + Send>),
            Asked {
                option: "--send-mode afxdp".into(),
                instead: "use --send-mode packet, or leave --send-mode out to fall back to it",
                fallback: "sending through an AF_PACKET socket instead",
            },
            packet,
            notice,
        ),
        Some(SendMode::Pcap) => Ok(Box::new(PcapSender::open(&path.iface)?)),
        Some(SendMode::Packet) => packet(),
        Some(SendMode::Xdp) => Err(anyhow!(
            "--send-mode xdp sends sweeps only (--sweep): its sender threads pin themselves to CPUs; \
             use --send-mode afxdp here"
        )),
    }
}

/// A sweep's `threads` senders, one per queue of the scan's interface: as
/// [`open_sender`], or XDP live frames when named (which open together: they share
/// one program).
pub fn open_sweep_senders(
    mode: Option<SendMode>,
    path: &ScanPath,
    threads: usize,
    notice: &mut dyn FnMut(&str),
) -> Result<Vec<Box<dyn FrameSender + Send>>> {
    #[cfg(fast_path)]
    if mode == Some(SendMode::Xdp) {
        return Ok(
            crate::io::xdp_live::open(&path.iface, path.ifindex, threads)?
                .into_iter()
                .map(|sender| Box::new(sender) as Box<dyn FrameSender + Send>)
                .collect(),
        );
    }
    (0..threads)
        .map(|thread| open_sender(mode, path, thread as u32, notice))
        .collect()
}

/// A sender on the scan's interface: libpcap, the portable build's only way out.
#[cfg(not(fast_path))]
pub fn open_sender(
    mode: Option<SendMode>,
    path: &ScanPath,
    _queue: u32,
    notice: &mut dyn FnMut(&str),
) -> Result<Box<dyn FrameSender + Send>> {
    match mode {
        None => portable_only(notice),
        Some(SendMode::Pcap) => {}
        Some(other) => return Err(not_in_portable_build("--send-mode", &other)),
    }
    Ok(Box::new(PcapSender::open(&path.iface)?))
}

/// The reply source for `config` in the portable build: libpcap, its only way in.
#[cfg(not(fast_path))]
pub fn open_replies(
    mode: Option<RecvMode>,
    path: &ScanPath,
    config: ClassifierConfig,
    attach: Option<AttachMode>,
    notice: &mut dyn FnMut(&str),
) -> Result<Box<dyn ReplySource>> {
    if attach.is_some() {
        anyhow::bail!(
            "--xdp-mode needs the Linux build with the `xdp` feature; \
             this is the portable build, which receives through libpcap only: leave --xdp-mode out"
        );
    }
    match mode {
        None => portable_only(notice),
        Some(RecvMode::Pcap) => {}
        Some(other) => return Err(not_in_portable_build("--recv-mode", &other)),
    }
    replies::open(
        RecvMode::Pcap,
        &path.iface,
        path.ifindex,
        config,
        AttachMode::Auto,
    )
}

/// The error for `option` naming `mode`, which the portable build does not have.
#[cfg(not(fast_path))]
fn not_in_portable_build<M: clap::ValueEnum>(option: &str, mode: &M) -> anyhow::Error {
    let name = mode
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    anyhow::anyhow!(
        "{option} {name} needs the Linux build with the `xdp` feature; this is the portable \
         build, which sends and receives through libpcap only: use {option} pcap, or leave {option} out"
    )
}

/// Says, once per process, that this build has only the pcap mode.
#[cfg(not(fast_path))]
fn portable_only(notice: &mut dyn FnMut(&str)) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        notice(
            "this is the portable build: frames go out and come in through libpcap only \
             (the XDP, AF_XDP and AF_PACKET paths are in the Linux build with the `xdp` feature)",
        );
    }
}

/// The reply source for `config`: `mode`, or (none named) the XDP classifier with a
/// packet socket as the fallback. A named `attach` mode asks for XDP as well.
#[cfg(fast_path)]
pub fn open_replies(
    mode: Option<RecvMode>,
    path: &ScanPath,
    config: ClassifierConfig,
    attach: Option<AttachMode>,
    notice: &mut dyn FnMut(&str),
) -> Result<Box<dyn ReplySource>> {
    let open = |mode| {
        replies::open(
            mode,
            &path.iface,
            path.ifindex,
            config,
            attach.unwrap_or(AttachMode::Auto),
        )
    };
    match mode {
        Some(RecvMode::Packet) => open(RecvMode::Packet),
        Some(RecvMode::Pcap) => open(RecvMode::Pcap),
        None | Some(RecvMode::Xdp) => {
            let fast = open(RecvMode::Xdp);
            // A foreign program in the XDP slot would see replies before a packet
            // socket does: that stops the scan rather than fall back.
            if fast.as_ref().is_err_and(|err| err.is::<SlotTaken>()) {
                return fast;
            }
            honour_or_fall_back(
            mode.is_some() || attach.is_some(),
            fast,
            Asked {
                option: match (mode, attach) {
                    (Some(_), _) | (None, None) => "--recv-mode xdp".into(),
                    (None, Some(attach)) => format!(
                        "--xdp-mode {}",
                        attach
                            .to_possible_value()
                            .map(|v| v.get_name().to_string())
                            .unwrap_or_default()
                    ),
                },
                instead: "use --recv-mode packet, or leave --recv-mode and --xdp-mode out to fall back to it",
                fallback: "receiving through an AF_PACKET socket instead (slower)",
            },
            || open(RecvMode::Packet),
            notice,
        )
        }
    }
}

/// What to say when the fast path could not open.
#[cfg(fast_path)]
struct Asked {
    /// The option that asked for it, as the user wrote it.
    option: String,
    /// What the user can do instead.
    instead: &'static str,
    /// The notice when falling back.
    fallback: &'static str,
}

/// The rule: the fast path `first` if it opened; if not, an error when the user
/// `named` it, or else `fallback` with a notice saying why.
#[cfg(fast_path)]
fn honour_or_fall_back<T>(
    named: bool,
    first: Result<T>,
    asked: Asked,
    fallback: impl FnOnce() -> Result<T>,
    notice: &mut dyn FnMut(&str),
) -> Result<T> {
    match first {
        Ok(opened) => Ok(opened),
        Err(err) if named => Err(anyhow!(
            "{} cannot be honoured: {err:#}\nrun as root (it needs CAP_BPF, CAP_NET_ADMIN and CAP_NET_RAW), or {}",
            asked.option,
            asked.instead
        )),
        Err(err) => {
            notice(&format!("{err:#}\n{}", asked.fallback));
            fallback()
        }
    }
}

#[cfg(all(test, fast_path))]
mod tests {
    use super::*;

    fn asked() -> Asked {
        Asked {
            option: "--send-mode afxdp".into(),
            instead: "use --send-mode packet",
            fallback: "sending through an AF_PACKET socket instead",
        }
    }

    fn choose(named: bool, first: Result<&'static str>) -> (Result<&'static str>, Vec<String>) {
        let mut notices = Vec::new();
        let chosen =
            honour_or_fall_back(named, first, asked(), || Ok("fallback"), &mut |m: &str| {
                notices.push(m.to_string())
            });
        (chosen, notices)
    }

    #[test]
    fn a_named_mode_that_cannot_open_is_an_error_with_advice() {
        let (chosen, notices) = choose(true, Err(anyhow!("AF_XDP socket failed")));
        let message = format!("{:#}", chosen.unwrap_err());
        assert!(
            message.contains("--send-mode afxdp cannot be honoured"),
            "{message}"
        );
        assert!(message.contains("run as root"), "{message}");
        assert!(message.contains("use --send-mode packet"), "{message}");
        assert!(message.contains("AF_XDP socket failed"), "{message}");
        assert!(notices.is_empty(), "no fallback notice: {notices:?}");
    }

    #[test]
    fn the_default_falls_back_with_a_notice() {
        let (chosen, notices) = choose(false, Err(anyhow!("AF_XDP socket failed")));
        assert_eq!(chosen.unwrap(), "fallback");
        assert_eq!(
            notices,
            ["AF_XDP socket failed\nsending through an AF_PACKET socket instead"]
        );
    }

    #[test]
    fn the_fast_path_that_opens_is_used_named_or_not() {
        for named in [true, false] {
            let (chosen, notices) = choose(named, Ok("afxdp"));
            assert_eq!(chosen.unwrap(), "afxdp");
            assert!(notices.is_empty());
        }
    }
}
