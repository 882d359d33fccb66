//! nmap as the oracle: four lab hosts (`web`, `svc`, `win`, `far`) were scanned with
//! `nmap -O -d -p 1,22,80` under tcpdump on the scanner's switch port
//! (`tests/fixtures/os/`). Here nmap's sixteen OS probes are picked out of each
//! capture by their features, paired with their replies, and handed to
//! [`fingerprint`]; the print must be nmap's, attribute for attribute.
//!
//! Values that depend on the exact times the probes left (SP, ISR, and TS where it
//! is a rate) may differ from nmap's by 1: nmap measured with its own send times,
//! the capture stamps them at the switch.

use super::{fingerprint, hop_distance, Datagram, Exchange, OsProbe, Reply};
use crate::os::fingerprint::Fingerprint;
use crate::packet::reply::ipv4_tcp_headers;
use crate::packet::wire::icmp;
use scanner_common::capture::CAPTURE_SNAP;
use scanner_common::wire::{IPPROTO_ICMP, IPPROTO_UDP};
use std::net::Ipv4Addr;
use std::time::Duration;

/// One frame of a capture.
struct Captured {
    at: Duration,
    frame: Vec<u8>,
}

/// The frames of a little-endian, microsecond, Ethernet pcap file.
fn read_pcap(bytes: &[u8]) -> Vec<Captured> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(
        u32_at(0),
        0xa1b2_c3d4,
        "a little-endian pcap with microseconds"
    );
    assert_eq!(u32_at(20), 1, "Ethernet frames");
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let (seconds, micros, held) = (u32_at(at), u32_at(at + 4), u32_at(at + 8) as usize);
        assert_eq!(u32_at(at + 12) as usize, held, "the capture cut no frame");
        at += 16;
        frames.push(Captured {
            at: Duration::from_secs(seconds.into()) + Duration::from_micros(micros.into()),
            frame: bytes[at..at + held].to_vec(),
        });
        at += held;
    }
    assert_eq!(at, bytes.len(), "the file ends with a whole record");
    frames
}

/// Which of nmap's OS probes `frame` is, if it is one sent to `target`: TCP probes by
/// flags and window (SEQ probes 3 and 4 by their first option) and nmap's timestamp
/// option (TSval 0xFFFFFFFF; the ECN probe has none), U1 by its IP ID 0x1042, the
/// echo requests by their sequence numbers 295 and 296.
fn probe_kind(frame: &[u8], target: Ipv4Addr) -> Option<OsProbe> {
    if let Some((ip, segment, _)) = ipv4_tcp_headers(frame) {
        if ip.dst_addr() != target {
            return None;
        }
        let options = segment.options();
        let nmap_timestamp = options
            .windows(6)
            .any(|w| w == [8, 10, 0xff, 0xff, 0xff, 0xff]);
        return match (segment.flags(), segment.window_len(), nmap_timestamp) {
            (0xc2, 3, false) => Some(OsProbe::Ecn),
            (0x02, 1, true) => Some(OsProbe::Seq(1)),
            (0x02, 63, true) => Some(OsProbe::Seq(2)),
            (0x02, 4, true) if options[0] == 8 => Some(OsProbe::Seq(3)),
            (0x02, 4, true) => Some(OsProbe::Seq(4)),
            (0x02, 16, true) => Some(OsProbe::Seq(5)),
            (0x02, 512, true) => Some(OsProbe::Seq(6)),
            (0x00, 128, true) => Some(OsProbe::T(2)),
            (0x2b, 256, true) => Some(OsProbe::T(3)),
            (0x10, 1024, true) => Some(OsProbe::T(4)),
            (0x02, 31337, true) => Some(OsProbe::T(5)),
            (0x10, 32768, true) => Some(OsProbe::T(6)),
            (0x29, 65535, true) => Some(OsProbe::T(7)),
            _ => None,
        };
    }
    let datagram = Datagram::read(frame)?;
    if datagram.ip.dst_addr() != target {
        return None;
    }
    if datagram.is(IPPROTO_UDP) && datagram.ip.ident() == 0x1042 {
        return Some(OsProbe::U1);
    }
    let message = icmp::Packet::new_checked(datagram.payload).ok()?;
    match (
        datagram.is(IPPROTO_ICMP),
        message.msg_type(),
        message.seq_no(),
    ) {
        (true, 8, 295) => Some(OsProbe::Ie(1)),
        (true, 8, 296) => Some(OsProbe::Ie(2)),
        _ => None,
    }
}

/// Whether `frame`, from `target`, answers `probe`: TCP to the ports swapped, an echo
/// reply with the request's identifier and sequence number, or an ICMP error quoting
/// the UDP probe's ports.
fn answers(frame: &[u8], probe: &[u8], target: Ipv4Addr) -> bool {
    if let (Some((ip, reply, _)), Some((_, sent, _))) =
        (ipv4_tcp_headers(frame), ipv4_tcp_headers(probe))
    {
        return ip.src_addr() == target
            && reply.src_port() == sent.dst_port()
            && reply.dst_port() == sent.src_port();
    }
    let (Some(reply), Some(sent)) = (Datagram::read(frame), Datagram::read(probe)) else {
        return false;
    };
    if reply.ip.src_addr() != target || !reply.is(IPPROTO_ICMP) {
        return false;
    }
    let Ok(message) = icmp::Packet::new_checked(reply.payload) else {
        return false;
    };
    if sent.is(IPPROTO_UDP) {
        let quoted = message.quoted();
        return message.msg_type() == 3
            && quoted.is_some_and(|quoted| quoted.head[..4] == sent.payload[..4]);
    }
    let Ok(request) = icmp::Packet::new_checked(sent.payload) else {
        return false;
    };
    message.msg_type() == 0
        && (message.ident(), message.seq_no()) == (request.ident(), request.seq_no())
}

/// A lab host's OS round as nmap ran it, and what nmap printed.
pub(super) struct LabRound {
    pub exchanges: Vec<Exchange>,
    /// nmap's print, its SCAN line left out.
    pub nmap_print: Fingerprint,
    /// nmap's `DS`.
    pub distance: u8,
}

/// The capture and the output of `host`.
fn fixture(host: &str) -> (&'static [u8], &'static str) {
    match host {
        "web" => (
            include_bytes!("../../../../tests/fixtures/os/web.pcap"),
            include_str!("../../../../tests/fixtures/os/web.nmap.txt"),
        ),
        "svc" => (
            include_bytes!("../../../../tests/fixtures/os/svc.pcap"),
            include_str!("../../../../tests/fixtures/os/svc.nmap.txt"),
        ),
        "win" => (
            include_bytes!("../../../../tests/fixtures/os/win.pcap"),
            include_str!("../../../../tests/fixtures/os/win.nmap.txt"),
        ),
        "far" => (
            include_bytes!("../../../../tests/fixtures/os/far.pcap"),
            include_str!("../../../../tests/fixtures/os/far.nmap.txt"),
        ),
        _ => panic!("no fixture for {host}"),
    }
}

/// The first of each of nmap's sixteen probes in `host`'s capture, each with its first
/// reply (cut as the scanner's capture cuts frames), times from the first SEQ probe.
pub(super) fn lab_round(host: &str) -> LabRound {
    let (pcap, output) = fixture(host);
    let target: Ipv4Addr = output
        .lines()
        .find_map(|line| line.strip_prefix("Nmap scan report for "))
        .expect("nmap names the host")
        .trim()
        .parse()
        .expect("an address");
    let frames = read_pcap(pcap);
    let mut probes: Vec<(OsProbe, usize)> = Vec::new();
    for (index, captured) in frames.iter().enumerate() {
        if let Some(kind) = probe_kind(&captured.frame, target) {
            if probes.iter().all(|(seen, _)| *seen != kind) {
                probes.push((kind, index));
            }
        }
    }
    assert_eq!(
        probes.len(),
        16,
        "{host}: nmap's sixteen probes, found {probes:?}"
    );
    let start = frames[probes[0].1].at;
    assert_eq!(
        probes[0].0,
        OsProbe::Seq(1),
        "{host}: SEQ probe 1 comes first"
    );
    let exchanges = probes
        .iter()
        .map(|&(probe, index)| {
            let sent = &frames[index];
            let reply = frames[index + 1..]
                .iter()
                .find(|later| answers(&later.frame, &sent.frame, target))
                .map(|captured| Reply {
                    frame: captured.frame[..captured.frame.len().min(CAPTURE_SNAP)].to_vec(),
                    frame_len: captured.frame.len(),
                    received_at: captured.at - start,
                });
            Exchange {
                probe,
                sent: sent.frame.clone(),
                sent_at: sent.at - start,
                reply,
            }
        })
        .collect();
    let printed: String = output
        .lines()
        .filter_map(|line| line.strip_prefix("OS:"))
        .collect();
    let distance = printed
        .split_once("%DS=")
        .and_then(|(_, rest)| rest.split('%').next())
        .and_then(|ds| ds.parse().ok())
        .expect("nmap's DS");
    let nmap_print = Fingerprint::parse(&printed.replace(')', ")\n")).expect("nmap's print");
    LabRound {
        exchanges,
        nmap_print,
        distance,
    }
}

/// Whether `attr` of `test` may differ by 1: it depends on when the probes left.
fn timing_dependent(test: &str, attr: &str, nmap_value: &str) -> bool {
    match (test, attr) {
        ("SEQ", "SP" | "ISR") => true,
        // TS is a rate unless the host had no timestamps (U) or zero ones (0).
        ("SEQ", "TS") => !matches!(nmap_value, "U" | "0"),
        _ => false,
    }
}

/// Compares `host`'s print with nmap's; the differences that are allowed are
/// returned (`SEQ.SP 105 / 106`) for the record, the others fail the test.
fn check(host: &str) -> Vec<String> {
    let round = lab_round(host);
    let ours = fingerprint(&round.exchanges, Some(round.distance));
    let mut wrong = Vec::new();
    let mut tolerated = Vec::new();
    let names = |print: &Fingerprint| print.tests.iter().map(|t| t.name).collect::<Vec<_>>();
    if names(&ours) != names(&round.nmap_print) {
        wrong.push(format!(
            "tests {:?}, nmap's {:?}",
            names(&ours),
            names(&round.nmap_print)
        ));
    }
    for theirs in &round.nmap_print.tests {
        let Some(mine) = ours.test(theirs.name) else {
            continue;
        };
        let attrs = |test: &crate::os::fingerprint::Test| {
            test.attrs.iter().map(|(name, _)| *name).collect::<Vec<_>>()
        };
        if attrs(mine) != attrs(theirs) {
            wrong.push(format!("{mine} has other attributes than nmap's {theirs}"));
            continue;
        }
        for ((attr, value), (_, nmap_value)) in mine.attrs.iter().zip(&theirs.attrs) {
            if value == nmap_value {
                continue;
            }
            let close = || {
                let (a, b) = (
                    i64::from_str_radix(value, 16).ok()?,
                    i64::from_str_radix(nmap_value, 16).ok()?,
                );
                Some((a - b).abs() <= 1)
            };
            let what = format!("{}.{attr} {value}, nmap's {nmap_value}", theirs.name);
            if timing_dependent(theirs.name, attr, nmap_value) && close() == Some(true) {
                tolerated.push(what);
            } else {
                wrong.push(what);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{host}: our print differs from nmap's:\n{}\nours:\n{ours}nmap's:\n{}",
        wrong.join("\n"),
        round.nmap_print
    );
    assert_eq!(
        hop_distance(&round.exchanges),
        Some(round.distance),
        "{host}: U1's hop count"
    );
    eprintln!("{host}: as nmap's; timing-dependent differences: {tolerated:?}");
    tolerated
}

#[test]
fn web_prints_as_nmap_printed_it() {
    check("web");
}

#[test]
fn svc_prints_as_nmap_printed_it() {
    check("svc");
}

/// A host with Windows' TTL and options and no timestamps (`TS=U`).
#[test]
fn win_prints_as_nmap_printed_it() {
    check("win");
}

/// Two hops away: the replies' TTLs are one lower, `T` is still the initial 64.
#[test]
fn far_prints_as_nmap_printed_it() {
    check("far");
}

#[test]
fn the_capture_reader_and_the_pairing_see_what_the_captures_hold() {
    let round = lab_round("web");
    // T2 and T3 went unanswered on every host; everything else was answered.
    let unanswered: Vec<OsProbe> = round
        .exchanges
        .iter()
        .filter(|e| e.reply.is_none())
        .map(|e| e.probe)
        .collect();
    assert_eq!(unanswered, [OsProbe::T(2), OsProbe::T(3)]);
    // The port unreachable (370 bytes) is cut as the scanner's capture cuts it.
    let u1 = round
        .exchanges
        .iter()
        .find(|e| e.probe == OsProbe::U1)
        .unwrap();
    let reply = u1.reply.as_ref().unwrap();
    assert_eq!((reply.frame.len(), reply.frame_len), (CAPTURE_SNAP, 370));
    // SEQ probes 100 ms apart (nmap's OS_SEQ_PROBE_DELAY), give or take the switch.
    let seq2 = &round.exchanges[1];
    assert_eq!(seq2.probe, OsProbe::Seq(2));
    assert!(
        (95..=105).contains(&seq2.sent_at.as_millis()),
        "{:?}",
        seq2.sent_at
    );
}
