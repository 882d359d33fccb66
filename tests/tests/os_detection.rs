//! OS detection (`-O`) of the lab's hosts next to `nmap -O` on the same hosts and
//! ports: with nmap's own database (`--osdb`), a best match among nmap's best (within a
//! point: nmap's own changes with timing between such entries), and the same value
//! of every test that does not depend on timing; with the built-in database, each
//! stack named by its own entry, and each stack variant the lab can make (SACK, ECN,
//! a route's MSS and initial window) named by its own, with nmap's test values; XML
//! valid against nmap's DTD.
//! Run by `cargo xtask test`, which brings the lab up first.

use lab_tests::*;
use std::collections::BTreeMap;
use std::process::Command;
use xtask::nmap_xml::{os_by_host, os_value_depends_on_timing, NMAP_OS_DB};

/// The hosts: Linux's defaults on the segment, the TTL-128 stack without timestamps or
/// window scaling, and a host behind the router.
const HOSTS: [&str; 4] = ["198.18.0.10", "198.18.0.11", "198.18.0.16", "198.18.1.10"];
const PORTS: &str = "1,22,80";

fn our_xml(extra: &[&str]) -> String {
    let mut args = vec!["-O", "-p", PORTS, "-n", "-oX", "-"];
    args.extend(extra);
    args.extend(HOSTS);
    scan_output(&args).expect("scan")
}

/// Every value of a test that does not depend on timing where our fingerprints (XML)
/// and nmap's differ, one line each.
fn test_differences(ours: &str, theirs: &str) -> Vec<String> {
    let (ours_by_host, theirs_by_host) = (os_by_host(ours), os_by_host(theirs));
    let mut differences = Vec::new();
    for (addr, (_, their_tests)) in &theirs_by_host {
        let Some((_, our_tests)) = ours_by_host.get(addr) else {
            differences.push(format!("{addr}: no fingerprint of ours"));
            continue;
        };
        for (test, their_attrs) in their_tests {
            let empty = BTreeMap::new();
            let our_attrs = our_tests.get(test).unwrap_or(&empty);
            for (attr, value) in their_attrs {
                if os_value_depends_on_timing(test, attr) {
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
    differences
}

#[test]
#[ignore = "needs the lab: run with cargo xtask test"]
fn with_nmaps_database_the_tests_and_best_match_are_nmaps() {
    require_lab();
    let ours = our_xml(&["--osdb", NMAP_OS_DB]);
    assert_valid_nmap_xml(&ours);
    let mut args = vec!["-O", "-n", "-p", PORTS, "-d"];
    args.extend(HOSTS);
    let theirs = nmap_xml_with(&args).expect("nmap");
    let ours_by_host = os_by_host(&ours);
    let printed = ours_by_host.values().filter(|(_, t)| !t.is_empty()).count();
    assert_eq!(printed, HOSTS.len(), "a fingerprint per host:\n{ours}");
    let differences = test_differences(&ours, &theirs);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // nmap's own best match changes from run to run where two entries are a point
    // apart and SP or ISR (timing) decides between them (svc: "Linux 5.3 - 5.4" or
    // "Linux 3.2"): ours must be one of nmap's matches within a point of its best.
    for host in theirs.split("<host ").skip(1) {
        let Some(addr) = host
            .split("<address addr=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let matches: Vec<(String, u32)> = host
            .split("<osmatch name=\"")
            .skip(1)
            .filter_map(|m| {
                let (name, rest) = m.split_once('"')?;
                let accuracy = rest.split("accuracy=\"").nth(1)?.split('"').next()?;
                Some((name.to_string(), accuracy.parse().ok()?))
            })
            .collect();
        let top = matches.iter().map(|(_, a)| *a).max().unwrap_or(0);
        let tier: Vec<&str> = matches
            .iter()
            .filter(|(_, a)| *a + 1 >= top)
            .map(|(n, _)| n.as_str())
            .collect();
        let ours = ours_by_host[addr].0.as_deref().unwrap_or("-");
        assert!(
            tier.contains(&ours),
            "{addr}: our best match {ours:?} is not among nmap's best {tier:?}"
        );
    }
}

#[test]
#[ignore = "needs the lab: run with cargo xtask test"]
fn the_built_in_database_names_each_lab_stack() {
    require_lab();
    let ours = our_xml(&[]);
    assert_valid_nmap_xml(&ours);
    let best: BTreeMap<String, String> = os_by_host(&ours)
        .into_iter()
        .filter_map(|(addr, (best, _))| Some((addr, best?)))
        .collect();
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

/// Runs `args` in the far host's namespace.
fn in_far(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", "lab-far"])
        .args(args)
        .output()
        .expect("ip netns exec");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A change to the far host's stack (a sysctl) or to its route to the scanner, undone
/// when dropped, whether the test passed or not.
struct FarVariant {
    undo: Vec<String>,
}

impl FarVariant {
    fn sysctl(name: &str, value: &str) -> Self {
        let was = in_far(&["sysctl", "-n", name]);
        in_far(&["sysctl", "-qw", &format!("{name}={value}")]);
        Self {
            undo: ["sysctl", "-qw", &format!("{name}={was}")]
                .map(String::from)
                .to_vec(),
        }
    }

    fn route(attribute: &[&str]) -> Self {
        let was = in_far(&["ip", "route", "show", "default"]);
        let mut change = vec!["ip", "route", "change"];
        change.extend(was.split_whitespace());
        change.extend(attribute);
        in_far(&change);
        let mut undo: Vec<String> = ["ip", "route", "change"].map(String::from).to_vec();
        undo.extend(was.split_whitespace().map(String::from));
        Self { undo }
    }
}

impl Drop for FarVariant {
    fn drop(&mut self) {
        let undo: Vec<&str> = self.undo.iter().map(String::as_str).collect();
        in_far(&undo);
    }
}

/// The lab can make the stack variants the databases name (SACK off, ECN off, the MSS
/// and initial window of a route): each, made on the far host, gives the test values
/// nmap reads, is named by its own os-db entry, and its SYN+ACK by its own signature
/// (ECN off leaves the SYN+ACK to a plain SYN as the defaults'); the ports' listing
/// (`--osscan-per-port`) is in the XML.
#[test]
#[ignore = "needs the lab: run with cargo xtask test"]
fn variants_are_named_by_their_entries() {
    require_lab();
    let far = "198.18.1.10";
    // The os-db entry, the SYN+ACK signature's label, and how the variant is made.
    type Made = fn() -> FarVariant;
    let variants: [(&str, &str, Made); 4] = [
        ("Linux 6.X (no SACK)", "Linux 6.x (no SACK)", || {
            FarVariant::sysctl("net.ipv4.tcp_sack", "0")
        }),
        ("Linux 6.X (ECN off)", "Linux 6.x", || {
            FarVariant::sysctl("net.ipv4.tcp_ecn", "0")
        }),
        (
            "Linux 6.X (path MSS 1400)",
            "Linux 6.x (path MSS 1400)",
            || FarVariant::route(&["advmss", "1400"]),
        ),
        (
            "Linux 6.X (initial receive window 10 segments)",
            "Linux 6.x (initial receive window 10 segments)",
            || FarVariant::route(&["initrwnd", "10"]),
        ),
    ];
    for (entry, signature_label, make) in variants {
        let _variant = make();
        let ours = scan_output(&[
            "-O",
            "--osscan-per-port",
            "-p",
            PORTS,
            "-n",
            "-oX",
            "-",
            far,
        ])
        .expect("scan");
        let theirs = nmap_xml_with(&["-O", "-n", "-p", PORTS, "-d", far]).expect("nmap");
        let differences = test_differences(&ours, &theirs);
        assert!(
            differences.is_empty(),
            "{entry}: {}",
            differences.join("\n")
        );
        let best = os_by_host(&ours).remove(far).and_then(|(best, _)| best);
        assert_eq!(best.as_deref(), Some(entry), "{ours}");
        for port in [22, 80] {
            let element = format!("<portstack protocol=\"tcp\" portid=\"{port}\" ");
            let stack = ours
                .split(&element)
                .nth(1)
                .and_then(|rest| rest.split("/>").next())
                .unwrap_or_else(|| panic!("{entry}: no <portstack> of {port}:\n{ours}"));
            assert!(
                stack.contains(&format!("os=\"{signature_label}\"")),
                "{entry}: port {port}: {stack}"
            );
        }
    }
}
