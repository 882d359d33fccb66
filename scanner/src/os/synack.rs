//! The passive fingerprint of a SYN+ACK, as p0f v3 reads it: what a port's stack says
//! of itself in the one packet the port scan already received, at no probe cost.
//!
//! A signature is p0f's `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`
//! (`4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df:0`), read field for field as p0f
//! reads it: the TTL and the distance guessed from it, the IP options' length, the MSS,
//! the window (as a multiple of the MSS or MTU where it is one), the window scale, the
//! TCP options in their order, the quirks of the IP and TCP headers, and whether data
//! came with it. [`SynAckSignature::read`] takes the frame as the classifier captured
//! it (Ethernet on); nothing in it trusts the frame's lengths.

use crate::packet::reply::ipv4_tcp_headers;
use crate::packet::wire::tcp::{OPT_END as OPT_EOL, OPT_MSS, OPT_NOP};
use scanner_common::wire::{
    TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_PSH, TCP_FLAG_RST, TCP_FLAG_SYN, TCP_FLAG_URG,
};
use std::fmt;

/// The TCP flags for explicit congestion notification.
const TCP_FLAG_ECE: u8 = 0x40;
const TCP_FLAG_CWR: u8 = 0x80;
/// TCP option kinds p0f names beyond the wire module's.
const OPT_WS: u8 = 3;
const OPT_SACK_OK: u8 = 4;
const OPT_SACK: u8 = 5;
const OPT_TIMESTAMP: u8 = 8;

/// The most options p0f records of one segment.
const MAX_OPTIONS: usize = 24;
/// A distance guessed above this is shown as `?` (p0f's `MAX_DIST`).
const MAX_DISTANCE: u8 = 35;
/// The MSS p0f's own active prober sends, echoed by some stacks: shown as `*`.
const PROBER_MSS: u16 = 1331;
/// IPv4 + TCP fixed headers.
const MIN_HEADERS: u32 = 40;

/// One entry of the option layout, in the order the segment carries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutItem {
    /// End of options, with how many bytes of padding follow it.
    Eol(u8),
    Nop,
    Mss,
    WindowScale,
    SackPermitted,
    Sack,
    Timestamp,
    /// An option p0f has no name for, by its kind.
    Other(u8),
}

/// p0f's quirks, each a bit; [`QUIRK_NAMES`] gives their names in p0f's order.
pub mod quirk {
    pub const DF: u32 = 1 << 0;
    pub const NONZERO_ID: u32 = 1 << 1;
    pub const ZERO_ID: u32 = 1 << 2;
    pub const ECN: u32 = 1 << 3;
    pub const MUST_BE_ZERO: u32 = 1 << 4;
    pub const FLOW: u32 = 1 << 5;
    pub const ZERO_SEQ: u32 = 1 << 6;
    pub const NONZERO_ACK: u32 = 1 << 7;
    pub const ZERO_ACK: u32 = 1 << 8;
    pub const NONZERO_URGENT: u32 = 1 << 9;
    pub const URGENT: u32 = 1 << 10;
    pub const PUSH: u32 = 1 << 11;
    pub const ZERO_TS1: u32 = 1 << 12;
    pub const NONZERO_TS2: u32 = 1 << 13;
    pub const OPTION_DATA_AFTER_EOL: u32 = 1 << 14;
    pub const EXCESSIVE_WINDOW_SCALE: u32 = 1 << 15;
    pub const BAD_OPTIONS: u32 = 1 << 16;
}

/// Each quirk's bit and p0f's word for it, in the order p0f prints them.
pub const QUIRK_NAMES: [(u32, &str); 17] = [
    (quirk::DF, "df"),
    (quirk::NONZERO_ID, "id+"),
    (quirk::ZERO_ID, "id-"),
    (quirk::ECN, "ecn"),
    (quirk::MUST_BE_ZERO, "0+"),
    (quirk::FLOW, "flow"),
    (quirk::ZERO_SEQ, "seq-"),
    (quirk::NONZERO_ACK, "ack+"),
    (quirk::ZERO_ACK, "ack-"),
    (quirk::NONZERO_URGENT, "uptr+"),
    (quirk::URGENT, "urgf+"),
    (quirk::PUSH, "pushf+"),
    (quirk::ZERO_TS1, "ts1-"),
    (quirk::NONZERO_TS2, "ts2+"),
    (quirk::OPTION_DATA_AFTER_EOL, "opt+"),
    (quirk::EXCESSIVE_WINDOW_SCALE, "exws"),
    (quirk::BAD_OPTIONS, "bad"),
];

/// What p0f reads from one SYN+ACK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynAckSignature {
    /// The TTL it arrived with.
    pub ttl: u8,
    /// Bytes of IP options.
    pub ip_options_len: u8,
    /// Its MSS option (0 without one).
    pub mss: u16,
    pub window: u16,
    /// Its window scale option (0 without one).
    pub window_scale: u8,
    pub layout: Vec<LayoutItem>,
    /// [`quirk`] bits.
    pub quirks: u32,
    /// Whether data came with it.
    pub has_payload: bool,
    /// Its timestamp value (TSval; 0 without the option).
    pub timestamp: u32,
    /// Bytes of IP and TCP headers together.
    pub headers_len: u32,
    /// The MSS of the SYN it answers (the probe's), which some stacks size their
    /// window by.
    pub probe_mss: Option<u16>,
}

impl SynAckSignature {
    /// The signature of `frame` (Ethernet on, as captured) if it holds an unfragmented
    /// IPv4 TCP SYN+ACK's headers; `probe_mss` is the MSS the answered SYN carried.
    pub fn read(frame: &[u8], probe_mss: Option<u16>) -> Option<Self> {
        let (ip, segment, segment_len) = ipv4_tcp_headers(frame)?;
        let flags = segment.flags();
        if flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST | TCP_FLAG_FIN)
            != TCP_FLAG_SYN | TCP_FLAG_ACK
        {
            return None;
        }
        let mut quirks = 0;
        let tos = ip.tos();
        if tos & 0b11 != 0 {
            quirks |= quirk::ECN;
        }
        let flags_and_offset = ip.flags_and_offset();
        if flags_and_offset & 0x8000 != 0 {
            quirks |= quirk::MUST_BE_ZERO;
        }
        if ip.dont_frag() {
            quirks |= quirk::DF;
            if ip.ident() != 0 {
                quirks |= quirk::NONZERO_ID;
            }
        } else if ip.ident() == 0 {
            quirks |= quirk::ZERO_ID;
        }
        if flags & (TCP_FLAG_ECE | TCP_FLAG_CWR) != 0 || segment.reserved() & 0x01 != 0 {
            quirks |= quirk::ECN;
        }
        if segment.seq_number() == 0 {
            quirks |= quirk::ZERO_SEQ;
        }
        if segment.ack_number() == 0 {
            quirks |= quirk::ZERO_ACK;
        }
        if flags & TCP_FLAG_URG != 0 {
            quirks |= quirk::URGENT;
        } else if segment.urgent_at() != 0 {
            quirks |= quirk::NONZERO_URGENT;
        }
        if flags & TCP_FLAG_PSH != 0 {
            quirks |= quirk::PUSH;
        }
        let tcp_header_len = segment.header_len();
        let options = read_options(segment.options());
        Some(Self {
            ttl: ip.ttl(),
            ip_options_len: (ip.header_len() - 20) as u8,
            mss: options.mss,
            window: segment.window_len(),
            window_scale: options.window_scale,
            layout: options.layout,
            quirks: quirks | options.quirks,
            has_payload: segment_len > tcp_header_len,
            timestamp: options.timestamp,
            headers_len: (ip.header_len() + tcp_header_len) as u32,
            probe_mss,
        })
    }

    /// The initial TTL p0f guesses (32, 64, 128 or 255) and the distance to it.
    pub fn distance(&self) -> u8 {
        let initial = initial_ttl(self.ttl);
        initial - self.ttl
    }

    /// The window as p0f writes it: `mss*N` or `mtu*N` where it is such a multiple,
    /// else the number.
    pub fn window_text(&self) -> String {
        match self.window_multiple() {
            Some((unit, factor)) => format!("{unit}*{factor}"),
            None => self.window.to_string(),
        }
    }

    /// Whether the window is a multiple of the MSS (or of an MTU) and of which, as
    /// p0f tries them, in its order: the MSS, the MSS less 12 (with timestamps), the
    /// MSS of a 1500-byte MTU (and less 12), then MTUs, then the probe's MSS.
    pub(crate) fn window_multiple(&self) -> Option<(&'static str, u32)> {
        let window = u32::from(self.window);
        let mss = u32::from(self.mss);
        if window == 0 || mss < 100 {
            return None;
        }
        let mut tries: Vec<(&'static str, u32)> = vec![("mss", mss)];
        if self.timestamp != 0 {
            tries.push(("mss", mss - 12));
        }
        tries.extend([
            ("mss", 1500 - MIN_HEADERS),
            ("mss", 1500 - MIN_HEADERS - 12),
            ("mtu", mss + MIN_HEADERS),
            ("mtu", mss + self.headers_len),
            ("mtu", 1500),
        ]);
        if let Some(probe) = self.probe_mss.filter(|&m| m != 0).map(u32::from) {
            tries.push(("mss", probe));
            if probe > 12 {
                tries.push(("mss", probe - 12));
            }
        }
        tries
            .into_iter()
            .find(|&(_, unit)| unit != 0 && window % unit == 0)
            .map(|(name, unit)| (name, window / unit))
    }

    /// The option layout as p0f writes it (`mss,sok,ts,nop,ws`).
    pub fn layout_text(&self) -> String {
        let words: Vec<String> = self
            .layout
            .iter()
            .map(|item| match item {
                LayoutItem::Eol(pad) => format!("eol+{pad}"),
                LayoutItem::Nop => "nop".into(),
                LayoutItem::Mss => "mss".into(),
                LayoutItem::WindowScale => "ws".into(),
                LayoutItem::SackPermitted => "sok".into(),
                LayoutItem::Sack => "sack".into(),
                LayoutItem::Timestamp => "ts".into(),
                LayoutItem::Other(kind) => format!("?{kind}"),
            })
            .collect();
        words.join(",")
    }

    /// The quirks as p0f writes them (`df,id+`).
    pub fn quirks_text(&self) -> String {
        let words: Vec<&str> = QUIRK_NAMES
            .iter()
            .filter(|(bit, _)| self.quirks & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        words.join(",")
    }
}

/// The initial TTL a reply's TTL most likely started from.
pub fn initial_ttl(ttl: u8) -> u8 {
    match ttl {
        0..=32 => 32,
        33..=64 => 64,
        65..=128 => 128,
        _ => 255,
    }
}

impl fmt::Display for SynAckSignature {
    /// p0f's raw signature: `4:63+1:0:1460:mss*44,7:mss,sok,ts,nop,ws:df:0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let distance = self.distance();
        if distance > MAX_DISTANCE {
            write!(f, "4:{}+?:{}:", self.ttl, self.ip_options_len)?;
        } else {
            write!(f, "4:{}+{distance}:{}:", self.ttl, self.ip_options_len)?;
        }
        if self.mss == PROBER_MSS {
            f.write_str("*:")?;
        } else {
            write!(f, "{}:", self.mss)?;
        }
        write!(
            f,
            "{},{}:{}:{}:{}",
            self.window_text(),
            self.window_scale,
            self.layout_text(),
            self.quirks_text(),
            if self.has_payload { "+" } else { "0" }
        )
    }
}

/// What the option walk found.
#[derive(Default)]
struct Options {
    layout: Vec<LayoutItem>,
    mss: u16,
    window_scale: u8,
    timestamp: u32,
    quirks: u32,
}

/// Walks TCP options as p0f does: each kind is recorded (at most [`MAX_OPTIONS`]);
/// a length that does not fit stops the walk and marks the options bad.
fn read_options(options: &[u8]) -> Options {
    let mut found = Options::default();
    let mut at = 0;
    let end = options.len();
    let mut aborted = false;
    while at < end && found.layout.len() < MAX_OPTIONS {
        let kind = options[at];
        at += 1;
        match kind {
            OPT_EOL => {
                let pad = end - at;
                found.layout.push(LayoutItem::Eol(pad as u8));
                if options[at..].iter().any(|&b| b != 0) {
                    found.quirks |= quirk::OPTION_DATA_AFTER_EOL;
                }
                at = end;
            }
            OPT_NOP => found.layout.push(LayoutItem::Nop),
            OPT_MSS | OPT_WS | OPT_SACK_OK | OPT_TIMESTAMP => {
                let (item, size) = match kind {
                    OPT_MSS => (LayoutItem::Mss, 4),
                    OPT_WS => (LayoutItem::WindowScale, 3),
                    OPT_SACK_OK => (LayoutItem::SackPermitted, 2),
                    _ => (LayoutItem::Timestamp, 10),
                };
                found.layout.push(item);
                // p0f reads the fixed size whatever the length byte says (and marks
                // a wrong one), so the walk moves on by the fixed size.
                if at + size - 1 > end {
                    aborted = true;
                    break;
                }
                if options[at] as usize != size {
                    found.quirks |= quirk::BAD_OPTIONS;
                }
                let body = &options[at + 1..at + size - 1];
                match kind {
                    OPT_MSS => found.mss = u16::from_be_bytes([body[0], body[1]]),
                    OPT_WS => {
                        found.window_scale = body[0];
                        if body[0] > 14 {
                            found.quirks |= quirk::EXCESSIVE_WINDOW_SCALE;
                        }
                    }
                    OPT_TIMESTAMP => {
                        found.timestamp = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                        if found.timestamp == 0 {
                            found.quirks |= quirk::ZERO_TS1;
                        }
                        // A non-zero TSecr is a quirk only in a pure SYN, not here.
                    }
                    _ => {}
                }
                at += size - 1;
            }
            _ => {
                let item = if kind == OPT_SACK {
                    LayoutItem::Sack
                } else {
                    LayoutItem::Other(kind)
                };
                found.layout.push(item);
                let (low, high) = if kind == OPT_SACK { (10, 34) } else { (2, 40) };
                let Some(&len) = options.get(at) else {
                    aborted = true;
                    break;
                };
                let len = usize::from(len);
                if len < low || len > high || at - 1 + len > end {
                    aborted = true;
                    break;
                }
                at += len - 1;
            }
        }
    }
    if aborted || at != end {
        found.quirks |= quirk::BAD_OPTIONS;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::craft;
    use scanner_common::wire::{TCP_FLAG_ACK, TCP_FLAG_PSH, TCP_FLAG_RST, TCP_FLAG_SYN};

    /// The lab's SYN+ACK (see the constant's documentation).
    const LAB_SYN_ACK: [u8; 58] = craft::LAB_SYN_ACK;

    #[test]
    fn a_lab_syn_ack_reads_as_p0f_reads_it() {
        let sig = SynAckSignature::read(&LAB_SYN_ACK, Some(1460)).unwrap();
        // Window 64240 = 44 × 1460; TTL 64 at distance 0; DF with IP ID 0.
        assert_eq!(sig.to_string(), "4:64+0:0:1460:mss*44,0:mss:df:0");
        // With the frame's Ethernet padding, nothing changes.
        let mut padded = LAB_SYN_ACK.to_vec();
        padded.extend([0, 0]);
        assert_eq!(SynAckSignature::read(&padded, Some(1460)), Some(sig));
    }

    /// A SYN+ACK from `options`, with the fields a test changes.
    fn syn_ack(options: &[u8], window: u16, ttl: u8, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut frame = craft::tcp_segment(
            ("198.18.0.10".parse().unwrap(), 22),
            ("198.18.0.1".parse().unwrap(), 40000),
            TCP_FLAG_SYN | TCP_FLAG_ACK,
            window,
            ttl,
            options,
        );
        edit(&mut frame);
        frame
    }

    #[test]
    fn linux_options_windows_and_distances() {
        // Linux's SYN+ACK: MSS, SACK permitted, timestamps, NOP, window scale 7.
        let options = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let sig = SynAckSignature::read(&syn_ack(&options, 65160, 63, |_| {}), Some(1460));
        // 65160 = 45 × 1448 (MSS less 12, with timestamps); one hop away.
        assert_eq!(
            sig.unwrap().to_string(),
            "4:63+1:0:1460:mss*45,7:mss,sok,ts,nop,ws:id-:0"
        );
        // Windows: TTL 128, window 8192 (no multiple), scale 8.
        let options = [2, 4, 0x05, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];
        let sig = SynAckSignature::read(&syn_ack(&options, 8192, 128, |_| {}), None).unwrap();
        assert_eq!(
            sig.to_string(),
            "4:128+0:0:1460:8192,8:mss,nop,ws,nop,nop,sok:id-:0"
        );
        // A TTL far below any initial one: the distance is unknown.
        let sig = SynAckSignature::read(&syn_ack(&[], 1024, 200, |_| {}), None).unwrap();
        assert_eq!(sig.to_string(), "4:200+?:0:0:1024,0::id-:0");
    }

    #[test]
    fn quirks_are_named_in_p0fs_order() {
        let frame = syn_ack(&[2, 4, 5, 0xb4, 0, 1], 512, 64, |frame| {
            frame[14 + 1] = 0x01; // ECN CE in the IP header
            frame[14 + 6] = 0x40 | 0x80; // DF and the evil bit
            frame[14 + 4] = 0x12; // a non-zero IP ID
            let tcp = 14 + 20;
            frame[tcp + 8..tcp + 12].copy_from_slice(&[0; 4]); // ack 0
            frame[tcp + 13] |= TCP_FLAG_PSH;
            frame[tcp + 18] = 1; // urgent pointer without URG
        });
        let sig = SynAckSignature::read(&frame, None).unwrap();
        // EOL with three bytes after it, one not zero.
        assert_eq!(sig.layout_text(), "mss,eol+3");
        assert_eq!(sig.quirks_text(), "df,id+,ecn,0+,ack-,uptr+,pushf+,opt+");
    }

    #[test]
    fn broken_options_are_bad_and_never_read_past_the_header() {
        // An unknown option whose length runs past the header.
        let sig = SynAckSignature::read(
            &syn_ack(&[2, 4, 5, 0xb4, 30, 9, 0, 0], 512, 64, |_| {}),
            None,
        );
        let sig = sig.unwrap();
        assert_eq!(sig.layout_text(), "mss,?30");
        assert_eq!(sig.quirks & quirk::BAD_OPTIONS, quirk::BAD_OPTIONS);
        // A window scale option with the wrong length byte, and an excessive scale.
        let sig = SynAckSignature::read(&syn_ack(&[3, 4, 15, 1], 512, 64, |_| {}), None).unwrap();
        assert_eq!(sig.window_scale, 15);
        assert_eq!(sig.layout_text(), "ws,nop");
        assert_eq!(sig.quirks_text(), "id-,exws,bad");
    }

    #[test]
    fn only_a_syn_ack_has_one() {
        let mut frame = LAB_SYN_ACK;
        frame[14 + 20 + 13] = TCP_FLAG_RST | TCP_FLAG_ACK;
        assert_eq!(SynAckSignature::read(&frame, None), None);
        assert_eq!(SynAckSignature::read(&LAB_SYN_ACK[..40], None), None);
    }
}
