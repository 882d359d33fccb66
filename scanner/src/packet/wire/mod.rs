//! Typed views over the bytes of a frame, one module per header (smoltcp's `wire` is
//! the model): Ethernet with its VLAN tag, ARP, IPv4, TCP, UDP and ICMP.
//!
//! Each module has
//! - `mod field`: every field of the header as a named byte range, the one place its
//!   offsets are written down;
//! - a view (`Frame`/`Packet<T: AsRef<[u8]>>`) whose `new_checked` checks the buffer
//!   against every length field before any getter runs (a length field is never
//!   trusted), getters and setters over the named ranges, `payload()`, and the
//!   checksum's verify and fill;
//! - a `Repr`: the header's fields as values, `parse`d from a checked view and
//!   `emit`ted into a buffer. Emitting a `Repr` is the one way a header is built,
//!   whoever builds it (probe templates, UDP and ICMP probes, scripts' packets, ARP
//!   requests, the frames tests craft).
//!
//! Once a constructor has checked a buffer no getter panics, whatever its length fields
//! say: getters of variable-length parts (options, payloads) clamp to the buffer.
//! `new_checked` says whether the lengths agree; `new_fixed_checked` (IPv4, TCP, UDP)
//! asks only for the fixed header, which is what the XDP classifier asks and so what
//! its userspace twin must ask too. `new_unchecked` is for writing into a buffer the
//! caller has sized. Transport checksums take a [`ip::PseudoHeader`], which has an IPv6 case, and
//! [`ip::IpRepr`] is where an IPv6 header joins IPv4.

pub mod arp;
pub mod ethernet;
pub mod icmp;
pub mod ip;
pub mod ipv4;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Range;

/// A field's bytes within its header.
pub type Field = Range<usize>;

/// Why a buffer is not a valid header of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the header, or than a length field says.
    Truncated,
    /// A field holds a value the format does not allow (a version, a header length
    /// shorter than the fixed header, a total length inside the header).
    Malformed,
    /// Valid, but not a kind this code reads (ARP for other than Ethernet/IPv4).
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Unsupported => "unsupported packet",
        })
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// The big-endian 16-bit `field` of `b` (the view has checked the length).
fn get_u16(b: &[u8], field: Field) -> u16 {
    u16::from_be_bytes([b[field.start], b[field.start + 1]])
}

/// The big-endian 32-bit `field` of `b` (the view has checked the length).
fn get_u32(b: &[u8], field: Field) -> u32 {
    let at = field.start;
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn set_u16(b: &mut [u8], field: Field, value: u16) {
    b[field].copy_from_slice(&value.to_be_bytes());
}

fn set_u32(b: &mut [u8], field: Field, value: u32) {
    b[field].copy_from_slice(&value.to_be_bytes());
}

/// A six-byte MAC field.
fn get_mac(b: &[u8], field: Field) -> [u8; 6] {
    let at = field.start;
    [b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]]
}

/// A four-byte IPv4 address field.
fn get_ipv4(b: &[u8], field: Field) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(get_u32(b, field))
}

/// The bytes of `b` from `start` to `end`, both clamped to `b` (and `end` to no less
/// than `start`): how a variable-length part is read without trusting its length.
fn clamped(b: &[u8], start: usize, end: usize) -> &[u8] {
    let start = start.min(b.len());
    &b[start..end.clamp(start, b.len())]
}

fn clamped_mut(b: &mut [u8], start: usize, end: usize) -> &mut [u8] {
    let start = start.min(b.len());
    let end = end.clamp(start, b.len());
    &mut b[start..end]
}
