//! The libpcap send path (`--send-mode pcap`): frames go out through
//! `pcap_sendpacket`, one call each. The slowest way out, for systems where neither
//! AF_XDP nor AF_PACKET raw sockets exist (the portable build's only one); the sweep
//! and scan engines do not change. Scripts' raw packets go out this way too in pcap
//! mode (`raw_access`).

use super::{FrameBatch, FrameSender};
use anyhow::{Context, Result};
use pcap::{Active, Capture};
use std::io;

pub struct PcapSender {
    capture: Capture<Active>,
}

impl PcapSender {
    /// Opens `iface` for sending through libpcap.
    pub fn open(iface: &str) -> Result<Self> {
        let capture = Capture::from_device(iface)
            .with_context(|| format!("libpcap has no device {iface}"))?
            .snaplen(64)
            .immediate_mode(true)
            .open()
            .with_context(|| {
                format!("libpcap cannot open {iface} (needs CAP_NET_RAW: run as root)")
            })?;
        Ok(Self { capture })
    }
}

impl PcapSender {
    /// Sends one frame (scripts' and OS detection's raw packets).
    pub fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.capture
            .sendpacket(frame)
            .map_err(|err| io::Error::other(format!("pcap_sendpacket: {err}")))
    }
}

impl FrameSender for PcapSender {
    fn send(&mut self, batch: &FrameBatch) -> io::Result<usize> {
        for index in 0..batch.len() {
            if let Err(err) = self.send_frame(batch.frame(index)) {
                if index > 0 {
                    return Ok(index);
                }
                return Err(err);
            }
        }
        Ok(batch.len())
    }

    fn name(&self) -> &'static str {
        "libpcap"
    }
}
