//! Property-based fuzzing of everything that reads untrusted input: target and port
//! specifications from the command line, and frames off the wire. None may panic,
//! and what they accept must mean what it says.

use proptest::prelude::*;
use scanner::packet::craft;
use scanner::packet::reply::{classify, TcpSegment};
use scanner::packet::template::{LinkAddrs, SegmentKind, TcpTemplate, MAX_FRAME_LEN};
use scanner::target::{ports::PortList, TargetSet};
use scanner_common::{cookie::probe_cookie, ClassifierConfig, ReplyKind};
use std::net::Ipv4Addr;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

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

    #[test]
    fn arbitrary_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..128), key in any::<[u64; 2]>()) {
        let _ = TcpSegment::parse(&frame);
        let config = ClassifierConfig { local_addr: 0xc612_0001, port_lo: 0, port_hi: 65535, key, enabled: 1, flags: 0 };
        let _ = classify(&frame, &config);
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
