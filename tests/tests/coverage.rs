//! The project's own service database on the coverage lab (common Debian daemons the
//! main lab does not run, each on its usual port and on an unusual one): it must name
//! each port as nmap's database does (read by the scanner through `--versiondb`; the
//! version-detection tests check that this gives nmap's own answers), by the rule of
//! `xtask::lab::coverage::compare`. Run by `cargo xtask test`, which brings the lab
//! up; this test starts and stops the coverage lab.

use lab_tests::*;
use std::collections::BTreeMap;
use std::time::Instant;
use xtask::lab::coverage::{self, compare};
use xtask::nmap_xml::{services, PortKey, ServiceFacts};

/// nmap's own probe database, as Debian installs it (with nmap, by `cargo xtask setup`).
const NMAP_PROBES: &str = "/usr/share/nmap/nmap-service-probes";

/// `-sV` of `keys` (one scan per protocol, of the hosts that have it) with `extra`.
fn named(keys: &[PortKey], extra: &[&str]) -> (BTreeMap<PortKey, ServiceFacts>, f64) {
    let started = Instant::now();
    let mut all = BTreeMap::new();
    for proto in ["tcp", "udp"] {
        let Some(scan) = compare::scan_args(keys, proto) else {
            continue;
        };
        let mut args: Vec<&str> = scan.iter().map(String::as_str).collect();
        args.extend(["-oX", "-"]);
        args.extend_from_slice(extra);
        all.extend(services(&scan_output(&args).unwrap()).unwrap());
    }
    (all, started.elapsed().as_secs_f64())
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn own_database_names_the_coverage_daemons_as_nmaps_does() {
    require_lab();
    coverage::up().expect("bringing the coverage lab up");
    let ports = compare::ports();
    let keys: Vec<PortKey> = ports.iter().map(|(key, _)| key.clone()).collect();
    let (ours, our_seconds) = named(&keys, &[]);
    let (theirs, their_seconds) = named(&keys, &["--versiondb", NMAP_PROBES]);
    coverage::down().expect("taking the coverage lab down");

    let differences: Vec<String> = ports
        .iter()
        .filter_map(|(key, daemon)| {
            let how = compare::difference(daemon, ours.get(key), theirs.get(key))?;
            Some(format!("{daemon} {}:{}/{}: {how}", key.0, key.1, key.2))
        })
        .collect();
    println!(
        "coverage lab: {} ports; own database against nmap's: {}; own database {our_seconds:.1} s, nmap's {their_seconds:.1} s",
        keys.len(),
        compare::Agreement::of(&ports, &ours, &theirs)
    );
    assert!(
        differences.is_empty(),
        "the own database differs from nmap's on {} of {} ports:\n{}",
        differences.len(),
        keys.len(),
        differences.join("\n")
    );
}
