//! Crafting the frames a target would send back to a probe (SYN+ACK, RST, UDP replies,
//! ICMP replies and errors), and
//! variations of them (VLAN tags, IP options, fragments): for the tests of both
//! classifiers and for benchmarks. The scanner itself never sends these.

use super::{ETH_LEN, IPV4_LEN};

const TCP: usize = ETH_LEN + IPV4_LEN;

/// The reply a target's stack would send to `probe` (a frame built from a
/// [`super::template::TcpTemplate`]): addresses and ports swapped, acknowledging the
/// probe's sequence number + 1, with TCP `flags` and sequence number `seq`.
pub fn reply_to(probe: &[u8], flags: u8, seq: u32) -> Vec<u8> {
    let mut reply = probe[..TCP + 20].to_vec();
    reply[0..6].copy_from_slice(&probe[6..12]);
    reply[6..12].copy_from_slice(&probe[0..6]);
    reply[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&40u16.to_be_bytes());
    reply[ETH_LEN + 12..ETH_LEN + 16].copy_from_slice(&probe[ETH_LEN + 16..ETH_LEN + 20]);
    reply[ETH_LEN + 16..ETH_LEN + 20].copy_from_slice(&probe[ETH_LEN + 12..ETH_LEN + 16]);
    reply[TCP..TCP + 2].copy_from_slice(&probe[TCP + 2..TCP + 4]);
    reply[TCP + 2..TCP + 4].copy_from_slice(&probe[TCP..TCP + 2]);
    let probe_seq = u32::from_be_bytes(probe[TCP + 4..TCP + 8].try_into().expect("4 bytes"));
    reply[TCP + 4..TCP + 8].copy_from_slice(&seq.to_be_bytes());
    reply[TCP + 8..TCP + 12].copy_from_slice(&probe_seq.wrapping_add(1).to_be_bytes());
    reply[TCP + 12] = 5 << 4;
    reply[TCP + 13] = flags;
    reply
}

/// Overwrites the acknowledgement number of a TCP frame without options or tags.
pub fn set_ack(frame: &mut [u8], ack: u32) {
    frame[TCP + 8..TCP + 12].copy_from_slice(&ack.to_be_bytes());
}

/// Overwrites the destination port of a TCP frame without options or tags.
pub fn set_dst_port(frame: &mut [u8], port: u16) {
    frame[TCP + 2..TCP + 4].copy_from_slice(&port.to_be_bytes());
}

/// Overwrites the destination address of an IPv4 frame without a tag.
pub fn set_dst_addr(frame: &mut [u8], addr: [u8; 4]) {
    frame[ETH_LEN + 16..ETH_LEN + 20].copy_from_slice(&addr);
}

/// Sets the IPv4 flags/fragment-offset field.
pub fn set_fragment(frame: &mut [u8], flags_and_offset: u16) {
    frame[ETH_LEN + 6..ETH_LEN + 8].copy_from_slice(&flags_and_offset.to_be_bytes());
}

/// The frame with an 802.1Q tag (VLAN `vid`) after the MAC addresses.
pub fn with_vlan_tag(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut tagged = frame[..12].to_vec();
    tagged.extend_from_slice(&0x8100u16.to_be_bytes());
    tagged.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    tagged.extend_from_slice(&frame[12..]);
    tagged
}

/// The frame with four bytes of IPv4 options (NOPs) in its IP header.
pub fn with_ip_options(frame: &[u8]) -> Vec<u8> {
    let mut out = frame[..TCP].to_vec();
    out.extend_from_slice(&[1, 1, 1, 1]);
    out.extend_from_slice(&frame[TCP..]);
    out[ETH_LEN] = 0x46;
    let total = u16::from_be_bytes([out[ETH_LEN + 2], out[ETH_LEN + 3]]) + 4;
    out[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&total.to_be_bytes());
    out
}

/// The frame followed by `padding` bytes of `fill` after the IP packet, as an
/// Ethernet driver pads a short frame (to 60 bytes, or more on some links).
pub fn with_padding(frame: &[u8], padding: usize, fill: u8) -> Vec<u8> {
    let mut out = frame.to_vec();
    out.resize(frame.len() + padding, fill);
    out
}

/// Overwrites the IPv4 total length of a frame without a tag (the header checksum is
/// not updated: neither classifier reads it).
pub fn set_total_len(frame: &mut [u8], total: u16) {
    frame[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&total.to_be_bytes());
}

/// Swaps the MAC and IPv4 addresses of a frame (no tag, no IP options).
fn swap_addresses(frame: &mut [u8]) {
    let (dst_mac, src_mac) = (frame[0..6].to_vec(), frame[6..12].to_vec());
    frame[0..6].copy_from_slice(&src_mac);
    frame[6..12].copy_from_slice(&dst_mac);
    let (src, dst) = (
        frame[ETH_LEN + 12..ETH_LEN + 16].to_vec(),
        frame[ETH_LEN + 16..ETH_LEN + 20].to_vec(),
    );
    frame[ETH_LEN + 12..ETH_LEN + 16].copy_from_slice(&dst);
    frame[ETH_LEN + 16..ETH_LEN + 20].copy_from_slice(&src);
}

/// The datagram a UDP service sends back to a UDP `probe` (built by
/// [`super::build::udp_probe`]), carrying `payload`.
pub fn udp_reply_to(probe: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut reply = probe[..TCP + 8].to_vec();
    swap_addresses(&mut reply);
    let (sport, dport) = (
        reply[TCP..TCP + 2].to_vec(),
        reply[TCP + 2..TCP + 4].to_vec(),
    );
    reply[TCP..TCP + 2].copy_from_slice(&dport);
    reply[TCP + 2..TCP + 4].copy_from_slice(&sport);
    reply[TCP + 4..TCP + 6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    reply[TCP + 6..TCP + 8].fill(0);
    reply.extend_from_slice(payload);
    let total = (reply.len() - ETH_LEN) as u16;
    reply[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&total.to_be_bytes());
    reply
}

/// The reply a host sends to an ICMP query `probe` (built by
/// [`super::build::icmp_query`]): addresses swapped, type `reply_type`.
pub fn icmp_reply_to(probe: &[u8], reply_type: u8) -> Vec<u8> {
    let mut reply = probe.to_vec();
    swap_addresses(&mut reply);
    reply[TCP] = reply_type;
    reply
}

/// An ICMP error of `icmp_type`/`code` from `from` about `probe`, quoting its IP
/// header and the first `quoted` bytes after it, as a router or the target sends it.
pub fn icmp_error_about(
    probe: &[u8],
    icmp_type: u8,
    code: u8,
    from: [u8; 4],
    quoted: usize,
) -> Vec<u8> {
    let mut frame = probe[..TCP].to_vec();
    swap_addresses(&mut frame);
    frame[ETH_LEN + 12..ETH_LEN + 16].copy_from_slice(&from);
    frame[ETH_LEN + 9] = 1;
    frame.extend_from_slice(&[icmp_type, code, 0, 0, 0, 0, 0, 0]);
    let quote_end = (TCP + quoted).min(probe.len());
    frame.extend_from_slice(&probe[ETH_LEN..quote_end]);
    let total = (frame.len() - ETH_LEN) as u16;
    frame[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&total.to_be_bytes());
    frame
}
