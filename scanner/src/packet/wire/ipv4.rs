//! IPv4 headers (RFC 791): options, fragments, and a total length that bounds the
//! payload (what follows it in a frame is Ethernet padding, not payload).

use super::{clamped, clamped_mut, get_ipv4, get_u16, set_u16, Error, Result};
use crate::packet::checksum::{add_bytes, finish};
use scanner_common::wire::{IPV4_MIN_HEADER_LEN, IP_FRAGMENT_MASK};
use std::net::Ipv4Addr;

pub mod field {
    use crate::packet::wire::Field;
    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    /// Flags (reserved, don't fragment, more fragments) and the fragment offset.
    pub const FLAGS_OFFSET: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// The header without options.
pub const HEADER_LEN: usize = IPV4_MIN_HEADER_LEN;
/// The most option bytes a header holds.
pub const MAX_OPTIONS_LEN: usize = 40;
const DONT_FRAGMENT: u16 = 0x4000;
const MORE_FRAGMENTS: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// The view of a whole packet: version 4, a header length of at least 20 bytes, a
    /// total length no shorter than the header, and a buffer holding all of it (more,
    /// such as Ethernet padding, is allowed: [`Self::payload`] ends at the total length).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_fixed_checked(buffer)?;
        let len = packet.buffer.as_ref().len();
        if packet.version() != 4 {
            return Err(Error::Malformed);
        }
        let header_len = packet.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if header_len > len {
            return Err(Error::Truncated);
        }
        let total = usize::from(packet.total_len());
        if total < header_len {
            return Err(Error::Malformed);
        }
        if total > len {
            return Err(Error::Truncated);
        }
        Ok(packet)
    }

    /// The view once the 20-byte fixed header is there, nothing else checked: for a
    /// datagram an ICMP error quotes (its total length is the original's, not what was
    /// quoted) and for reading as much of a broken packet as there is. Options and
    /// payload clamp to the buffer.
    pub fn new_fixed_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes, as the header says (see [`Self::new_checked`]).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// The flags and fragment offset as one field.
    pub fn flags_and_offset(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLAGS_OFFSET)
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_and_offset() & DONT_FRAGMENT != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_and_offset() & MORE_FRAGMENTS != 0
    }

    /// The fragment offset in units of eight bytes.
    pub fn frag_offset(&self) -> u16 {
        self.flags_and_offset() & OFFSET_MASK
    }

    /// Whether this is a fragment (more to come, or not the first).
    pub fn is_fragment(&self) -> bool {
        self.flags_and_offset() & IP_FRAGMENT_MASK != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::SRC_ADDR)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The option bytes (as many as there are, for a header length past the buffer).
    pub fn options(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, self.header_len())
    }

    fn payload_start(&self) -> usize {
        self.header_len().max(HEADER_LEN)
    }

    /// The payload: from the header's end to the total length, both clamped to the
    /// buffer (trailing bytes are padding).
    pub fn payload(&self) -> &[u8] {
        clamped(
            self.buffer.as_ref(),
            self.payload_start(),
            usize::from(self.total_len()),
        )
    }

    /// Whether the header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        let header = clamped(self.buffer.as_ref(), 0, self.header_len());
        finish(add_bytes(0, header)) == 0
    }
}

impl<'a> Packet<&'a [u8]> {
    /// [`Self::payload`] for the buffer's lifetime.
    pub fn payload_ref(&self) -> &'a [u8] {
        clamped(
            self.buffer,
            self.payload_start(),
            usize::from(self.total_len()),
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and a header length of `len` bytes (a multiple of four, 20..=60).
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((len / 4) as u8 & 0x0f);
    }

    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos;
    }

    pub fn set_total_len(&mut self, len: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    pub fn set_ident(&mut self, ident: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    pub fn set_flags_and_offset(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::FLAGS_OFFSET, value);
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol;
    }

    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.payload_start(), usize::from(self.total_len()));
        clamped_mut(self.buffer.as_mut(), start, end)
    }

    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = self.header_len();
        let sum = add_bytes(0, clamped(self.buffer.as_ref(), 0, header_len));
        self.set_checksum(finish(sum));
    }
}

/// An IPv4 header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr<'a> {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub ident: u16,
    pub tos: u8,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In units of eight bytes.
    pub frag_offset: u16,
    /// Raw option bytes: emitted padded with end-of-list to a multiple of four, and
    /// cut at [`MAX_OPTIONS_LEN`].
    pub options: &'a [u8],
    pub payload_len: usize,
}

impl<'a> Ipv4Repr<'a> {
    /// A plain header (no options, not a fragment, TOS 0) for `payload_len` bytes.
    pub fn new(
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        protocol: u8,
        ttl: u8,
        ident: u16,
        payload_len: usize,
    ) -> Self {
        Self {
            src_addr,
            dst_addr,
            protocol,
            ttl,
            ident,
            tos: 0,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            options: &[],
            payload_len,
        }
    }

    /// The fields of a packet checked by [`Packet::new_checked`].
    pub fn parse(packet: &Packet<&'a [u8]>) -> Self {
        Self {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            tos: packet.tos(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            options: clamped(packet.buffer, HEADER_LEN, packet.header_len()),
            payload_len: packet.payload_ref().len(),
        }
    }

    fn options_len(&self) -> usize {
        self.options.len().min(MAX_OPTIONS_LEN)
    }

    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len().div_ceil(4) * 4
    }

    /// Header and payload.
    pub fn total_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header, checksummed, into the first [`Self::header_len`] bytes of
    /// `packet` (the payload is the caller's).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let header_len = self.header_len();
        packet.set_header_len(header_len);
        packet.set_tos(self.tos);
        packet.set_total_len(self.total_len() as u16);
        packet.set_ident(self.ident);
        let mut flags = self.frag_offset & OFFSET_MASK;
        if self.dont_frag {
            flags |= DONT_FRAGMENT;
        }
        if self.more_frags {
            flags |= MORE_FRAGMENTS;
        }
        packet.set_flags_and_offset(flags);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        let options = &self.options[..self.options_len()];
        let room = packet.options_mut();
        room.fill(0);
        room[..options.len()].copy_from_slice(options);
        packet.fill_checksum();
    }
}
