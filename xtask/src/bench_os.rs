//! `cargo xtask bench os`: OS detection of the lab by the scanner and by nmap, in one
//! run, both in the scanner namespace: `-O` of the hosts with open TCP ports, the
//! scanner once with nmap's own database (`--osdb`) and once with its built-in one,
//! nmap with its own; each run's wall time and the ratio (the goal: nmap takes at
//! least 2× as long), each host's best match by each, and every test value (those that
//! do not depend on timing) where the two fingerprints differ. Then `-A` of the same
//! hosts by both (the goal: 3×), with the best matches again.

use crate::lab;
use crate::nmap_xml::{os_by_host, os_value_depends_on_timing, NMAP_OS_DB};
use crate::shell::measured_in_ns;
use anyhow::{ensure, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The hosts: every lab stack with open TCP ports, on the segment and behind the router.
const HOSTS: [&str; 5] = ["web", "svc", "dns", "win", "far"];
/// A closed port, and open ones on every host.
const PORTS: &str = "1,22,53,80";
/// The most a run may take.
const LIMIT: Duration = Duration::from_secs(600);

/// One run: wall seconds and the XML report.
struct Run {
    seconds: f64,
    xml: String,
}

fn run(program: &str, args: &[String]) -> Result<Run> {
    let command = format!("{program} {}", args.join(" "));
    println!("==> {command}");
    let measured = measured_in_ns(lab::SCANNER_NS, program, args, LIMIT)?;
    ensure!(
        !measured.stopped,
        "`{command}` ran past {} s",
        LIMIT.as_secs()
    );
    ensure!(measured.success, "`{command}` failed: run it to see why");
    Ok(Run {
        seconds: measured.seconds,
        xml: measured.stdout,
    })
}

/// Each host's best `<osmatch>` name (or "-") and the values of its fingerprint's
/// tests that do not depend on timing, as `TEST.ATTR`.
fn os_summary(xml: &str) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    os_by_host(xml)
        .into_iter()
        .map(|(addr, (best, tests))| {
            let values = tests
                .iter()
                .flat_map(|(test, attrs)| {
                    attrs
                        .iter()
                        .filter(|(attr, _)| !os_value_depends_on_timing(test, attr))
                        .map(move |(attr, value)| (format!("{test}.{attr}"), value.clone()))
                })
                .collect();
            (addr, (best.unwrap_or_else(|| "-".into()), values))
        })
        .collect()
}

/// Runs the benchmark with the scanner at `scanner`.
pub fn run_bench(scanner: &Path) -> Result<()> {
    let scanner = scanner.to_str().context("scanner path")?;
    let addrs: Vec<String> = HOSTS
        .iter()
        .map(|name| lab::host(name).addr.to_string())
        .collect();
    let targets: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let with = |flags: &[&'static str]| -> Vec<String> {
        let mut args: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        args.extend(["-n", "-p", PORTS, "-oX", "-"].map(String::from));
        args.extend(targets.iter().map(|t| t.to_string()));
        args
    };
    let ours_nmapdb = run(scanner, &with(&["-O", "--osdb", NMAP_OS_DB]))?;
    let ours_own = run(scanner, &with(&["-O"]))?;
    let theirs = run("nmap", &with(&["-O", "-d"]))?;
    let (a, b, c) = (
        os_summary(&ours_nmapdb.xml),
        os_summary(&ours_own.xml),
        os_summary(&theirs.xml),
    );
    println!(
        "\n== -O of {} lab hosts ({}), ports {PORTS}",
        HOSTS.len(),
        HOSTS.join(", ")
    );
    println!("scanner (nmap's db): {:.2} s", ours_nmapdb.seconds);
    println!("scanner (own db):    {:.2} s", ours_own.seconds);
    println!("nmap:                {:.2} s", theirs.seconds);
    let ratio = theirs.seconds / ours_nmapdb.seconds.max(1e-3);
    println!(
        "nmap/scanner: {ratio:.1}x ({} the goal of 2x)",
        if ratio >= 2.0 { "meets" } else { "misses" }
    );
    let mut same_best = 0;
    let mut differing = Vec::new();
    for addr in &addrs {
        let empty = (String::from("-"), BTreeMap::new());
        let (ours, our_tests) = a.get(addr).unwrap_or(&empty);
        let (own, _) = b.get(addr).unwrap_or(&empty);
        let (nmaps, their_tests) = c.get(addr).unwrap_or(&empty);
        println!(
            "{addr:<13} nmap: {nmaps} | scanner (nmap's db): {ours} | scanner (own db): {own}"
        );
        same_best += usize::from(ours == nmaps);
        for (key, value) in their_tests {
            if our_tests.get(key) != Some(value) {
                differing.push(format!(
                    "{addr} {key}: ours {:?}, nmap's {value}",
                    our_tests.get(key)
                ));
            }
        }
    }
    println!(
        "same best match with nmap's database: {same_best} of {} hosts; test values that differ: {}",
        addrs.len(),
        differing.len()
    );
    for line in &differing {
        println!("  {line}");
    }
    let ours_a = run(scanner, &with(&["-A", "--osdb", NMAP_OS_DB]))?;
    let theirs_a = run("nmap", &with(&["-A"]))?;
    let ratio = theirs_a.seconds / ours_a.seconds.max(1e-3);
    println!(
        "\n== -A: scanner {:.2} s, nmap {:.2} s: {ratio:.1}x ({} the goal of 3x)",
        ours_a.seconds,
        theirs_a.seconds,
        if ratio >= 3.0 { "meets" } else { "misses" }
    );
    let (ours_a, theirs_a) = (os_summary(&ours_a.xml), os_summary(&theirs_a.xml));
    let agree = addrs
        .iter()
        .filter(|addr| ours_a.get(*addr).map(|o| &o.0) == theirs_a.get(*addr).map(|t| &t.0))
        .count();
    println!(
        "-A best OS match equal to nmap's: {agree} of {} hosts",
        addrs.len()
    );
    Ok(())
}
