//! Script captures: the key a raw-packet script states for the replies it wants, and
//! the record that carries a captured frame to userspace.
//!
//! A capture is not a filter run per consumer. Each frame addressed to the scanner is
//! reduced once to one [`CaptureKey`] (by the XDP program, or by its userspace twin on
//! the fallback path) and looked up in one hash map of the keys scripts wait on; a
//! match is copied into the capture ring, and the userspace dispatcher hands it to the
//! scripts waiting on that key. The cost per frame is one lookup, however many scripts
//! wait.
//!
//! Which key a frame has:
//! - TCP and UDP: (protocol, sender, our port, its port);
//! - ICMP echo, timestamp and mask replies: (ICMP, sender, identifier, 0);
//! - ICMP errors: the key of the packet they quote, as if it were a reply to it (so a
//!   script hears of the routers that drop its probes under the probe's own key);
//! - ARP replies to us: ([`CAPTURE_ARP`], sender, 0, 0);
//! - besides its own key, every SYN+ACK the classifier takes for a reply to a probe:
//!   [`CaptureKey::syn_acks`], so that one consumer sees them all (their passive
//!   fingerprints) without a key per port.

use crate::wire::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

/// Name of the hash map of the keys scripts wait on (value: how many wait).
pub const CAPTURE_KEYS_MAP: &str = "CAPTURE_KEYS";
/// Name of the ring buffer of [`CapturedFrame`]s.
pub const CAPTURED_MAP: &str = "CAPTURED";
/// Name of the one-entry array that says how many keys are waited on (0: the
/// classifier skips the lookup altogether, so a sweep pays nothing for captures).
pub const CAPTURING_MAP: &str = "CAPTURING";
/// Most keys waited on at once.
pub const CAPTURE_KEYS_MAX: u32 = 65536;
/// Bytes of each frame captured (headers and the start of the payload).
pub const CAPTURE_SNAP: usize = 256;
/// Size of the capture ring buffer in bytes.
pub const CAPTURED_RING_BYTES: u32 = 1 << 22;
/// The protocol byte of ARP keys (not an IP protocol in use).
pub const CAPTURE_ARP: u8 = 254;
/// The protocol byte of the one key under which every SYN+ACK answering the scan's
/// probes is captured (not an IP protocol in use): their passive fingerprints.
pub const CAPTURE_SYN_ACKS: u8 = 253;

/// What a script waits for. Addresses and ports in host byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CaptureKey {
    /// The other end: the target a probe went to.
    pub remote_addr: u32,
    /// Our TCP/UDP port, or the ICMP identifier.
    pub local_port: u16,
    /// Its TCP/UDP port (0 for ICMP and ARP).
    pub remote_port: u16,
    /// IP protocol, or [`CAPTURE_ARP`].
    pub protocol: u8,
    pub _pad: [u8; 3],
}

const _: () = assert!(core::mem::size_of::<CaptureKey>() == 12);

impl CaptureKey {
    pub const fn new(protocol: u8, remote_addr: u32, local_port: u16, remote_port: u16) -> Self {
        Self {
            remote_addr,
            local_port,
            remote_port,
            protocol,
            _pad: [0; 3],
        }
    }

    /// The key of a TCP or UDP segment from `remote_addr:remote_port` to our `local_port`.
    pub const fn transport(
        protocol: u8,
        remote_addr: u32,
        remote_port: u16,
        local_port: u16,
    ) -> Self {
        Self::new(protocol, remote_addr, local_port, remote_port)
    }

    /// The key of an ICMP query reply from `remote_addr` with identifier `id`.
    pub const fn icmp(remote_addr: u32, id: u16) -> Self {
        Self::new(IPPROTO_ICMP, remote_addr, id, 0)
    }

    /// The key of an ARP reply from `sender_addr`.
    pub const fn arp(sender_addr: u32) -> Self {
        Self::new(CAPTURE_ARP, sender_addr, 0, 0)
    }

    /// The key under which every SYN+ACK answering a probe is captured too.
    pub const fn syn_acks() -> Self {
        Self::new(CAPTURE_SYN_ACKS, 0, 0, 0)
    }

    /// The key of an ICMP error quoting our packet of `protocol` to `remote_addr`,
    /// whose transport header starts with `head`; `None` for protocols with no key.
    pub fn quoted(protocol: u8, remote_addr: u32, head: &[u8; 8]) -> Option<Self> {
        match protocol {
            IPPROTO_TCP | IPPROTO_UDP => Some(Self::transport(
                protocol,
                remote_addr,
                u16::from_be_bytes([head[2], head[3]]),
                u16::from_be_bytes([head[0], head[1]]),
            )),
            IPPROTO_ICMP => Some(Self::icmp(
                remote_addr,
                u16::from_be_bytes([head[4], head[5]]),
            )),
            _ => None,
        }
    }
}

/// A captured frame, as the classifier hands it to userspace.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CapturedFrame {
    /// `bpf_ktime_get_ns()` when the frame was seen.
    pub timestamp_ns: u64,
    pub key: CaptureKey,
    /// The frame's whole length on the wire.
    pub frame_len: u16,
    /// How many bytes of `data` hold it (at most [`CAPTURE_SNAP`]).
    pub captured_len: u16,
    /// The frame from its Ethernet header on.
    pub data: [u8; CAPTURE_SNAP],
}

const _: () = assert!(core::mem::size_of::<CapturedFrame>() == 24 + CAPTURE_SNAP);
// The classifier bounds copies with a mask the verifier can follow.
const _: () = assert!(CAPTURE_SNAP.is_power_of_two());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_icmp_error_has_the_key_of_the_packet_it_quotes() {
        // Our SYN from port 40000 to 198.18.1.10:22, quoted by a router.
        let head = [0x9c, 0x40, 0x00, 0x16, 1, 2, 3, 4];
        let key = CaptureKey::quoted(IPPROTO_TCP, 0xc612_010a, &head).unwrap();
        assert_eq!(
            key,
            CaptureKey::transport(IPPROTO_TCP, 0xc612_010a, 22, 40000)
        );
        // An echo request with identifier 0x1234.
        let head = [8, 0, 0, 0, 0x12, 0x34, 0, 1];
        assert_eq!(
            CaptureKey::quoted(IPPROTO_ICMP, 7, &head),
            Some(CaptureKey::icmp(7, 0x1234))
        );
        assert_eq!(CaptureKey::quoted(47, 7, &head), None);
    }
}
