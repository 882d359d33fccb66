//! `cargo xtask bench nmap`: the scanner next to nmap with the same flags and `-T4`,
//! on the same lab, in one run: for each case the wall time of each tool (median of
//! three runs, taken in turn), the ratio, whether their results agree, and how far
//! each is from the lab's truth (a fast scan that gets ports wrong is worth nothing).
//!
//! Cases: host discovery of the lab segment (`-sn`), every TCP port of one host
//! (`-sS -p-`), and UDP scans of the lab's UDP services, first on their own ports
//! and then with closed ports around them, where the targets' ICMP rate limit (one
//! port-unreachable a second after a burst of six) sets the pace for both tools.

use crate::lab::{self, SCANNER_ADDR, SCANNER_NS};
use crate::nmap_xml::{self, NmapHost};
use crate::shell::output;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs of each tool per case.
const RUNS: usize = 3;
/// Pause before each UDP run, so that every run starts with the targets' ICMP
/// buckets full (six errors, refilled at one a second) rather than drained by the
/// run before it.
const ICMP_REFILL: Duration = Duration::from_secs(7);

/// What a scan found: hosts up, and each (address, protocol, port)'s state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Found {
    up: Vec<Ipv4Addr>,
    ports: BTreeMap<(Ipv4Addr, String, u16), String>,
}

impl Found {
    fn from_xml(xml: &str, folded_ports: &[(String, u16)]) -> Result<Self> {
        let mut found = Found::default();
        for host in nmap_xml::hosts(xml)? {
            if host.up_reason.is_some() {
                found.up.push(host.addr);
            }
            found.add_ports(&host, folded_ports);
        }
        found.up.sort_unstable();
        Ok(found)
    }

    /// Listed ports as they are; folded ones (one `<extraports>` state per host, as
    /// both tools write) for every scanned port not listed.
    fn add_ports(&mut self, host: &NmapHost, scanned: &[(String, u16)]) {
        for (port, proto, state) in &host.ports {
            self.ports
                .insert((host.addr, proto.clone(), *port), state.clone());
        }
        if let Some((state, _)) = host.extra.first() {
            for (proto, port) in scanned {
                self.ports
                    .entry((host.addr, proto.clone(), *port))
                    .or_insert_with(|| state.clone());
            }
        }
    }

    /// Entries where `self` and `other` differ.
    fn differences(&self, other: &Found) -> usize {
        let hosts = self.up.iter().filter(|a| !other.up.contains(a)).count()
            + other.up.iter().filter(|a| !self.up.contains(a)).count();
        let mut keys: Vec<_> = self.ports.keys().chain(other.ports.keys()).collect();
        keys.sort_unstable();
        keys.dedup();
        hosts
            + keys
                .into_iter()
                .filter(|k| self.ports.get(*k) != other.ports.get(*k))
                .count()
    }
}

/// One comparison.
struct Case {
    title: &'static str,
    flags: Vec<String>,
    targets: Vec<String>,
    /// Every (protocol, port) scanned, to unfold `<extraports>`.
    scanned: Vec<(String, u16)>,
    truth: Found,
}

/// The lab's UDP services' ports, and closed ones around them.
const UDP_SERVICES: &str = "53,161,11211";
const UDP_WITH_CLOSED: &str = "7,9,53,69,111,123,137,161,500,514,1900,5353,11211,40125";

fn cases() -> Vec<Case> {
    let web = lab::host("web");
    let udp_hosts = [lab::host("svc"), lab::host("dns")];
    let segment_up: Vec<Ipv4Addr> = lab::hosts()
        .iter()
        .map(|h| h.addr)
        .chain([SCANNER_ADDR])
        .filter(|a| a.octets()[2] == 0)
        .collect();
    let tcp_all: Vec<(String, u16)> = (1..=65535).map(|p| ("tcp".to_string(), p)).collect();
    let mut web_truth = Found {
        up: vec![web.addr],
        ..Default::default()
    };
    for (_, port) in &tcp_all {
        web_truth.ports.insert(
            (web.addr, "tcp".into(), *port),
            web.tcp_state(*port).as_str().to_string(),
        );
    }
    let udp_case = |title: &'static str, spec: &str| {
        let ports = lab::truth::expand_ports(spec);
        let mut truth = Found::default();
        for host in &udp_hosts {
            truth.up.push(host.addr);
            for &port in &ports {
                let state = if host.listening_udp_ports().contains(&port) {
                    "open"
                } else {
                    "closed"
                };
                truth
                    .ports
                    .insert((host.addr, "udp".into(), port), state.into());
            }
        }
        Case {
            title,
            flags: vec!["-sU".into(), "-p".into(), spec.into()],
            targets: udp_hosts.iter().map(|h| h.addr.to_string()).collect(),
            scanned: ports.iter().map(|&p| ("udp".to_string(), p)).collect(),
            truth,
        }
    };
    let mut sorted_up = segment_up;
    sorted_up.sort_unstable();
    vec![
        Case {
            title: "-sn of the lab segment (198.18.0.0/24)",
            flags: vec!["-sn".into()],
            targets: vec![lab::SEGMENT.into()],
            scanned: vec![],
            truth: Found {
                up: sorted_up,
                ..Default::default()
            },
        },
        Case {
            title: "-sS -p- of the web host",
            flags: vec!["-sS".into(), "-p-".into()],
            targets: vec![web.addr.to_string()],
            scanned: tcp_all,
            truth: web_truth,
        },
        udp_case("-sU of the lab's UDP services (svc, dns)", UDP_SERVICES),
        udp_case(
            "-sU, the services and 11 closed ports (ICMP rate limit)",
            UDP_WITH_CLOSED,
        ),
    ]
}

/// Runs `program` (the scanner or nmap) in the scanner namespace with `-n -T4`, the
/// case's flags and `-oX -`; its wall time and XML.
fn timed_run(program: &Path, case: &Case) -> Result<(f64, String)> {
    let mut args: Vec<String> = vec![
        "netns".into(),
        "exec".into(),
        SCANNER_NS.into(),
        program.display().to_string(),
        "-n".into(),
        "-T4".into(),
    ];
    args.extend(case.flags.iter().cloned());
    args.extend(["-oX".to_string(), "-".to_string()]);
    args.extend(case.targets.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let xml =
        output("ip", &args).with_context(|| format!("{} {}", program.display(), case.title))?;
    Ok((started.elapsed().as_secs_f64(), xml))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs every case and prints the table.
pub fn nmap(scanner: &Path) -> Result<()> {
    let nmap = Path::new("nmap");
    println!(
        "\n{:<58} {:>10} {:>10} {:>7}  {:<8} {:>14} {:>11}",
        "case (both tools: -n -T4, same flags)",
        "scanner s",
        "nmap s",
        "nmap/x",
        "agree",
        "scanner wrong",
        "nmap wrong"
    );
    for case in cases() {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let (mut ours_found, mut theirs_found) = (Found::default(), Found::default());
        let udp = case.flags.iter().any(|f| f == "-sU");
        let rest = || {
            if udp {
                std::thread::sleep(ICMP_REFILL);
            }
        };
        for _ in 0..RUNS {
            rest();
            let (time, xml) = timed_run(scanner, &case)?;
            ours.push(time);
            ours_found = Found::from_xml(&xml, &case.scanned)?;
            rest();
            let (time, xml) = timed_run(nmap, &case)?;
            theirs.push(time);
            theirs_found = Found::from_xml(&xml, &case.scanned)?;
        }
        let (ours, theirs) = (median(ours), median(theirs));
        let disagreements = ours_found.differences(&theirs_found);
        println!(
            "{:<58} {:>10.2} {:>10.2} {:>6.1}x  {:<8} {:>14} {:>11}",
            case.title,
            ours,
            theirs,
            theirs / ours,
            if disagreements == 0 {
                "yes".to_string()
            } else {
                format!("{disagreements} differ")
            },
            ours_found.differences(&case.truth),
            theirs_found.differences(&case.truth)
        );
    }
    println!("\n(times: median of {RUNS} runs each; \"wrong\": hosts and ports that differ from the lab's truth, last run)");
    Ok(())
}
