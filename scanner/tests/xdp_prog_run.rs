//! The XDP classifier itself, run in the kernel with BPF_PROG_TEST_RUN on crafted
//! frames: each gets the right verdict, only valid replies produce records, and the
//! userspace twin (`packet::reply::classify`) agrees on every frame; frames whose
//! capture key a script waits on are copied to the capture ring.
//!
//! Needs CAP_BPF (root): run with `cargo xtask test`.
//!
//! Only in the build with the classifier (the `xdp` feature, on Linux).

#![cfg(fast_path)]

use scanner::io::iface::arp_request;
use scanner::io::xdp::LoadedClassifier;
use scanner::packet::reply::classify;
use scanner::packet::template::{LinkAddrs, SegmentKind, TcpTemplate, MAX_FRAME_LEN};
use scanner::packet::{build, craft};
use scanner::probe::{IcmpQuery, ProbeKind, ProbeWriter, Reading, TcpProbe};
use scanner::sweep::sender::probe_to;
use scanner_common::capture::{CapturedFrame, CAPTURE_SNAP};
use scanner_common::classify::icmp_cookie;
use scanner_common::cookie::{probe_cookie, stateless_source_port};
use scanner_common::wire::{ICMP_ECHO_REQUEST, ICMP_TIMESTAMP_REQUEST};
use scanner_common::{
    ClassifierConfig, ReplyKind, ReplyRecord, FLAG_ACK_IS_COOKIE, FLAG_ARP, FLAG_PASS_SYNACK,
    FLAG_SEQ_IS_COOKIE, FLAG_SPORT_FROM_COOKIE, FLAG_UDP,
};
use std::net::Ipv4Addr;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const ME: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const TARGET: Ipv4Addr = Ipv4Addr::new(198, 19, 3, 4);
const KEY: [u64; 2] = [0x1111_2222_3333_4444, 0x5555_6666_7777_8888];
const PORTS: (u16, u16) = (40000, 59999);
const SYN_ACK: u8 = 0x12;
const RST_ACK: u8 = 0x14;

fn config(flags: u32) -> ClassifierConfig {
    ClassifierConfig {
        local_addr: u32::from(ME),
        port_lo: PORTS.0,
        port_hi: PORTS.1,
        key: KEY,
        enabled: 1,
        flags,
    }
}

/// The probe a stateless sweep sends to TARGET:port.
fn probe(port: u16) -> Vec<u8> {
    let template = TcpTemplate::new(
        SegmentKind::Syn,
        &LinkAddrs {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: ME,
        },
    );
    let sport = stateless_source_port(&KEY, u32::from(TARGET), port, PORTS.0, PORTS.1);
    let seq = probe_cookie(&KEY, u32::from(TARGET), port, sport);
    let mut frame = [0u8; MAX_FRAME_LEN];
    let len = template.write(&mut frame, TARGET, sport, port, seq, 1);
    frame[..len].to_vec()
}

/// Runs the kernel program and the userspace twin on `frame`; checks they agree and
/// returns the kernel's verdict and record count.
fn run(classifier: &mut LoadedClassifier, config: &ClassifierConfig, frame: &[u8]) -> (u32, usize) {
    let (verdict, records) = classifier
        .test_run(frame)
        .expect("BPF_PROG_TEST_RUN (needs root)");
    let twin = classify(frame, config);
    assert_eq!(
        records.len(),
        usize::from(twin.is_some()),
        "kernel and userspace disagree on {frame:02x?}"
    );
    if let (Some(kernel), Some(user)) = (records.first(), twin) {
        let kernel = ReplyRecord {
            timestamp_ns: 0,
            ..*kernel
        };
        assert_eq!(kernel, user, "kernel and userspace records differ");
    }
    (verdict, records.len())
}

#[test]
#[ignore = "needs root for BPF: run with `cargo xtask test`"]
fn valid_replies_are_recorded_and_consumed() {
    let cfg = config(FLAG_SPORT_FROM_COOKIE);
    let mut classifier = LoadedClassifier::load(cfg).unwrap();
    let syn_ack = craft::reply_to(&probe(80), SYN_ACK, 1234);
    let (verdict, records) = classifier.test_run(&syn_ack).unwrap();
    assert_eq!((verdict, records.len()), (XDP_DROP, 1));
    let record = records[0];
    assert_eq!(ReplyKind::from_u8(record.kind), Some(ReplyKind::SynAck));
    assert_eq!(
        (
            Ipv4Addr::from(record.remote_addr),
            record.remote_port,
            record.seq
        ),
        (TARGET, 80, 1234)
    );
    assert_eq!(
        run(
            &mut classifier,
            &cfg,
            &craft::reply_to(&probe(81), RST_ACK, 0)
        ),
        (XDP_DROP, 1)
    );
    // Any IP options, a VLAN tag: still ours.
    assert_eq!(
        run(&mut classifier, &cfg, &craft::with_ip_options(&syn_ack)),
        (XDP_DROP, 1)
    );
    assert_eq!(
        run(&mut classifier, &cfg, &craft::with_vlan_tag(&syn_ack, 42)),
        (XDP_DROP, 1)
    );
}

#[test]
#[ignore = "needs root for BPF: run with `cargo xtask test`"]
fn syn_acks_go_to_the_kernel_when_asked() {
    let cfg = config(FLAG_SPORT_FROM_COOKIE | FLAG_PASS_SYNACK);
    let mut classifier = LoadedClassifier::load(cfg).unwrap();
    assert_eq!(
        run(
            &mut classifier,
            &cfg,
            &craft::reply_to(&probe(80), SYN_ACK, 9)
        ),
        (XDP_PASS, 1)
    );
    assert_eq!(
        run(
            &mut classifier,
            &cfg,
            &craft::reply_to(&probe(81), RST_ACK, 0)
        ),
        (XDP_DROP, 1)
    );
}

#[test]
#[ignore = "needs root for BPF: run with `cargo xtask test`"]
fn everything_else_passes_without_a_record() {
    let cfg = config(FLAG_SPORT_FROM_COOKIE);
    let mut classifier = LoadedClassifier::load(cfg).unwrap();
    let valid = craft::reply_to(&probe(443), SYN_ACK, 5);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut wrong_cookie = valid.clone();
    craft::set_ack(&mut wrong_cookie, 0xdead_beef);
    cases.push(("wrong cookie", wrong_cookie));
    let mut wrong_port = valid.clone();
    let sport = stateless_source_port(&KEY, u32::from(TARGET), 443, PORTS.0, PORTS.1);
    craft::set_dst_port(
        &mut wrong_port,
        if sport == PORTS.0 {
            sport + 1
        } else {
            sport - 1
        },
    );
    cases.push(("right cookie range, wrong source port", wrong_port));
    let mut out_of_range = valid.clone();
    craft::set_dst_port(&mut out_of_range, 22);
    cases.push(("port outside the range", out_of_range));
    let mut not_us = valid.clone();
    craft::set_dst_addr(&mut not_us, [198, 18, 0, 99]);
    cases.push(("not addressed to us", not_us));
    let mut more_fragments = valid.clone();
    craft::set_fragment(&mut more_fragments, 0x2000);
    cases.push(("first fragment", more_fragments));
    let mut later_fragment = valid.clone();
    craft::set_fragment(&mut later_fragment, 0x0010);
    cases.push(("later fragment", later_fragment));
    cases.push(("pure ACK", craft::reply_to(&probe(443), 0x10, 5)));
    cases.push(("SYN", craft::reply_to(&probe(443), 0x02, 5)));
    let mut ipv6 = valid.clone();
    ipv6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    cases.push(("IPv6", ipv6));
    let mut arp = valid.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    cases.push(("ARP", arp));
    for len in 14..valid.len() {
        cases.push(("truncated", valid[..len].to_vec()));
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for len in [14usize, 20, 34, 54, 60, 64, 100, 200] {
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        cases.push(("garbage", garbage));
    }
    for (what, frame) in &cases {
        assert_eq!(
            run(&mut classifier, &cfg, frame),
            (XDP_PASS, 0),
            "{what} ({} bytes)",
            frame.len()
        );
    }
    // Disabled (before userspace has configured it): even a valid reply passes.
    let off = ClassifierConfig { enabled: 0, ..cfg };
    let mut disabled = LoadedClassifier::load(off).unwrap();
    assert_eq!(run(&mut disabled, &off, &valid), (XDP_PASS, 0));
}

/// A probe with these TCP flags from source port 45000, as the nmap-style scans send.
fn flag_probe(flags: u8, port: u16) -> Vec<u8> {
    let template = TcpTemplate::new(
        SegmentKind::Flags(flags),
        &LinkAddrs {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: ME,
        },
    );
    let seq = probe_cookie(&KEY, u32::from(TARGET), port, 45000);
    let mut frame = [0u8; MAX_FRAME_LEN];
    let len = template.write(&mut frame, TARGET, 45000, port, seq, 1);
    frame[..len].to_vec()
}

#[test]
#[ignore = "needs root for BPF: run with `cargo xtask test`"]
fn resets_to_null_and_ack_probes_match_by_their_own_rules() {
    let cookie = probe_cookie(&KEY, u32::from(TARGET), 81, 45000);
    // NULL probe: the reset acknowledges the cookie itself (no SYN or FIN to count).
    let mut null_reset = craft::reply_to(&flag_probe(0x00, 81), RST_ACK, 0);
    craft::set_ack(&mut null_reset, cookie);
    // ACK probe: the reset takes its sequence number from the probe's ack (the cookie).
    let mut ack_reset = craft::reply_to(&flag_probe(0x10, 81), 0x04, cookie);
    craft::set_ack(&mut ack_reset, 0);
    // FIN probe: the reset acknowledges cookie + 1, as for SYN probes.
    let fin_reset = craft::reply_to(&flag_probe(0x01, 81), RST_ACK, 0);
    for (rule, frame) in [
        (FLAG_ACK_IS_COOKIE, &null_reset),
        (FLAG_SEQ_IS_COOKIE, &ack_reset),
        (0, &fin_reset),
    ] {
        let cfg = config(rule);
        let mut classifier = LoadedClassifier::load(cfg).unwrap();
        assert_eq!(
            run(&mut classifier, &cfg, frame),
            (XDP_DROP, 1),
            "rule {rule}"
        );
        // Under another rule the same frame is not ours.
        for other in [FLAG_ACK_IS_COOKIE, FLAG_SEQ_IS_COOKIE, 0]
            .into_iter()
            .filter(|o| *o != rule)
        {
            let cfg = config(other);
            let mut classifier = LoadedClassifier::load(cfg).unwrap();
            assert_eq!(
                run(&mut classifier, &cfg, frame),
                (XDP_PASS, 0),
                "rule {other} on a frame for rule {rule}"
            );
        }
    }
}

/// Every sweep module's probe, written as a sweep writes it (the probe table's writer
/// from the keyed source port), is answered under the sweep's classifier flags alike
/// in the kernel and the twin; a reply to any other source port is not ours.
#[test]
#[ignore = "needs root for BPF: run with `cargo xtask test`"]
fn replies_to_each_sweep_module_pass_under_the_sweeps_flags() {
    let link = LinkAddrs {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_ip: ME,
    };
    let syn = ProbeKind::Tcp(TcpProbe::standard(Reading::Syn));
    let ack = ProbeKind::Tcp(TcpProbe::standard(Reading::Ack));
    let echo = ProbeKind::Icmp(IcmpQuery::Echo);
    for (kind, port) in [(syn, 80), (ack, 80), (ProbeKind::Udp, 53), (echo, 0)] {
        let cfg = config(FLAG_SPORT_FROM_COOKIE | FLAG_PASS_SYNACK | kind.classifier_flags());
        let mut classifier = LoadedClassifier::load(cfg).unwrap();
        let to = probe_to(kind, &KEY, PORTS, (TARGET, port), 1, link.dst_mac);
        let mut buf = [0u8; 512];
        let len = ProbeWriter::new(kind, &link).write(&mut buf, &KEY, &to);
        let frame = &buf[..len];
        let (reply, verdict) = match kind {
            // The kernel gets SYN+ACKs (it resets them); UDP replies too.
            _ if kind == syn => (craft::reply_to(frame, SYN_ACK, 9), XDP_PASS),
            _ if kind == ack => {
                // A reset to an ACK takes its sequence number from the probe's ack.
                let cookie = u32::from_be_bytes(frame[42..46].try_into().unwrap());
                let mut reset = craft::reply_to(frame, 0x04, cookie);
                craft::set_ack(&mut reset, 0);
                (reset, XDP_DROP)
            }
            ProbeKind::Udp => (craft::udp_reply_to(frame, b"answer"), XDP_PASS),
            _ => (craft::icmp_reply_to(frame, 0), XDP_DROP),
        };
        assert_eq!(
            run(&mut classifier, &cfg, &reply),
            (verdict, 1),
            "{}",
            kind.name()
        );
        if kind != echo {
            let mut elsewhere = reply.clone();
            craft::set_dst_port(&mut elsewhere, to.sport ^ 1);
            assert_eq!(
                run(&mut classifier, &cfg, &elsewhere),
                (XDP_PASS, 0),
                "{} to another port",
                kind.name()
            );
        }
    }
}

/// The frame a UDP scan sends to TARGET:port, and one ICMP query of `request` type.
fn udp_and_icmp_probes(port: u16, request: u8) -> (Vec<u8>, Vec<u8>) {
    let link = LinkAddrs {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_ip: ME,
    };
    let mut buf = [0u8; 512];
    let sport = stateless_source_port(&KEY, u32::from(TARGET), port, PORTS.0, PORTS.1);
    let len = build::udp_probe(&mut buf, &link, TARGET, sport, port, b"probe", 1);
    let udp = buf[..len].to_vec();
    let cookie = icmp_cookie(&KEY, u32::from(TARGET), request);
    let len = build::icmp_query(
        &mut buf,
        &link,
        TARGET,
        request,
        (cookie >> 16) as u16,
        cookie as u16,
        2,
    );
    (udp, buf[..len].to_vec())
}

#[test]
#[ignore = "needs root for BPF: run with `cargo xtask test`"]
fn udp_and_icmp_replies_are_classified_alike_in_kernel_and_userspace() {
    let cfg = config(FLAG_UDP);
    let mut classifier = LoadedClassifier::load(cfg).unwrap();
    let router = [198, 18, 1, 1];
    let (udp, echo) = udp_and_icmp_probes(161, ICMP_ECHO_REQUEST);
    let (_, timestamp) = udp_and_icmp_probes(161, ICMP_TIMESTAMP_REQUEST);
    let tcp = probe(1000);
    let target = TARGET.octets();
    // Ours: verdict, kind.
    let ours: Vec<(&str, Vec<u8>, u32, ReplyKind)> = vec![
        (
            "UDP reply",
            craft::udp_reply_to(&udp, b"answer"),
            XDP_PASS,
            ReplyKind::Udp,
        ),
        (
            "echo reply",
            craft::icmp_reply_to(&echo, 0),
            XDP_DROP,
            ReplyKind::IcmpReply,
        ),
        (
            "timestamp reply",
            craft::icmp_reply_to(&timestamp, 14),
            XDP_DROP,
            ReplyKind::IcmpReply,
        ),
        (
            "port unreachable about UDP",
            craft::icmp_error_about(&udp, 3, 3, target, 8),
            XDP_DROP,
            ReplyKind::IcmpError,
        ),
        (
            "port unreachable quoting the whole datagram",
            craft::icmp_error_about(&udp, 3, 3, target, 500),
            XDP_DROP,
            ReplyKind::IcmpError,
        ),
        (
            "host unreachable from a router about an echo",
            craft::icmp_error_about(&echo, 3, 1, router, 8),
            XDP_DROP,
            ReplyKind::IcmpError,
        ),
        (
            "admin prohibited about a SYN",
            craft::icmp_error_about(&tcp, 3, 13, target, 8),
            XDP_DROP,
            ReplyKind::IcmpError,
        ),
        (
            "time exceeded about a SYN",
            craft::icmp_error_about(&tcp, 11, 0, router, 28),
            XDP_DROP,
            ReplyKind::IcmpError,
        ),
        (
            "UDP reply in a VLAN",
            craft::with_vlan_tag(&craft::udp_reply_to(&udp, b""), 7),
            XDP_PASS,
            ReplyKind::Udp,
        ),
    ];
    for (what, frame, verdict, kind) in &ours {
        assert_eq!(run(&mut classifier, &cfg, frame), (*verdict, 1), "{what}");
        let (_, records) = classifier.test_run(frame).unwrap();
        assert_eq!(ReplyKind::from_u8(records[0].kind), Some(*kind), "{what}");
        assert_eq!(Ipv4Addr::from(records[0].remote_addr), TARGET, "{what}");
    }
    let (_, records) = classifier.test_run(&ours[3].1).unwrap();
    assert_eq!(
        (
            records[0].remote_port,
            records[0].icmp_type,
            records[0].icmp_code,
            records[0].protocol
        ),
        (161, 3, 3, 17)
    );
    let (_, records) = classifier.test_run(&ours[5].1).unwrap();
    assert_eq!(Ipv4Addr::from(records[0].icmp_from).octets(), router);

    // Not ours: passed, no record.
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut wrong_port = craft::udp_reply_to(&udp, b"x");
    let keyed = u16::from_be_bytes([wrong_port[36], wrong_port[37]]);
    craft::set_dst_port(
        &mut wrong_port,
        if keyed == PORTS.0 {
            keyed + 1
        } else {
            keyed - 1
        },
    );
    cases.push(("UDP to another port of the range", wrong_port));
    let mut wrong_id = craft::icmp_reply_to(&echo, 0);
    wrong_id[38] ^= 0xff;
    cases.push(("echo reply with another identifier", wrong_id));
    cases.push(("echo request", echo.clone()));
    cases.push((
        "reply type that does not answer the request",
        craft::icmp_reply_to(&echo, 14),
    ));
    cases.push((
        "error quoting too little",
        craft::icmp_error_about(&udp, 3, 3, target, 4),
    ));
    let mut not_from_us = craft::icmp_error_about(&udp, 3, 3, target, 8);
    not_from_us[42 + 12] ^= 1;
    cases.push(("error about someone else's datagram", not_from_us));
    let mut bad_seq = craft::icmp_error_about(&tcp, 3, 3, target, 8);
    bad_seq[42 + 20 + 7] ^= 1;
    cases.push(("error quoting a SYN with another sequence number", bad_seq));
    cases.push(("redirect", craft::icmp_error_about(&udp, 5, 1, router, 8)));
    let full = craft::icmp_error_about(&udp, 3, 3, target, 8);
    for len in 14..full.len() {
        cases.push(("truncated error", full[..len].to_vec()));
    }
    for (what, frame) in &cases {
        assert_eq!(run(&mut classifier, &cfg, frame), (XDP_PASS, 0), "{what}");
    }
    // Without FLAG_UDP neither UDP replies nor errors about UDP probes are looked at.
    let tcp_only = config(0);
    let mut classifier = LoadedClassifier::load(tcp_only).unwrap();
    for frame in [&ours[0].1, &ours[3].1] {
        assert_eq!(run(&mut classifier, &tcp_only, frame), (XDP_PASS, 0));
    }
}

#[test]
#[ignore = "needs root for BPF: run with `cargo xtask test`"]
fn the_ip_total_length_bounds_the_payload_in_kernel_and_userspace() {
    let cfg = config(FLAG_UDP);
    let mut classifier = LoadedClassifier::load(cfg).unwrap();
    let (udp, echo) = udp_and_icmp_probes(161, ICMP_ECHO_REQUEST);
    let target = TARGET.octets();
    // Short replies padded to a minimum Ethernet frame (60 bytes) are still replies.
    for (what, reply, verdict) in [
        ("UDP reply", craft::udp_reply_to(&udp, b""), XDP_PASS),
        ("echo reply", craft::icmp_reply_to(&echo, 0), XDP_DROP),
    ] {
        for fill in [0, 0xff] {
            let padded = craft::with_padding(&reply, 60 - reply.len(), fill);
            assert_eq!(padded.len(), 60, "{what}");
            assert_eq!(run(&mut classifier, &cfg, &padded), (verdict, 1), "{what}");
        }
    }
    // An error whose total length quotes only four bytes of the probe's UDP header,
    // with the rest in the padding after it: not enough of ours to be ours.
    let whole = craft::icmp_error_about(&udp, 3, 3, target, 8);
    assert_eq!(run(&mut classifier, &cfg, &whole), (XDP_DROP, 1));
    let mut short = whole.clone();
    craft::set_total_len(&mut short, (whole.len() - 14 - 4) as u16);
    assert_eq!(run(&mut classifier, &cfg, &short), (XDP_PASS, 0));
    // A RST whose total length ends inside its TCP header, the rest in the padding.
    let rst = craft::reply_to(&probe(1000), RST_ACK, 0);
    assert_eq!(run(&mut classifier, &cfg, &rst), (XDP_DROP, 1));
    let mut cut = rst.clone();
    craft::set_total_len(&mut cut, 28);
    assert_eq!(run(&mut classifier, &cfg, &cut), (XDP_PASS, 0));
    // Total lengths past the frame's end, or inside the IP header: refused.
    for total in [rst.len() - 14 + 1, 1500, 19, 0] {
        let mut bad = rst.clone();
        craft::set_total_len(&mut bad, total as u16);
        assert_eq!(
            run(&mut classifier, &cfg, &bad),
            (XDP_PASS, 0),
            "total length {total}"
        );
    }
}

#[test]
#[ignore = "needs root for BPF: run with `cargo xtask test`"]
fn arp_replies_to_us_are_recorded_while_arp_is_in_flight() {
    let host_mac = [2, 0, 0, 0, 0, 9];
    // A host's reply to our request: its request frame to us, with the reply opcode.
    let reply_from = |sender: Ipv4Addr, to: Ipv4Addr| {
        let mut frame = arp_request(host_mac, sender, to).to_vec();
        frame[20..22].copy_from_slice(&2u16.to_be_bytes());
        frame
    };
    let cfg = config(FLAG_ARP);
    let mut classifier = LoadedClassifier::load(cfg).unwrap();
    let reply = reply_from(TARGET, ME);
    assert_eq!(run(&mut classifier, &cfg, &reply), (XDP_PASS, 1));
    let (_, records) = classifier.test_run(&reply).unwrap();
    assert_eq!(ReplyKind::from_u8(records[0].kind), Some(ReplyKind::Arp));
    assert_eq!(
        (
            Ipv4Addr::from(records[0].remote_addr),
            records[0].remote_mac
        ),
        (TARGET, host_mac)
    );
    assert_eq!(
        run(&mut classifier, &cfg, &craft::with_vlan_tag(&reply, 3)),
        (XDP_PASS, 1)
    );
    let not_ours = [
        ("a request", arp_request(host_mac, TARGET, ME).to_vec()),
        (
            "a reply to someone else",
            reply_from(TARGET, Ipv4Addr::new(198, 18, 0, 7)),
        ),
        ("truncated", reply[..40].to_vec()),
    ];
    for (what, frame) in &not_ours {
        assert_eq!(run(&mut classifier, &cfg, frame), (XDP_PASS, 0), "{what}");
    }
    // Without ARP in flight, replies are not even recorded.
    let quiet = config(0);
    let mut classifier = LoadedClassifier::load(quiet).unwrap();
    assert_eq!(run(&mut classifier, &quiet, &reply), (XDP_PASS, 0));
}

/// The frames the classifier copied into the capture ring since the last call.
fn captured(classifier: &mut LoadedClassifier) -> Vec<CapturedFrame> {
    let ring = &mut classifier.captures.as_mut().unwrap().ring;
    let mut out = Vec::new();
    while let Some(item) = ring.next() {
        // SAFETY: the classifier writes whole CapturedFrames; read unaligned.
        out.push(unsafe { std::ptr::read_unaligned(item.as_ptr() as *const CapturedFrame) });
    }
    out
}

#[test]
#[ignore = "needs root for BPF: run with `cargo xtask test`"]
fn frames_a_script_waits_for_are_copied_once_under_their_key() {
    let cfg = config(FLAG_SPORT_FROM_COOKIE);
    let mut classifier = LoadedClassifier::load(cfg).unwrap();
    let syn_ack = craft::reply_to(&probe(80), SYN_ACK, 1234);
    let key = scanner::packet::reply::capture_key(&syn_ack, u32::from(ME)).unwrap();
    assert_eq!(
        (key.protocol, key.remote_addr, key.remote_port),
        (6, u32::from(TARGET), 80)
    );
    // Nobody waits yet: nothing is copied, and the scan's verdict is unchanged.
    assert_eq!(run(&mut classifier, &cfg, &syn_ack), (XDP_DROP, 1));
    assert!(captured(&mut classifier).is_empty());
    let maps = classifier.captures.as_mut().unwrap();
    maps.keys.insert(key, 1, 0).unwrap();
    // The key alone is not looked at until the count says someone waits.
    assert_eq!(run(&mut classifier, &cfg, &syn_ack), (XDP_DROP, 1));
    assert!(captured(&mut classifier).is_empty());
    classifier
        .captures
        .as_mut()
        .unwrap()
        .capturing
        .set(0, 1, 0)
        .unwrap();
    assert_eq!(run(&mut classifier, &cfg, &syn_ack), (XDP_DROP, 1));
    let frames = captured(&mut classifier);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].key, key);
    assert_eq!(usize::from(frames[0].frame_len), syn_ack.len());
    assert_eq!(
        &frames[0].data[..usize::from(frames[0].captured_len)],
        &syn_ack[..]
    );
    // Another port's reply is not copied; a router's error quoting our probe to port
    // 80 is, under the probe's key (and the twin in userspace says the same).
    let other = craft::reply_to(&probe(81), RST_ACK, 0);
    run(&mut classifier, &cfg, &other);
    assert!(captured(&mut classifier).is_empty());
    let error = craft::icmp_error_about(&probe(80), 11, 0, [198, 18, 1, 1], 8);
    assert_eq!(
        scanner::packet::reply::capture_key(&error, u32::from(ME)),
        Some(key)
    );
    run(&mut classifier, &cfg, &error);
    let frames = captured(&mut classifier);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].key, key);
    // A frame longer than the snap length is cut there.
    let mut long = syn_ack.clone();
    long.resize(1000, 0xab);
    let total = (long.len() - 14) as u16;
    craft::set_total_len(&mut long, total);
    classifier.test_run(&long).unwrap();
    let frames = captured(&mut classifier);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (
            usize::from(frames[0].captured_len),
            usize::from(frames[0].frame_len)
        ),
        (CAPTURE_SNAP, 1000)
    );
}

#[test]
#[ignore = "needs root for BPF: run with `cargo xtask test`"]
fn kernel_and_userspace_agree_on_every_byte_of_replies_changed_and_cut() {
    let cfg = config(FLAG_UDP);
    let mut classifier = LoadedClassifier::load(cfg).unwrap();
    let (udp, echo) = udp_and_icmp_probes(161, ICMP_ECHO_REQUEST);
    let syn_ack = craft::reply_to(&probe(80), SYN_ACK, 7);
    let replies = [
        craft::with_vlan_tag(&syn_ack, 5),
        craft::with_ip_options(&syn_ack),
        craft::reply_to(&probe(81), RST_ACK, 0),
        craft::udp_reply_to(&udp, b"answer"),
        craft::icmp_reply_to(&echo, 0),
        craft::icmp_error_about(&udp, 3, 3, TARGET.octets(), 8),
        craft::icmp_error_about(&probe(80), 11, 0, [198, 18, 1, 1], 28),
        syn_ack,
    ];
    // Each reply is ours; every byte of it set to three other values, and every
    // length it can be cut to, gives frames near every check both sides make.
    for reply in &replies {
        assert_eq!(run(&mut classifier, &cfg, reply).1, 1, "{reply:02x?}");
        for at in 0..reply.len() {
            for value in [0, 0xff, reply[at].wrapping_add(1)] {
                let mut changed = reply.clone();
                changed[at] = value;
                run(&mut classifier, &cfg, &changed);
            }
        }
        // (BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header.)
        for len in scanner::packet::ETH_LEN..reply.len() {
            run(&mut classifier, &cfg, &reply[..len]);
        }
    }
}
