//! What transport headers need of the IP layer whatever its version: the pseudo-header
//! their checksums cover, and an IP header's fields as one type ([`IpRepr`]), of which
//! IPv4 is today the one case. IPv6 plugs in here: a `V6` pseudo-header already sums
//! as RFC 8200 says; an `Ipv6` case of [`IpRepr`] comes with its view.

use super::ipv4::{self, Ipv4Repr};
use crate::packet::checksum::{add_bytes, add_u16, add_u32};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The addresses a TCP or UDP checksum covers besides the segment itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PseudoHeader {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

impl PseudoHeader {
    /// The pseudo-header of a packet from `src` to `dst`; `None` if their versions differ.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<Self> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(Self::V4 { src, dst }),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Some(Self::V6 { src, dst }),
            _ => None,
        }
    }

    /// The unfolded sum of the pseudo-header of a `len`-byte segment of `protocol`
    /// (RFC 793 for IPv4: addresses, zero, protocol, 16-bit length; RFC 8200 for
    /// IPv6: addresses, 32-bit length, zeros, next header).
    pub fn sum(&self, protocol: u8, len: usize) -> u32 {
        match self {
            Self::V4 { src, dst } => {
                let sum = add_bytes(add_bytes(0, &src.octets()), &dst.octets());
                add_u16(add_u16(sum, u16::from(protocol)), len as u16)
            }
            Self::V6 { src, dst } => {
                let sum = add_bytes(add_bytes(0, &src.octets()), &dst.octets());
                add_u16(add_u32(sum, len as u32), u16::from(protocol))
            }
        }
    }
}

/// An IP header's fields, whatever the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpRepr<'a> {
    Ipv4(Ipv4Repr<'a>),
}

impl IpRepr<'_> {
    pub fn src_addr(&self) -> IpAddr {
        match self {
            Self::Ipv4(ip) => IpAddr::V4(ip.src_addr),
        }
    }

    pub fn dst_addr(&self) -> IpAddr {
        match self {
            Self::Ipv4(ip) => IpAddr::V4(ip.dst_addr),
        }
    }

    /// The protocol (IPv4) or next header (IPv6) of the payload.
    pub fn protocol(&self) -> u8 {
        match self {
            Self::Ipv4(ip) => ip.protocol,
        }
    }

    pub fn header_len(&self) -> usize {
        match self {
            Self::Ipv4(ip) => ip.header_len(),
        }
    }

    pub fn payload_len(&self) -> usize {
        match self {
            Self::Ipv4(ip) => ip.payload_len,
        }
    }

    /// The pseudo-header of the transport segment this header carries.
    pub fn pseudo_header(&self) -> PseudoHeader {
        match self {
            Self::Ipv4(ip) => PseudoHeader::V4 {
                src: ip.src_addr,
                dst: ip.dst_addr,
            },
        }
    }

    /// Writes the header (checksummed) into the first [`Self::header_len`] bytes of
    /// `buffer`.
    pub fn emit(&self, buffer: &mut [u8]) {
        match self {
            Self::Ipv4(ip) => ip.emit(&mut ipv4::Packet::new_unchecked(buffer)),
        }
    }
}
