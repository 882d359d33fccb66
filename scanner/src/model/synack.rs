//! What an open port's SYN+ACK says of the stack behind it, read passively from the
//! reply the port scan already had (p0f's signature; see `os::synack`).

use serde::Serialize;

/// A port's passive fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SynAckPrint {
    /// p0f's raw signature of the SYN+ACK (`4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df:0`).
    pub signature: String,
}
