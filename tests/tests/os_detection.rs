//! OS detection (`-O`) of the lab's hosts next to `nmap -O` on the same hosts and
//! ports: with nmap's own database (`--osdb`), the same best match, and the same value
//! of every test that does not depend on timing; with the built-in database, each
//! stack named by its own entry; XML valid against nmap's DTD.
//! Run by `cargo xtask test`, which brings the lab up first.

use lab_tests::*;
use std::collections::BTreeMap;

/// The hosts: Linux's defaults on the segment, the TTL-128 stack without timestamps or
/// window scaling, and a host behind the router.
const HOSTS: [&str; 4] = ["198.18.0.10", "198.18.0.11", "198.18.0.16", "198.18.1.10"];
const PORTS: &str = "1,22,80";
const NMAPS_DB: &str = "/usr/share/nmap/nmap-os-db";

/// The fingerprint of each host in an nmap-format XML document, as
/// test name → attribute → value (SCAN left out).
type Prints = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

/// A host's `<osfingerprint>` and the best `<osmatch>` name, by address.
fn os_of(xml: &str) -> (Prints, BTreeMap<String, String>) {
    let mut prints = Prints::new();
    let mut best = BTreeMap::new();
    for host in xml.split("<host ").skip(1) {
        let Some(addr) = attribute(host, "<address addr=\"", "\"") else {
            continue;
        };
        if let Some(name) = attribute(host, "<osmatch name=\"", "\"") {
            best.insert(addr.clone(), name);
        }
        let Some(print) = attribute(host, "<osfingerprint fingerprint=\"", "\"") else {
            continue;
        };
        let flat: String = print
            .split("&#xa;")
            .map(|line| line.trim_start_matches("OS:"))
            .collect();
        let mut tests = BTreeMap::new();
        for test in flat.split(')').filter(|t| !t.is_empty()) {
            let Some((name, attrs)) = test.split_once('(') else {
                continue;
            };
            if name == "SCAN" {
                continue;
            }
            let attrs: BTreeMap<String, String> = attrs
                .split('%')
                .filter_map(|a| a.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            tests.insert(name.to_string(), attrs);
        }
        prints.insert(addr, tests);
    }
    (prints, best)
}

fn attribute(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_string())
}

/// The attributes whose values depend on when the probes left: the sequence numbers'
/// and timestamps' rates, and the GCD of the sequence number differences.
fn depends_on_timing(test: &str, attr: &str) -> bool {
    test == "SEQ" && matches!(attr, "SP" | "ISR" | "TS" | "GCD")
}

fn our_xml(extra: &[&str]) -> String {
    let mut args = vec!["-O", "-p", PORTS, "-n", "-oX", "-"];
    args.extend(extra);
    args.extend(HOSTS);
    scan_output(&args).expect("scan")
}

#[test]
#[ignore = "needs the lab: run with cargo xtask test"]
fn with_nmaps_database_the_tests_and_best_match_are_nmaps() {
    require_lab();
    let ours = our_xml(&["--osdb", NMAPS_DB]);
    assert_valid_nmap_xml(&ours);
    let mut args = vec!["-O", "-n", "-p", PORTS, "-d"];
    args.extend(HOSTS);
    let theirs = nmap_xml_with(&args).expect("nmap");
    let (our_prints, our_best) = os_of(&ours);
    let (their_prints, their_best) = os_of(&theirs);
    assert_eq!(
        our_prints.len(),
        HOSTS.len(),
        "a fingerprint per host:\n{ours}"
    );
    let mut differences = Vec::new();
    for (addr, their_tests) in &their_prints {
        let our_tests = &our_prints[addr];
        for (test, their_attrs) in their_tests {
            let empty = BTreeMap::new();
            let our_attrs = our_tests.get(test).unwrap_or(&empty);
            for (attr, value) in their_attrs {
                if depends_on_timing(test, attr) {
                    continue;
                }
                if our_attrs.get(attr) != Some(value) {
                    differences.push(format!(
                        "{addr} {test}.{attr}: ours {:?}, nmap's {value}",
                        our_attrs.get(attr)
                    ));
                }
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(our_best, their_best, "the best match of each host");
}

#[test]
#[ignore = "needs the lab: run with cargo xtask test"]
fn the_built_in_database_names_each_lab_stack() {
    require_lab();
    let ours = our_xml(&[]);
    assert_valid_nmap_xml(&ours);
    let (_, best) = os_of(&ours);
    let defaults = "Linux 6.X (kernel defaults)";
    let ttl128 = "Linux 6.X (initial TTL 128, no TCP timestamps or window scaling)";
    let expected: BTreeMap<String, String> = [
        ("198.18.0.10", defaults),
        ("198.18.0.11", defaults),
        ("198.18.0.16", ttl128),
        ("198.18.1.10", defaults),
    ]
    .into_iter()
    .map(|(a, n)| (a.to_string(), n.to_string()))
    .collect();
    assert_eq!(best, expected);
    // Perfect matches are the normal output's "OS details".
    let mut args = vec!["-O", "-p", PORTS, "-n"];
    args.extend(HOSTS);
    let normal = scan_output(&args).expect("scan");
    assert_eq!(
        normal.matches(&format!("OS details: {defaults}\n")).count(),
        3,
        "{normal}"
    );
    assert!(normal.contains("Network Distance: 2 hops\n"), "{normal}");
}

#[test]
#[ignore = "needs the lab: run with cargo xtask test"]
fn the_forwarded_port_alone_is_named_as_another_stack() {
    require_lab();
    // Every open TCP port of the hosts, win's forward to svc (8022) among them.
    let mut args = vec!["-O", "-n", "-p", "1,21,22,53,80,199,443,6379,8022,11211"];
    args.extend(HOSTS);
    args.push("198.18.0.12");
    let normal = scan_output(&args).expect("scan");
    let named: Vec<&str> = normal
        .lines()
        .filter(|l| l.contains("is answered by another stack"))
        .collect();
    assert_eq!(named.len(), 1, "{normal}");
    assert!(named[0].starts_with("Port 8022/tcp "), "{normal}");
    assert!(
        named[0].contains("likely forwarded to another machine"),
        "{normal}"
    );
    let win_report = normal
        .split("Scan report for ")
        .find(|r| r.starts_with("198.18.0.16"))
        .expect("win's report");
    assert!(win_report.contains("Port 8022/tcp"), "{win_report}");
}
