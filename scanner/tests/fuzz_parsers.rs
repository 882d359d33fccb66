//! Property-based fuzzing of everything that reads untrusted input: target, port and
//! time specifications and `--script` selections from the command line, probe files,
//! version templates and
//! services' answers read against the probe database, OS databases (nmap-os-db), their
//! value expressions and fingerprints matched against them, OS probes' replies made
//! into fingerprints, and frames off the wire (TCP, UDP, ICMP
//! replies and ICMP errors quoting anything; frames raw-packet scripts capture and
//! dissect). None may panic, and what they accept
//! must mean what it says.

use proptest::prelude::*;
use scanner::engine::timing::{parse_time, Timing};
use scanner::os::db::Database;
use scanner::os::expr::Expr;
use scanner::os::fingerprint::{Fingerprint, Test};
use scanner::os::matching::{GUESS_THRESHOLD, MOST_MATCHES};
use scanner::os::observe::{self, Exchange, OsProbe, Reply};
use scanner::os::synack::SynAckSignature;
use scanner::os::synack_db::SynAckDb;
use scanner::packet::reply::{classify, TcpSegment};
use scanner::packet::template::{LinkAddrs, SegmentKind, TcpTemplate, MAX_FRAME_LEN};
use scanner::packet::{build, craft};
use scanner::target::services::ServicesTable;
use scanner::target::{ports::PortList, TargetSet};
use scanner_common::cookie::{probe_cookie, stateless_source_port};
use scanner_common::{ClassifierConfig, ReplyKind, FLAG_ANY_COOKIE, FLAG_ARP, FLAG_UDP};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The built-in probe database, parsed once for all cases.
fn own_database() -> &'static scanner::service::probes::ProbeDb {
    static DB: std::sync::OnceLock<scanner::service::probes::ProbeDb> = std::sync::OnceLock::new();
    DB.get_or_init(|| scanner::service::load_database(None).expect("the own database parses"))
}

/// nmap's MatchPoints block, so that fuzzed OS database entries are weighed.
const OS_MATCH_POINTS: &str = "MatchPoints
SEQ(SP=25%GCD=75%ISR=25%TI=100%CI=50%II=100%SS=80%TS=100)
OPS(O1=20%O2=20%O3=20%O4=20%O5=20%O6=20)
WIN(W1=15%W2=15%W3=15%W4=15%W5=15%W6=15)
ECN(R=100%DF=20%T=15%TG=15%W=15%O=15%CC=100%Q=20)
T1(R=100%DF=20%T=15%TG=15%S=20%A=20%F=30%RD=20%Q=20)
T4(R=100%DF=20%T=15%TG=15%W=25%S=20%A=20%F=30%O=10%RD=20%Q=20)
U1(R=50%DF=20%T=15%TG=15%IPL=100%UN=100%RIPL=100%RID=100%RIPCK=100%RUCK=100%RUD=100)
IE(R=50%DFI=40%T=15%TG=15%CD=100)
";

/// A test line of nmap-os-db's shape, its names and values sometimes wrong.
const OS_TEST_LINE: &str = "(SEQ|OPS|WIN|ECN|T1|T4|U1|IE|T9)\\(((SP|GCD|TI|O[1-6]|W[1-6]|R|DF|T|TG|W|O|S|A|F|IPL|CD|XX)=[0-9A-FZIRSY|<>\\[\\]+-]{0,10}%?){0,6}\\)?";

/// Every OS probe, and two numbered out of range.
const OS_PROBES: [OsProbe; 18] = [
    OsProbe::Seq(1),
    OsProbe::Seq(2),
    OsProbe::Seq(3),
    OsProbe::Seq(4),
    OsProbe::Seq(5),
    OsProbe::Seq(6),
    OsProbe::Ops(2),
    OsProbe::Ecn,
    OsProbe::T(1),
    OsProbe::T(2),
    OsProbe::T(4),
    OsProbe::T(5),
    OsProbe::T(7),
    OsProbe::U1,
    OsProbe::Ie(1),
    OsProbe::Ie(2),
    OsProbe::Seq(0),
    OsProbe::T(9),
];

/// An OS probe of `kind` as the scanner would send it from source port `sport`, and
/// the reply a target would send, to be garbled: TCP with `options`, a port
/// unreachable quoting the UDP probe, an echo reply.
fn os_probe_and_reply(
    kind: OsProbe,
    sport: u16,
    (flags, isn): (u8, u32),
    options: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let me = Ipv4Addr::new(198, 18, 0, 1);
    let target = Ipv4Addr::new(198, 18, 0, 10);
    let link = LinkAddrs {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_ip: me,
    };
    let mut buf = [0u8; 512];
    match kind {
        OsProbe::U1 => {
            let len = build::udp_probe(&mut buf, &link, target, sport, 33095, &[0x43; 300], 0x1042);
            let reply = craft::icmp_error_about(&buf[..len], 3, 3, target.octets(), 308);
            (buf[..len].to_vec(), reply)
        }
        OsProbe::Ie(n) => {
            let len = build::icmp_query(&mut buf, &link, target, 8, sport, 294 + u16::from(n), 1);
            let reply = craft::icmp_reply_to(&buf[..len], 0);
            (buf[..len].to_vec(), reply)
        }
        _ => {
            let probe = craft::tcp_segment((me, sport), (target, 22), 0x02, 1, 50, &[3, 3, 10, 1]);
            let mut reply =
                craft::tcp_segment((target, 22), (me, sport), flags, 65160, 64, options);
            reply[14 + 20 + 4..14 + 20 + 8].copy_from_slice(&isn.to_be_bytes());
            (probe, reply)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A round of OS probes whose replies are anything (any bytes, or a target's reply
    /// with any TCP options and bytes overwritten anywhere, cut anywhere, at any time):
    /// its fingerprint is computed without a panic, and reads back as printed.
    #[test]
    fn os_fingerprints_of_any_replies_never_panic(
        rounds in proptest::collection::vec((
            0..OS_PROBES.len(),
            any::<bool>(),
            (prop_oneof![Just(0x12u8), any::<u8>()], any::<u32>()),
            prop_oneof![
                // Linux's: MSS, SACK permitted, a timestamp, NOP, window scale.
                any::<u32>().prop_map(|tsval| [&[2, 4, 5, 0xb4, 4, 2, 8, 10][..], &tsval.to_be_bytes(), &[0xff, 0xff, 0xff, 0xff, 1, 3, 3, 10]].concat()),
                proptest::collection::vec(any::<u8>(), 0..=40),
            ],
            proptest::collection::vec((any::<u16>(), any::<u8>()), 0..6),
            proptest::collection::vec(any::<u8>(), 0..64),
            (any::<u16>(), 0u64..2_000_000, 0u64..2_000_000),
        ), 0..24),
        distance in proptest::option::of(any::<u8>()),
    ) {
        let exchanges: Vec<Exchange> = rounds
            .iter()
            .enumerate()
            .map(|(n, (kind, raw, tcp, options, overwrites, bytes, (cut, sent_us, received_us)))| {
                let probe = OS_PROBES[*kind];
                let (sent, mut frame) = os_probe_and_reply(probe, 40_000 + n as u16 % 4, *tcp, options);
                if *raw {
                    frame.clone_from(bytes);
                } else {
                    frame.extend_from_slice(bytes);
                }
                for &(at, value) in overwrites {
                    if !frame.is_empty() {
                        let at = usize::from(at) % frame.len();
                        frame[at] = value;
                    }
                }
                let frame_len = frame.len();
                frame.truncate(usize::from(*cut).min(scanner_common::capture::CAPTURE_SNAP));
                Exchange {
                    probe,
                    sent,
                    sent_at: Duration::from_micros(*sent_us),
                    reply: Some(Reply { frame, frame_len, received_at: Duration::from_micros(*received_us) }),
                }
            })
            .collect();
        let print = observe::fingerprint(&exchanges, distance);
        prop_assert!(print.test("U1").is_some() && print.test("IE").is_some());
        prop_assert_eq!(Fingerprint::parse(&print.to_string()).unwrap(), print);
        let _ = observe::hop_distance(&exchanges);
    }

    /// OS databases: lines of the format's shapes, garbled, are read or refused with
    /// a message naming the source, never a panic.
    #[test]
    fn os_databases_never_panic(
        lines in proptest::collection::vec(prop_oneof![
            "Fingerprint [A-Za-z0-9 .#-]{0,20}",
            "Class [a-z| ]{0,20}",
            "CPE (cpe:/[a-z:0-9]{0,12})?( auto)?",
            OS_TEST_LINE,
            Just("MatchPoints".to_string()),
            Just(String::new()),
            "#.{0,10}",
            ".{0,30}",
        ], 0..24),
        with_points in any::<bool>(),
    ) {
        let body = lines.join("\n");
        let text = if with_points { format!("{OS_MATCH_POINTS}\n{body}") } else { body };
        match Database::parse(&text, "fuzz-os-db") {
            Ok(db) => prop_assert!(db.warnings.iter().all(|w| w.starts_with("fuzz-os-db line "))),
            Err(error) => prop_assert!(error.to_string().starts_with("fuzz-os-db"), "{error}"),
        }
    }

    /// Entries whose tests are garbled are read or left out, and what is read matches
    /// any print without panic: accuracies from 0 to 1, the best first.
    #[test]
    fn os_entries_match_any_print(
        entries in proptest::collection::vec(
            ("[A-C]", "Class [a-z| ]{0,12}", proptest::collection::vec(OS_TEST_LINE, 1..8)),
            1..6,
        ),
        observed in proptest::collection::vec(OS_TEST_LINE, 0..8),
    ) {
        let mut text = OS_MATCH_POINTS.to_string();
        for (name, class, tests) in &entries {
            text.push_str(&format!("\nFingerprint {name}\n{class}\n{}\n", tests.join("\n")));
        }
        let db = Database::parse(&text, "fuzz-os-db").unwrap();
        prop_assert_eq!(db.entries.len() + db.warnings.len(), entries.len());
        let mut print = Fingerprint::default();
        for line in &observed {
            if let Ok(test) = Test::parse(line) {
                print.insert(test);
            }
        }
        for entry in &db.entries {
            let accuracy = db.accuracy(entry, &print);
            prop_assert!((0.0..=1.0).contains(&accuracy));
        }
        for threshold in [0.0, GUESS_THRESHOLD] {
            let found = db.best_matches(&print, MOST_MATCHES, threshold);
            prop_assert!(found.matches.windows(2).all(|w| w[0].accuracy >= w[1].accuracy));
            prop_assert!(found.matches.iter().all(|m| m.accuracy >= threshold));
        }
    }

    /// SYN+ACK signature databases (p0f.fp's format): lines of its shapes, garbled,
    /// are read or left out with a warning naming the line; what is read matches any
    /// SYN+ACK without panic.
    #[test]
    fn synack_databases_never_panic_and_match_any_syn_ack(
        lines in proptest::collection::vec(prop_oneof![
            "label = [sgx]:(unix|win|other|!|[a-z]{0,4}):[A-Za-z0-9 .()-]{0,10}:.{0,8}",
            "sig = [46*x]:[0-9]{0,3}[-+]?[0-9]{0,2}:[0-9]{0,2}:(\\*|[0-9]{0,5}):(\\*|[0-9]{0,5}|mss\\*[0-9]{0,3}|mtu\\*[0-9]{0,3}|%[0-9]{0,4}),(\\*|[0-9]{0,3}):((mss|nop|ws|sok|sack|ts|eol\\+[0-9]|\\?[0-9]{1,3}),?){0,6}:((df|id\\+|id-|ecn|0\\+|ts1-|pushf\\+|bogus),?){0,3}:[0+*x]",
            Just("classes = win,unix,other".to_string()),
            Just("[tcp:response]".to_string()),
            "\\[[a-z:]{0,12}\\]",
            "sys = @[a-z]{0,5}",
            Just(String::new()),
            ";.{0,10}",
            ".{0,30}",
        ], 0..24),
        options in proptest::collection::vec(any::<u8>(), 0..40),
        window in any::<u16>(),
        ttl in any::<u8>(),
    ) {
        let text = format!("classes = win,unix,other\n[tcp:response]\n{}", lines.join("\n"));
        match SynAckDb::parse(&text, "fuzz-synack-db") {
            Ok(db) => {
                prop_assert!(db.warnings.iter().all(|w| w.starts_with("fuzz-synack-db line ")));
                let frame = scanner::packet::craft::tcp_segment(
                    ("198.18.0.10".parse().unwrap(), 22),
                    ("198.18.0.1".parse().unwrap(), 40000),
                    0x12,
                    window,
                    ttl,
                    &options[..options.len() / 4 * 4],
                );
                if let Some(seen) = SynAckSignature::read(&frame, Some(1460)) {
                    let _ = db.best_match(&seen);
                }
            }
            Err(error) => prop_assert!(error.to_string().starts_with("fuzz-synack-db"), "{error}"),
        }
    }

    /// Any bytes after a good MatchPoints block are read or refused, never a panic.
    #[test]
    fn os_database_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut text = OS_MATCH_POINTS.as_bytes().to_vec();
        text.extend(bytes);
        let _ = Database::parse(&text, "fuzz-os-db");
    }

    /// Any expression, of either syntax, held against any value.
    #[test]
    fn os_expressions_never_panic(
        expr in "[0-9A-Fa-z|<>\\[\\]+-]{0,16}|.{0,16}",
        value in "[0-9A-F]{0,6}|[0-9A-Z+]{0,6}|.{0,8}",
    ) {
        let _ = Expr::parse(&expr).matches(&value);
        if let Ok(options) = Expr::parse_tcp_options(&expr) {
            let _ = options.matches(&value);
        }
    }

    #[test]
    fn target_specs_never_panic(spec in "[0-9./*,-]{0,24}") {
        let _ = TargetSet::parse(&[spec]);
    }

    #[test]
    fn any_string_as_target_is_handled(spec in ".{0,40}") {
        let _ = TargetSet::parse(&[spec]);
    }

    #[test]
    fn cidr_blocks_hold_exactly_their_addresses(addr in any::<u32>(), bits in 8u32..=32) {
        let set = TargetSet::parse(&[format!("{}/{bits}", Ipv4Addr::from(addr))]).unwrap();
        prop_assert_eq!(set.len(), 1u64 << (32 - bits));
        prop_assert!(set.contains(Ipv4Addr::from(addr)));
    }

    #[test]
    fn port_specs_never_panic(spec in "[0-9TU:,-]{0,24}") {
        if let Ok(list) = PortList::parse_tcp(&spec) {
            prop_assert!(!list.is_empty());
            prop_assert!(list.as_slice().windows(2).all(|w| w[0] < w[1]));
        }
    }

    /// Probe files: any line of the format's shapes, garbled, errors or parses.
    #[test]
    fn probe_files_never_panic(lines in proptest::collection::vec(prop_oneof![
        "Probe (TCP|UDP) [A-Za-z]{1,8} q\\|[a-z\\\\x0-9]{0,12}\\|( no-payload)?",
        "(match|softmatch) [a-z]{1,6} m[|=%][^|=%\n]{0,16}[|=%][is]{0,2}( [pvihod][/|][^/|\n]{0,10}[/|]){0,3}",
        "(ports|sslports|rarity|fallback|totalwaitms|tcpwrappedms|Exclude) [0-9,TU:a-z-]{0,12}",
        ".{0,30}",
    ], 0..12)) {
        let text = lines.join("\n");
        let _ = scanner::service::probes::ProbeDb::parse(text.as_bytes(), "fuzz");
    }

    /// Any answer, to any probe of the own database, is read without panic, and the
    /// match names a service the database knows.
    #[test]
    fn hostile_answers_are_read_against_the_database(answer in proptest::collection::vec(any::<u8>(), 0..256), probe_index in any::<prop::sample::Index>(), banner in prop_oneof![Just(&b""[..]), Just(&b"HTTP/1.1 200 OK\r\nServer: "[..]), Just(&b"SSH-2.0-"[..]), Just(&b"\x16\x03\x01"[..])]) {
        let db = own_database();
        let probe = &db.probes[probe_index.index(db.probes.len())];
        let mut bytes = banner.to_vec();
        bytes.extend(&answer);
        if let Some(hit) = db.match_response(probe, &bytes, None) {
            prop_assert!(db.probes.iter().any(|p| p.matches.iter().any(|m| m.service == hit.service)));
        }
    }

    /// `--script` selections parse or fail cleanly, whatever is typed.
    #[test]
    fn script_selections_never_panic(spec in "[a-z*()?, -]{0,30}|((not |)[a-z-]{1,8}( and | or |, )){0,4}[a-z]{1,5}") {
        for item in scanner::script::select::items(&spec) {
            if let Ok(expr) = scanner::script::select::parse(&item) {
                let _ = expr.selects("http-title", &["default".to_string()]);
            }
        }
    }

    /// Version templates parse or fail cleanly, and expand any groups without panic.
    #[test]
    fn version_templates_never_panic(template in "([pvihod][/|]([^/|$]|\\$[0-9]|\\$P\\([0-9]\\)|\\$SUBST\\([0-9],\"[a-z]?\",\"[a-z]?\"\\)|\\$I\\([0-9],\"[<>]\"\\)){0,6}[/|] ?|cpe:/[a-z:$0-9]{0,12}/a? ?|.{0,6}){0,4}", groups in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)), 0..10)) {
        if let Ok(parsed) = scanner::service::template::VersionTemplate::parse(template.as_bytes()) {
            let groups: Vec<Option<&[u8]>> = groups.iter().map(|g| g.as_deref()).collect();
            let _ = parsed.expand(&groups);
        }
    }

    #[test]
    fn udp_port_specs_never_panic(spec in "[0-9TU:,a-z-]{0,24}") {
        if let Ok(list) = PortList::parse_for(&spec, &ServicesTable::default(), "udp") {
            prop_assert!(!list.is_empty());
            prop_assert!(list.as_slice().windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn time_values_never_panic(text in ".{0,16}", number in 0u32..100_000) {
        let _ = parse_time(&text);
        let _ = Timing::parse_template(&text);
        prop_assert_eq!(parse_time(&format!("{number}ms")).unwrap().as_millis(), u128::from(number));
    }

    /// ICMP errors quoting arbitrary bytes (a truncated, garbled or foreign quote)
    /// never panic the classifier.
    #[test]
    fn icmp_errors_quoting_anything_never_panic(quote in proptest::collection::vec(any::<u8>(), 0..96), icmp_type in prop_oneof![Just(3u8), Just(11u8), any::<u8>()], key in any::<[u64; 2]>()) {
        let me = [198, 18, 0, 1];
        let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        let total = (20 + 8 + quote.len()) as u16;
        frame.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 1, 1]);
        frame.extend_from_slice(&me);
        frame.extend_from_slice(&[icmp_type, 3, 0, 0, 0, 0, 0, 0]);
        frame.extend_from_slice(&quote);
        let config = ClassifierConfig { local_addr: u32::from_be_bytes(me), port_lo: 0, port_hi: 65535, key, enabled: 1, flags: FLAG_UDP | FLAG_ANY_COOKIE };
        let _ = classify(&frame, &config);
    }

    /// A UDP probe's reply is ours exactly when it comes back to the keyed port.
    #[test]
    fn udp_replies_to_our_probes_are_recognised(dst in any::<u32>(), dport in 1u16.., key in any::<[u64; 2]>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let me = Ipv4Addr::new(198, 18, 0, 1);
        let link = LinkAddrs { src_mac: [2, 0, 0, 0, 0, 1], dst_mac: [2, 0, 0, 0, 0, 2], src_ip: me };
        let sport = stateless_source_port(&key, dst, dport, 40000, 59999);
        let mut buf = [0u8; 512];
        let len = build::udp_probe(&mut buf, &link, Ipv4Addr::from(dst), sport, dport, &payload, 1);
        let reply = craft::udp_reply_to(&buf[..len], &payload);
        let config = ClassifierConfig { local_addr: u32::from(me), port_lo: 40000, port_hi: 59999, key, enabled: 1, flags: FLAG_UDP };
        let record = classify(&reply, &config).expect("our reply");
        prop_assert_eq!(ReplyKind::from_u8(record.kind), Some(ReplyKind::Udp));
        prop_assert_eq!((record.remote_addr, record.remote_port, record.local_port), (dst, dport, sport));
        let error = craft::icmp_error_about(&buf[..len], 3, 3, Ipv4Addr::from(dst).octets(), 8);
        let record = classify(&error, &config).expect("our error");
        prop_assert_eq!(ReplyKind::from_u8(record.kind), Some(ReplyKind::IcmpError));
        // Under another key the reply is not ours, unless that key happens to pick
        // the same source port (a UDP reply has nothing else to check: one chance in
        // the range's 20,000).
        let other = ClassifierConfig { key: [key[0], key[1] ^ 1], ..config };
        let other_port = stateless_source_port(&other.key, dst, dport, 40000, 59999);
        prop_assert_eq!(classify(&reply, &other).is_none(), other_port != sport);
    }

    #[test]
    fn arbitrary_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..128), key in any::<[u64; 2]>()) {
        let _ = TcpSegment::parse(&frame);
        for flags in [0, FLAG_UDP | FLAG_ANY_COOKIE | FLAG_ARP] {
            let config = ClassifierConfig { local_addr: 0xc612_0001, port_lo: 0, port_hi: 65535, key, enabled: 1, flags };
            let _ = classify(&frame, &config);
        }
    }

    /// Frames and packets a raw-packet script receives: taking them apart and keying
    /// them for captures never panics, whatever their lengths say; a frame's key
    /// always names its sender's protocol.
    #[test]
    fn captured_frames_are_dissected_and_keyed_without_panics(
        frame in proptest::collection::vec(any::<u8>(), 0..160),
        header in prop_oneof![Just(&b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00\x45\x00"[..]), Just(&b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x06"[..]), Just(&b""[..])],
    ) {
        let bytes = [header, &frame[..]].concat();
        let _ = scanner::packet::raw::dissect(&bytes, true);
        let _ = scanner::packet::raw::dissect(&bytes, false);
        if let Some(key) = scanner::packet::reply::capture_key(&bytes, 0xc612_0001) {
            prop_assert!(matches!(key.protocol, 1 | 6 | 17 | scanner_common::capture::CAPTURE_ARP));
        }
    }

    /// A SYN built from the template, turned into the SYN+ACK its target would send,
    /// is classified as ours; with another key it is not.
    #[test]
    fn replies_to_our_probes_are_recognised(dst in any::<u32>(), sport in 1024u16.., dport in 1u16.., key in any::<[u64; 2]>()) {
        let me = Ipv4Addr::new(198, 18, 0, 1);
        let syn = TcpTemplate::new(SegmentKind::Syn, &LinkAddrs { src_mac: [2, 0, 0, 0, 0, 1], dst_mac: [2, 0, 0, 0, 0, 2], src_ip: me });
        let mut frame = [0u8; MAX_FRAME_LEN];
        let seq = probe_cookie(&key, dst, dport, sport);
        let len = syn.write(&mut frame, Ipv4Addr::from(dst), sport, dport, seq, 1);
        let reply = craft::reply_to(&frame[..len], 0x12, 7);
        let config = ClassifierConfig { local_addr: u32::from(me), port_lo: 1024, port_hi: 65535, key, enabled: 1, flags: 0 };
        let record = classify(&reply, &config).expect("our reply");
        prop_assert_eq!(ReplyKind::from_u8(record.kind), Some(ReplyKind::SynAck));
        prop_assert_eq!((record.remote_addr, record.remote_port, record.local_port), (dst, dport, sport));
        let other = ClassifierConfig { key: [key[0] ^ 1, key[1]], ..config };
        prop_assert!(classify(&reply, &other).is_none());
    }
}
