//! nmap's tests of single TCP replies: the option string (OPS and the `O` of ECN and
//! T2–T7), the window (WIN, `W`), the ECN test and T1–T7 (DF, the sequence and
//! acknowledgment numbers against the probe's, the flags, a RST's data, quirks), as
//! nmap 7.93's `processTEcnResp`, `processT1_7Resp` and `get_tcpopt_string` read
//! them; and the fields of a SEQ reply the SEQ test takes.

use super::seq::SeqReplyFields;
use super::{yes_no, Reading};
use crate::packet::reply::ipv4_tcp_headers;
use crate::packet::wire::{ipv4, tcp};
use scanner_common::wire::{
    TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_PSH, TCP_FLAG_RST, TCP_FLAG_SYN, TCP_FLAG_URG,
};

const TCP_FLAG_ECE: u8 = 0x40;
const TCP_FLAG_CWR: u8 = 0x80;

/// The fields of a TCP probe that its reply is read against.
#[derive(Clone, Copy, Debug)]
pub(super) struct TcpProbe {
    src_port: u16,
    seq: u32,
    ack: u32,
}

impl TcpProbe {
    pub(super) fn read(sent: &[u8]) -> Option<Self> {
        let (_, segment, _) = ipv4_tcp_headers(sent)?;
        Some(Self {
            src_port: segment.src_port(),
            seq: segment.seq_number(),
            ack: segment.ack_number(),
        })
    }
}

/// A TCP reply to a probe, its headers whole (its data may be cut by the capture).
pub(super) struct TcpReply<'a> {
    pub ip: ipv4::Packet<&'a [u8]>,
    pub segment: tcp::Packet<&'a [u8]>,
    /// The segment's length as the IP header claims it.
    segment_len: usize,
    probe: TcpProbe,
}

impl<'a> TcpReply<'a> {
    /// The reply in `frame`, if it is TCP to the port `probe` came from (nmap tells
    /// its probes' replies apart by that port alone).
    pub(super) fn read(frame: &'a [u8], probe: TcpProbe) -> Option<Self> {
        let (ip, segment, segment_len) = ipv4_tcp_headers(frame)?;
        (segment.dst_port() == probe.src_port).then_some(Self {
            ip,
            segment,
            segment_len,
            probe,
        })
    }

    pub(super) fn seq_fields(&self) -> SeqReplyFields {
        SeqReplyFields {
            ip_id: self.ip.ident(),
            flags: self.segment.flags(),
            isn: self.segment.seq_number(),
            timestamp: timestamp_value(self.segment.options()),
        }
    }

    pub(super) fn option_string(&self) -> String {
        option_string(self.segment.options())
    }

    /// The ECN test: R, DF, T, W, O, CC (how the reply answers ECE and CWR), Q.
    pub(super) fn ecn_test(&self) -> Reading {
        let mut reading = Reading::answered("ECN", self.ip.ttl());
        let test = &mut reading.test;
        let flags = self.segment.flags();
        test.set("DF", yes_no(self.ip.dont_frag()));
        test.set("W", format!("{:X}", self.segment.window_len()));
        test.set("O", self.option_string());
        let congestion = match (flags & TCP_FLAG_ECE != 0, flags & TCP_FLAG_CWR != 0) {
            (true, true) => "S",
            (true, false) => "Y",
            (false, false) => "N",
            (false, true) => "O",
        };
        test.set("CC", congestion);
        test.set("Q", self.quirks());
        reading
    }

    /// T1–T7 (`name`): R, DF, T, W, S, A, F, O, RD, Q (T1 without W and O).
    pub(super) fn response_test(&self, name: &str) -> Reading {
        let mut reading = Reading::answered(name, self.ip.ttl());
        let test = &mut reading.test;
        let segment = &self.segment;
        test.set("DF", yes_no(self.ip.dont_frag()));
        if name != "T1" {
            test.set("W", format!("{:X}", segment.window_len()));
            test.set("O", self.option_string());
        }
        let seq = segment.seq_number();
        let sequence = if seq == 0 {
            "Z"
        } else if seq == self.probe.ack {
            "A"
        } else if seq == self.probe.ack.wrapping_add(1) {
            "A+"
        } else {
            "O"
        };
        test.set("S", sequence);
        let ack = segment.ack_number();
        let acknowledgment = if ack == 0 {
            "Z"
        } else if ack == self.probe.seq {
            "S"
        } else if ack == self.probe.seq.wrapping_add(1) {
            "S+"
        } else {
            "O"
        };
        test.set("A", acknowledgment);
        test.set("F", flag_letters(segment.flags()));
        if let Some(value) = self.rst_data() {
            test.set("RD", value);
        }
        test.set("Q", self.quirks());
        reading
    }

    /// RD: the CRC-32 of the data a RST carries, `0` without a RST or data; `None`
    /// (left out) where the capture cut the data, since its CRC cannot be known.
    fn rst_data(&self) -> Option<String> {
        let data_len = self.segment_len.saturating_sub(self.segment.header_len());
        if self.segment.flags() & TCP_FLAG_RST == 0 || data_len == 0 {
            return Some("0".into());
        }
        let data = self.segment.payload().get(..data_len)?;
        Some(format!("{:08X}", crc32(data)))
    }

    /// Q: `R` if the reserved bits are set, `U` if the urgent pointer is without URG.
    fn quirks(&self) -> String {
        let mut quirks = String::new();
        if self.segment.reserved() != 0 {
            quirks.push('R');
        }
        if self.segment.flags() & TCP_FLAG_URG == 0 && self.segment.urgent_at() != 0 {
            quirks.push('U');
        }
        quirks
    }
}

/// F: the flags set, as letters in nmap's order (ECE, URG, ACK, PSH, RST, SYN, FIN).
fn flag_letters(flags: u8) -> String {
    [
        (TCP_FLAG_ECE, 'E'),
        (TCP_FLAG_URG, 'U'),
        (TCP_FLAG_ACK, 'A'),
        (TCP_FLAG_PSH, 'P'),
        (TCP_FLAG_RST, 'R'),
        (TCP_FLAG_SYN, 'S'),
        (TCP_FLAG_FIN, 'F'),
    ]
    .iter()
    .filter(|(flag, _)| flags & flag != 0)
    .map(|(_, letter)| letter)
    .collect()
}

/// The options as nmap 7.93 writes them: `L` end of list (for every byte: nmap reads
/// on after it), `N` no-op, `M` and the MSS in hex, `W` and the window scale in hex,
/// `S` SACK permitted, `T` and two digits saying whether TSval and TSecr are
/// non-zero (`M5B4ST11NW7`). nmap reads these four at their fixed sizes whatever
/// their length byte says, and writes nothing when one does not fit in the header.
/// Other options are skipped by their length byte and not written; one whose length
/// is below 2 or runs past the header empties the string too (7.93 itself reads
/// past them without bound; nmap since 2026 does this).
pub(super) fn option_string(options: &[u8]) -> String {
    const OPT_EOL: u8 = 0;
    const OPT_NOP: u8 = 1;
    const OPT_MSS: u8 = 2;
    const OPT_WINDOW_SCALE: u8 = 3;
    const OPT_SACK_PERMITTED: u8 = 4;
    const OPT_TIMESTAMP: u8 = 8;
    let mut text = String::new();
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        let rest = &options[at..];
        let fixed_size = match kind {
            OPT_EOL | OPT_NOP => 1,
            OPT_MSS => 4,
            OPT_WINDOW_SCALE => 3,
            OPT_SACK_PERMITTED => 2,
            OPT_TIMESTAMP => 10,
            _ => match rest.get(1) {
                Some(&len) if len >= 2 && usize::from(len) <= rest.len() => {
                    at += usize::from(len);
                    continue;
                }
                _ => return String::new(),
            },
        };
        if rest.len() < fixed_size {
            return String::new();
        }
        match kind {
            OPT_EOL => text.push('L'),
            OPT_NOP => text.push('N'),
            OPT_MSS => text.push_str(&format!("M{:X}", u16::from_be_bytes([rest[2], rest[3]]))),
            OPT_WINDOW_SCALE => text.push_str(&format!("W{:X}", rest[2])),
            OPT_SACK_PERMITTED => text.push('S'),
            _ => {
                let digit = |bytes: &[u8]| {
                    if bytes.iter().any(|&b| b != 0) {
                        '1'
                    } else {
                        '0'
                    }
                };
                text.push('T');
                text.push(digit(&rest[2..6]));
                text.push(digit(&rest[6..10]));
            }
        }
        at += fixed_size;
    }
    text
}

/// The TSval of a segment's timestamp option, as nmap's `gettcpopt_ts` finds it:
/// walking the options by their length bytes, stopping at the end of the list or a
/// length that does not fit; only a timestamp option of length 10 counts.
fn timestamp_value(options: &[u8]) -> Option<u32> {
    let mut rest = options;
    loop {
        match rest {
            [] | [0, ..] => return None,
            [1, tail @ ..] => rest = tail,
            [kind, len, ..] => {
                let len = usize::from(*len);
                if len < 2 || len > rest.len() {
                    return None;
                }
                if *kind == 8 && len == 10 {
                    return Some(u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]));
                }
                rest = &rest[len..];
            }
            [_] => return None,
        }
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib and nmap's `nbase_crc32` compute it).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::craft;

    /// Linux's SYN+ACK options: MSS 1460, SACK permitted, timestamps (TSecr echoed),
    /// NOP, window scale 10.
    const LINUX_OPTIONS: [u8; 20] = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x2f, 0xb2, 0x0f, 0x68, 0xff, 0xff, 0xff, 0xff, 1, 3, 3, 10,
    ];

    #[test]
    fn option_strings_are_written_as_nmap_writes_them() {
        assert_eq!(option_string(&LINUX_OPTIONS), "M5B4ST11NWA");
        // Windows-like: MSS, NOP, NOP, SACK permitted.
        assert_eq!(option_string(&[2, 4, 0x05, 0xb4, 1, 1, 4, 2]), "M5B4NNS");
        // A zero TSval with a non-zero TSecr, and the reverse.
        assert_eq!(option_string(&[8, 10, 0, 0, 0, 0, 0, 0, 0, 1]), "T01");
        assert_eq!(option_string(&[8, 10, 0, 0, 1, 0, 0, 0, 0, 0]), "T10");
        // Every byte after the end of the list is another `L`.
        assert_eq!(option_string(&[2, 4, 0x01, 0x09, 0, 0, 0, 0]), "M109LLLL");
        assert_eq!(option_string(&[3, 3, 0xff]), "WFF");
        assert_eq!(option_string(&[]), "");
    }

    #[test]
    fn broken_and_unknown_options() {
        // An MSS cut off by the header's end: nothing is written at all.
        assert_eq!(option_string(&[1, 2, 4, 5]), "");
        assert_eq!(option_string(&[1, 8, 10, 0, 0]), "");
        // A known option is read at its fixed size, whatever its length byte says.
        assert_eq!(option_string(&[2, 9, 0x05, 0xb4, 1]), "M5B4N");
        // Unknown options are skipped by their length byte...
        assert_eq!(option_string(&[1, 30, 4, 0, 0, 4, 2]), "NS");
        // ... unless it cannot be followed.
        assert_eq!(option_string(&[1, 30, 9, 0, 0]), "");
        assert_eq!(option_string(&[1, 30, 1, 4, 2]), "");
        assert_eq!(option_string(&[4, 2, 30]), "");
    }

    #[test]
    fn the_timestamp_is_found_as_nmap_finds_it() {
        assert_eq!(timestamp_value(&LINUX_OPTIONS), Some(0x2fb2_0f68));
        assert_eq!(timestamp_value(&[2, 4, 5, 0xb4, 1, 1, 4, 2]), None);
        // After the end of the list, nothing counts.
        assert_eq!(timestamp_value(&[0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0]), None);
        // A timestamp option of another length is no timestamp.
        assert_eq!(timestamp_value(&[8, 6, 0, 0, 0, 1]), None);
        assert_eq!(timestamp_value(&[8, 10, 0, 0, 0, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(
            timestamp_value(&[5, 40, 8, 10]),
            None,
            "a length past the end"
        );
    }

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    /// A reply from the target at `ttl` to `probe`, with `flags` and `options`, then
    /// `edit`ed at the TCP header.
    fn reply(probe: &[u8], flags: u8, options: &[u8], edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let probe_segment = ipv4_tcp_headers(probe).unwrap().1;
        let mut frame = craft::tcp_segment(
            ("198.18.0.10".parse().unwrap(), probe_segment.dst_port()),
            ("198.18.0.1".parse().unwrap(), probe_segment.src_port()),
            flags,
            0x7210,
            63,
            options,
        );
        edit(&mut frame[14 + 20..]);
        frame
    }

    fn probe_frame() -> Vec<u8> {
        let mut frame = craft::tcp_segment(
            ("198.18.0.1".parse().unwrap(), 50457),
            ("198.18.0.10".parse().unwrap(), 22),
            0,
            128,
            50,
            &[3, 3, 10, 1],
        );
        // Sequence 0x23547ad3, acknowledgment 0xd48ce458.
        frame[14 + 20 + 4..14 + 20 + 12]
            .copy_from_slice(&[0x23, 0x54, 0x7a, 0xd3, 0xd4, 0x8c, 0xe4, 0x58]);
        frame
    }

    fn test_of(frame: &[u8], name: &str) -> String {
        let probe = TcpProbe::read(&probe_frame()).unwrap();
        let reply = TcpReply::read(frame, probe).unwrap();
        reply.response_test(name).test.to_string()
    }

    #[test]
    fn sequence_and_acknowledgment_numbers_against_the_probes() {
        let set = |seq: u32, ack: u32| {
            move |tcp: &mut [u8]| {
                tcp[4..8].copy_from_slice(&seq.to_be_bytes());
                tcp[8..12].copy_from_slice(&ack.to_be_bytes());
            }
        };
        let rst = TCP_FLAG_RST;
        let frame = reply(&probe_frame(), rst, &[], set(0xd48c_e458, 0));
        assert_eq!(
            test_of(&frame, "T4"),
            "T4(R=Y%DF=N%W=7210%S=A%A=Z%F=R%O=%RD=0%Q=)"
        );
        let frame = reply(&probe_frame(), rst | TCP_FLAG_ACK, &[], set(0, 0x2354_7ad4));
        assert_eq!(
            test_of(&frame, "T5"),
            "T5(R=Y%DF=N%W=7210%S=Z%A=S+%F=AR%O=%RD=0%Q=)"
        );
        let frame = reply(&probe_frame(), rst, &[], set(0xd48c_e459, 0x2354_7ad3));
        assert_eq!(
            test_of(&frame, "T6"),
            "T6(R=Y%DF=N%W=7210%S=A+%A=S%F=R%O=%RD=0%Q=)"
        );
        let frame = reply(
            &probe_frame(),
            TCP_FLAG_SYN | TCP_FLAG_ACK,
            &LINUX_OPTIONS,
            set(5, 6),
        );
        assert_eq!(test_of(&frame, "T1"), "T1(R=Y%DF=N%S=O%A=O%F=AS%RD=0%Q=)");
    }

    #[test]
    fn flags_quirks_and_rst_data() {
        let frame = reply(&probe_frame(), 0xff, &[], |tcp| {
            tcp[12] |= 0x01; // a reserved bit (NS)
        });
        assert_eq!(
            test_of(&frame, "T3"),
            "T3(R=Y%DF=N%W=7210%S=O%A=O%F=EUAPRSF%O=%RD=0%Q=R)"
        );
        let frame = reply(&probe_frame(), TCP_FLAG_ACK, &[], |tcp| {
            tcp[18..20].copy_from_slice(&[0xf7, 0xf5]); // urgent pointer without URG
        });
        assert!(test_of(&frame, "T2").ends_with("%F=A%O=%RD=0%Q=U)"));
        // A RST with data: its CRC-32; cut by the capture: left out.
        let mut frame = reply(&probe_frame(), TCP_FLAG_RST, &[], |_| {});
        frame.extend_from_slice(b"123456789");
        craft::set_total_len(&mut frame, 20 + 20 + 9);
        assert!(test_of(&frame, "T7").contains("%RD=CBF43926%"));
        frame.truncate(frame.len() - 1);
        assert!(!test_of(&frame, "T7").contains("RD="));
        // Data without a RST is not looked at.
        let mut frame = reply(&probe_frame(), TCP_FLAG_ACK, &[], |_| {});
        frame.extend_from_slice(b"123456789");
        craft::set_total_len(&mut frame, 20 + 20 + 9);
        assert!(test_of(&frame, "T7").contains("%RD=0%"));
    }

    #[test]
    fn congestion_control_answers() {
        let probe = TcpProbe::read(&probe_frame()).unwrap();
        let cc = |flags: u8| {
            let frame = reply(&probe_frame(), flags, &[2, 4, 5, 0xb4], |_| {});
            let reading = TcpReply::read(&frame, probe).unwrap().ecn_test();
            assert_eq!(reading.ttl, 63);
            reading.test.get("CC").unwrap().to_string()
        };
        let syn_ack = TCP_FLAG_SYN | TCP_FLAG_ACK;
        assert_eq!(cc(syn_ack | TCP_FLAG_ECE), "Y");
        assert_eq!(cc(syn_ack | TCP_FLAG_ECE | TCP_FLAG_CWR), "S");
        assert_eq!(cc(syn_ack), "N");
        assert_eq!(cc(syn_ack | TCP_FLAG_CWR), "O");
        let frame = reply(&probe_frame(), syn_ack, &[2, 4, 5, 0xb4], |_| {});
        let ecn = TcpReply::read(&frame, probe).unwrap().ecn_test().test;
        assert_eq!(ecn.to_string(), "ECN(R=Y%DF=N%W=7210%O=M5B4%CC=N%Q=)");
    }

    #[test]
    fn a_reply_to_another_port_is_not_this_probes() {
        let sent = probe_frame();
        let probe = TcpProbe::read(&sent).unwrap();
        let mut frame = reply(&sent, TCP_FLAG_RST, &[], |_| {});
        assert!(TcpReply::read(&frame, probe).is_some());
        craft::set_dst_port(&mut frame, 50458);
        assert!(TcpReply::read(&frame, probe).is_none());
    }
}
