//! Wire-format constants both classifiers (kernel and userspace) and the frame
//! templates use, so the two sides cannot drift apart.

/// Ethernet header length (no tag).
pub const ETH_HEADER_LEN: usize = 14;
/// One 802.1Q / 802.1ad tag.
pub const VLAN_TAG_LEN: usize = 4;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// An Ethernet/IPv4 ARP packet: 28 bytes after the Ethernet header.
pub const ARP_PACKET_LEN: usize = 28;
pub const ARP_OPER_REQUEST: u16 = 1;
pub const ARP_OPER_REPLY: u16 = 2;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// IPv4 header length without options.
pub const IPV4_MIN_HEADER_LEN: usize = 20;
/// More-fragments flag and fragment offset bits of the IPv4 flags/offset field.
pub const IP_FRAGMENT_MASK: u16 = 0x3fff;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
/// ICMP header length (type, code, checksum and four more bytes).
pub const ICMP_HEADER_LEN: usize = 8;
/// UDP header length.
pub const UDP_HEADER_LEN: usize = 8;
pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_DEST_UNREACHABLE: u8 = 3;
pub const ICMP_ECHO_REQUEST: u8 = 8;
pub const ICMP_TIME_EXCEEDED: u8 = 11;
pub const ICMP_TIMESTAMP_REQUEST: u8 = 13;
pub const ICMP_TIMESTAMP_REPLY: u8 = 14;
pub const ICMP_ADDRESS_MASK_REQUEST: u8 = 17;
pub const ICMP_ADDRESS_MASK_REPLY: u8 = 18;
/// TCP header length without options.
pub const TCP_MIN_HEADER_LEN: usize = 20;
pub const TCP_FLAG_FIN: u8 = 0x01;
pub const TCP_FLAG_SYN: u8 = 0x02;
pub const TCP_FLAG_RST: u8 = 0x04;
pub const TCP_FLAG_PSH: u8 = 0x08;
pub const TCP_FLAG_ACK: u8 = 0x10;
pub const TCP_FLAG_URG: u8 = 0x20;
