//! The replay's rules, on the lab rounds nmap ran (see `nmap_oracle`) edited by hand:
//! which tests say `R=N`, `T` against `TG`, which reply feeds which test, and the
//! order replies are read in.

use super::nmap_oracle::lab_round;
use super::*;
use crate::packet::wire::ipv4;

/// `host`'s exchanges as nmap ran them.
fn exchanges(host: &str) -> Vec<Exchange> {
    lab_round(host).exchanges
}

fn exchange(exchanges: &mut [Exchange], probe: OsProbe) -> &mut Exchange {
    exchanges
        .iter_mut()
        .find(|e| e.probe == probe)
        .expect("the probe was sent")
}

/// The reply's IPv4 header, to edit.
fn reply_ip(exchange: &mut Exchange) -> ipv4::Packet<&mut [u8]> {
    let frame = &mut exchange.reply.as_mut().expect("a reply").frame;
    ipv4::Packet::new_unchecked(&mut frame[14..])
}

/// The print of `exchanges` as text, one test a line.
fn printed(exchanges: &[Exchange], distance: Option<u8>) -> String {
    fingerprint(exchanges, distance).to_string()
}

fn line<'a>(print: &'a str, test: &str) -> Option<&'a str> {
    print
        .lines()
        .find(|line| line.starts_with(&format!("{test}(")))
}

#[test]
fn ttls_are_t_with_a_hop_count_and_tg_without() {
    let mut round = exchanges("far");
    // U1 answered: its quote says two hops, so a TTL of 63 started at 64.
    let print = printed(&round, None);
    assert_eq!(
        line(&print, "T5"),
        Some("T5(R=Y%DF=Y%T=40%W=0%S=Z%A=S+%F=AR%O=%RD=0%Q=)")
    );
    // A hop count from an earlier round wins over this round's U1.
    let print = printed(&round, Some(3));
    assert!(line(&print, "IE").unwrap().contains("%T=41%"), "{print}");
    // Without U1's reply and no earlier hop count, the initial TTL is guessed.
    exchange(&mut round, OsProbe::U1).reply = None;
    let print = printed(&round, None);
    assert_eq!(
        line(&print, "ECN"),
        Some("ECN(R=Y%DF=Y%TG=40%W=FAF0%O=M5B4NNSNWA%CC=Y%Q=)")
    );
    assert_eq!(line(&print, "U1"), Some("U1(R=N)"));
    assert!(!print.contains("%T="), "{print}");
    assert_eq!(hop_distance(&round), None);
    // A quote that came back with a higher TTL than sent: nmap's hop count goes
    // below one, and T wraps as nmap's `%hX` does.
    let mut round = exchanges("web");
    let u1 = exchange(&mut round, OsProbe::U1);
    u1.sent[14 + 8] = 1;
    let print = printed(&round, None);
    // Sent with TTL 1, quoted with 53: 1 − 53 + 1 = −51 hops; 64 − 52 = 12.
    assert!(line(&print, "T1").unwrap().contains("%T=C%"), "{print}");
    assert_eq!(hop_distance(&round), None);
}

#[test]
fn unanswered_tests_are_r_n_where_nmap_writes_them() {
    let mut round = exchanges("svc");
    for exchange in &mut round {
        exchange.reply = None;
    }
    assert_eq!(
        printed(&round, Some(1)),
        "ECN(R=N)\nT1(R=N)\nT2(R=N)\nT3(R=N)\nT4(R=N)\nT5(R=N)\nT6(R=N)\nT7(R=N)\nU1(R=N)\nIE(R=N)\n"
    );
    // No open port: nothing was sent to one, and its tests are not written.
    round.retain(|e| matches!(e.probe, OsProbe::T(5..=7) | OsProbe::U1 | OsProbe::Ie(_)));
    assert_eq!(
        printed(&round, Some(1)),
        "T5(R=N)\nT6(R=N)\nT7(R=N)\nU1(R=N)\nIE(R=N)\n"
    );
    // U1 and IE are written whatever was sent.
    assert_eq!(printed(&[], None), "U1(R=N)\nIE(R=N)\n");
}

#[test]
fn ops_and_win_need_all_six_and_take_the_second_try() {
    let mut round = exchanges("web");
    let seq3 = exchange(&mut round, OsProbe::Seq(3));
    let reply = seq3.reply.take();
    let sent = seq3.sent.clone();
    let print = printed(&round, Some(1));
    assert!(
        line(&print, "OPS").is_none() && line(&print, "WIN").is_none(),
        "{print}"
    );
    // Five SEQ replies still make SEQ.
    assert!(
        line(&print, "SEQ").unwrap().starts_with("SEQ(SP="),
        "{print}"
    );
    // nmap's second try at probe 3 (here, the first's frames again) fills O3 and W3.
    round.push(Exchange {
        probe: OsProbe::Ops(3),
        sent,
        sent_at: Duration::from_secs(2),
        reply,
    });
    let print = printed(&round, Some(1));
    assert!(
        line(&print, "OPS").unwrap().contains("%O3=M5B4NNT11NWA%"),
        "{print}"
    );
    assert!(line(&print, "WIN").is_some(), "{print}");
}

#[test]
fn t1_is_the_first_seq_probes_reply_or_its_resends() {
    let mut round = exchanges("web");
    let seq1 = exchange(&mut round, OsProbe::Seq(1));
    let (sent, reply) = (seq1.sent.clone(), seq1.reply.take());
    assert_eq!(line(&printed(&round, Some(1)), "T1"), Some("T1(R=N)"));
    round.push(Exchange {
        probe: OsProbe::T(1),
        sent,
        sent_at: Duration::from_secs(2),
        reply,
    });
    let print = printed(&round, Some(1));
    assert_eq!(
        line(&print, "T1"),
        Some("T1(R=Y%DF=Y%T=40%S=O%A=S+%F=AS%RD=0%Q=)")
    );
}

#[test]
fn fewer_than_four_seq_replies_leave_out_the_isn_values() {
    let mut round = exchanges("win");
    for n in 3..=6 {
        exchange(&mut round, OsProbe::Seq(n)).reply = None;
    }
    // Two replies: no SP, GCD, ISR, too few for TI (three), TS from the options.
    let print = printed(&round, Some(1));
    assert_eq!(line(&print, "SEQ"), Some("SEQ(CI=Z%II=I%TS=U)"));
}

#[test]
fn ie_needs_both_replies_read_against_both_requests() {
    let mut round = exchanges("web");
    // Both replies with DF: Y; the codes both 0: Z.
    reply_ip(exchange(&mut round, OsProbe::Ie(1))).set_flags_and_offset(0x4000);
    reply_ip(exchange(&mut round, OsProbe::Ie(2))).set_flags_and_offset(0x4000);
    let ie1 = exchange(&mut round, OsProbe::Ie(1));
    ie1.reply.as_mut().unwrap().frame[14 + 20 + 1] = 0;
    let print = printed(&round, Some(1));
    assert_eq!(line(&print, "IE"), Some("IE(R=Y%DFI=Y%T=40%CD=Z)"));
    // DF only on the second reply, the first's code 7: other than sent, both.
    reply_ip(exchange(&mut round, OsProbe::Ie(1))).set_flags_and_offset(0);
    exchange(&mut round, OsProbe::Ie(1))
        .reply
        .as_mut()
        .unwrap()
        .frame[14 + 20 + 1] = 7;
    let print = printed(&round, Some(1));
    assert_eq!(line(&print, "IE"), Some("IE(R=Y%DFI=O%T=40%CD=O)"));
    // The second reply first: the same test (T is the first request's reply's).
    let mut round = exchanges("web");
    let ie2 = exchange(&mut round, OsProbe::Ie(2));
    ie2.reply.as_mut().unwrap().received_at = Duration::from_millis(1);
    reply_ip(exchange(&mut round, OsProbe::Ie(2))).set_ttl(99);
    let print = printed(&round, Some(1));
    assert_eq!(line(&print, "IE"), Some("IE(R=Y%DFI=N%T=40%CD=S)"));
    // One reply: IE(R=N), and one echo IP ID is too few for II.
    exchange(&mut round, OsProbe::Ie(2)).reply = None;
    let print = printed(&round, Some(1));
    assert_eq!(line(&print, "IE"), Some("IE(R=N)"));
    assert!(!line(&print, "SEQ").unwrap().contains("II="), "{print}");
}

#[test]
fn an_echo_sent_again_before_its_reply_came_gives_no_ip_id() {
    let mut round = exchanges("web");
    let ie1 = exchange(&mut round, OsProbe::Ie(1)).clone();
    let received = ie1.reply.as_ref().unwrap().received_at;
    let resend = Exchange {
        sent_at: received - Duration::from_micros(1),
        reply: None,
        ..ie1.clone()
    };
    round.push(resend);
    let print = printed(&round, Some(1));
    assert!(!line(&print, "SEQ").unwrap().contains("II="), "{print}");
    assert_eq!(line(&print, "IE"), Some("IE(R=Y%DFI=N%T=40%CD=S)"));
    // Sent again after its reply came: the IP ID counts.
    round.last_mut().unwrap().sent_at = received + Duration::from_micros(1);
    assert!(line(&printed(&round, Some(1)), "SEQ")
        .unwrap()
        .contains("II=I"));
}

#[test]
fn the_first_useful_reply_of_a_kind_wins_in_the_order_they_came() {
    let mut round = exchanges("web");
    let mut late = exchange(&mut round, OsProbe::T(4)).clone();
    // Another T4 reply, with a window of 0x1234, that came before the first.
    let reply = late.reply.as_mut().unwrap();
    reply.frame[14 + 20 + 14..14 + 20 + 16].copy_from_slice(&[0x12, 0x34]);
    reply.received_at = Duration::ZERO;
    round.push(late.clone());
    assert!(line(&printed(&round, Some(1)), "T4")
        .unwrap()
        .contains("%W=1234%"));
    // After it: the first one's window stays.
    round
        .last_mut()
        .unwrap()
        .reply
        .as_mut()
        .unwrap()
        .received_at = Duration::from_secs(9);
    assert!(line(&printed(&round, Some(1)), "T4")
        .unwrap()
        .contains("%W=0%"));
}

#[test]
fn replies_that_do_not_belong_are_not_read() {
    let mut round = exchanges("web");
    // A reply to another port, a frame that is not IPv4, a U1 reply with another
    // code, probes numbered out of range.
    let t4 = exchange(&mut round, OsProbe::T(4));
    t4.reply.as_mut().unwrap().frame[14 + 20 + 3] ^= 1;
    exchange(&mut round, OsProbe::T(5))
        .reply
        .as_mut()
        .unwrap()
        .frame[12] = 0x86;
    exchange(&mut round, OsProbe::U1)
        .reply
        .as_mut()
        .unwrap()
        .frame[14 + 20 + 1] = 1;
    let mut stray = exchange(&mut round, OsProbe::T(6)).clone();
    stray.probe = OsProbe::T(8);
    round.push(stray);
    let print = printed(&round, Some(1));
    for test in ["T4", "T5", "U1"] {
        assert_eq!(line(&print, test).unwrap(), format!("{test}(R=N)"));
    }
    assert!(line(&print, "T6").unwrap().starts_with("T6(R=Y"));
}
