//! Host discovery (`-sn`, the -P flags) against the lab's truth and nmap. Run by
//! `cargo xtask test`.

use lab_tests::*;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use xtask::lab;

/// The address ranges the discovery tests sweep: the whole on-link segment's first 64
/// addresses and the first 32 behind the router.
const RANGES: [&str; 2] = ["198.18.0.0/26", "198.18.1.0/27"];

/// Every lab address in [`RANGES`] that is up: the hosts, the router's far-side
/// address, and the scanner itself.
fn live_truth() -> BTreeSet<Ipv4Addr> {
    let mut live: BTreeSet<Ipv4Addr> = lab::hosts().iter().map(|h| h.addr).collect();
    live.insert(lab::ROUTER_FAR_ADDR);
    live.insert(lab::SCANNER_ADDR);
    live.into_iter()
        .filter(|a| {
            a.octets()[2] == 0 && a.octets()[3] < 64 || a.octets()[2] == 1 && a.octets()[3] < 32
        })
        .collect()
}

fn scanner_up(args: &[&str]) -> std::collections::BTreeMap<Ipv4Addr, String> {
    let mut all = args.to_vec();
    all.extend(["-oX", "-"]);
    hosts_up(&scan_output(&all).expect("scanner")).expect("scanner XML")
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn ping_scan_finds_exactly_the_live_hosts_as_nmap_does() {
    require_lab();
    let mut args = vec!["-sn"];
    args.extend(RANGES);
    let ours = scanner_up(&args);
    let found: BTreeSet<Ipv4Addr> = ours.keys().copied().collect();
    assert_eq!(found, live_truth(), "scanner -sn against the lab's hosts");
    // On-link hosts by ARP, the rest by a ping; the scanner itself as nmap says.
    for (addr, reason) in &ours {
        let expected = match addr.octets()[2] {
            _ if *addr == lab::SCANNER_ADDR => "localhost-response",
            0 => "arp-response",
            _ => "echo-reply",
        };
        assert_eq!(reason, expected, "reason for {addr}");
    }
    let mut nmap_args = vec!["-n", "-sn", "-T4"];
    nmap_args.extend(RANGES);
    let theirs = hosts_up(&nmap_xml_with(&nmap_args).expect("nmap")).expect("nmap XML");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "scanner -sn (left) and nmap -sn (right) find different hosts"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn each_ping_kind_is_answered_and_read_with_nmaps_reason() {
    require_lab();
    let far = lab::host("far").addr.to_string();
    let web = lab::host("web").addr.to_string();
    let drop = lab::host("drop").addr.to_string();
    // (flags, target, expected reason): on-link targets with ARP off, so the IP
    // probe itself must be classified.
    let cases = [
        ("-PE", &web, "echo-reply"),
        ("-PP", &web, "timestamp-reply"),
        ("-PS22", &far, "syn-ack"),
        ("-PS81", &far, "reset"),
        ("-PA80", &web, "reset"),
        ("-PU40125", &far, "port-unreach"),
        ("-PU53", &lab::host("dns").addr.to_string(), "udp-response"),
        ("-PS22", &drop, "syn-ack"),
    ];
    for (flag, target, reason) in cases {
        let up = scanner_up(&["-sn", flag, "--disable-arp-ping", target]);
        let addr: Ipv4Addr = target.parse().unwrap();
        assert_eq!(
            up.get(&addr).map(String::as_str),
            Some(reason),
            "{flag} {target}"
        );
    }
    // The drop host filters TCP but port 22: a SYN ping elsewhere finds it down.
    let up = scanner_up(&["-sn", "-PS80", "--disable-arp-ping", &drop]);
    assert!(up.is_empty(), "-PS80 to the drop host: {up:?}");
    // An address behind the router with no host: down (the router says so or nothing does).
    let up = scanner_up(&["-sn", "-PE", "198.18.1.77"]);
    assert!(up.is_empty(), "an empty far address: {up:?}");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn port_scans_skip_hosts_found_down_unless_told_not_to() {
    require_lab();
    let far = lab::host("far").addr.to_string();
    let states = scan(&["-sS", "-p", "22,80", "198.18.1.5", &far]).expect("scan");
    let hosts: BTreeSet<Ipv4Addr> = states.keys().map(|(addr, _)| *addr).collect();
    assert_eq!(hosts, BTreeSet::from([lab::host("far").addr]));
    // -Pn: the empty address is scanned too (and every port is filtered).
    let states = scan(&["-sS", "-Pn", "-p", "22,80", "198.18.1.5", &far]).expect("scan");
    assert_eq!(states.len(), 4, "{states:?}");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn hosts_found_up_get_their_reverse_dns_name_unless_n() {
    require_lab();
    let web = lab::host("web");
    let far = lab::host("far");
    let targets = [web.addr.to_string(), far.addr.to_string()];
    let out = scan_output(&["-sn", &targets[0], &targets[1]]).expect("scan");
    for host in [&web, &far] {
        let line = format!(
            "Scan report for {}.{} ({})",
            host.name,
            lab::DOMAIN,
            host.addr
        );
        assert!(out.contains(&line), "{line:?} in:\n{out}");
    }
    let xml = scan_output(&["-sn", "-oX", "-", &targets[0]]).expect("scan");
    assert!(
        xml.contains(r#"<hostname name="web.lab.test" type="PTR"/>"#),
        "{xml}"
    );
    let out = scan_output(&["-sn", "-n", &targets[0]]).expect("scan");
    assert!(
        out.contains(&format!("Scan report for {}\n", web.addr)),
        "{out}"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn without_privileges_hosts_are_found_by_connecting_to_80_and_443() {
    require_lab();
    let out = scan_unprivileged(&["-sn", "-n", "-oX", "-", "198.18.0.0/27"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let up = hosts_up(&String::from_utf8_lossy(&out.stdout)).expect("XML");
    // Up: every host where 80 or 443 accepts or refuses (the scanner's own address
    // too); the drop host filters both.
    let expected: BTreeSet<Ipv4Addr> = lab::hosts()
        .iter()
        .filter(|h| h.addr.octets()[2] == 0 && h.addr.octets()[3] < 32)
        .filter(|h| {
            [80, 443]
                .iter()
                .any(|&p| h.tcp_state(p) != lab::PortState::Filtered)
        })
        .map(|h| h.addr)
        .chain([lab::SCANNER_ADDR])
        .collect();
    assert_eq!(up.keys().copied().collect::<BTreeSet<_>>(), expected);
    assert!(
        up.values().all(|r| r == "syn-ack" || r == "conn-refused"),
        "{up:?}"
    );
    assert!(!up.contains_key(&lab::host("drop").addr));
}
