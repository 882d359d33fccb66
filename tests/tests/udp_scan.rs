//! The UDP scan (`-sU`) against the lab's truth: open where a daemon listens (its
//! payload got an answer), closed elsewhere (ICMP port unreachable, which every lab
//! host rate limits to one a second after a burst of six: all must still be read
//! right), and nmap's open ports as an oracle. Run by `cargo xtask test`.

use lab_tests::*;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use xtask::lab;

/// The lab's UDP services and twelve closed ports around them.
const PORTS: &str = "7,9,53,69,111,123,137,161,500,514,1900,5353,11211,40125";

/// (address, port) → state, from the scanner's JSON lines.
fn udp_states(args: &[&str]) -> BTreeMap<(Ipv4Addr, u16), String> {
    let mut out = BTreeMap::new();
    for line in scan_json(args)
        .expect("scan")
        .lines()
        .filter(|l| !l.is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(v["proto"], "udp", "{line}");
        let addr = v["addr"].as_str().unwrap().parse().unwrap();
        let port = v["port"].as_u64().unwrap() as u16;
        out.insert((addr, port), v["state"].as_str().unwrap().to_string());
    }
    out
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn udp_scan_reads_every_port_right_despite_icmp_rate_limits() {
    require_lab();
    let hosts: Vec<lab::Host> = ["svc", "dns", "closed", "far"]
        .into_iter()
        .map(lab::host)
        .collect();
    let mut args = vec!["-sU".to_string(), "-p".into(), PORTS.into()];
    args.extend(hosts.iter().map(|h| h.addr.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let found = udp_states(&args);
    let mut expected = BTreeMap::new();
    for host in &hosts {
        for port in lab::truth::expand_ports(PORTS) {
            let state = if host.listening_udp_ports().contains(&port) {
                "open"
            } else {
                "closed"
            };
            expected.insert((host.addr, port), state.to_string());
        }
    }
    assert_eq!(
        found, expected,
        "scanner -sU (left) against the lab (right)"
    );

    // nmap as an oracle for what answers: the same open ports. (nmap reads many of
    // the closed ports as open|filtered here, its probes having met the rate limit.)
    let mut nmap_args = vec!["-n", "-Pn", "-sU", "-p", PORTS];
    let addrs: Vec<String> = hosts.iter().map(|h| h.addr.to_string()).collect();
    nmap_args.extend(addrs.iter().map(String::as_str));
    let xml = nmap_xml_with(&nmap_args).expect("nmap");
    let theirs = open_ports_in_xml(&xml).expect("nmap XML");
    for host in &hosts {
        let ours: Vec<u16> = found
            .iter()
            .filter(|((addr, _), state)| *addr == host.addr && *state == "open")
            .map(|((_, port), _)| *port)
            .collect();
        assert_eq!(
            Some(&ours),
            theirs.get(&host.addr),
            "open UDP ports of {} (scanner left, nmap right)",
            host.name
        );
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn syn_and_udp_scans_run_together_and_keep_their_protocols_apart() {
    require_lab();
    let dns = lab::host("dns");
    let out = scan_json(&[
        "-sSU",
        "-p",
        "T:22,53,54,U:53,54,161",
        &dns.addr.to_string(),
    ])
    .expect("scan");
    let mut found = BTreeMap::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let key = (
            v["proto"].as_str().unwrap().to_string(),
            v["port"].as_u64().unwrap(),
        );
        found.insert(key, v["state"].as_str().unwrap().to_string());
    }
    let expected: BTreeMap<(String, u64), String> = [
        ("tcp", 22, "open"),
        ("tcp", 53, "open"),
        ("tcp", 54, "closed"),
        ("udp", 53, "open"),
        ("udp", 54, "closed"),
        ("udp", 161, "open"),
    ]
    .into_iter()
    .map(|(proto, port, state)| ((proto.to_string(), port), state.to_string()))
    .collect();
    assert_eq!(found, expected);
}
