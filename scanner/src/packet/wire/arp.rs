//! ARP packets (RFC 826) for Ethernet and IPv4, the only kind a scan sends or reads.

use super::{get_ipv4, get_mac, get_u16, set_u16, Error, Result};
use scanner_common::wire::{ARP_PACKET_LEN, ETHERTYPE_IPV4};
use std::net::Ipv4Addr;

pub mod field {
    use crate::packet::wire::Field;
    pub const HARDWARE_TYPE: Field = 0..2;
    pub const PROTOCOL_TYPE: Field = 2..4;
    pub const HARDWARE_LEN: usize = 4;
    pub const PROTOCOL_LEN: usize = 5;
    pub const OPERATION: Field = 6..8;
    // The addresses, at these places when the lengths are Ethernet's and IPv4's.
    pub const SENDER_MAC: Field = 8..14;
    pub const SENDER_IP: Field = 14..18;
    pub const TARGET_MAC: Field = 18..24;
    pub const TARGET_IP: Field = 24..28;
}

/// An Ethernet/IPv4 ARP packet's length.
pub const PACKET_LEN: usize = ARP_PACKET_LEN;
/// The hardware type of Ethernet.
pub const HARDWARE_ETHERNET: u16 = 1;

/// A view of an ARP packet.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// The view, once the buffer holds an Ethernet/IPv4-sized packet (whether it is
    /// one is [`Self::is_ethernet_ipv4`]).
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    pub fn hardware_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::HARDWARE_TYPE)
    }

    pub fn protocol_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PROTOCOL_TYPE)
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HARDWARE_LEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL_LEN]
    }

    /// Whether the addresses are Ethernet's and IPv4's (and so where the fields say).
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HARDWARE_ETHERNET
            && self.protocol_type() == ETHERTYPE_IPV4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }

    pub fn operation(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::OPERATION)
    }

    pub fn sender_mac(&self) -> [u8; 6] {
        get_mac(self.buffer.as_ref(), field::SENDER_MAC)
    }

    pub fn sender_ip(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::SENDER_IP)
    }

    pub fn target_mac(&self) -> [u8; 6] {
        get_mac(self.buffer.as_ref(), field::TARGET_MAC)
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::TARGET_IP)
    }
}

/// An Ethernet/IPv4 ARP packet's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    /// 1 request, 2 reply.
    pub operation: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// The fields of an Ethernet/IPv4 packet; other kinds are `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        if !packet.is_ethernet_ipv4() {
            return Err(Error::Unsupported);
        }
        Ok(Self {
            operation: packet.operation(),
            sender_mac: packet.sender_mac(),
            sender_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        })
    }

    /// Writes the packet into the first [`PACKET_LEN`] bytes of `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let b = packet.buffer.as_mut();
        set_u16(b, field::HARDWARE_TYPE, HARDWARE_ETHERNET);
        set_u16(b, field::PROTOCOL_TYPE, ETHERTYPE_IPV4);
        b[field::HARDWARE_LEN] = 6;
        b[field::PROTOCOL_LEN] = 4;
        set_u16(b, field::OPERATION, self.operation);
        b[field::SENDER_MAC].copy_from_slice(&self.sender_mac);
        b[field::SENDER_IP].copy_from_slice(&self.sender_ip.octets());
        b[field::TARGET_MAC].copy_from_slice(&self.target_mac);
        b[field::TARGET_IP].copy_from_slice(&self.target_ip.octets());
    }
}
