//! Packets a script crafts and packets it receives: IPv4 with options, TCP with
//! options, UDP, ICMP and ARP built from their fields (checksums filled in), and any
//! such frame or packet taken apart again into its fields ([`dissect`]).
//!
//! This is the raw-packet scripts' toolbox (`rawpacket` in the script API); the scan's
//! own probes use the faster templates in [`super::template`] and [`super::build`].
//! Parsing never trusts a length field: whatever does not fit is left out and the
//! packet is marked truncated.

use super::wire::arp;
use super::wire::ethernet::{self, EthernetRepr};
use super::wire::icmp::{self, IcmpRepr};
use super::wire::ip::{IpRepr, PseudoHeader};
use super::wire::ipv4::{self, Ipv4Repr};
use super::wire::tcp::{self, TcpRepr};
use super::wire::udp::{self, UdpRepr};
use super::ETHERTYPE_IPV4;
use scanner_common::wire::{ETHERTYPE_ARP, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use std::net::Ipv4Addr;

/// The IPv4 header of a crafted packet.
#[derive(Clone, Debug)]
pub struct IpSpec {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub id: u16,
    pub tos: u8,
    pub dont_fragment: bool,
    /// Raw option bytes (padded to a multiple of four with end-of-list).
    pub options: Vec<u8>,
}

/// The most option bytes an IPv4 header holds.
pub const MAX_IP_OPTIONS: usize = ipv4::MAX_OPTIONS_LEN;

/// An IPv4 packet of `spec` around `payload`; `None` when the options are too long.
pub fn ipv4(spec: &IpSpec, payload: &[u8]) -> Option<Vec<u8>> {
    if spec.options.len() > MAX_IP_OPTIONS {
        return None;
    }
    let header = IpRepr::Ipv4(Ipv4Repr {
        tos: spec.tos,
        dont_frag: spec.dont_fragment,
        options: &spec.options,
        ..Ipv4Repr::new(
            spec.src,
            spec.dst,
            spec.protocol,
            spec.ttl,
            spec.id,
            payload.len(),
        )
    });
    u16::try_from(header.header_len() + payload.len()).ok()?;
    let mut packet = vec![0u8; header.header_len()];
    header.emit(&mut packet);
    packet.extend_from_slice(payload);
    Some(packet)
}

/// The TCP header of a crafted segment.
#[derive(Clone, Debug, Default)]
pub struct TcpSpec {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// The flags byte (FIN 0x01 … URG 0x20; ECE 0x40, CWR 0x80).
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    /// Raw option bytes (padded to a multiple of four with end-of-list).
    pub options: Vec<u8>,
}

/// The most option bytes a TCP header holds.
pub const MAX_TCP_OPTIONS: usize = tcp::MAX_OPTIONS_LEN;

/// A TCP segment from `src` to `dst`, checksummed; `None` when the options are too long.
pub fn tcp_segment(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    spec: &TcpSpec,
    payload: &[u8],
) -> Option<Vec<u8>> {
    if spec.options.len() > MAX_TCP_OPTIONS {
        return None;
    }
    let segment = TcpRepr {
        src_port: spec.sport,
        dst_port: spec.dport,
        seq_number: spec.seq,
        ack_number: spec.ack,
        flags: spec.flags,
        window_len: spec.window,
        urgent_at: spec.urgent,
        options: &spec.options,
        payload,
    };
    let mut out = vec![0u8; segment.buffer_len()];
    segment.emit(
        &mut tcp::Packet::new_unchecked(&mut out[..]),
        &PseudoHeader::V4 { src, dst },
    );
    Some(out)
}

/// A UDP datagram from `src:sport` to `dst:dport`, checksummed.
pub fn udp_datagram(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let datagram = UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload,
    };
    let mut out = vec![0u8; datagram.buffer_len()];
    datagram.emit(
        &mut udp::Packet::new_unchecked(&mut out[..]),
        &PseudoHeader::V4 { src, dst },
    );
    out
}

/// An ICMP message (echo request: type 8) with identifier and sequence number.
pub fn icmp_message(icmp_type: u8, code: u8, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let message = IcmpRepr {
        msg_type: icmp_type,
        code,
        ident: id,
        seq_no: seq,
        payload,
    };
    let mut out = vec![0u8; message.buffer_len()];
    message.emit(&mut icmp::Packet::new_unchecked(&mut out[..]));
    out
}

/// An Ethernet frame of `ethertype` from `src_mac` to `dst_mac` around `payload`.
pub fn ethernet(dst_mac: [u8; 6], src_mac: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let header = EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        vlan_id: None,
        ethertype,
    };
    let mut frame = vec![0u8; header.header_len()];
    frame.reserve(payload.len());
    header.emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]));
    frame.extend_from_slice(payload);
    frame
}

/// An ARP request for `target` from `src_mac`/`src_ip`, in a frame to `dst_mac`
/// (broadcast, or a bogus address a promiscuous host would still take in).
pub fn arp_request(
    src_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_mac: [u8; 6],
    target: Ipv4Addr,
) -> Vec<u8> {
    super::build::arp_request(src_mac, src_ip, dst_mac, target).to_vec()
}

/// A dissected IPv4 header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpFields {
    pub header_len: usize,
    pub tos: u8,
    pub total_len: u16,
    pub id: u16,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    pub fragment_offset: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub options: Vec<u8>,
}

/// One TCP option: its kind and the bytes after the kind and length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpOption {
    pub kind: u8,
    pub data: Vec<u8>,
}

/// A dissected TCP header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpFields {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub header_len: usize,
    /// The four reserved bits and the NS bit (p0f's "0+" quirk when non-zero).
    pub reserved: u8,
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    /// Options in order, up to end-of-list.
    pub options: Vec<TcpOption>,
    /// Non-zero bytes after end-of-list (p0f's "opt+").
    pub trailing_after_eol: bool,
    /// An option whose length runs past the header (p0f's "bad").
    pub options_malformed: bool,
    pub payload_len: usize,
}

/// What is after the IP header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp(TcpFields),
    Udp {
        sport: u16,
        dport: u16,
        len: u16,
    },
    Icmp {
        icmp_type: u8,
        code: u8,
        /// Bytes 4..8: identifier and sequence of queries, unused or MTU of errors.
        id: u16,
        seq: u16,
        /// The packet an error quotes, dissected.
        quoted: Option<Box<Dissected>>,
    },
    Other,
}

/// A dissected ARP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpFields {
    pub oper: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

/// A frame or IP packet taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dissected {
    /// The Ethernet addresses, for a frame.
    pub ethernet: Option<([u8; 6], [u8; 6])>,
    pub ip: Option<IpFields>,
    pub transport: Option<Transport>,
    pub arp: Option<ArpFields>,
    /// Something was cut short.
    pub truncated: bool,
}

/// Takes an Ethernet frame apart (`is_frame`), or an IP packet.
pub fn dissect(bytes: &[u8], is_frame: bool) -> Dissected {
    let mut out = Dissected {
        ethernet: None,
        ip: None,
        transport: None,
        arp: None,
        truncated: false,
    };
    let packet = if is_frame {
        let Ok(frame) = ethernet::Frame::new_checked(bytes) else {
            out.truncated = bytes.len() < ethernet::HEADER_LEN;
            if !out.truncated {
                // A tag announced but cut off: the addresses are still there.
                let frame = ethernet::Frame::new_unchecked(bytes);
                out.ethernet = Some((frame.dst_addr(), frame.src_addr()));
            }
            return out;
        };
        out.ethernet = Some((frame.dst_addr(), frame.src_addr()));
        // A tagged frame is not read further (nor sent by a script: `script::raw`).
        if frame.vlan_id().is_some() {
            return out;
        }
        let rest = frame.payload_ref();
        match frame.ethertype() {
            ETHERTYPE_ARP => {
                match arp::Packet::new_checked(rest) {
                    Ok(arp) => {
                        out.arp = Some(ArpFields {
                            oper: arp.operation(),
                            sender_mac: arp.sender_mac(),
                            sender_ip: arp.sender_ip(),
                            target_mac: arp.target_mac(),
                            target_ip: arp.target_ip(),
                        })
                    }
                    Err(_) => out.truncated = true,
                }
                return out;
            }
            ETHERTYPE_IPV4 => rest,
            _ => return out,
        }
    } else {
        bytes
    };
    dissect_ip(packet, &mut out);
    out
}

fn dissect_ip(packet: &[u8], out: &mut Dissected) {
    let Ok(ip) = ipv4::Packet::new_fixed_checked(packet) else {
        out.truncated = true;
        return;
    };
    if ip.version() != 4 {
        return;
    }
    // A header length past the bytes there are, or shorter than the fixed header:
    // nothing more can be read.
    let header_len = ip.header_len();
    if header_len < ipv4::HEADER_LEN || header_len > packet.len() {
        out.truncated = true;
        return;
    }
    // The payload ends where the total length says: what follows is Ethernet padding.
    // A total length past the bytes there are (a quoted packet's, or a lie) or inside
    // the header is marked truncated, and only the bytes there are are read.
    if ipv4::Packet::new_checked(packet).is_err() {
        out.truncated = true;
    }
    let payload = ip.payload_ref();
    out.transport = Some(match ip.protocol() {
        IPPROTO_TCP => match dissect_tcp(payload) {
            Some(tcp) => Transport::Tcp(tcp),
            None => {
                out.truncated = true;
                Transport::Other
            }
        },
        IPPROTO_UDP if payload.len() >= udp::HEADER_LEN => {
            let udp = udp::Packet::new_unchecked(payload);
            Transport::Udp {
                sport: udp.src_port(),
                dport: udp.dst_port(),
                len: udp.len(),
            }
        }
        IPPROTO_ICMP if payload.len() >= icmp::HEADER_LEN => {
            let icmp = icmp::Packet::new_unchecked(payload);
            Transport::Icmp {
                icmp_type: icmp.msg_type(),
                code: icmp.code(),
                id: icmp.ident(),
                seq: icmp.seq_no(),
                quoted: icmp
                    .is_error()
                    .then(|| Box::new(dissect(icmp.payload(), false))),
            }
        }
        IPPROTO_UDP | IPPROTO_ICMP => {
            // A quoted packet carries only the first eight bytes of its transport
            // header: as much as there is is still read.
            out.truncated = true;
            Transport::Other
        }
        _ => Transport::Other,
    });
    out.ip = Some(IpFields {
        header_len,
        tos: ip.tos(),
        total_len: ip.total_len(),
        id: ip.ident(),
        dont_fragment: ip.dont_frag(),
        more_fragments: ip.more_frags(),
        fragment_offset: ip.frag_offset(),
        ttl: ip.ttl(),
        protocol: ip.protocol(),
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        options: ip.options().to_vec(),
    });
}

/// The TCP fields of `segment`, as many as there are: a quoted segment has only its
/// first eight bytes (ports and sequence number); `None` under that.
fn dissect_tcp(segment: &[u8]) -> Option<TcpFields> {
    const QUOTED_LEN: usize = icmp::QUOTED_HEAD_LEN;
    if segment.len() < QUOTED_LEN {
        return None;
    }
    let Ok(tcp) = tcp::Packet::new_fixed_checked(segment) else {
        // Ports and sequence number sit in the first eight bytes: read them through a
        // header padded with zeros.
        let mut head = [0u8; tcp::HEADER_LEN];
        head[..segment.len()].copy_from_slice(segment);
        let tcp = tcp::Packet::new_unchecked(&head);
        return Some(TcpFields {
            sport: tcp.src_port(),
            dport: tcp.dst_port(),
            seq: tcp.seq_number(),
            ack: 0,
            header_len: segment.len(),
            reserved: 0,
            flags: 0,
            window: 0,
            urgent: 0,
            options: Vec::new(),
            trailing_after_eol: false,
            options_malformed: false,
            payload_len: 0,
        });
    };
    let header_len = tcp.header_len();
    let mut options = tcp::Options::new(tcp.options());
    let mut fields = TcpFields {
        sport: tcp.src_port(),
        dport: tcp.dst_port(),
        seq: tcp.seq_number(),
        ack: tcp.ack_number(),
        header_len,
        reserved: tcp.reserved(),
        flags: tcp.flags(),
        window: tcp.window_len(),
        urgent: tcp.urgent_at(),
        options: Vec::new(),
        trailing_after_eol: false,
        options_malformed: tcp::Packet::new_checked(segment).is_err(),
        payload_len: tcp.payload().len(),
    };
    for option in options.by_ref() {
        match option {
            Ok(option) => fields.options.push(TcpOption {
                kind: option.kind,
                data: option.data.to_vec(),
            }),
            Err(_) => fields.options_malformed = true,
        }
    }
    fields.trailing_after_eol = options.after_end().iter().any(|&b| b != 0);
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::ETH_LEN;

    /// Captured in the lab (tcpdump -xx in lab-scanner): 198.18.0.10:22 answering a
    /// SYN with SYN+ACK, options MSS 1460, SACK permitted, timestamps, NOP, wscale 10.
    const SYN_ACK: [u8; 74] = [
        0x82, 0x2e, 0x64, 0xac, 0x0b, 0x25, 0x9a, 0x9d, 0x80, 0x78, 0x5b, 0x21, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xae, 0x8c, 0xc6, 0x12, 0x00, 0x0a,
        0xc6, 0x12, 0x00, 0x01, 0x00, 0x16, 0xca, 0x00, 0x7f, 0xb1, 0x1f, 0xd4, 0x79, 0xab, 0x3a,
        0xd6, 0xa0, 0x12, 0xfe, 0x88, 0xf2, 0xcd, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02,
        0x08, 0x0a, 0x99, 0x96, 0xf5, 0xef, 0x99, 0x20, 0x83, 0xa1, 0x01, 0x03, 0x03, 0x0a,
    ];

    #[test]
    fn a_syn_ack_comes_apart_into_its_fields() {
        let d = dissect(&SYN_ACK, true);
        let ip = d.ip.as_ref().unwrap();
        assert_eq!((ip.ttl, ip.dont_fragment, ip.id), (64, true, 0));
        assert_eq!(ip.src, Ipv4Addr::new(198, 18, 0, 10));
        let Some(Transport::Tcp(tcp)) = &d.transport else {
            panic!("{d:?}")
        };
        assert_eq!(
            (tcp.sport, tcp.dport, tcp.flags, tcp.window),
            (22, 51712, 0x12, 65160)
        );
        let kinds: Vec<u8> = tcp.options.iter().map(|o| o.kind).collect();
        assert_eq!(kinds, [2, 4, 8, 1, 3]);
        assert_eq!(tcp.options[0].data, [0x05, 0xb4]);
        assert!(!tcp.options_malformed && !tcp.trailing_after_eol && !d.truncated);
    }

    #[test]
    fn crafted_packets_read_back_with_valid_checksums() {
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 1, 10));
        let tcp = TcpSpec {
            sport: 40000,
            dport: 22,
            seq: 7,
            flags: 0x02,
            window: 1024,
            options: vec![2, 4, 5, 0xb4],
            ..Default::default()
        };
        let segment = tcp_segment(src, dst, &tcp, b"").unwrap();
        let view = tcp::Packet::new_checked(&segment[..]).unwrap();
        assert!(view.verify_checksum(&PseudoHeader::V4 { src, dst }));
        // Record route: type 7, length 39, pointer 4, room for nine addresses.
        let mut rr = vec![7, 39, 4];
        rr.resize(39, 0);
        let spec = IpSpec {
            src,
            dst,
            protocol: IPPROTO_ICMP,
            ttl: 64,
            id: 1,
            tos: 0,
            dont_fragment: false,
            options: rr,
        };
        let packet = ipv4(&spec, &icmp_message(8, 0, 0x1234, 1, b"hi")).unwrap();
        let view = ipv4::Packet::new_checked(&packet[..]).unwrap();
        assert!(view.verify_checksum(), "IP header checksum");
        let d = dissect(&packet, false);
        assert_eq!(d.ip.as_ref().unwrap().header_len, 60);
        assert_eq!(d.ip.as_ref().unwrap().options.len(), 40);
        match d.transport {
            Some(Transport::Icmp {
                icmp_type: 8,
                id: 0x1234,
                seq: 1,
                quoted: None,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(ipv4(
            &IpSpec {
                options: vec![1; 41],
                ..spec
            },
            b""
        )
        .is_none());
    }

    #[test]
    fn an_icmp_error_shows_the_packet_it_quotes() {
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 1, 10));
        let tcp = TcpSpec {
            sport: 40000,
            dport: 80,
            flags: 0x18,
            ..Default::default()
        };
        let probe = tcp_segment(src, dst, &tcp, b"GET").unwrap();
        let spec = IpSpec {
            src,
            dst,
            protocol: IPPROTO_TCP,
            ttl: 1,
            id: 9,
            tos: 0,
            dont_fragment: true,
            options: Vec::new(),
        };
        let quoted = ipv4(&spec, &probe[..8]).unwrap();
        let router = IpSpec {
            src: Ipv4Addr::new(198, 18, 0, 2),
            dst: src,
            protocol: IPPROTO_ICMP,
            ttl: 64,
            ..spec
        };
        let error = ipv4(&router, &icmp_message(11, 0, 0, 0, &quoted)).unwrap();
        let d = dissect(&error, false);
        let Some(Transport::Icmp {
            icmp_type: 11,
            quoted: Some(inner),
            ..
        }) = d.transport
        else {
            panic!("{d:?}")
        };
        assert_eq!(inner.ip.as_ref().unwrap().dst, dst);
        match &inner.transport {
            Some(Transport::Tcp(tcp)) => assert_eq!((tcp.sport, tcp.dport), (40000, 80)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_tagged_frame_shows_only_its_addresses() {
        let tagged = crate::packet::craft::with_vlan_tag(&SYN_ACK, 7);
        for len in [ETH_LEN, ETH_LEN + 2, tagged.len()] {
            let d = dissect(&tagged[..len], true);
            assert_eq!(d.ethernet, dissect(&SYN_ACK, true).ethernet, "len {len}");
            assert!(
                d.ip.is_none() && d.arp.is_none() && !d.truncated,
                "len {len}"
            );
        }
    }

    #[test]
    fn broken_lengths_are_marked_truncated_not_trusted() {
        for cut in 0..SYN_ACK.len() {
            let _ = dissect(&SYN_ACK[..cut], true);
            let _ = dissect(&SYN_ACK[ETH_LEN.min(cut)..cut], false);
        }
        let mut bad = SYN_ACK;
        // Header length 60 > what is there.
        ipv4::Packet::new_unchecked(&mut bad[ETH_LEN..]).set_header_len(60);
        assert!(dissect(&bad, true).truncated);
        let mut bad_opt = SYN_ACK;
        // The MSS option claims 40 bytes.
        bad_opt[ETH_LEN + ipv4::HEADER_LEN + tcp::HEADER_LEN + 1] = 40;
        match dissect(&bad_opt, true).transport {
            Some(Transport::Tcp(tcp)) => assert!(tcp.options_malformed),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn padding_is_not_payload_and_lengths_past_the_frame_are_truncated() {
        // A UDP datagram of 4 payload bytes in a frame padded to 60 bytes.
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 12), Ipv4Addr::new(198, 18, 0, 1));
        let spec = IpSpec {
            src,
            dst,
            protocol: IPPROTO_UDP,
            ttl: 64,
            id: 1,
            tos: 0,
            dont_fragment: false,
            options: Vec::new(),
        };
        let packet = ipv4(&spec, &udp_datagram(src, dst, 53, 40000, b"abcd")).unwrap();
        let mut frame = ethernet(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            ETHERTYPE_IPV4,
            &packet,
        );
        frame.resize(60, 0xee);
        let d = dissect(&frame, true);
        assert!(!d.truncated, "{d:?}");
        assert_eq!(usize::from(d.ip.as_ref().unwrap().total_len), packet.len());
        // A TCP segment whose total length ends before the padding does: the padding
        // is not counted as its payload.
        let mut syn_ack = SYN_ACK.to_vec();
        syn_ack.resize(SYN_ACK.len() + 10, 0);
        let Some(Transport::Tcp(tcp)) = dissect(&syn_ack, true).transport else {
            panic!("a padded SYN+ACK")
        };
        assert_eq!(tcp.payload_len, 0);
        // A total length larger than the frame, or inside the header: truncated.
        for total in [SYN_ACK.len() - ETH_LEN + 1, 1500, 10] {
            let mut bad = SYN_ACK;
            crate::packet::craft::set_total_len(&mut bad, total as u16);
            assert!(dissect(&bad, true).truncated, "total {total}");
        }
    }
}
