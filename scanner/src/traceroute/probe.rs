//! The traceroute's probe module for the shared probe loop: each host's window of
//! TTLs (slot i of a host is the i-th TTL of its window), every probe of its kind
//! (TCP SYN or ACK, UDP, an ICMP query: rows of the probe-module table,
//! `crate::probe`) sent with its TTL, and the replies read as hops: a time exceeded (or an unreachable)
//! names the router that sent it, anything from the host itself says it was reached.
//!
//! TCP probes carry their TTL in their source port (each TTL its own, so the cookie
//! differs too): an answer names the TTL it answers, and a late reply to another
//! round's probe is not taken for this one's. UDP and ICMP replies echo only the
//! scan's cookie: for a window of several TTLs of those, any answer is
//! [`Heard::Ambiguous`] (see the parent module).

use super::{tells_ttl, Answer, Heard, MAX_TTL};
use crate::engine::probing::{ProbeContext, ProbeKey, ProbeModule};
use crate::io::FrameBatch;
use crate::packet::template::LinkAddrs;
use crate::probe::{push_probe, PingProbe, ProbeKind, ProbeWriter};
use anyhow::Result;
use scanner_common::wire::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use scanner_common::{ReplyKind, ReplyRecord, FLAG_ANY_COOKIE};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use tokio::time::Instant;

/// The source port of a TCP trace probe with `ttl`, within the scan's range `(lo, hi)`
/// and shifted by `offset` (from the scan's key) so that traces of different scans
/// differ.
pub fn tcp_source_port((lo, hi): (u16, u16), offset: u64, ttl: u8) -> u16 {
    let span = u64::from(hi - lo) + 1;
    lo + ((offset + u64::from(ttl)) % span) as u16
}

/// One run's probes: each host's window of TTLs.
pub struct TraceModule<'a> {
    /// Each host's TTLs, by slot.
    windows: &'a HashMap<u32, Vec<u8>>,
    probes: &'a HashMap<u32, PingProbe>,
    /// The frame writers of the kinds sent (built once).
    writers: Vec<ProbeWriter>,
    /// The TTL of each source port TCP probes left from (known as they are written).
    tcp_ttls: RefCell<HashMap<u16, u8>>,
    /// The scan's source ports are fewer than the TTLs, so that TTLs share them: TCP
    /// answers do not tell their TTL either.
    tcp_ports_shared: Cell<bool>,
    /// When each probe was last sent.
    sent: RefCell<HashMap<ProbeKey, Instant>>,
    /// Replies to hosts whose probes do not tell their TTL, so far (each settles the
    /// next slot, so that a window answered in full ends the run at once).
    untold: RefCell<HashMap<u32, u16>>,
    answers: HashMap<u32, BTreeMap<u8, Answer>>,
    /// Hosts with an answer that could be for any TTL of their window.
    ambiguous: HashSet<u32>,
}

impl<'a> TraceModule<'a> {
    pub fn new(
        windows: &'a HashMap<u32, Vec<u8>>,
        probes: &'a HashMap<u32, PingProbe>,
        link: &LinkAddrs,
    ) -> Self {
        let mut writers: Vec<ProbeWriter> = Vec::new();
        for probe in probes.values() {
            if !writers.iter().any(|w| w.kind() == probe.kind) {
                writers.push(ProbeWriter::new(probe.kind, link));
            }
        }
        Self {
            windows,
            probes,
            writers,
            tcp_ttls: RefCell::new(HashMap::new()),
            tcp_ports_shared: Cell::new(false),
            sent: RefCell::new(HashMap::new()),
            untold: RefCell::new(HashMap::new()),
            answers: HashMap::new(),
            ambiguous: HashSet::new(),
        }
    }

    /// What each host's window heard.
    pub fn into_heard(self) -> BTreeMap<Ipv4Addr, Heard> {
        let mut answers = self.answers;
        self.windows
            .keys()
            .map(|&addr| {
                let heard = if self.ambiguous.contains(&addr) {
                    Heard::Ambiguous
                } else {
                    Heard::Exact(answers.remove(&addr).unwrap_or_default())
                };
                (Ipv4Addr::from(addr), heard)
            })
            .collect()
    }

    fn writer(&self, probe: PingProbe) -> Option<&ProbeWriter> {
        self.writers.iter().find(|w| w.kind() == probe.kind)
    }

    /// Whether answers to a window of `probe`s tell the TTL they answer (or the
    /// window has one).
    fn told(&self, probe: PingProbe, window: &[u8]) -> bool {
        window.len() == 1 || (tells_ttl(probe) && !self.tcp_ports_shared.get())
    }

    /// The slot a reply from `addr` answers: the slot of the TTL its TCP source port
    /// names, else the next not yet answered.
    fn slot_of(&self, addr: u32, probe: PingProbe, window: &[u8], local_port: u16) -> Option<u16> {
        if self.told(probe, window) {
            if window.len() == 1 {
                return Some(0);
            }
            let ttl = *self.tcp_ttls.borrow().get(&local_port)?;
            return window.iter().position(|&t| t == ttl).map(|i| i as u16);
        }
        let mut untold = self.untold.borrow_mut();
        let count = untold.entry(addr).or_insert(0);
        let slot = (*count).min(window.len() as u16 - 1);
        *count += 1;
        Some(slot)
    }
}

impl ProbeModule for TraceModule<'_> {
    fn name(&self) -> &'static str {
        "Traceroute"
    }

    fn classifier_flags(&self) -> u32 {
        // Each kind's flags; TCP kinds whose replies follow different rules (SYN and
        // ACK traces at once) need the rule that reads them all.
        let tcp_rules: BTreeSet<u32> = (self.writers.iter())
            .filter_map(|w| match w.kind() {
                ProbeKind::Tcp(probe) => Some(probe.classifier_flags()),
                _ => None,
            })
            .collect();
        let others = (self.writers.iter())
            .filter(|w| !matches!(w.kind(), ProbeKind::Tcp(_)))
            .fold(0, |flags, w| flags | w.kind().classifier_flags());
        others
            | match tcp_rules.len() {
                0 | 1 => tcp_rules.first().copied().unwrap_or(0),
                _ => FLAG_ANY_COOKIE,
            }
    }

    fn write(&self, (addr, slot): ProbeKey, cx: &mut ProbeContext, out: &mut FrameBatch) -> usize {
        let (Some(&probe), Some(&ttl)) = (
            self.probes.get(&addr),
            self.windows
                .get(&addr)
                .and_then(|w| w.get(usize::from(slot))),
        ) else {
            return 0;
        };
        let port = probe.port;
        let sport = match probe.kind {
            ProbeKind::Tcp(_) => {
                let (lo, hi) = cx.src_ports;
                if u32::from(hi - lo) + 1 < u32::from(MAX_TTL) {
                    self.tcp_ports_shared.set(true);
                }
                let sport = tcp_source_port(cx.src_ports, cx.key[0], ttl);
                self.tcp_ttls.borrow_mut().insert(sport, ttl);
                sport
            }
            ProbeKind::Udp => cx.keyed_source_port(addr, port),
            ProbeKind::Icmp(_) => 0,
        };
        let Some(writer) = self.writer(probe) else {
            return 0;
        };
        self.sent.borrow_mut().insert((addr, slot), Instant::now());
        push_probe(writer, (addr, port), sport, Some(ttl), cx, out)
    }

    fn probe_of(&self, record: &ReplyRecord) -> Option<ProbeKey> {
        let addr = record.remote_addr;
        let probe = *self.probes.get(&addr)?;
        let window = self.windows.get(&addr)?;
        let tcp_ours = |port| {
            record.remote_port == port && self.tcp_ttls.borrow().contains_key(&record.local_port)
        };
        let port = probe.port;
        let ours = match (ReplyKind::from_u8(record.kind)?, probe.kind) {
            (ReplyKind::SynAck | ReplyKind::Rst, ProbeKind::Tcp(_)) => tcp_ours(port),
            (ReplyKind::Udp, ProbeKind::Udp) => record.remote_port == port,
            (ReplyKind::IcmpReply, ProbeKind::Icmp(query)) => {
                record.icmp_type == query.reply_type()
            }
            (ReplyKind::IcmpError, ProbeKind::Tcp(_)) => {
                record.protocol == IPPROTO_TCP && tcp_ours(port)
            }
            (ReplyKind::IcmpError, ProbeKind::Udp) => {
                record.protocol == IPPROTO_UDP && record.remote_port == port
            }
            (ReplyKind::IcmpError, ProbeKind::Icmp(_)) => record.protocol == IPPROTO_ICMP,
            _ => false,
        };
        if !ours {
            return None;
        }
        let slot = self.slot_of(addr, probe, window, record.local_port)?;
        Some((addr, slot))
    }

    fn answered(&mut self, key @ (addr, slot): ProbeKey, record: &ReplyRecord) -> Result<()> {
        let (Some(&probe), Some(window)) = (self.probes.get(&addr), self.windows.get(&addr)) else {
            return Ok(());
        };
        if !self.told(probe, window) {
            self.ambiguous.insert(addr);
            return Ok(());
        }
        let from = if ReplyKind::from_u8(record.kind) == Some(ReplyKind::IcmpError) {
            record.icmp_from
        } else {
            record.remote_addr
        };
        let rtt = self
            .sent
            .borrow()
            .get(&key)
            .map(|at| at.elapsed())
            .unwrap_or_default();
        if let Some(&ttl) = window.get(usize::from(slot)) {
            self.answers.entry(addr).or_default().insert(
                ttl,
                Answer::From {
                    from: Ipv4Addr::from(from),
                    rtt,
                    reply_ttl: record.ttl,
                },
            );
        }
        Ok(())
    }

    fn unanswered(&mut self, _: ProbeKey) -> Result<()> {
        Ok(())
    }

    fn answered_by_routers(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MAX_PROBE_FRAME_LEN;
    use crate::packet::{craft, reply, ETH_LEN};
    use crate::probe::ProbeTo;
    use scanner_common::wire::ICMP_ECHO_REPLY;
    use scanner_common::wire::ICMP_TIME_EXCEEDED;
    use scanner_common::ClassifierConfig;

    const LINK: LinkAddrs = LinkAddrs {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_ip: Ipv4Addr::new(198, 18, 0, 1),
    };
    const FAR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 10);
    const ROUTER: [u8; 4] = [198, 18, 0, 2];
    const KEY: [u64; 2] = [11, 13];
    const PORTS: (u16, u16) = (40000, 59999);

    fn config() -> ClassifierConfig {
        ClassifierConfig {
            local_addr: u32::from(LINK.src_ip),
            port_lo: PORTS.0,
            port_hi: PORTS.1,
            key: KEY,
            enabled: 1,
            flags: 0,
        }
    }

    /// The frames `module` writes for FAR's slots `0..count`.
    fn write_window(module: &TraceModule, count: u16) -> Vec<Vec<u8>> {
        let mut cx = ProbeContext::new(KEY, LINK, PORTS);
        let mut batch = FrameBatch::with_stride(usize::from(count), MAX_PROBE_FRAME_LEN);
        for slot in 0..count {
            assert_eq!(module.write((u32::from(FAR), slot), &mut cx, &mut batch), 1);
        }
        (0..batch.len()).map(|i| batch.frame(i).to_vec()).collect()
    }

    #[test]
    fn a_time_exceeded_quoting_a_tcp_probe_names_the_router_at_its_ttl() {
        let windows = HashMap::from([(u32::from(FAR), vec![3, 2, 1])]);
        let probes = HashMap::from([(u32::from(FAR), PingProbe::syn(80))]);
        let mut module = TraceModule::new(&windows, &probes, &LINK);
        let frames = write_window(&module, 3);
        let ttls: Vec<u8> = frames.iter().map(|f| f[ETH_LEN + 8]).collect();
        assert_eq!(ttls, vec![3, 2, 1]);
        let error = craft::icmp_error_about(&frames[1], ICMP_TIME_EXCEEDED, 0, ROUTER, 8);
        let record = reply::classify(&error, &config()).expect("the classifier takes it");
        let key = module
            .probe_of(&record)
            .expect("it answers the TTL 2 probe");
        assert_eq!(key, (u32::from(FAR), 1));
        module.answered(key, &record).unwrap();
        // A time exceeded about a TTL 4 probe (another run's, late) is not taken.
        let writer = ProbeWriter::new(PingProbe::syn(80).kind, &LINK);
        let to = ProbeTo {
            addr: u32::from(FAR),
            port: 80,
            sport: tcp_source_port(PORTS, KEY[0], 4),
            ip_id: 1,
            dst_mac: LINK.dst_mac,
        };
        let mut late = [0u8; 128];
        let len = writer.write_with_ttl(&mut late, &KEY, &to, 4);
        let error = craft::icmp_error_about(&late[..len], ICMP_TIME_EXCEEDED, 0, ROUTER, 8);
        let record = reply::classify(&error, &config()).expect("still ours");
        assert_eq!(module.probe_of(&record), None);
        let heard = module.into_heard();
        let Some(Heard::Exact(answers)) = heard.get(&FAR) else {
            panic!("{heard:?}")
        };
        assert_eq!(answers.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert!(matches!(
            answers[&2],
            Answer::From { from, .. } if from == Ipv4Addr::from(ROUTER)
        ));
    }

    #[test]
    fn a_tcp_ack_trace_is_an_ack_with_the_cookie_and_its_time_exceeded_is_ours() {
        use crate::probe::{Reading, TcpProbe};
        use scanner_common::wire::TCP_FLAG_ACK;
        use scanner_common::FLAG_SEQ_IS_COOKIE;
        let ack = PingProbe {
            kind: ProbeKind::Tcp(TcpProbe {
                flags: TCP_FLAG_ACK,
                reading: Reading::Syn,
                client_options: false,
            }),
            port: 80,
        };
        let windows = HashMap::from([(u32::from(FAR), vec![2, 1])]);
        let probes = HashMap::from([(u32::from(FAR), ack)]);
        let module = TraceModule::new(&windows, &probes, &LINK);
        // The target's reset to an ACK carries the cookie as its sequence number.
        assert_eq!(module.classifier_flags(), FLAG_SEQ_IS_COOKIE);
        let frames = write_window(&module, 2);
        assert_eq!(frames[1][ETH_LEN + 20 + 13], TCP_FLAG_ACK);
        let error = craft::icmp_error_about(&frames[1], ICMP_TIME_EXCEEDED, 0, ROUTER, 8);
        let config = ClassifierConfig {
            flags: FLAG_SEQ_IS_COOKIE,
            ..config()
        };
        let record = reply::classify(&error, &config).expect("the classifier takes it");
        assert_eq!(module.probe_of(&record), Some((u32::from(FAR), 1)));
        // SYN and ACK traces at once: replies of either rule.
        let both = HashMap::from([
            (u32::from(FAR), ack),
            (u32::from(FAR) + 1, PingProbe::syn(22)),
        ]);
        let module = TraceModule::new(&windows, &both, &LINK);
        assert_eq!(module.classifier_flags(), FLAG_ANY_COOKIE);
    }

    #[test]
    fn echo_replies_to_a_window_of_ttls_cannot_be_told_apart() {
        let echo_reply = ReplyRecord {
            kind: ReplyKind::IcmpReply as u8,
            icmp_type: ICMP_ECHO_REPLY,
            remote_addr: u32::from(FAR),
            ttl: 63,
            ..Default::default()
        };
        let probes = HashMap::from([(u32::from(FAR), PingProbe::echo())]);
        for (window, exact) in [(vec![5, 6], false), (vec![5], true)] {
            let windows = HashMap::from([(u32::from(FAR), window.clone())]);
            let mut module = TraceModule::new(&windows, &probes, &LINK);
            let frames = write_window(&module, window.len() as u16);
            assert_eq!(frames[0][ETH_LEN + 8], 5);
            let key = module.probe_of(&echo_reply).expect("ours");
            module.answered(key, &echo_reply).unwrap();
            let heard = module.into_heard().remove(&FAR);
            assert_eq!(
                matches!(heard, Some(Heard::Exact(ref a)) if a.contains_key(&5)),
                exact,
                "{window:?}: {heard:?}"
            );
            assert_eq!(heard == Some(Heard::Ambiguous), !exact);
        }
    }

    #[test]
    fn each_ttl_has_its_own_source_port_in_the_range() {
        let range = (40000, 40100);
        let ports: Vec<u16> = (1..=30)
            .map(|ttl| tcp_source_port(range, 77, ttl))
            .collect();
        assert!(ports.iter().all(|p| (40000..=40100).contains(p)));
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 30);
        // A range of one port still works (every TTL shares it).
        assert_eq!(tcp_source_port((50000, 50000), 77, 9), 50000);
    }
}
