//! The fingerprint of one round of nmap's sixteen OS probes: from the probes as sent
//! and the replies as received, the tests nmap 7.93 prints (SEQ, OPS, WIN, ECN,
//! T1–T7, U1, IE; not SCAN, which says how the print was taken), value for value.
//!
//! The probe engine hands over what happened ([`Exchange`]s) and [`fingerprint`]
//! replays it as nmap reads its replies: in the order they arrived, the first useful
//! reply of each kind winning, each reply feeding the tests nmap feeds it (a SEQ
//! reply also gives OPS and WIN, the first also T1), then writes the print as nmap's
//! `makeFP` does (which tests say `R=N`, `T` or `TG`). The tests themselves live one
//! family to a module: `seq` (ISNs, IP IDs, timestamps), `tcp` (options,
//! windows, ECN, T1–T7), `u1` (the port unreachable) and `ie` (the two echoes).
//!
//! It reads frames only; it sends nothing, keeps no clock, and does not match the
//! print against a database (that is [`super::matching`]).

mod ie;
mod seq;
mod tcp;
mod u1;

#[cfg(test)]
mod nmap_oracle;

use super::fingerprint::{Fingerprint, Test};
use super::synack::initial_ttl;
use crate::packet::wire::{ethernet, ipv4};
use scanner_common::wire::ETHERTYPE_IPV4;
use std::time::Duration;

/// Which of nmap's OS probes. The numbers are nmap's: SEQ probes 1–6, T2–T7, IE 1–2;
/// an exchange with a number out of range is left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OsProbe {
    /// One of the six SYNs to the open port; its reply feeds SEQ, OPS and WIN, and
    /// the first one's T1.
    Seq(u8),
    /// nmap's second try at SEQ probe n's options and window, sent when that probe
    /// went unanswered: its reply feeds O_n and W_n only.
    Ops(u8),
    /// The SYN with ECN flags to the open port.
    Ecn,
    /// T2–T7 (T1 is SEQ probe 1's reply; `T(1)` is nmap's resend of it when all six
    /// went unanswered, and feeds T1 only).
    T(u8),
    /// The UDP datagram to a closed port.
    U1,
    /// The two ICMP echo requests.
    Ie(u8),
}

/// One probe as sent and its reply, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub probe: OsProbe,
    /// The probe frame, Ethernet header on.
    pub sent: Vec<u8>,
    /// When it left, since the round began (nmap measures SEQ rates by send times).
    pub sent_at: Duration,
    pub reply: Option<Reply>,
}

/// A reply as captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The frame, Ethernet header on; it may be cut short by the capture
    /// (`scanner_common::capture::CAPTURE_SNAP`).
    pub frame: Vec<u8>,
    /// Its whole length on the wire.
    pub frame_len: usize,
    /// When it came, on the same clock as [`Exchange::sent_at`].
    pub received_at: Duration,
}

/// The fingerprint nmap would print for these exchanges.
///
/// `distance` is the hop count nmap already holds for the host when the round
/// starts: nmap measures it from the first U1 reply it gets (the probe's TTL less
/// the TTL its quote came back with, plus one) and keeps it for the host's later
/// rounds. With a hop count, each test's TTL is written as `T`, the reply's TTL
/// plus the hops less one; without, as `TG`, the initial TTL guessed. Pass `None`
/// for a host's first round and [`hop_distance`] of an earlier round after that;
/// nmap does not use the distance it reports for a directly connected host (`DS=1`,
/// `DC=D`) here, so passing that where U1 went unanswered prints `T` where nmap
/// prints `TG`.
///
/// Tests without a reply are written as nmap writes them: `U1` and `IE` always
/// (`R=N`), `ECN` and `T1`–`T4` when probes went to an open port, `T5`–`T7` when
/// they went to a closed one; SEQ, OPS and WIN only with what they need.
pub fn fingerprint(exchanges: &[Exchange], distance: Option<u8>) -> Fingerprint {
    let replay = Replay::of(exchanges);
    let hops = distance.map(i32::from).or(replay.u1_hops);
    replay.print(exchanges, hops)
}

/// The hop count the round's U1 reply measures (nmap's `DC=I` distance), when it got
/// one that fits a byte.
pub fn hop_distance(exchanges: &[Exchange]) -> Option<u8> {
    Replay::of(exchanges)
        .u1_hops
        .and_then(|hops| u8::try_from(hops).ok())
}

/// A test read from a reply whose TTL is written last, once the hop count is known.
#[derive(Clone, Debug)]
struct Reading {
    test: Test,
    ttl: u8,
}

impl Reading {
    /// A test named `name` with `R=Y`.
    fn answered(name: &str, ttl: u8) -> Self {
        let mut test = Test::new(name).expect("a test of the table");
        test.set("R", "Y");
        Self { test, ttl }
    }

    /// The test with its TTL as nmap writes it: `T` (in hex, the TTL the reply
    /// started with, `hops` known) or `TG` (the initial TTL guessed).
    fn finish(mut self, hops: Option<i32>) -> Test {
        match hops {
            // nmap prints the sum with `%hX`: a negative one wraps to 16 bits.
            Some(hops) => self.test.set(
                "T",
                format!("{:X}", (i32::from(self.ttl) + hops - 1) as u16),
            ),
            None => self.test.set("TG", format!("{:X}", initial_ttl(self.ttl))),
        };
        self.test
    }
}

/// What the replies said so far, in the order they came.
#[derive(Default)]
struct Replay {
    seq: seq::SeqReplies,
    ip_ids: seq::IpIds,
    options: [Option<String>; 6],
    windows: [Option<u16>; 6],
    ecn: Option<Reading>,
    /// T1–T7.
    responses: [Option<Reading>; 7],
    echoes: ie::EchoReplies,
    u1: Option<Reading>,
    u1_hops: Option<i32>,
}

impl Replay {
    /// Reads every reply of `exchanges` in the order it arrived (the order nmap reads
    /// them, which decides ties such as the IP ID of a duplicate or the first reply of
    /// a kind).
    fn of(exchanges: &[Exchange]) -> Self {
        let mut replay = Replay {
            echoes: ie::EchoReplies::for_probes(exchanges),
            ..Replay::default()
        };
        let mut answered: Vec<(&Exchange, &Reply)> = exchanges
            .iter()
            .filter_map(|exchange| Some((exchange, exchange.reply.as_ref()?)))
            .collect();
        answered.sort_by_key(|(_, reply)| reply.received_at);
        for (exchange, reply) in answered {
            replay.read(exchanges, exchange, reply);
        }
        replay
    }

    fn read(&mut self, exchanges: &[Exchange], exchange: &Exchange, reply: &Reply) {
        match exchange.probe {
            OsProbe::Seq(n @ 1..=6) => self.read_tcp(exchange, reply, |replay, tcp| {
                let index = usize::from(n - 1);
                if replay.seq.take(index, &tcp.seq_fields(), exchange.sent_at) {
                    replay.ip_ids.open_tcp[index] = Some(tcp.ip.ident());
                }
                if n == 1 && replay.responses[0].is_none() {
                    replay.responses[0] = Some(tcp.response_test("T1"));
                }
                replay.read_options_and_window(index, tcp);
            }),
            OsProbe::Ops(n @ 1..=6) => self.read_tcp(exchange, reply, |replay, tcp| {
                replay.read_options_and_window(usize::from(n - 1), tcp);
            }),
            OsProbe::Ecn => self.read_tcp(exchange, reply, |replay, tcp| {
                replay.ecn.get_or_insert_with(|| tcp.ecn_test());
            }),
            OsProbe::T(n @ 1..=7) => self.read_tcp(exchange, reply, |replay, tcp| {
                let index = usize::from(n - 1);
                if replay.responses[index].is_none() {
                    replay.responses[index] = Some(tcp.response_test(T_NAMES[index]));
                    // SEQ's CI: the closed port's IP IDs, from T5–T7.
                    if index >= 4 {
                        replay.ip_ids.closed_tcp[index - 4] = Some(tcp.ip.ident());
                    }
                }
            }),
            OsProbe::U1 => {
                if self.u1.is_some() {
                    return;
                }
                let (Some(probe), Some(datagram)) = (
                    u1::UdpProbe::read(&exchange.sent),
                    Datagram::read(&reply.frame),
                ) else {
                    return;
                };
                if let Some((reading, hops)) = u1::u1_test(&datagram, &probe) {
                    self.u1 = Some(reading);
                    self.u1_hops.get_or_insert(hops);
                }
            }
            OsProbe::Ie(n @ 1..=2) => {
                let index = usize::from(n - 1);
                let Some(datagram) = Datagram::read(&reply.frame) else {
                    return;
                };
                if self.echoes.take(index, &datagram) {
                    // nmap keeps an echo's IP ID only if its probe had not been sent
                    // again by the time the reply came.
                    let sends = exchanges
                        .iter()
                        .filter(|other| {
                            other.probe == exchange.probe && other.sent_at <= reply.received_at
                        })
                        .count();
                    if sends <= 1 {
                        self.ip_ids.icmp[index] = Some(datagram.ip.ident());
                    }
                }
            }
            _ => {}
        }
    }

    /// Reads a TCP reply to a TCP probe: a whole TCP header, to the port the probe
    /// came from (how nmap tells its probes' replies apart).
    fn read_tcp(
        &mut self,
        exchange: &Exchange,
        reply: &Reply,
        use_reply: impl FnOnce(&mut Self, &tcp::TcpReply),
    ) {
        let Some(probe) = tcp::TcpProbe::read(&exchange.sent) else {
            return;
        };
        let Some(reply) = tcp::TcpReply::read(&reply.frame, probe) else {
            return;
        };
        use_reply(self, &reply);
    }

    fn read_options_and_window(&mut self, index: usize, tcp: &tcp::TcpReply) {
        self.options[index].get_or_insert_with(|| tcp.option_string());
        self.windows[index].get_or_insert(tcp.segment.window_len());
    }

    /// The print, as nmap's `makeFP` writes it.
    fn print(self, exchanges: &[Exchange], hops: Option<i32>) -> Fingerprint {
        let mut print = Fingerprint::default();
        if let Some(test) = seq::seq_test(&self.seq, &self.ip_ids) {
            print.insert(test);
        }
        if let Some(test) = all_six("OPS", "O", &self.options) {
            print.insert(test);
        }
        let windows = self.windows.map(|w| w.map(|w| format!("{w:X}")));
        if let Some(test) = all_six("WIN", "W", &windows) {
            print.insert(test);
        }
        let sent = |wanted: fn(OsProbe) -> bool| exchanges.iter().any(|e| wanted(e.probe));
        let open_port = sent(|probe| {
            matches!(
                probe,
                OsProbe::Seq(1..=6) | OsProbe::Ops(1..=6) | OsProbe::Ecn | OsProbe::T(1..=4)
            )
        });
        let closed_port = sent(|probe| matches!(probe, OsProbe::T(5..=7)));
        let [t1, t2, t3, t4, t5, t6, t7] = self.responses;
        let replies = [
            ("ECN", self.ecn, open_port),
            ("T1", t1, open_port),
            ("T2", t2, open_port),
            ("T3", t3, open_port),
            ("T4", t4, open_port),
            ("T5", t5, closed_port),
            ("T6", t6, closed_port),
            ("T7", t7, closed_port),
            ("U1", self.u1, true),
            ("IE", self.echoes.into_test(), true),
        ];
        for (name, reading, probed) in replies {
            match reading {
                Some(reading) => print.insert(reading.finish(hops)),
                None if probed => {
                    let mut unanswered = Test::new(name).expect("a test of the table");
                    unanswered.set("R", "N");
                    print.insert(unanswered);
                }
                None => {}
            }
        }
        print
    }
}

/// T1–T7's names.
const T_NAMES: [&str; 7] = ["T1", "T2", "T3", "T4", "T5", "T6", "T7"];

/// OPS or WIN: written only when all six values are there.
fn all_six(name: &str, prefix: &str, values: &[Option<String>; 6]) -> Option<Test> {
    let mut test = Test::new(name)?;
    for (n, value) in values.iter().enumerate() {
        test.set(&format!("{prefix}{}", n + 1), value.clone()?);
    }
    Some(test)
}

/// An IPv4 datagram of a frame (at most one VLAN tag) that a capture may have cut:
/// the header whole and unfragmented, the payload as much of what the header's total
/// length claims as the frame holds.
struct Datagram<'a> {
    ip: ipv4::Packet<&'a [u8]>,
    /// What the frame holds of the payload.
    payload: &'a [u8],
}

impl<'a> Datagram<'a> {
    fn read(frame: &'a [u8]) -> Option<Self> {
        let frame = ethernet::Frame::new_checked(frame).ok()?;
        if frame.ethertype() != ETHERTYPE_IPV4 {
            return None;
        }
        let bytes = frame.into_inner().get(frame.header_len()..)?;
        let ip = ipv4::Packet::new_fixed_checked(bytes).ok()?;
        let header_len = ip.header_len();
        let total = usize::from(ip.total_len());
        if ip.version() != 4
            || header_len < ipv4::HEADER_LEN
            || header_len > bytes.len()
            || total < header_len
            || ip.is_fragment()
        {
            return None;
        }
        Some(Self {
            ip,
            payload: &bytes[header_len..total.min(bytes.len())],
        })
    }

    fn dont_fragment(&self) -> bool {
        self.ip.dont_frag()
    }

    fn is(&self, protocol: u8) -> bool {
        self.ip.protocol() == protocol
    }
}

/// `Y` or `N`, as nmap writes a DF bit.
fn yes_no(set: bool) -> &'static str {
    if set {
        "Y"
    } else {
        "N"
    }
}

#[cfg(test)]
mod tests;
