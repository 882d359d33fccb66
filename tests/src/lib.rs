//! Helpers for the lab integration tests: run the scanner or nmap inside the lab's
//! scanner namespace and read what they found, as a map from (address, port) to state.
//!
//! The truth they are compared with is `xtask::lab`, the same definition that builds
//! the lab.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use xtask::lab::{self, PortState};
use xtask::nmap_xml::hosts as nmap_hosts;

pub use xtask::lab::truth::{differences, parse_findings, truth, States};

/// The release scanner that `cargo xtask test` builds.
pub fn scanner_binary() -> PathBuf {
    built("target/release/scanner")
}

/// The portable build (no `xdp` feature: libpcap only) that `cargo xtask test` builds.
pub fn portable_binary() -> PathBuf {
    built("target/portable/release/scanner")
}

/// A binary `cargo xtask test` builds, at `path` under the workspace.
fn built(path: &str) -> PathBuf {
    let path = xtask::workspace_root().join(path);
    assert!(
        path.exists(),
        "{} is missing: run the lab tests with `cargo xtask test`",
        path.display()
    );
    path
}

/// Fails the test early, with the fix, when the lab is not up.
pub fn require_lab() {
    assert!(lab::is_up(), "the lab is down: run the lab tests with `cargo xtask test` (or `cargo xtask lab up` first)");
}

/// Every lab host's address.
pub fn all_hosts() -> Vec<String> {
    lab::hosts().iter().map(|h| h.addr.to_string()).collect()
}

/// Ports 1-1024 plus every lab service port, as a -p argument.
pub fn standard_ports() -> String {
    lab::standard_scan_ports()
}

/// Runs the scanner in the lab's scanner namespace with `args` and `-oJ -`, and
/// returns its JSON lines.
pub fn scan_json(args: &[&str]) -> Result<String> {
    let mut args = args.to_vec();
    args.extend(["-oJ", "-"]);
    scan_output(&args)
}

/// Runs the scanner in the lab's scanner namespace as user nobody, with no
/// privileges at all; its whole output, whatever the exit status.
pub fn scan_unprivileged(args: &[&str]) -> std::process::Output {
    scan_as_nobody_with(&[], args)
}

/// Runs the scanner in the lab's scanner namespace as user nobody with only the
/// capabilities `caps` (setpriv's names: "net_raw", ...) and 1 MiB of locked memory,
/// less than one AF_XDP UMEM (4 MiB; how much a user may lock differs between
/// systems, 8 MiB on Debian); its whole output, whatever the exit status.
pub fn scan_as_nobody_with(caps: &[&str], args: &[&str]) -> std::process::Output {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", lab::SCANNER_NS]).args([
        "prlimit",
        "--memlock=1048576",
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]);
    if !caps.is_empty() {
        let caps: Vec<String> = caps.iter().map(|c| format!("+{c}")).collect();
        let caps = caps.join(",");
        command.args([
            format!("--inh-caps={caps}"),
            format!("--ambient-caps={caps}"),
        ]);
    }
    command
        .arg(scanner_binary())
        .args(args)
        .output()
        .expect("setpriv (util-linux)")
}

/// The send and receive paths a scan used, from the summary line it prints with
/// `-v` ("sent N probes ... via AF_XDP, M replies via XDP (...)", or for a sweep
/// "sent N probes via AF_XDP (T thread(s)), M replies via XDP (...)").
pub fn paths_used(messages: &str) -> Option<(String, String)> {
    let line = messages
        .lines()
        .find(|l| l.contains(" probes") && l.contains(" replies via "))?;
    let sent = line.split(" replies via ").next()?;
    let send = sent.rsplit(" via ").next()?;
    // "AF_XDP, 12 replies", "XDP live frames (1 thread(s)), 12 replies"
    let send = send.split([',', '(']).next()?.trim();
    let recv = line.split(" replies via ").nth(1)?.split(' ').next()?;
    Some((send.to_string(), recv.to_string()))
}

/// Runs the scanner (see [`scan`]) with `-v`, and fails unless its probes left
/// through `send` and its replies came in through `recv` (the names it prints:
/// "AF_XDP", "AF_PACKET", "libpcap"; "XDP", "AF_PACKET"): a test of a fast path
/// must not pass on a fallback.
pub fn scan_via(args: &[&str], send: &str, recv: &str) -> Result<States> {
    scan_via_binary(&scanner_binary(), args, send, recv)
}

/// [`scan_via`] with the scanner binary `binary`.
pub fn scan_via_binary(
    binary: &std::path::Path,
    args: &[&str],
    send: &str,
    recv: &str,
) -> Result<States> {
    let mut args = args.to_vec();
    args.extend(["-v", "-oJ", "-"]);
    let (stdout, messages) = run_in_lab(binary, &args)?;
    let used = paths_used(&messages);
    if used != Some((send.to_string(), recv.to_string())) {
        bail!("expected probes via {send} and replies via {recv}, the scan used {used:?}:\n{messages}");
    }
    parse_findings(&stdout)
}

/// SYN-scans every lab host's standard ports with `scan` (given the arguments, to
/// which it adds its own) and fails on any difference from the lab's truth.
pub fn assert_syn_scan_of_the_lab_is_the_truth(scan: impl Fn(&[&str]) -> States) {
    let hosts = all_hosts();
    let ports = standard_ports();
    let mut args = vec!["-sS", "-p", &ports];
    args.extend(hosts.iter().map(String::as_str));
    let diffs = differences(&truth(&hosts, &ports), &scan(&args));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// A normal-output report without what changes from run to run (times, latencies),
/// numbered by line: two scans' reports of the same lab compare equal.
pub fn steady_report(report: &str) -> BTreeMap<usize, String> {
    report
        .lines()
        .filter(|l| !l.contains("latency") && !l.starts_with("Scan done") && !l.contains(" ms "))
        .filter(|l| !l.starts_with("Starting") && !l.contains("elapsed"))
        .map(String::from)
        .enumerate()
        .collect()
}

/// Runs the scanner in the lab's scanner namespace with exactly `args`; its stdout.
pub fn scan_output(args: &[&str]) -> Result<String> {
    scan_output_and_messages(args).map(|(stdout, _)| stdout)
}

/// As [`scan_output`], with what the scanner said on stderr as well.
pub fn scan_output_and_messages(args: &[&str]) -> Result<(String, String)> {
    run_in_lab(&scanner_binary(), args)
}

/// Runs the scanner binary `binary` in the lab's scanner namespace with exactly
/// `args`; its stdout and stderr, or an error with stderr if it failed.
pub fn run_in_lab(binary: &std::path::Path, args: &[&str]) -> Result<(String, String)> {
    let output = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .arg(binary)
        .args(args)
        .output()
        .context("running the scanner")?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        bail!("scanner failed ({}): {stderr}", output.status);
    }
    Ok((String::from_utf8_lossy(&output.stdout).into_owned(), stderr))
}

/// Runs the scanner (see [`scan_json`]) and returns the states it reported.
pub fn scan(args: &[&str]) -> Result<States> {
    parse_findings(&scan_json(args)?)
}

/// Per host: the open ports, and how many ports are closed and filtered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HostSummary {
    pub open: Vec<u16>,
    pub closed: usize,
    pub filtered: usize,
}

pub fn summarize(states: &States) -> BTreeMap<Ipv4Addr, HostSummary> {
    let mut out: BTreeMap<Ipv4Addr, HostSummary> = BTreeMap::new();
    for (&(addr, port), state) in states {
        let host = out.entry(addr).or_default();
        match state {
            PortState::Open => host.open.push(port),
            PortState::Closed => host.closed += 1,
            PortState::Filtered => host.filtered += 1,
        }
    }
    out
}

/// Runs `nmap -sS` in the scanner namespace and summarizes its XML per host (nmap
/// folds common states into <extraports>, so closed and filtered come as counts).
pub fn nmap_summary(hosts: &[String], ports: &str) -> Result<BTreeMap<Ipv4Addr, HostSummary>> {
    nmap_summary_with(hosts, ports, "-sS")
}

/// Runs `nmap -Pn SCAN_FLAG -T4 -p PORTS TARGETS` in the scanner namespace and
/// returns its XML.
pub fn nmap_xml<S: AsRef<std::ffi::OsStr>>(
    targets: &[S],
    ports: &str,
    scan_flag: &str,
) -> Result<String> {
    // Not -n: nmap looks up the PTR names of the hosts up, as the scanner does, and
    // ndiff compares them.
    let fixed = ["-Pn", scan_flag, "-T4", "-p", ports];
    let mut args: Vec<&std::ffi::OsStr> = fixed.iter().map(std::ffi::OsStr::new).collect();
    args.extend(targets.iter().map(AsRef::as_ref));
    nmap_xml_with(&args)
}

/// Runs nmap with exactly `args` (plus `-oX -`) in the scanner namespace; its XML.
pub fn nmap_xml_with<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<String> {
    let output = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS, "nmap", "-oX", "-"])
        .args(args)
        .output()
        .context("running nmap (installed by `cargo xtask setup`)")?;
    if !output.status.success() {
        bail!("nmap failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The open ports per host of an nmap-format XML document (other states ignored).
pub fn open_ports_in_xml(xml: &str) -> Result<BTreeMap<Ipv4Addr, Vec<u16>>> {
    Ok(nmap_hosts(xml)?
        .into_iter()
        .map(|host| (host.addr, host.ports_in("open")))
        .collect())
}

/// The hosts an nmap-format XML document reports up, with the reason of each.
pub fn hosts_up(xml: &str) -> Result<BTreeMap<Ipv4Addr, String>> {
    Ok(nmap_hosts(xml)?
        .into_iter()
        .filter_map(|host| Some((host.addr, host.up_reason?)))
        .collect())
}

/// As [`nmap_summary`], with another scan type flag (`-sT`, ...).
pub fn nmap_summary_with(
    hosts: &[String],
    ports: &str,
    scan_flag: &str,
) -> Result<BTreeMap<Ipv4Addr, HostSummary>> {
    parse_nmap_xml(&nmap_xml(hosts, ports, scan_flag)?)
}

/// Fails with ndiff's report unless ndiff finds no difference between nmap's XML
/// (`theirs`, written to a file beside ours) and the scanner's (`ours`).
pub fn assert_ndiff_agrees(theirs: &str, ours: &std::path::Path) {
    let theirs_path = ours.with_extension("nmap.xml");
    std::fs::write(&theirs_path, theirs).expect("writing nmap's XML");
    let ndiff = Command::new("ndiff")
        .arg(&theirs_path)
        .arg(ours)
        .output()
        .expect("ndiff (installed by setup)");
    assert_eq!(
        ndiff.status.code(),
        Some(0),
        "ndiff found differences between nmap (-) and scanner (+):\n{}",
        String::from_utf8_lossy(&ndiff.stdout)
    );
}

/// Reads hosts, ports and extraports from nmap's XML output.
pub fn parse_nmap_xml(xml: &str) -> Result<BTreeMap<Ipv4Addr, HostSummary>> {
    let mut out = BTreeMap::new();
    for host in nmap_hosts(xml)? {
        let mut summary = HostSummary::default();
        for (state, count) in host.state_counts() {
            match state.as_str() {
                "open" => {}
                "closed" => summary.closed += count,
                "filtered" => summary.filtered += count,
                other => bail!("unexpected port state {other:?}"),
            }
        }
        summary.open = host.ports_in("open");
        out.insert(host.addr, summary);
    }
    Ok(out)
}

/// Whether an XDP program is attached to the scanner namespace's interface.
pub fn xdp_attached() -> bool {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab::SCANNER_NS,
            "ip",
            "link",
            "show",
            lab::SCANNER_IFACE,
        ])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
}

/// Injects random loss into every lab host while it lives; removes it when dropped,
/// even when the test fails.
pub struct LossGuard;

impl LossGuard {
    pub fn new(fraction: f64) -> Self {
        lab::build::set_loss(fraction).expect("setting lab loss");
        LossGuard
    }
}

impl Drop for LossGuard {
    fn drop(&mut self) {
        let _ = lab::build::set_loss(0.0);
    }
}

/// Runs the scanner in the lab with `args` plus `-oJ -`; returns the (address, port)
/// pairs reported open, failing on a pair reported twice.
pub fn sweep_open(args: &[&str]) -> Result<Vec<(Ipv4Addr, u16)>> {
    Ok(open_of(scan(args)?))
}

/// The (address, port) pairs of `states` that are open, in order.
pub fn open_of(states: States) -> Vec<(Ipv4Addr, u16)> {
    states
        .into_iter()
        .filter(|(_, s)| *s == PortState::Open)
        .map(|(k, _)| k)
        .collect()
}

/// The sweep host's addresses in `cidr` (inside 198.19.0.0/16) with port 80 open.
pub fn sweep_truth(cidr: &str) -> Vec<(Ipv4Addr, u16)> {
    let (base, bits) = cidr.split_once('/').expect("cidr");
    let base = u32::from(base.parse::<Ipv4Addr>().expect("address"));
    let count = 1u32 << (32 - bits.parse::<u32>().expect("bits"));
    (0..count).map(|i| (Ipv4Addr::from(base + i), 80)).collect()
}

/// Per host, how many ports are in each state (nmap's words: "open|filtered", ...).
pub type StateCounts = BTreeMap<Ipv4Addr, BTreeMap<String, usize>>;

/// Runs the scanner in the lab with `args` plus `-oJ -` and counts the states per host.
pub fn scan_state_counts(args: &[&str]) -> Result<StateCounts> {
    let mut counts = StateCounts::new();
    for line in scan_json(args)?.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let addr: Ipv4Addr = v["addr"].as_str().context("addr")?.parse()?;
        let state = v["state"].as_str().context("state")?.to_string();
        *counts.entry(addr).or_default().entry(state).or_default() += 1;
    }
    Ok(counts)
}

/// Runs nmap with `scan_flag` in the scanner namespace and counts the states per host
/// from its XML (listed ports and `<extraports>`).
pub fn nmap_state_counts(hosts: &[String], ports: &str, scan_flag: &str) -> Result<StateCounts> {
    let mut counts = StateCounts::new();
    for host in nmap_hosts(&nmap_xml(hosts, ports, scan_flag)?)? {
        let entry = counts.entry(host.addr).or_default();
        for (state, count) in host.state_counts() {
            *entry.entry(state).or_default() += count;
        }
    }
    Ok(counts)
}

/// Fails unless `xml` validates against nmap's DTD (xmllint, installed by setup).
pub fn assert_valid_nmap_xml(xml: &str) {
    let path = std::env::temp_dir().join(format!(
        "scanner-dtd-{}-{:?}.xml",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, xml).expect("writing the XML");
    let valid = Command::new("xmllint")
        .args(["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd"])
        .arg(&path)
        .status()
        .expect("xmllint (libxml2-utils, installed by setup)");
    let _ = std::fs::remove_file(&path);
    assert!(
        valid.success(),
        "the XML does not validate against nmap's DTD:\n{xml}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nmap_xml() {
        let xml = r#"<host starttime="1"><status state="up"/><address addr="198.18.0.14" addrtype="ipv4"/>
            <ports><extraports state="filtered" count="1032"><extrareasons reason="no-response" count="1032"/></extraports>
            <port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/></port>
            </ports></host><host><address addr="198.18.0.15" addrtype="ipv4"/>
            <ports><extraports state="closed" count="30"/><extraports state="filtered" count="1001"/>
            <port protocol="tcp" portid="80"><state state="open"/></port></ports></host>"#;
        let summary = parse_nmap_xml(xml).unwrap();
        assert_eq!(
            summary[&Ipv4Addr::new(198, 18, 0, 14)],
            HostSummary {
                open: vec![22],
                closed: 0,
                filtered: 1032
            }
        );
        assert_eq!(
            summary[&Ipv4Addr::new(198, 18, 0, 15)],
            HostSummary {
                open: vec![80],
                closed: 30,
                filtered: 1001
            }
        );
    }

    #[test]
    fn reads_the_paths_a_scan_used() {
        let scan = "scanner: note\nscanner: sent 1 probes (0 retransmits) via AF_XDP, 1 replies via XDP (0 duplicates, 0 lost in the kernel ring), 1 RSTs\n";
        assert_eq!(
            paths_used(scan),
            Some(("AF_XDP".to_string(), "XDP".to_string()))
        );
        let sweep = "scanner: sweep seed 7: sent 131072 probes via libpcap (1 thread(s)), 65536 replies via AF_PACKET (65536 open, 0 closed)";
        assert_eq!(
            paths_used(sweep),
            Some(("libpcap".to_string(), "AF_PACKET".to_string()))
        );
        let live = "scanner: sweep seed 7: sent 9 probes via XDP live frames (1 thread(s)), 9 replies via XDP (9 open)";
        assert_eq!(
            paths_used(live),
            Some(("XDP live frames".to_string(), "XDP".to_string()))
        );
        assert_eq!(
            paths_used("scanner: connect scan: 3 connects, 0 timed out"),
            None
        );
    }

    #[test]
    fn compares_states() {
        let a = Ipv4Addr::new(198, 18, 0, 10);
        let expected: States = [((a, 22), PortState::Open), ((a, 23), PortState::Closed)].into();
        let found: States = [((a, 22), PortState::Closed), ((a, 24), PortState::Closed)].into();
        assert_eq!(differences(&expected, &found).len(), 3);
        assert!(differences(&expected, &expected).is_empty());
    }
}
