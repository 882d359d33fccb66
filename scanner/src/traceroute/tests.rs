//! The trace algorithm against a simulated network: distance guesses, counting down
//! and up, and traces that meet (nmap's folding of shared hops).

use super::*;

const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const FAR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 10);
const FAR2: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 11);
const FAR3: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 12);

/// A network where every target in 198.18.1.0/24 is behind ROUTER (two hops away,
/// Linux hosts: replies leave with TTL 64), and `silent` never answers at all.
fn network(addr: Ipv4Addr, ttl: u8, silent: Option<Ipv4Addr>) -> Answer {
    if Some(addr) == silent {
        return Answer::Silent;
    }
    let (from, hops) = if ttl == 1 { (ROUTER, 1) } else { (addr, 2) };
    Answer::From {
        from,
        rtt: Duration::from_micros(100 * u64::from(ttl)),
        reply_ttl: 64 - (hops - 1),
    }
}

/// Runs `tracer` to the end against `network`; every (host, TTL) probed, in order.
fn run(tracer: &mut Tracer, silent: Option<Ipv4Addr>) -> Vec<(Ipv4Addr, u8)> {
    let mut probed = Vec::new();
    loop {
        let round = tracer.round();
        if round.is_empty() {
            return probed;
        }
        for (ttl, hosts) in round.into_iter().rev() {
            for addr in hosts {
                probed.push((addr, ttl));
                tracer.record(addr, ttl, network(addr, ttl, silent));
            }
        }
    }
}

/// Runs `tracer` to the end as [`Tracer::run`] does, a window of TTLs per host per
/// step, with the answers of `network`; answers to a window of probes that do not
/// tell their TTL cannot be told apart. How many runs of the probe loop it took
/// (one per window size per step).
fn run_windowed(tracer: &mut Tracer, network: &dyn Fn(Ipv4Addr, u8) -> Answer) -> usize {
    let mut steps = 0;
    loop {
        let windows = tracer.windows();
        if windows.is_empty() {
            return steps;
        }
        let sizes: BTreeSet<usize> = windows.values().map(Vec::len).collect();
        steps += sizes.len();
        for (addr, ttls) in windows {
            let answers: BTreeMap<u8, Answer> = ttls
                .iter()
                .map(|&ttl| (ttl, network(addr, ttl)))
                .filter(|(_, answer)| *answer != Answer::Silent)
                .collect();
            let told = ttls.len() == 1 || tells_ttl(tracer.hosts[&addr].probe);
            let heard = if told || answers.is_empty() {
                Heard::Exact(answers)
            } else {
                Heard::Ambiguous
            };
            tracer.learn(addr, &ttls, heard);
        }
    }
}

/// A path of `len` hops to every host: routers 198.18.9.N at TTL N (those in
/// `silent_routers` never answer), the host at TTL `len` (unless `silent_host`).
fn path(
    len: u8,
    silent_routers: &[u8],
    silent_host: Option<Ipv4Addr>,
) -> impl Fn(Ipv4Addr, u8) -> Answer {
    let silent_routers = silent_routers.to_vec();
    move |addr, ttl| {
        let from = if ttl >= len {
            if Some(addr) == silent_host {
                return Answer::Silent;
            }
            addr
        } else if silent_routers.contains(&ttl) {
            return Answer::Silent;
        } else {
            Ipv4Addr::new(198, 18, 9, ttl)
        };
        Answer::From {
            from,
            rtt: Duration::from_micros(100 * u64::from(ttl)),
            // Routers and hosts send with 64: it arrives with a hop less per router.
            reply_ttl: 64 - (ttl.min(len) - 1),
        }
    }
}

fn addrs(trace: &Trace) -> Vec<Option<Ipv4Addr>> {
    trace.hops.iter().map(|h| h.addr).collect()
}

#[test]
fn a_good_guess_costs_two_probes_and_the_second_host_joins_the_first() {
    let mut tracer = Tracer::new();
    tracer.add(FAR, PingProbe::syn(80), Some(63));
    tracer.add(FAR2, PingProbe::syn(22), Some(63));
    let probed = run(&mut tracer, None);
    assert_eq!(probed, vec![(FAR, 2), (FAR2, 2), (FAR, 1), (FAR2, 1)]);
    let traces = tracer.finish();
    assert_eq!(addrs(&traces[&FAR]), vec![Some(ROUTER), Some(FAR)]);
    assert_eq!(traces[&FAR].shared, None);
    assert_eq!(addrs(&traces[&FAR2]), vec![Some(ROUTER), Some(FAR2)]);
    assert_eq!(
        traces[&FAR2].shared,
        Some(SharedHops {
            last_ttl: 1,
            with: FAR
        })
    );
    // The shared hop is FAR's (its round trip), the last one FAR2's own.
    assert_eq!(traces[&FAR2].hops[0], traces[&FAR].hops[0]);
    assert_eq!(traces[&FAR2].probe, Some(TraceProbe::Tcp { port: 22 }));
}

#[test]
fn a_guess_too_far_skips_down_to_the_distance_the_reply_ttl_tells() {
    let mut tracer = Tracer::new();
    tracer.add(FAR, PingProbe::echo(), None);
    let probed = run(&mut tracer, None);
    // From nmap's starting TTL 10, the host's reply (TTL 63) says it is 2 hops away.
    assert_eq!(probed, vec![(FAR, 10), (FAR, 2), (FAR, 1)]);
    let traces = tracer.finish();
    assert_eq!(addrs(&traces[&FAR]), vec![Some(ROUTER), Some(FAR)]);
    // The next group starts at the longest trace of this one.
    assert_eq!(tracer.start_ttl, 2);
}

#[test]
fn a_guess_too_near_counts_up_until_the_host_answers() {
    let mut tracer = Tracer::new();
    tracer.add(FAR, PingProbe::udp(53), Some(64));
    let probed = run(&mut tracer, None);
    assert_eq!(probed, vec![(FAR, 1), (FAR, 2)]);
    let traces = tracer.finish();
    assert_eq!(addrs(&traces[&FAR]), vec![Some(ROUTER), Some(FAR)]);
    assert_eq!(traces[&FAR].hops[1].rtt_ms, Some(0.2));
}

#[test]
fn a_host_that_never_answers_is_traced_to_the_last_ttl() {
    let mut tracer = Tracer::new();
    tracer.add(FAR, PingProbe::echo(), Some(63));
    let probed = run(&mut tracer, Some(FAR));
    assert_eq!(probed.len(), MAX_TTL as usize);
    let trace = &tracer.finish()[&FAR];
    assert_eq!(trace.hops.len(), MAX_TTL as usize);
    assert!(trace.hops.iter().all(|h| h.addr.is_none()));
    assert_eq!(
        crate::model::trace::timeout_runs(&trace.hops),
        vec![(1, MAX_TTL)]
    );
}

#[test]
fn later_groups_join_the_traces_of_earlier_ones() {
    let mut tracer = Tracer::new();
    tracer.add(FAR, PingProbe::syn(80), Some(63));
    run(&mut tracer, None);
    tracer.finish();
    tracer.add(FAR3, PingProbe::syn(80), Some(63));
    run(&mut tracer, None);
    let traces = tracer.finish();
    assert_eq!(addrs(&traces[&FAR3]), vec![Some(ROUTER), Some(FAR3)]);
    assert_eq!(
        traces[&FAR3].shared,
        Some(SharedHops {
            last_ttl: 1,
            with: FAR
        })
    );
}

/// Why a host is up: a ping's answer, with the reply's TTL.
fn pinged(ping: Option<PingProbe>, ttl: Option<u8>) -> HostStatus {
    HostStatus {
        up: true,
        reason: Reason::EchoReply,
        ttl,
        ping,
    }
}

#[test]
fn the_probe_is_the_one_nmap_would_pick() {
    use crate::model::{PortFinding, PortState, Proto, Reason};
    let mut host = HostResult::default();
    let found = pinged(None, Some(61));
    assert_eq!(
        choose_probe(&host, Some(&found), false),
        (PingProbe::echo(), Some(61))
    );
    let filtered = PortFinding::tcp(FAR, 25, PortState::Filtered, Reason::NoResponse, None);
    host.ports.insert((25, Proto::Tcp), filtered);
    assert_eq!(choose_probe(&host, None, true), (PingProbe::echo(), None));
    let udp = PortFinding::now(
        Proto::Udp,
        FAR,
        53,
        PortState::Open,
        Reason::UdpResponse,
        Some(62),
    );
    host.ports.insert((53, Proto::Udp), udp);
    assert_eq!(
        choose_probe(&host, None, true),
        (PingProbe::udp(53), Some(62))
    );
    let open = PortFinding::tcp(FAR, 22, PortState::Open, Reason::SynAck, Some(60));
    host.ports.insert((22, Proto::Tcp), open);
    assert_eq!(
        choose_probe(&host, None, true),
        (PingProbe::syn(22), Some(60))
    );
    // Of several open ports, the one nmap probes first (80 before 22).
    let open = PortFinding::tcp(FAR, 80, PortState::Open, Reason::SynAck, Some(61));
    host.ports.insert((80, Proto::Tcp), open);
    assert_eq!(
        choose_probe(&host, None, true),
        (PingProbe::syn(80), Some(61))
    );
    // An ICMP echo ping's answer would beat an open port's, but a port scan forgets
    // it (nmap's does: its replies are not caught during a port scan).
    let echo = pinged(Some(PingProbe::echo()), Some(59));
    assert_eq!(
        choose_probe(&host, Some(&echo), true),
        (PingProbe::syn(80), Some(61))
    );
    assert_eq!(
        choose_probe(&HostResult::default(), Some(&echo), true),
        (PingProbe::echo(), Some(59)),
        "nothing answered the port scan: an echo, at the ping's distance"
    );
    // A closed port beats them all (nmap's ping probe score)...
    let closed = PortFinding::tcp(FAR, 1000, PortState::Closed, Reason::Reset, Some(63));
    host.ports.insert((1000, Proto::Tcp), closed);
    assert_eq!(
        choose_probe(&host, Some(&echo), true),
        (PingProbe::syn(1000), Some(63))
    );
    // ... but for an ACK ping's reset, which came first.
    let ack = PingProbe {
        kind: ProbeKind::Tcp(crate::probe::TcpProbe {
            flags: scanner_common::wire::TCP_FLAG_ACK,
            reading: crate::probe::Reading::Syn,
            client_options: false,
        }),
        port: 80,
    };
    let reset = pinged(Some(ack), Some(58));
    assert_eq!(choose_probe(&host, Some(&reset), true), (ack, Some(58)));
    assert_eq!(trace_probe(ack), TraceProbe::Tcp { port: 80 });
}

/// With `-sn`, no port answered: the trace sends the ping that found the host up.
#[test]
fn with_pings_only_the_trace_sends_the_ping_that_found_the_host() {
    use crate::probe::IcmpQuery;
    let host = HostResult::default();
    let timestamp = PingProbe {
        kind: ProbeKind::Icmp(IcmpQuery::Timestamp),
        port: 0,
    };
    for ping in [PingProbe::syn(443), PingProbe::udp(53), timestamp] {
        let found = pinged(Some(ping), Some(62));
        assert_eq!(choose_probe(&host, Some(&found), false), (ping, Some(62)));
    }
    assert_eq!(trace_probe(timestamp), TraceProbe::Icmp);
    assert_eq!(
        trace_probe(PingProbe::udp(53)),
        TraceProbe::Udp { port: 53 }
    );
    // -Pn: up without an answer; nmap's guess, an ICMP echo.
    let assumed = HostStatus {
        up: true,
        reason: Reason::UserSet,
        ttl: None,
        ping: None,
    };
    assert_eq!(
        choose_probe(&host, Some(&assumed), false),
        (PingProbe::echo(), None)
    );
}

/// Traces `probe` to a host that answers nothing on the probe loop's fake network
/// (-T3: a first timeout of 1 s); how long it took on the paused clock.
async fn trace_silent_host(probe: PingProbe) -> (Trace, Duration) {
    use crate::engine::fake_net::{Conditions, FakeNet};
    let net = FakeNet::new(Vec::new(), Conditions::default());
    let mut prober = net.prober();
    let timing = Timing::template(3).expect("-T3");
    let mut tracer = Tracer::new();
    tracer.add(FAR, probe, None);
    let start = tokio::time::Instant::now();
    let mut traces = tracer.run(&mut prober, &timing).await.expect("the trace");
    let took = start.elapsed();
    (traces.remove(&FAR).expect("FAR's trace"), took)
}

/// nmap probes ten TTLs at once: a host silent beyond the router costs a few
/// timeouts, not one per TTL (30 of them, about 100 s at -T3).
#[tokio::test(start_paused = true)]
async fn a_silent_host_takes_a_few_rounds_of_timeouts_not_one_per_ttl() {
    for probe in [PingProbe::syn(80), PingProbe::echo()] {
        let (trace, took) = trace_silent_host(probe).await;
        assert_eq!(trace.hops.len(), MAX_TTL as usize, "{probe:?}");
        assert!(trace.hops.iter().all(|h| h.addr.is_none()), "{probe:?}");
        assert!(took < Duration::from_secs(15), "{probe:?}: {took:?}");
    }
}

/// Probing windows of TTLs changes nothing in the traces, for every kind of probe,
/// on paths with silent routers and silent hosts, for hosts that share their hops.
#[test]
fn windows_of_ttls_find_the_same_hops_as_one_ttl_at_a_time() {
    let hosts = [
        (FAR, PingProbe::syn(80), Some(61)),
        (FAR2, PingProbe::echo(), None),
        (FAR3, PingProbe::udp(53), Some(64)),
    ];
    type Network = Box<dyn Fn(Ipv4Addr, u8) -> Answer>;
    let networks: Vec<(&str, Network)> = vec![
        ("two hops", Box::new(|a, t| network(a, t, None))),
        ("silent host", Box::new(|a, t| network(a, t, Some(FAR2)))),
        ("five hops", Box::new(path(5, &[], None))),
        ("a silent router", Box::new(path(5, &[3], None))),
        (
            "silent routers and host",
            Box::new(path(7, &[2, 5], Some(FAR))),
        ),
        ("far away", Box::new(path(25, &[12], None))),
    ];
    for (name, net) in &networks {
        let (mut one, mut windowed) = (Tracer::new(), Tracer::new());
        for &(addr, probe, ttl) in &hosts {
            one.add(addr, probe, ttl);
            windowed.add(addr, probe, ttl);
        }
        let mut one_at_a_time = 0;
        loop {
            let round = one.round();
            if round.is_empty() {
                break;
            }
            // One run of the probe loop per TTL.
            one_at_a_time += round.len();
            for (ttl, addrs) in round.into_iter().rev() {
                for addr in addrs {
                    one.record(addr, ttl, net(addr, ttl));
                }
            }
        }
        let steps = run_windowed(&mut windowed, net.as_ref());
        assert_eq!(windowed.finish(), one.finish(), "{name}");
        assert!(steps <= one_at_a_time, "{name}: {steps} > {one_at_a_time}");
    }
}

#[test]
fn a_silent_host_is_probed_ten_ttls_at_a_time() {
    for (probe, want) in [(PingProbe::syn(80), 3), (PingProbe::echo(), 4)] {
        let mut tracer = Tracer::new();
        tracer.add(FAR, probe, None);
        let steps = run_windowed(&mut tracer, &|a, t| network(a, t, Some(FAR)));
        // TCP: TTLs 10 to 1, 11 to 20, 21 to 30; ICMP first 10 alone (what answers
        // its echo can't be told apart in a window), then the silent rest in threes.
        assert_eq!(steps, want, "{probe:?}");
        assert_eq!(tracer.finish()[&FAR].hops.len(), MAX_TTL as usize);
    }
}
