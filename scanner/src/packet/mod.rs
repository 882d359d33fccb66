//! Packet formats: the probe and RST frames the scanner sends (prebuilt templates that
//! are patched per probe), Internet checksums, and the userspace twin of the XDP
//! classifier for the packet-socket receive path.
//!
//! Nothing here does I/O; every function works on byte slices.

pub mod checksum;
pub mod craft;
pub mod reply;
pub mod template;

/// Ethernet header length.
pub const ETH_LEN: usize = 14;
/// IPv4 header length without options.
pub const IPV4_LEN: usize = 20;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
