//! nmap's own `nmap-service-probes` (from Debian's nmap package, which `cargo xtask
//! setup` installs) parses with no error and quickly: a user may point `--versiondb`
//! at it. The scanner never loads it by default; this test only reads it.

use scanner::service::probes::{ProbeDb, Transport};
use std::time::Instant;

const NMAP_FILE: &str = "/usr/share/nmap/nmap-service-probes";

#[test]
fn nmaps_probe_file_parses_completely_and_quickly() {
    let bytes = std::fs::read(NMAP_FILE).unwrap_or_else(|err| {
        panic!("{NMAP_FILE}: {err} (run `cargo xtask setup`, which installs nmap)")
    });
    let started = Instant::now();
    let db = ProbeDb::parse(&bytes, NMAP_FILE).unwrap_or_else(|err| panic!("{err:#}"));
    let took = started.elapsed();
    // Every Probe, match and softmatch line became one.
    let count = |keyword: &str| {
        bytes
            .split(|&b| b == b'\n')
            .filter(|line| line.starts_with(keyword.as_bytes()))
            .count()
    };
    assert_eq!(db.probes.len(), count("Probe "));
    assert_eq!(db.match_count(), count("match ") + count("softmatch "));
    assert!(db.probe(Transport::Tcp, "NULL").is_some());
    assert!(!db.exclude.is_empty());
    println!(
        "{} probes, {} matches in {:.0} ms",
        db.probes.len(),
        db.match_count(),
        took.as_secs_f64() * 1000.0
    );
    assert!(took.as_secs_f64() < 1.0, "took {took:?}");
}
