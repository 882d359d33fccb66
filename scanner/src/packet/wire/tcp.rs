//! TCP segments (RFC 9293): the fixed header, options, payload and checksum.

use super::ip::PseudoHeader;
use super::{clamped, clamped_mut, get_u16, get_u32, set_u16, set_u32, Error, Result};
use crate::packet::checksum::{add_bytes, finish};
use scanner_common::wire::{IPPROTO_TCP, TCP_MIN_HEADER_LEN};

pub mod field {
    use crate::packet::wire::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data offset in 32-bit words (high nibble), reserved bits and NS (low nibble).
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// The header without options.
pub const HEADER_LEN: usize = TCP_MIN_HEADER_LEN;
/// The most option bytes a header holds.
pub const MAX_OPTIONS_LEN: usize = 40;
/// Option kinds with no length byte.
pub const OPT_END: u8 = 0;
pub const OPT_NOP: u8 = 1;
pub const OPT_MSS: u8 = 2;

/// A view of a TCP segment.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// The view of a whole header: a data offset of at least 20 bytes and a buffer
    /// that holds it.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_fixed_checked(buffer)?;
        let header_len = packet.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if header_len > packet.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(packet)
    }

    /// The view once the 20-byte fixed header is there, the data offset unchecked
    /// (as the XDP classifier reads replies; options and payload clamp).
    pub fn new_fixed_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// The header length in bytes, as the data offset says.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The three reserved bits and NS (p0f's "0+" quirk when non-zero).
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::DATA_OFFSET] & 0x0f
    }

    /// FIN 0x01, SYN, RST, PSH, ACK, URG, ECE, CWR 0x80.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The option bytes (as many as there are).
    pub fn options(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, self.header_len())
    }

    /// What follows the header (as much as there is).
    pub fn payload(&self) -> &[u8] {
        let start = self.header_len().max(HEADER_LEN);
        clamped(self.buffer.as_ref(), start, usize::MAX)
    }

    /// Whether the checksum over `pseudo` and the whole buffer is right.
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        let b = self.buffer.as_ref();
        finish(add_bytes(pseudo.sum(IPPROTO_TCP, b.len()), b)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, port: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    pub fn set_dst_port(&mut self, port: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    pub fn set_seq_number(&mut self, seq: u32) {
        set_u32(self.buffer.as_mut(), field::SEQ_NUM, seq);
    }

    pub fn set_ack_number(&mut self, ack: u32) {
        set_u32(self.buffer.as_mut(), field::ACK_NUM, ack);
    }

    /// Sets the data offset to `len` bytes (a multiple of four, 20..=60), reserved 0.
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFFSET] = ((len / 4) as u8) << 4;
    }

    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::FLAGS] = flags;
    }

    pub fn set_window_len(&mut self, window: u16) {
        set_u16(self.buffer.as_mut(), field::WINDOW, window);
    }

    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    pub fn set_urgent_at(&mut self, urgent: u16) {
        set_u16(self.buffer.as_mut(), field::URGENT, urgent);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len().max(HEADER_LEN);
        clamped_mut(self.buffer.as_mut(), start, usize::MAX)
    }

    /// Computes and writes the checksum over `pseudo` and the whole buffer.
    pub fn fill_checksum(&mut self, pseudo: &PseudoHeader) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let sum = finish(add_bytes(pseudo.sum(IPPROTO_TCP, b.len()), b));
        self.set_checksum(sum);
    }
}

/// One TCP option: its kind and the bytes after the kind and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOption<'a> {
    pub kind: u8,
    pub data: &'a [u8],
}

/// The options of a header in order, up to and including end-of-list; an option whose
/// length is missing, under 2 or past the end comes out as `Err(Malformed)`, last.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    bytes: &'a [u8],
    at: usize,
    done: bool,
}

impl<'a> Options<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            done: false,
        }
    }

    /// The bytes after end-of-list (non-zero ones are p0f's "opt+" quirk), once the
    /// iteration has reached it.
    pub fn after_end(&self) -> &'a [u8] {
        clamped(self.bytes, self.at, usize::MAX)
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.at >= self.bytes.len() {
            return None;
        }
        let kind = self.bytes[self.at];
        match kind {
            OPT_END | OPT_NOP => {
                self.at += 1;
                self.done = kind == OPT_END;
                Some(Ok(TcpOption { kind, data: &[] }))
            }
            _ => {
                let len = self.bytes.get(self.at + 1).map(|&len| usize::from(len));
                match len {
                    Some(len) if len >= 2 && self.at + len <= self.bytes.len() => {
                        let data = &self.bytes[self.at + 2..self.at + len];
                        self.at += len;
                        Some(Ok(TcpOption { kind, data }))
                    }
                    _ => {
                        self.done = true;
                        Some(Err(Error::Malformed))
                    }
                }
            }
        }
    }
}

/// A TCP segment's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: u32,
    pub ack_number: u32,
    pub flags: u8,
    pub window_len: u16,
    pub urgent_at: u16,
    /// Raw option bytes: emitted padded with end-of-list to a multiple of four, and
    /// cut at [`MAX_OPTIONS_LEN`].
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// The fields of a segment checked by [`Packet::new_checked`].
    pub fn parse(packet: &Packet<&'a [u8]>) -> Self {
        let b = packet.buffer;
        let header_len = packet.header_len().max(HEADER_LEN);
        Self {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            urgent_at: packet.urgent_at(),
            options: clamped(b, HEADER_LEN, header_len),
            payload: clamped(b, header_len, usize::MAX),
        }
    }

    fn options_len(&self) -> usize {
        self.options.len().min(MAX_OPTIONS_LEN)
    }

    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len().div_ceil(4) * 4
    }

    /// Header and payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the segment into the first [`Self::buffer_len`] bytes of `packet`,
    /// checksummed over `pseudo`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        pseudo: &PseudoHeader,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        packet.set_header_len(self.header_len());
        packet.set_flags(self.flags);
        packet.set_window_len(self.window_len);
        packet.set_urgent_at(self.urgent_at);
        let options = &self.options[..self.options_len()];
        let room = packet.options_mut();
        room.fill(0);
        room[..options.len()].copy_from_slice(options);
        packet.payload_mut()[..self.payload.len()].copy_from_slice(self.payload);
        let len = self.buffer_len();
        let mut segment = Packet::new_unchecked(&mut packet.buffer.as_mut()[..len]);
        segment.fill_checksum(pseudo);
    }
}
