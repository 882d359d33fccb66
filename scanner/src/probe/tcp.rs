//! TCP probes: the flags a scan type sends (nmap's, or `--scanflags`), how replies
//! to them read (nmap's port states), and which classifier rule recognises those
//! replies. One entry kind of the probe-module table ([`super::ProbeKind::Tcp`]).

use crate::model::{PortState, Reason};
use crate::packet::template::SegmentKind;
use scanner_common::wire::{TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_PSH, TCP_FLAG_SYN, TCP_FLAG_URG};
use scanner_common::{ReplyKind, FLAG_ACK_IS_COOKIE, FLAG_SEQ_IS_COOKIE};

/// How replies to a TCP probe read, as nmap's scan types do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// -sS: SYN+ACK open, RST closed, silence filtered.
    Syn,
    /// -sA: RST unfiltered, silence filtered.
    Ack,
    /// -sF, -sN, -sX: RST closed, silence open|filtered.
    Fin,
    Null,
    Xmas,
}

impl Reading {
    /// nmap's scan type word (XML `scaninfo type`).
    pub fn name(self) -> &'static str {
        match self {
            Reading::Syn => "syn",
            Reading::Ack => "ack",
            Reading::Fin => "fin",
            Reading::Null => "null",
            Reading::Xmas => "xmas",
        }
    }

    /// The flags nmap sends for this scan type.
    pub const fn default_flags(self) -> u8 {
        match self {
            Reading::Syn => TCP_FLAG_SYN,
            Reading::Ack => TCP_FLAG_ACK,
            Reading::Fin => TCP_FLAG_FIN,
            Reading::Null => 0,
            Reading::Xmas => TCP_FLAG_FIN | TCP_FLAG_PSH | TCP_FLAG_URG,
        }
    }

    /// The state and reason of a port that answered with a TCP segment.
    pub fn answered(self, kind: ReplyKind) -> (PortState, Reason) {
        match (self, kind) {
            (_, ReplyKind::SynAck) => (PortState::Open, Reason::SynAck),
            (Reading::Ack, _) => (PortState::Unfiltered, Reason::Reset),
            _ => (PortState::Closed, Reason::Reset),
        }
    }

    /// The state of a port that never answered.
    pub fn unanswered(self) -> PortState {
        match self {
            Reading::Syn | Reading::Ack => PortState::Filtered,
            Reading::Fin | Reading::Null | Reading::Xmas => PortState::OpenFiltered,
        }
    }
}

/// The TCP probe of a scan: its flags (nmap's, or `--scanflags`) and how replies read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpProbe {
    pub flags: u8,
    pub reading: Reading,
    /// A SYN carries a client's whole option set rather than nmap's MSS alone, for
    /// the SYN+ACKs' passive fingerprints (see `SegmentKind::SynClientOptions`).
    pub client_options: bool,
}

impl TcpProbe {
    /// The probe nmap sends for `reading`.
    pub const fn standard(reading: Reading) -> Self {
        Self {
            flags: reading.default_flags(),
            reading,
            client_options: false,
        }
    }

    /// The frame template for these flags.
    pub fn segment(self) -> SegmentKind {
        if self.flags == TCP_FLAG_SYN && self.client_options {
            SegmentKind::SynClientOptions
        } else if self.flags == TCP_FLAG_SYN {
            SegmentKind::Syn
        } else {
            SegmentKind::Flags(self.flags)
        }
    }

    /// How the classifier recognises replies to it (see `scanner_common::FLAG_*`).
    pub fn classifier_flags(self) -> u32 {
        if self.flags & TCP_FLAG_ACK != 0 {
            FLAG_SEQ_IS_COOKIE
        } else if self.flags & (TCP_FLAG_SYN | TCP_FLAG_FIN) == 0 {
            FLAG_ACK_IS_COOKIE
        } else {
            0
        }
    }
}

/// Parses `--scanflags`: a number (`0x29`, `41`) or flag names run together
/// (`URGPSHFIN`, `synfin`).
pub fn parse_scan_flags(text: &str) -> anyhow::Result<u8> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u8::from_str_radix(hex, 16)
            .map_err(|_| anyhow::anyhow!("--scanflags {text:?}: not a hex byte"));
    }
    if let Ok(value) = text.parse::<u8>() {
        return Ok(value);
    }
    const NAMES: [(&str, u8); 8] = [
        ("FIN", 0x01),
        ("SYN", 0x02),
        ("RST", 0x04),
        ("PSH", 0x08),
        ("ACK", 0x10),
        ("URG", 0x20),
        ("ECE", 0x40),
        ("CWR", 0x80),
    ];
    let upper = text.to_ascii_uppercase();
    let mut rest = upper.as_str();
    let mut flags = 0u8;
    while !rest.is_empty() {
        let (name, bit) = NAMES
            .iter()
            .find(|(name, _)| rest.starts_with(name))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--scanflags {text:?}: use a number or names such as URGACKPSHRSTSYNFIN"
                )
            })?;
        flags |= bit;
        rest = &rest[name.len()..];
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_flags_parse_as_nmap_takes_them() {
        assert_eq!(parse_scan_flags("0x29").unwrap(), 0x29);
        assert_eq!(parse_scan_flags("41").unwrap(), 41);
        assert_eq!(parse_scan_flags("URGPSHFIN").unwrap(), 0x29);
        assert_eq!(parse_scan_flags("synfin").unwrap(), 0x03);
        assert!(parse_scan_flags("SYNX").is_err());
    }

    #[test]
    fn probes_pick_the_classifier_rule_their_replies_follow() {
        assert_eq!(TcpProbe::standard(Reading::Syn).classifier_flags(), 0);
        assert_eq!(TcpProbe::standard(Reading::Fin).classifier_flags(), 0);
        assert_eq!(TcpProbe::standard(Reading::Xmas).classifier_flags(), 0);
        assert_eq!(
            TcpProbe::standard(Reading::Null).classifier_flags(),
            FLAG_ACK_IS_COOKIE
        );
        assert_eq!(
            TcpProbe::standard(Reading::Ack).classifier_flags(),
            FLAG_SEQ_IS_COOKIE
        );
        assert_eq!(TcpProbe::standard(Reading::Syn).segment(), SegmentKind::Syn);
        assert_eq!(
            Reading::Ack.answered(ReplyKind::Rst).0,
            PortState::Unfiltered
        );
        assert_eq!(Reading::Null.unanswered(), PortState::OpenFiltered);
    }
}
