//! The views on real bytes (frames captured in the lab with tcpdump: our probes as
//! the targets saw them, and the targets' replies), round trips parse(emit(x)) == x,
//! length fields that lie, and arbitrary bytes that must not panic.

use super::arp::{self, ArpRepr};
use super::ethernet::{self, EthernetRepr, Frame};
use super::icmp::{self, IcmpRepr};
use super::ip::{IpRepr, PseudoHeader};
use super::ipv4::{self, Ipv4Repr};
use super::tcp::{self, TcpRepr};
use super::udp::{self, UdpRepr};
use super::Error;
use crate::packet::build;
use crate::packet::checksum::{add_bytes, finish};
use crate::packet::template::{LinkAddrs, SegmentKind, TcpTemplate, MAX_FRAME_LEN};
use proptest::prelude::*;
use scanner_common::wire::{
    ARP_OPER_REPLY, ARP_OPER_REQUEST, ETHERTYPE_ARP, ETHERTYPE_IPV4, ICMP_DEST_UNREACHABLE,
    ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_TIME_EXCEEDED, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP,
};
use std::net::{Ipv4Addr, Ipv6Addr};

// Captured in lab-web (eth0): a SYN scan of 198.18.0.10 ports 22 and 81.
const ARP_REQUEST: &[u8] = include_bytes!("testdata/arp_request.bin");
const ARP_REPLY: &[u8] = include_bytes!("testdata/arp_reply.bin");
const SYN_PROBE: &[u8] = include_bytes!("testdata/syn_probe.bin");
const SYN_ACK: &[u8] = include_bytes!("testdata/syn_ack.bin");
const RST_ACK: &[u8] = include_bytes!("testdata/rst_ack.bin");
const RST_PROBE: &[u8] = include_bytes!("testdata/rst_probe.bin");
// Captured in lab-dns (eth0): a UDP scan of 198.18.0.12 ports 1 and 53.
const UDP_PROBE: &[u8] = include_bytes!("testdata/udp_probe.bin");
const PORT_UNREACHABLE: &[u8] = include_bytes!("testdata/port_unreachable.bin");
const DNS_PROBE: &[u8] = include_bytes!("testdata/dns_probe.bin");
const DNS_REPLY: &[u8] = include_bytes!("testdata/dns_reply.bin");
// Captured in lab-scanner (eth0): `ping -s 8` of 198.18.0.10, and of 198.18.1.10
// with TTL 1 (the router answers).
const ECHO_REQUEST: &[u8] = include_bytes!("testdata/echo_request.bin");
const ECHO_REPLY: &[u8] = include_bytes!("testdata/echo_reply.bin");
const TIME_EXCEEDED: &[u8] = include_bytes!("testdata/time_exceeded.bin");

const ALL: [&[u8]; 13] = [
    ARP_REQUEST,
    ARP_REPLY,
    SYN_PROBE,
    SYN_ACK,
    RST_ACK,
    RST_PROBE,
    UDP_PROBE,
    PORT_UNREACHABLE,
    DNS_PROBE,
    DNS_REPLY,
    ECHO_REQUEST,
    ECHO_REPLY,
    TIME_EXCEEDED,
];

const SCANNER_MAC: [u8; 6] = [0x66, 0xb3, 0x6e, 0x9a, 0xf7, 0xe2];
const WEB_MAC: [u8; 6] = [0xda, 0x8e, 0xcd, 0xa3, 0x09, 0x0f];
const DNS_MAC: [u8; 6] = [0xa6, 0xe1, 0x54, 0xb8, 0x2a, 0x61];
const SCANNER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const WEB: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const DNS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 12);

/// The Ethernet frame, IPv4 packet and transport bytes of a captured frame, every
/// length and checksum checked.
fn layers(frame: &[u8]) -> (Frame<&[u8]>, ipv4::Packet<&[u8]>) {
    let eth = Frame::new_checked(frame).unwrap();
    assert_eq!(eth.ethertype(), ETHERTYPE_IPV4);
    let ip = ipv4::Packet::new_checked(&frame[eth.header_len()..]).unwrap();
    assert!(ip.verify_checksum(), "IP checksum");
    (eth, ip)
}

fn pseudo(ip: &ipv4::Packet<&[u8]>) -> PseudoHeader {
    PseudoHeader::V4 {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
    }
}

fn tcp_of<'a>(ip: &ipv4::Packet<&'a [u8]>) -> tcp::Packet<&'a [u8]> {
    assert_eq!(ip.protocol(), IPPROTO_TCP);
    let segment = tcp::Packet::new_checked(ip.payload_ref()).unwrap();
    assert!(segment.verify_checksum(&pseudo(ip)), "TCP checksum");
    segment
}

#[test]
fn captured_tcp_probes_and_replies_read_as_tcpdump_read_them() {
    let (eth, ip) = layers(SYN_PROBE);
    assert_eq!((eth.src_addr(), eth.dst_addr()), (SCANNER_MAC, WEB_MAC));
    assert_eq!((ip.src_addr(), ip.dst_addr(), ip.ttl()), (SCANNER, WEB, 64));
    let syn = tcp_of(&ip);
    assert_eq!((syn.src_port(), syn.dst_port()), (40000, 22));
    assert_eq!(
        (syn.seq_number(), syn.flags(), syn.window_len()),
        (1829850986, 0x02, 1024)
    );
    let options: Vec<_> = tcp::Options::new(syn.options()).collect();
    assert_eq!(
        options,
        [Ok(tcp::TcpOption {
            kind: tcp::OPT_MSS,
            data: &[0x05, 0xb4]
        })]
    );

    let (_, ip) = layers(SYN_ACK);
    assert_eq!(
        (ip.src_addr(), ip.dst_addr(), ip.dont_frag()),
        (WEB, SCANNER, true)
    );
    let syn_ack = tcp_of(&ip);
    assert_eq!((syn_ack.src_port(), syn_ack.dst_port()), (22, 40000));
    assert_eq!(
        (syn_ack.seq_number(), syn_ack.ack_number(), syn_ack.flags()),
        (2927238270, 1829850987, 0x12)
    );
    assert_eq!((syn_ack.window_len(), syn_ack.header_len()), (64240, 24));

    let (_, ip) = layers(RST_ACK);
    let rst = tcp_of(&ip);
    assert_eq!(
        (rst.src_port(), rst.dst_port(), rst.flags()),
        (81, 40001, 0x14)
    );
    assert_eq!((rst.seq_number(), rst.ack_number()), (0, 2582640355));
    assert!(rst.payload().is_empty());
}

#[test]
fn the_templates_write_the_frames_that_went_out() {
    let link = LinkAddrs {
        src_mac: SCANNER_MAC,
        dst_mac: WEB_MAC,
        src_ip: SCANNER,
    };
    let mut buf = [0u8; MAX_FRAME_LEN];
    for (kind, captured) in [(SegmentKind::Syn, SYN_PROBE), (SegmentKind::Rst, RST_PROBE)] {
        let (_, ip) = layers(captured);
        let tcp = tcp_of(&ip);
        let len = TcpTemplate::new(kind, &link).write(
            &mut buf,
            ip.dst_addr(),
            tcp.src_port(),
            tcp.dst_port(),
            tcp.seq_number(),
            ip.ident(),
        );
        assert_eq!(&buf[..len], captured, "{kind:?}");
    }
}

#[test]
fn captured_udp_probes_replies_and_errors_read_as_tcpdump_read_them() {
    let link = LinkAddrs {
        src_mac: SCANNER_MAC,
        dst_mac: DNS_MAC,
        src_ip: SCANNER,
    };
    let mut buf = [0u8; 256];
    for (captured, dport, payload_len) in [(UDP_PROBE, 1, 0), (DNS_PROBE, 53, 30)] {
        let (_, ip) = layers(captured);
        assert_eq!(ip.protocol(), IPPROTO_UDP);
        let udp = udp::Packet::new_checked(ip.payload_ref()).unwrap();
        assert!(udp.verify_checksum(&pseudo(&ip)));
        assert_eq!((udp.dst_port(), udp.payload().len()), (dport, payload_len));
        // And the probe builder writes the very frame that went out.
        let len = build::udp_probe(
            &mut buf,
            &link,
            DNS,
            udp.src_port(),
            dport,
            udp.payload(),
            ip.ident(),
        );
        assert_eq!(&buf[..len], captured);
    }

    let (_, ip) = layers(DNS_REPLY);
    let reply = udp::Packet::new_checked(ip.payload_ref()).unwrap();
    assert!(reply.verify_checksum(&pseudo(&ip)));
    assert_eq!((reply.src_port(), reply.dst_port()), (53, 57341));
    assert_eq!(reply.payload().len(), 55);

    let (_, ip) = layers(PORT_UNREACHABLE);
    assert_eq!((ip.src_addr(), ip.tos()), (DNS, 0xc0));
    let error = icmp::Packet::new_checked(ip.payload_ref()).unwrap();
    assert!(error.verify_checksum());
    assert_eq!((error.msg_type(), error.code()), (ICMP_DEST_UNREACHABLE, 3));
    let quoted = error.quoted().expect("the probe, quoted");
    assert_eq!((quoted.ip.src_addr(), quoted.ip.dst_addr()), (SCANNER, DNS));
    assert_eq!(quoted.ip.protocol(), IPPROTO_UDP);
    let head = udp::Packet::new_fixed_checked(&quoted.head[..]).unwrap();
    assert_eq!((head.src_port(), head.dst_port()), (57419, 1));
}

#[test]
fn captured_icmp_queries_and_time_exceeded_read_as_tcpdump_read_them() {
    for (captured, kind) in [
        (ECHO_REQUEST, ICMP_ECHO_REQUEST),
        (ECHO_REPLY, ICMP_ECHO_REPLY),
    ] {
        let (_, ip) = layers(captured);
        assert_eq!(ip.protocol(), IPPROTO_ICMP);
        let echo = icmp::Packet::new_checked(ip.payload_ref()).unwrap();
        assert!(echo.verify_checksum());
        assert_eq!(
            (echo.msg_type(), echo.ident(), echo.seq_no()),
            (kind, 5652, 1)
        );
        assert_eq!(echo.payload().len(), 8);
        assert!(!echo.is_error() && echo.quoted().is_none());
    }
    let (_, ip) = layers(TIME_EXCEEDED);
    assert_eq!(ip.src_addr(), Ipv4Addr::new(198, 18, 0, 2));
    let error = icmp::Packet::new_checked(ip.payload_ref()).unwrap();
    assert!(error.verify_checksum());
    assert_eq!(error.msg_type(), ICMP_TIME_EXCEEDED);
    let quoted = error.quoted().unwrap();
    assert_eq!(quoted.ip.dst_addr(), Ipv4Addr::new(198, 18, 1, 10));
    // A router quotes the whole datagram; its TTL had run out on arrival.
    assert_eq!((quoted.ip.ttl(), quoted.ip.protocol()), (1, IPPROTO_ICMP));
    let echo = icmp::Packet::new_checked(quoted.ip.payload_ref()).unwrap();
    assert_eq!((echo.msg_type(), echo.ident()), (ICMP_ECHO_REQUEST, 5654));
}

#[test]
fn captured_arp_reads_and_our_request_is_rebuilt_byte_for_byte() {
    let request = Frame::new_checked(ARP_REQUEST).unwrap();
    assert_eq!(
        (request.dst_addr(), request.ethertype()),
        (ethernet::BROADCAST, ETHERTYPE_ARP)
    );
    let repr = ArpRepr::parse(&arp::Packet::new_checked(request.payload()).unwrap()).unwrap();
    assert_eq!(
        repr,
        ArpRepr {
            operation: ARP_OPER_REQUEST,
            sender_mac: SCANNER_MAC,
            sender_ip: SCANNER,
            target_mac: [0; 6],
            target_ip: WEB,
        }
    );
    assert_eq!(
        &build::arp_frame(&repr, ethernet::BROADCAST)[..],
        ARP_REQUEST
    );
    assert_eq!(
        &crate::io::iface::arp_request(SCANNER_MAC, SCANNER, WEB)[..],
        ARP_REQUEST
    );

    let reply = Frame::new_checked(ARP_REPLY).unwrap();
    let repr = ArpRepr::parse(&arp::Packet::new_checked(reply.payload()).unwrap()).unwrap();
    assert_eq!(
        (
            repr.operation,
            repr.sender_mac,
            repr.sender_ip,
            repr.target_ip
        ),
        (ARP_OPER_REPLY, WEB_MAC, WEB, SCANNER)
    );
    assert_eq!(&build::arp_frame(&repr, SCANNER_MAC)[..], ARP_REPLY);
}

/// Every captured IPv4 frame parsed into Reprs and emitted again is the same bytes.
#[test]
fn captured_frames_are_emitted_again_byte_for_byte() {
    for captured in ALL {
        let eth = Frame::new_checked(captured).unwrap();
        let eth_repr = EthernetRepr::parse(&eth);
        if eth_repr.ethertype != ETHERTYPE_IPV4 {
            continue;
        }
        let (_, ip) = layers(captured);
        let ip_repr = Ipv4Repr::parse(&ip);
        let mut out = vec![0u8; eth_repr.header_len() + ip_repr.total_len()];
        eth_repr.emit(&mut Frame::new_unchecked(&mut out[..]));
        let at = eth_repr.header_len();
        let transport = at + ip_repr.header_len();
        ip_repr.emit(&mut ipv4::Packet::new_unchecked(&mut out[at..]));
        let p = pseudo(&ip);
        match ip.protocol() {
            IPPROTO_TCP => TcpRepr::parse(&tcp_of(&ip))
                .emit(&mut tcp::Packet::new_unchecked(&mut out[transport..]), &p),
            IPPROTO_UDP => UdpRepr::parse(&udp::Packet::new_checked(ip.payload_ref()).unwrap())
                .emit(&mut udp::Packet::new_unchecked(&mut out[transport..]), &p),
            _ => IcmpRepr::parse(&icmp::Packet::new_checked(ip.payload_ref()).unwrap())
                .emit(&mut icmp::Packet::new_unchecked(&mut out[transport..])),
        }
        assert_eq!(&out[..], captured);
    }
}

#[test]
fn length_fields_that_lie_are_refused_by_new_checked() {
    let mut frame = SYN_ACK.to_vec();
    let at = ethernet::HEADER_LEN;
    let cases: [(usize, &[u8], Error); 6] = [
        (ipv4::field::VER_IHL, &[0x44], Error::Malformed),
        (ipv4::field::VER_IHL, &[0x65], Error::Malformed),
        (ipv4::field::VER_IHL, &[0x4f], Error::Truncated),
        (ipv4::field::LENGTH.start, &[0, 19], Error::Malformed),
        (ipv4::field::LENGTH.start, &[0, 45], Error::Truncated),
        (ipv4::field::LENGTH.start, &[0x05, 0xdc], Error::Truncated),
    ];
    for (field, value, error) in cases {
        let saved = frame[at + field..at + field + value.len()].to_vec();
        frame[at + field..at + field + value.len()].copy_from_slice(value);
        assert_eq!(
            ipv4::Packet::new_checked(&frame[at..]).err(),
            Some(error),
            "{value:?}"
        );
        // The fixed header is still there to read.
        assert!(ipv4::Packet::new_fixed_checked(&frame[at..]).is_ok());
        frame[at + field..at + field + value.len()].copy_from_slice(&saved);
    }
    // Padding after the total length is allowed and is not payload.
    let mut padded = SYN_ACK.to_vec();
    padded.resize(80, 0xee);
    let ip = ipv4::Packet::new_checked(&padded[at..]).unwrap();
    assert_eq!(ip.payload().len(), 24);

    let segment = &SYN_ACK[at + ipv4::HEADER_LEN..];
    for (offset, error) in [(0x40u8, Error::Malformed), (0x70, Error::Truncated)] {
        let mut bad = segment.to_vec();
        bad[tcp::field::DATA_OFFSET] = offset;
        assert_eq!(tcp::Packet::new_checked(&bad[..]).err(), Some(error));
        let fixed = tcp::Packet::new_fixed_checked(&bad[..]).unwrap();
        // Options and payload clamp to the four option bytes there are.
        assert_eq!(fixed.options().len() + fixed.payload().len(), 4);
    }
    let datagram = &DNS_REPLY[at + ipv4::HEADER_LEN..];
    for (len, error) in [(7u16, Error::Malformed), (64, Error::Truncated)] {
        let mut bad = datagram.to_vec();
        bad[udp::field::LENGTH].copy_from_slice(&len.to_be_bytes());
        assert_eq!(udp::Packet::new_checked(&bad[..]).err(), Some(error));
        assert!(
            udp::Packet::new_fixed_checked(&bad[..])
                .unwrap()
                .payload()
                .len()
                < 64
        );
    }
    // A tag announced but cut off.
    let tagged = crate::packet::craft::with_vlan_tag(SYN_ACK, 42);
    assert_eq!(
        Frame::new_checked(&tagged[..16]).err(),
        Some(Error::Truncated)
    );
    let frame = Frame::new_checked(&tagged[..]).unwrap();
    assert_eq!(
        (frame.vlan_id(), frame.ethertype()),
        (Some(42), ETHERTYPE_IPV4)
    );
    assert_eq!(frame.payload(), &SYN_ACK[at..]);
}

#[test]
fn tcp_options_stop_at_end_of_list_or_at_a_bad_length() {
    let opts = [2, 4, 5, 0xb4, 1, 0, 0, 7];
    let mut iter = tcp::Options::new(&opts);
    let kinds: Vec<u8> = iter.by_ref().map(|o| o.unwrap().kind).collect();
    assert_eq!(kinds, [2, 1, 0]);
    assert_eq!(iter.after_end(), [0, 7]);
    for bad in [&[2u8][..], &[2, 1], &[2, 5, 0, 0]] {
        let last = tcp::Options::new(bad).last();
        assert_eq!(last, Some(Err(Error::Malformed)), "{bad:?}");
    }
}

#[test]
fn the_ipv6_pseudo_header_sums_as_rfc_8200_lays_it_out() {
    let (src, dst) = (
        "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
        "2001:db8::ff:2".parse::<Ipv6Addr>().unwrap(),
    );
    let mut laid_out = Vec::new();
    laid_out.extend_from_slice(&src.octets());
    laid_out.extend_from_slice(&dst.octets());
    laid_out.extend_from_slice(&70000u32.to_be_bytes());
    laid_out.extend_from_slice(&[0, 0, 0, IPPROTO_UDP]);
    let pseudo = PseudoHeader::new(src.into(), dst.into()).unwrap();
    assert_eq!(
        finish(pseudo.sum(IPPROTO_UDP, 70000)),
        finish(add_bytes(0, &laid_out))
    );
    assert_eq!(PseudoHeader::new(src.into(), SCANNER.into()), None);
    // And IPv4's, RFC 793's: addresses, zero, protocol, length.
    let v4 = PseudoHeader::new(SCANNER.into(), WEB.into()).unwrap();
    let laid_out = [198, 18, 0, 1, 198, 18, 0, 10, 0, IPPROTO_TCP, 0, 24];
    assert_eq!(
        finish(v4.sum(IPPROTO_TCP, 24)),
        finish(add_bytes(0, &laid_out))
    );
}

fn ipv4_repr() -> impl Strategy<Value = (Ipv4Repr<'static>, Vec<u8>)> {
    (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<(u8, u8, u16, u8)>(),
        any::<(bool, bool)>(),
        0u16..0x2000,
        prop::collection::vec(any::<u8>(), 0..10).prop_map(|v| {
            let mut v = v;
            v.resize(v.len().div_ceil(4) * 4, 0);
            v
        }),
        0usize..1000,
    )
        .prop_map(
            |(
                src,
                dst,
                (protocol, ttl, ident, tos),
                (df, mf),
                frag_offset,
                options,
                payload_len,
            )| {
                let repr = Ipv4Repr {
                    src_addr: src.into(),
                    dst_addr: dst.into(),
                    protocol,
                    ttl,
                    ident,
                    tos,
                    dont_frag: df,
                    more_frags: mf,
                    frag_offset,
                    options: &[],
                    payload_len,
                };
                (repr, options)
            },
        )
}

proptest! {
    #[test]
    fn ipv4_round_trips((repr, options) in ipv4_repr()) {
        let repr = Ipv4Repr { options: &options, ..repr };
        let mut buf = vec![0u8; repr.total_len()];
        IpRepr::Ipv4(repr).emit(&mut buf);
        let packet = ipv4::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum());
        prop_assert_eq!(Ipv4Repr::parse(&packet), repr);
    }

    #[test]
    fn tcp_udp_icmp_round_trip(
        ports in any::<(u16, u16)>(),
        numbers in any::<(u32, u32, u8, u16, u16)>(),
        options in prop::collection::vec(any::<u8>(), 0..=40),
        payload in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut options = options;
        options.resize(options.len().div_ceil(4) * 4, 0);
        let pseudo = PseudoHeader::V4 { src: SCANNER, dst: WEB };
        let segment = TcpRepr {
            src_port: ports.0,
            dst_port: ports.1,
            seq_number: numbers.0,
            ack_number: numbers.1,
            flags: numbers.2,
            window_len: numbers.3,
            urgent_at: numbers.4,
            options: &options,
            payload: &payload,
        };
        let mut buf = vec![0u8; segment.buffer_len()];
        segment.emit(&mut tcp::Packet::new_unchecked(&mut buf[..]), &pseudo);
        let packet = tcp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum(&pseudo));
        prop_assert_eq!(TcpRepr::parse(&packet), segment);

        let datagram = UdpRepr { src_port: ports.0, dst_port: ports.1, payload: &payload };
        let mut buf = vec![0u8; datagram.buffer_len()];
        datagram.emit(&mut udp::Packet::new_unchecked(&mut buf[..]), &pseudo);
        let packet = udp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum(&pseudo) && packet.checksum() != 0);
        prop_assert_eq!(UdpRepr::parse(&packet), datagram);

        let message = IcmpRepr {
            msg_type: numbers.2,
            code: (numbers.3 >> 8) as u8,
            ident: ports.0,
            seq_no: ports.1,
            payload: &payload,
        };
        let mut buf = vec![0u8; message.buffer_len()];
        message.emit(&mut icmp::Packet::new_unchecked(&mut buf[..]));
        let packet = icmp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum());
        prop_assert_eq!(IcmpRepr::parse(&packet), message);
    }

    #[test]
    fn ethernet_and_arp_round_trip(
        macs in any::<([u8; 6], [u8; 6])>(),
        vlan_id in prop::option::of(0u16..0x1000),
        ethertype in any::<u16>(),
        arp in any::<(u16, [u8; 4], [u8; 4])>(),
    ) {
        let header = EthernetRepr { src_addr: macs.0, dst_addr: macs.1, vlan_id, ethertype };
        let mut buf = vec![0u8; header.header_len()];
        header.emit(&mut Frame::new_unchecked(&mut buf[..]));
        let frame = Frame::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&frame), header);

        let packet = ArpRepr {
            operation: arp.0,
            sender_mac: macs.0,
            sender_ip: arp.1.into(),
            target_mac: macs.1,
            target_ip: arp.2.into(),
        };
        let mut buf = [0u8; arp::PACKET_LEN];
        packet.emit(&mut arp::Packet::new_unchecked(&mut buf[..]));
        prop_assert_eq!(ArpRepr::parse(&arp::Packet::new_checked(&buf[..]).unwrap()), Ok(packet));
    }

    /// No view panics on arbitrary bytes once `new_checked` (or `new_fixed_checked`)
    /// has accepted them, whatever its length fields say.
    #[test]
    fn views_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        read_everything(&bytes);
    }

    /// Nor on captured frames with bytes changed and cut short, which get past the
    /// first checks and into the deeper ones.
    #[test]
    fn views_never_panic_on_mangled_captures(
        which in 0..ALL.len(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut frame = ALL[which].to_vec();
        for (at, value) in changes {
            let at = at.index(frame.len());
            frame[at] = value;
        }
        let len = cut.index(frame.len() + 1);
        read_everything(&frame[..len]);
        read_everything(&frame);
    }
}

/// Every getter of every view that accepts `bytes`, at every layer, and the parsers
/// built on them.
fn read_everything(bytes: &[u8]) {
    if let Ok(frame) = Frame::new_checked(bytes) {
        let _ = EthernetRepr::parse(&frame);
        let payload = frame.payload();
        if let Ok(arp) = arp::Packet::new_checked(payload) {
            let _ = ArpRepr::parse(&arp);
            let _ = (arp.hardware_type(), arp.operation(), arp.target_mac());
        }
        read_ip(payload);
    }
    read_ip(bytes);
    let config = scanner_common::ClassifierConfig {
        local_addr: u32::from(SCANNER),
        port_lo: 1,
        port_hi: 65535,
        key: [1, 2],
        enabled: 1,
        flags: scanner_common::FLAG_UDP | scanner_common::FLAG_ARP,
    };
    let _ = crate::packet::reply::verdict(bytes, &config);
    let _ = crate::packet::reply::capture_key(bytes, u32::from(SCANNER));
    let _ = crate::packet::reply::TcpSegment::parse(bytes);
    let _ = crate::packet::raw::dissect(bytes, true);
    let _ = crate::packet::raw::dissect(bytes, false);
}

fn read_ip(bytes: &[u8]) {
    for ip in [
        ipv4::Packet::new_checked(bytes).ok(),
        ipv4::Packet::new_fixed_checked(bytes).ok(),
    ]
    .into_iter()
    .flatten()
    {
        let _ = (
            ip.version(),
            ip.header_len(),
            ip.total_len(),
            ip.is_fragment(),
        );
        let _ = (ip.options(), ip.verify_checksum(), ip.src_addr());
        let _ = Ipv4Repr::parse(&ip);
        read_transport(ip.payload_ref(), &pseudo(&ip));
    }
}

fn read_transport(bytes: &[u8], pseudo: &PseudoHeader) {
    for segment in [
        tcp::Packet::new_checked(bytes).ok(),
        tcp::Packet::new_fixed_checked(bytes).ok(),
    ]
    .into_iter()
    .flatten()
    {
        let _ = TcpRepr::parse(&segment);
        let _ = (segment.reserved(), segment.verify_checksum(pseudo));
        let _ = tcp::Options::new(segment.options()).count();
    }
    for datagram in [
        udp::Packet::new_checked(bytes).ok(),
        udp::Packet::new_fixed_checked(bytes).ok(),
    ]
    .into_iter()
    .flatten()
    {
        let _ = (UdpRepr::parse(&datagram), datagram.verify_checksum(pseudo));
    }
    if let Ok(message) = icmp::Packet::new_checked(bytes) {
        let _ = (IcmpRepr::parse(&message), message.verify_checksum());
        if let Some(quoted) = message.quoted() {
            let _ = (quoted.ip.payload(), quoted.ip.options(), quoted.head);
        }
    }
}
