//! ICMP messages (RFC 792): echo, timestamp and address-mask queries and replies,
//! and the errors (destination unreachable, time exceeded) that quote the datagram
//! they are about. A message has no length field: it is the IP payload.

use super::{clamped, get_u16, ipv4, set_u16, Error, Result};
use crate::packet::checksum::{add_bytes, finish};
use scanner_common::wire::{
    ICMP_ADDRESS_MASK_REPLY, ICMP_ADDRESS_MASK_REQUEST, ICMP_DEST_UNREACHABLE, ICMP_HEADER_LEN,
    ICMP_TIMESTAMP_REPLY, ICMP_TIMESTAMP_REQUEST, ICMP_TIME_EXCEEDED,
};

pub mod field {
    use crate::packet::wire::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// Queries: the identifier and sequence number replies echo. Errors: unused, or
    /// (fragmentation needed) the next hop's MTU in `SEQ_NO`.
    pub const IDENT: Field = 4..6;
    pub const SEQ_NO: Field = 6..8;
    /// Timestamp messages: originate, receive and transmit times.
    pub const ORIGINATE: Field = 8..12;
    pub const RECEIVE: Field = 12..16;
    pub const TRANSMIT: Field = 16..20;
    /// Address-mask messages: the mask.
    pub const ADDRESS_MASK: Field = 8..12;
}

pub const HEADER_LEN: usize = ICMP_HEADER_LEN;
/// What an error quotes at least of the datagram after its IP header (RFC 792).
pub const QUOTED_HEAD_LEN: usize = 8;

/// The bytes a query or reply of `msg_type` carries after the header: three
/// timestamps, one mask, or none (echo data is the sender's choice).
pub fn query_body_len(msg_type: u8) -> usize {
    match msg_type {
        ICMP_TIMESTAMP_REQUEST | ICMP_TIMESTAMP_REPLY => 12,
        ICMP_ADDRESS_MASK_REQUEST | ICMP_ADDRESS_MASK_REPLY => 4,
        _ => 0,
    }
}

/// A view of an ICMP message.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T> {
    buffer: T,
}

/// The datagram an error quotes: its IPv4 header (the fixed part checked, its total
/// length the original's) and the first eight bytes after that header.
#[derive(Clone, Copy, Debug)]
pub struct Quoted<'a> {
    pub ip: ipv4::Packet<&'a [u8]>,
    /// The transport header's start: ports (and a TCP sequence number, or an ICMP
    /// identifier and sequence).
    pub head: &'a [u8; QUOTED_HEAD_LEN],
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// The view once the 8-byte header is there.
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    pub fn seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SEQ_NO)
    }

    /// Destination unreachable or time exceeded: the errors a scan reads, which quote
    /// the datagram they are about.
    pub fn is_error(&self) -> bool {
        matches!(self.msg_type(), ICMP_DEST_UNREACHABLE | ICMP_TIME_EXCEEDED)
    }

    /// What follows the header.
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, usize::MAX)
    }

    /// The checksum over the whole message is right.
    pub fn verify_checksum(&self) -> bool {
        finish(add_bytes(0, self.buffer.as_ref())) == 0
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The datagram an error quotes, if this is an error ([`Self::is_error`]) that
    /// quotes a header of at least 20 bytes and eight bytes after it.
    pub fn quoted(&self) -> Option<Quoted<'a>> {
        if !self.is_error() {
            return None;
        }
        let payload = clamped(self.buffer, HEADER_LEN, usize::MAX);
        let ip = ipv4::Packet::new_fixed_checked(payload).ok()?;
        let header_len = ip.header_len();
        if header_len < ipv4::HEADER_LEN {
            return None;
        }
        let head = payload.get(header_len..header_len + QUOTED_HEAD_LEN)?;
        Some(Quoted {
            ip,
            head: head.try_into().ok()?,
        })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, msg_type: u8) {
        self.buffer.as_mut()[field::TYPE] = msg_type;
    }

    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    pub fn set_ident(&mut self, ident: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    pub fn set_seq_no(&mut self, seq: u16) {
        set_u16(self.buffer.as_mut(), field::SEQ_NO, seq);
    }

    /// Computes and writes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = finish(add_bytes(0, self.buffer.as_ref()));
        self.set_checksum(sum);
    }
}

/// An ICMP message's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpRepr<'a> {
    pub msg_type: u8,
    pub code: u8,
    /// Bytes 4..8: identifier and sequence number of a query or reply; unused (or an
    /// MTU) in an error.
    pub ident: u16,
    pub seq_no: u16,
    /// Echo data, a query's body, or the datagram an error quotes.
    pub payload: &'a [u8],
}

impl<'a> IcmpRepr<'a> {
    pub fn parse(packet: &Packet<&'a [u8]>) -> Self {
        Self {
            msg_type: packet.msg_type(),
            code: packet.code(),
            ident: packet.ident(),
            seq_no: packet.seq_no(),
            payload: clamped(packet.buffer, HEADER_LEN, usize::MAX),
        }
    }

    /// Header and payload.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes the message, checksummed, into the first [`Self::buffer_len`] bytes of
    /// `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let message = &mut packet.buffer.as_mut()[..self.buffer_len()];
        message[HEADER_LEN..].copy_from_slice(self.payload);
        let mut message = Packet::new_unchecked(message);
        message.set_msg_type(self.msg_type);
        message.set_code(self.code);
        message.set_ident(self.ident);
        message.set_seq_no(self.seq_no);
        message.fill_checksum();
    }
}
