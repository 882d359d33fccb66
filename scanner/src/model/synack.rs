//! What an open port's SYN+ACK says of the stack behind it, read passively from the
//! reply the port scan already had (p0f's signature; see `os::synack`), and what that
//! signature matched in the SYN+ACK signature database (`os::synack_db`).

use serde::Serialize;

/// A port's passive fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SynAckPrint {
    /// p0f's raw signature of the SYN+ACK (`4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df:0`).
    pub signature: String,
    /// What it matched, if anything did.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matched: Option<SynAckMatch>,
}

/// The database entry a SYN+ACK signature matched, as p0f reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SynAckMatch {
    /// The system's name and flavor, as p0f prints them (`Linux 6.x`).
    pub os: String,
    /// p0f's class (`unix`, `win`, `other`); none for a tool's signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// The entry names a family (p0f's `g:`) rather than one system.
    pub generic: bool,
    /// Matched only with p0f's allowances (quirks changed on the way, TTL out of range).
    pub fuzzy: bool,
    /// Hops from the initial TTL; none where the entry says the distance cannot be
    /// trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<u8>,
}

impl SynAckMatch {
    /// One line for the normal output: `Linux 6.x`, `Linux 6.x (fuzzy)`, `Windows (generic)`.
    pub fn text(&self) -> String {
        let mut text = self.os.clone();
        if self.generic {
            text.push_str(" (generic)");
        }
        if self.fuzzy {
            text.push_str(" (fuzzy)");
        }
        text
    }
}
