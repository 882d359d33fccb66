//! Packet formats: the probe and RST frames the scanner sends (prebuilt templates that
//! are patched per probe), Internet checksums, and the userspace twin of the XDP
//! classifier for the packet-socket receive path; and the packets raw-packet scripts
//! craft and take apart (`raw`).
//!
//! Nothing here does I/O; every function works on byte slices.

pub mod build;
pub mod checksum;
pub mod craft;
pub mod raw;
pub mod reply;
pub mod template;

/// Ethernet header length.
pub const ETH_LEN: usize = scanner_common::wire::ETH_HEADER_LEN;
/// IPv4 header length without options.
pub const IPV4_LEN: usize = scanner_common::wire::IPV4_MIN_HEADER_LEN;
pub use scanner_common::wire::{ETHERTYPE_IPV4, IPPROTO_TCP};

/// The big-endian 16-bit field at `at` (the caller has checked the length).
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The big-endian 32-bit field at `at` (the caller has checked the length).
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
