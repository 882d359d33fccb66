//! UDP datagrams (RFC 768).

use super::ip::PseudoHeader;
use super::{clamped, get_u16, set_u16, Error, Result};
use crate::packet::checksum::{add_bytes, finish};
use scanner_common::wire::{IPPROTO_UDP, UDP_HEADER_LEN};

pub mod field {
    use crate::packet::wire::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    /// Header and payload.
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

pub const HEADER_LEN: usize = UDP_HEADER_LEN;

/// A view of a UDP datagram.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// The view of a whole datagram: a length field of at least 8 and a buffer that
    /// holds that many bytes (more is padding: [`Self::payload`] ends at the length).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_fixed_checked(buffer)?;
        let len = usize::from(packet.len());
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len > packet.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(packet)
    }

    /// The view once the 8-byte header is there, the length field unchecked (as the
    /// XDP classifier reads replies, and as an ICMP error quotes a datagram).
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

    /// The length field: header and payload.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The payload, to the length field's end (clamped to the buffer).
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, usize::from(self.len()))
    }

    /// Whether the checksum over `pseudo` and the datagram is right (zero: none sent).
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let datagram = clamped(self.buffer.as_ref(), 0, usize::from(self.len()));
        finish(add_bytes(pseudo.sum(IPPROTO_UDP, datagram.len()), datagram)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, port: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    pub fn set_dst_port(&mut self, port: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    pub fn set_len(&mut self, len: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// Computes and writes the checksum over `pseudo` and the datagram (a computed
    /// zero is sent as all ones: zero means "no checksum").
    pub fn fill_checksum(&mut self, pseudo: &PseudoHeader) {
        self.set_checksum(0);
        let datagram = clamped(self.buffer.as_ref(), 0, usize::from(self.len()));
        let sum = match finish(add_bytes(pseudo.sum(IPPROTO_UDP, datagram.len()), datagram)) {
            0 => 0xffff,
            sum => sum,
        };
        self.set_checksum(sum);
    }
}

/// A UDP datagram's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// The fields of a datagram checked by [`Packet::new_checked`].
    pub fn parse(packet: &Packet<&'a [u8]>) -> Self {
        Self {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: clamped(packet.buffer, HEADER_LEN, usize::from(packet.len())),
        }
    }

    /// Header and payload.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes the datagram into the first [`Self::buffer_len`] bytes of `packet`,
    /// checksummed over `pseudo`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        pseudo: &PseudoHeader,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.buffer_len() as u16);
        packet.buffer.as_mut()[HEADER_LEN..self.buffer_len()].copy_from_slice(self.payload);
        packet.fill_checksum(pseudo);
    }
}
