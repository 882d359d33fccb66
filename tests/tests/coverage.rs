//! The project's own service database on the coverage lab (common Debian daemons the
//! main lab does not run, each on its usual port and on an unusual one): it must name
//! each port as nmap's database does (read by the scanner through `--versiondb`; the
//! version-detection tests check that this gives nmap's own answers). Run by `cargo
//! xtask test`, which brings the lab up; this test starts and stops the coverage lab.

use lab_tests::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;
use xtask::lab::coverage::{self, machine, unusual_port, SERVICES};
use xtask::nmap_xml::{services, PortKey, ServiceFacts};

/// nmap's own probe database, as Debian installs it (with nmap, by `cargo xtask setup`).
const NMAP_PROBES: &str = "/usr/share/nmap/nmap-service-probes";

/// Every (address, port, protocol) of the coverage lab: each daemon's usual ports and
/// their unusual twins.
fn coverage_ports() -> Vec<PortKey> {
    let mut keys = Vec::new();
    for (index, service) in SERVICES.iter().enumerate() {
        let (_, _, addr) = machine(index);
        for (proto, ports) in [("tcp", service.tcp), ("udp", service.udp)] {
            for &port in ports {
                keys.push((addr, port, proto.to_string()));
                keys.push((addr, unusual_port(port), proto.to_string()));
            }
        }
    }
    keys
}

/// `-sV` of `keys` (one scan per protocol, of the hosts that have it) with `extra`.
fn named(keys: &[PortKey], extra: &[&str]) -> (BTreeMap<PortKey, ServiceFacts>, f64) {
    let started = Instant::now();
    let mut all = BTreeMap::new();
    for (proto, scan) in [("tcp", "-sSV"), ("udp", "-sUV")] {
        let mine: Vec<&PortKey> = keys.iter().filter(|k| k.2 == proto).collect();
        if mine.is_empty() {
            continue;
        }
        let ports: BTreeSet<u16> = mine.iter().map(|k| k.1).collect();
        let addrs: BTreeSet<Ipv4Addr> = mine.iter().map(|k| k.0).collect();
        let ports = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let addrs: Vec<String> = addrs.iter().map(Ipv4Addr::to_string).collect();
        let mut args = vec![scan, "-n", "-Pn", "-p", &ports, "-oX", "-"];
        args.extend_from_slice(extra);
        args.extend(addrs.iter().map(String::as_str));
        all.extend(services(&scan_output(&args).unwrap()).unwrap());
    }
    (all, started.elapsed().as_secs_f64())
}

/// How `ours` differs from nmap's answer `theirs` on one port: the service must be the
/// same, the product too where nmap's names one, and the version where nmap's gives one.
/// Where nmap's database names nothing from the answers (the port table's guess, or no
/// service), ours may name more.
fn difference(ours: Option<&ServiceFacts>, theirs: Option<&ServiceFacts>) -> Option<String> {
    if theirs.is_none_or(|t| t.method != "probed") {
        return None;
    }
    let (Some(ours), Some(theirs)) = (ours, theirs) else {
        return Some(format!("ours {ours:?}, nmap's {theirs:?}"));
    };
    let same = ours.name == theirs.name
        && (theirs.product.is_none() || ours.product == theirs.product)
        && (theirs.version.is_none() || ours.version == theirs.version);
    (!same).then(|| format!("ours {}; nmap's {}", ours.summary(), theirs.summary()))
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn own_database_names_the_coverage_daemons_as_nmaps_does() {
    require_lab();
    coverage::up().expect("bringing the coverage lab up");
    let keys = coverage_ports();
    let (ours, our_seconds) = named(&keys, &[]);
    let (theirs, their_seconds) = named(&keys, &["--versiondb", NMAP_PROBES]);
    coverage::down().expect("taking the coverage lab down");

    let mut differences = Vec::new();
    let (mut services_agree, mut products_agree) = (0, 0);
    for key in &keys {
        let (a, b) = (ours.get(key), theirs.get(key));
        if let (Some(a), Some(b)) = (a, b) {
            services_agree += usize::from(a.name == b.name);
            products_agree += usize::from(a.product == b.product);
        }
        if let Some(how) = difference(a, b) {
            differences.push(format!("{}:{}/{}: {how}", key.0, key.1, key.2));
        }
    }
    println!(
        "coverage lab: {} ports; own database agrees on the service of {services_agree}, \
         the product of {products_agree}; own database {our_seconds:.1} s, nmap's {their_seconds:.1} s",
        keys.len()
    );
    assert!(
        differences.is_empty(),
        "the own database differs from nmap's on {} of {} ports:\n{}",
        differences.len(),
        keys.len(),
        differences.join("\n")
    );
}
