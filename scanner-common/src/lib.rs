//! Types shared by the XDP classifier (`scanner-ebpf`) and the userspace scanner.
//!
//! Everything here is `no_std`, `#[repr(C)]` and free of pointers, because the same
//! bytes cross the kernel/user boundary through BPF maps. The probe cookie lives here
//! too, so that the sender and the in-kernel classifier compute it with one function.
//!
//! This crate deliberately holds no logic beyond that: parsing, policy and I/O belong
//! to the crates on either side.
#![no_std]

pub mod capture;
pub mod classify;
pub mod cookie;
pub mod live_tx;
pub mod wire;

/// Name of the XDP program inside the eBPF object.
pub const XDP_PROGRAM_NAME: &str = "scanner_xdp";
/// Name of the benchmark sink program (drops every IPv4 frame).
pub const DROP_ALL_PROGRAM_NAME: &str = "drop_all";
/// Name of the array map (one entry) holding the [`ClassifierConfig`].
pub const CONFIG_MAP: &str = "CONFIG";
/// Name of the ring buffer map that carries [`ReplyRecord`]s to userspace.
pub const REPLIES_MAP: &str = "REPLIES";
/// Name of the per-CPU array map of [`Counter`]s.
pub const COUNTERS_MAP: &str = "COUNTERS";
/// Size of the reply ring buffer in bytes (a power of two, a multiple of the page size).
pub const REPLIES_RING_BYTES: u32 = 1 << 22;

/// What the classifier must know to recognise replies to this scan.
///
/// Written by userspace into index 0 of [`CONFIG_MAP`] before the first probe leaves.
/// Addresses and ports are in host byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassifierConfig {
    /// The scanner's source address: replies must be addressed to it.
    pub local_addr: u32,
    /// Lowest source port the scanner sends from (inclusive).
    pub port_lo: u16,
    /// Highest source port the scanner sends from (inclusive).
    pub port_hi: u16,
    /// SipHash key of this scan's cookies (random per scan).
    pub key: [u64; 2],
    /// 0 until userspace has filled in the rest: the classifier passes everything then.
    pub enabled: u32,
    /// `FLAG_*` bits.
    pub flags: u32,
}

/// The probe's source port is derived from its cookie (stateless sweeps): a reply
/// must come back to exactly that port.
pub const FLAG_SPORT_FROM_COOKIE: u32 = 1;
/// Hand SYN+ACKs on to the kernel after recording them, so that the kernel (which has
/// no socket for them) answers with the RST; otherwise they are dropped and the
/// scanner sends its own RST.
pub const FLAG_PASS_SYNACK: u32 = 2;
/// Probes carry neither SYN nor FIN (NULL scans, some `--scanflags`): a reset in reply
/// acknowledges the cookie itself, not cookie + 1.
pub const FLAG_ACK_IS_COOKIE: u32 = 4;
/// Probes carry the ACK flag (ACK scans): a reset in reply takes its sequence number
/// from the probe's acknowledgement number, where the cookie is.
pub const FLAG_SEQ_IS_COOKIE: u32 = 8;

/// Probes of several TCP kinds are in flight at once (host discovery's SYN and ACK
/// pings): a reply matches if it follows any of the rules above.
pub const FLAG_ANY_COOKIE: u32 = 16;
/// UDP probes are in flight: classify UDP replies (and ICMP errors quoting UDP).
/// Off otherwise, so the host's own UDP traffic is never even looked at.
pub const FLAG_UDP: u32 = 32;
/// ARP requests are in flight: record ARP replies addressed to us (they carry no
/// cookie; the kernel sees them too).
pub const FLAG_ARP: u32 = 64;

/// Whether a reply's sequence and acknowledgement numbers answer a probe whose
/// cookie is `cookie`, under the config's `FLAG_*` bits. Shared by both classifiers.
#[inline(always)]
pub fn reply_matches_cookie(flags: u32, cookie: u32, seq: u32, ack: u32) -> bool {
    if flags & FLAG_ANY_COOKIE != 0 {
        seq == cookie || ack == cookie || ack == cookie.wrapping_add(1)
    } else if flags & FLAG_SEQ_IS_COOKIE != 0 {
        seq == cookie
    } else if flags & FLAG_ACK_IS_COOKIE != 0 {
        ack == cookie
    } else {
        ack == cookie.wrapping_add(1)
    }
}

/// What kind of reply a [`ReplyRecord`] describes.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// TCP SYN+ACK: the port is open.
    SynAck = 1,
    /// TCP RST: the port is closed.
    Rst = 2,
    /// ICMP echo, timestamp or address-mask reply (`icmp_type` says which).
    IcmpReply = 3,
    /// ICMP unreachable or time exceeded quoting one of our probes: `remote_*` name the
    /// probe's target, `icmp_from` the sender of the error, `protocol` the probe's.
    IcmpError = 4,
    /// A UDP datagram back from a port we probed.
    Udp = 5,
    /// An ARP reply to us: `remote_addr` has the MAC `remote_mac`.
    Arp = 6,
}

impl ReplyKind {
    /// The kind for a raw byte from a record, if it is one we know.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::SynAck),
            2 => Some(Self::Rst),
            3 => Some(Self::IcmpReply),
            4 => Some(Self::IcmpError),
            5 => Some(Self::Udp),
            6 => Some(Self::Arp),
            _ => None,
        }
    }
}

/// One classified reply, as the XDP program hands it to userspace.
///
/// "Remote" is the scanned host (the reply's source), "local" the scanner.
/// Addresses and ports are in host byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyRecord {
    /// `bpf_ktime_get_ns()` when the classifier saw the frame.
    pub timestamp_ns: u64,
    pub remote_addr: u32,
    pub local_addr: u32,
    pub remote_port: u16,
    pub local_port: u16,
    /// The reply's TCP sequence number (needed to answer a SYN+ACK with an RST).
    pub seq: u32,
    /// The reply's TCP acknowledgement number (our cookie + 1).
    pub ack: u32,
    /// TCP window of the reply.
    pub window: u16,
    /// IP time-to-live of the reply.
    pub ttl: u8,
    /// A [`ReplyKind`] as a byte.
    pub kind: u8,
    /// The raw TCP flags byte.
    pub tcp_flags: u8,
    /// IP protocol of the probe answered (for ICMP errors: of the quoted probe).
    pub protocol: u8,
    /// ICMP type and code, for ICMP replies and errors.
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Who sent an ICMP error (the target itself, or a router on the way).
    pub icmp_from: u32,
    /// The sender's MAC, for ARP replies.
    pub remote_mac: [u8; 6],
    pub _pad: [u8; 2],
}

// The record crosses the kernel/user boundary as raw bytes: no hidden padding.
const _: () = assert!(core::mem::size_of::<ReplyRecord>() == 48);

/// Indexes into the per-CPU [`COUNTERS_MAP`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Every frame the program saw.
    Frames = 0,
    /// Frames recognised as replies to our probes.
    Matched = 1,
    /// Matched replies lost because the ring buffer was full.
    RingFull = 2,
    /// TCP frames to our address and port range whose cookie did not match.
    BadCookie = 3,
    /// Frames copied to the capture ring for a script waiting on their key.
    Captured = 4,
    /// Frames a script waited for, lost because the capture ring was full.
    CaptureRingFull = 5,
}

/// Number of entries in [`COUNTERS_MAP`].
pub const COUNTER_COUNT: u32 = 6;

#[cfg(all(feature = "user", target_os = "linux"))]
mod pod {
    // SAFETY: both are #[repr(C)], Copy, and every bit pattern is a valid value.
    unsafe impl aya::Pod for super::ClassifierConfig {}
    unsafe impl aya::Pod for super::ReplyRecord {}
    unsafe impl aya::Pod for super::capture::CaptureKey {}
}
