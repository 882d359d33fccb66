//! Choosing the way frames leave and replies come in, with the fallbacks a user
//! expects: AF_XDP → AF_PACKET for sending (libpcap on request), XDP → AF_PACKET for
//! receiving, each with one line saying why.

use super::path::ScanPath;
use super::replies::ReplySource;
use crate::io::afxdp::AfXdpSender;
use crate::io::packet_socket::{RawPacketSocket, SEND_ONLY};
use crate::io::pcap_sender::PcapSender;
use crate::io::xdp::{AttachMode, SlotTaken};
use crate::io::{FrameSender, RecvMode, SendMode};
use anyhow::Result;
use scanner_common::ClassifierConfig;

/// A sender on queue `queue` of the scan's interface.
pub fn open_sender(
    mode: SendMode,
    path: &ScanPath,
    queue: u32,
    notice: &mut dyn FnMut(&str),
) -> Result<Box<dyn FrameSender + Send>> {
    match mode {
        SendMode::Afxdp => match AfXdpSender::open(&path.iface, queue) {
            Ok(sender) => return Ok(Box::new(sender)),
            Err(err) => notice(&format!(
                "{err:#}\nsending through an AF_PACKET socket instead"
            )),
        },
        SendMode::Pcap => return Ok(Box::new(PcapSender::open(&path.iface)?)),
        SendMode::Packet => {}
    }
    Ok(Box::new(RawPacketSocket::open(path.ifindex, SEND_ONLY)?))
}

/// The reply source for `config`.
pub fn open_replies(
    mode: RecvMode,
    path: &ScanPath,
    config: ClassifierConfig,
    attach: AttachMode,
    notice: &mut dyn FnMut(&str),
) -> Result<ReplySource> {
    match ReplySource::open(mode, &path.iface, path.ifindex, config, attach) {
        Ok(source) => Ok(source),
        // A foreign program in the XDP slot would see replies before a packet socket
        // does: that stops the scan rather than fall back.
        Err(err) if mode == RecvMode::Xdp && !err.is::<SlotTaken>() => {
            notice(&format!(
                "{err:#}\nreceiving through an AF_PACKET socket instead (slower)"
            ));
            ReplySource::open(RecvMode::Packet, &path.iface, path.ifindex, config, attach)
        }
        Err(err) => Err(err),
    }
}
