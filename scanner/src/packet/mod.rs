//! Packet formats: typed views of every header and their builders (`wire`), the probe
//! and RST frames the scanner sends (prebuilt templates that are patched per probe),
//! Internet checksums, and the userspace twin of the XDP classifier for the
//! packet-socket receive path; and the packets raw-packet scripts craft and take apart
//! (`raw`). Every header is read and written through `wire`.
//!
//! Nothing here does I/O; every function works on byte slices.

pub mod build;
pub mod checksum;
pub mod craft;
pub mod raw;
pub mod reply;
pub mod template;
pub mod wire;

/// Ethernet header length.
pub const ETH_LEN: usize = scanner_common::wire::ETH_HEADER_LEN;
/// IPv4 header length without options.
pub const IPV4_LEN: usize = scanner_common::wire::IPV4_MIN_HEADER_LEN;
pub use scanner_common::wire::{ETHERTYPE_IPV4, IPPROTO_TCP};
