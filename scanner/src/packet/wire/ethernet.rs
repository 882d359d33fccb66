//! Ethernet II frames, with at most one 802.1Q or 802.1ad tag after the addresses.

use super::{get_mac, get_u16, set_u16, Error, Result};
use scanner_common::wire::{ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_HEADER_LEN, VLAN_TAG_LEN};

pub mod field {
    use crate::packet::wire::Field;
    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    /// The payload's ethertype, or a tag's (802.1Q, 802.1ad).
    pub const ETHERTYPE: Field = 12..14;
    /// Within a tag: priority, drop eligibility and the VLAN id.
    pub const TAG_CONTROL: Field = 14..16;
    /// Within a tag: the payload's ethertype.
    pub const TAG_ETHERTYPE: Field = 16..18;
}

/// The header without a tag.
pub const HEADER_LEN: usize = ETH_HEADER_LEN;
/// The header with one tag.
pub const TAGGED_HEADER_LEN: usize = ETH_HEADER_LEN + VLAN_TAG_LEN;
/// The broadcast address.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// A view of an Ethernet frame.
#[derive(Clone, Copy, Debug)]
pub struct Frame<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// The view, with nothing checked: getters may then panic on a short buffer.
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// The view, once the buffer holds the whole header (and its tag, if tagged).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let frame = Self::new_unchecked(buffer);
        let len = frame.buffer.as_ref().len();
        if len < HEADER_LEN || len < frame.header_len() {
            return Err(Error::Truncated);
        }
        Ok(frame)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn is_tagged(&self) -> bool {
        let outer = get_u16(self.buffer.as_ref(), field::ETHERTYPE);
        outer == ETHERTYPE_VLAN || outer == ETHERTYPE_QINQ
    }

    /// 14 bytes, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            TAGGED_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    pub fn dst_addr(&self) -> [u8; 6] {
        get_mac(self.buffer.as_ref(), field::DESTINATION)
    }

    pub fn src_addr(&self) -> [u8; 6] {
        get_mac(self.buffer.as_ref(), field::SOURCE)
    }

    /// The payload's ethertype (after the tag, if there is one).
    pub fn ethertype(&self) -> u16 {
        let b = self.buffer.as_ref();
        if self.is_tagged() {
            get_u16(b, field::TAG_ETHERTYPE)
        } else {
            get_u16(b, field::ETHERTYPE)
        }
    }

    /// The VLAN id of a tagged frame.
    pub fn vlan_id(&self) -> Option<u16> {
        self.is_tagged()
            .then(|| get_u16(self.buffer.as_ref(), field::TAG_CONTROL) & 0x0fff)
    }

    /// What follows the header (and the tag).
    pub fn payload(&self) -> &[u8] {
        super::clamped(self.buffer.as_ref(), self.header_len(), usize::MAX)
    }
}

impl<'a> Frame<&'a [u8]> {
    /// [`Self::payload`] for the buffer's lifetime.
    pub fn payload_ref(&self) -> &'a [u8] {
        super::clamped(self.buffer, self.header_len(), usize::MAX)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr);
    }

    pub fn set_src_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        super::clamped_mut(self.buffer.as_mut(), start, usize::MAX)
    }
}

/// An Ethernet header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src_addr: [u8; 6],
    pub dst_addr: [u8; 6],
    /// An 802.1Q tag with this VLAN id (priority 0).
    pub vlan_id: Option<u16>,
    /// The payload's ethertype.
    pub ethertype: u16,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Self {
        Self {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            vlan_id: frame.vlan_id(),
            ethertype: frame.ethertype(),
        }
    }

    pub fn header_len(&self) -> usize {
        if self.vlan_id.is_some() {
            TAGGED_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header into the first [`Self::header_len`] bytes of `frame`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        let b = frame.buffer.as_mut();
        match self.vlan_id {
            Some(vid) => {
                set_u16(b, field::ETHERTYPE, ETHERTYPE_VLAN);
                set_u16(b, field::TAG_CONTROL, vid & 0x0fff);
                set_u16(b, field::TAG_ETHERTYPE, self.ethertype);
            }
            None => set_u16(b, field::ETHERTYPE, self.ethertype),
        }
    }
}
