//! `cargo xtask bench version`: `-sV` of the lab's open ports by the scanner and by
//! nmap, in one run. For each case: each tool's wall time and peak memory, the time
//! ratio, and per port what each tool named, with whether the scanner (reading nmap's
//! own database through `--versiondb`, so that both read the same probes) gave nmap's
//! answer. The scanner with its own database is shown too.
//!
//! Cases: every open TCP port of the hosts with daemons; the UDP services; and the
//! hostile host, where nmap is given a time limit (its memory grows without bound
//! on the endless banner) and is stopped there.

use crate::lab::{self, ExpectedService, SCANNER_NS};
use crate::nmap_xml::{self, ServiceFacts};
use crate::shell::measured_in_ns;
use anyhow::Result;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// nmap's own probe database, as Debian installs it.
const NMAP_PROBES: &str = "/usr/share/nmap/nmap-service-probes";
/// The most any one run may take; a tool still running then is stopped.
const LIMIT: Duration = Duration::from_secs(180);
/// The same for each transport's scan of the coverage lab: nmap's UDP version scan of
/// it alone takes minutes.
const COVERAGE_LIMIT: Duration = Duration::from_secs(540);

/// One run of one tool.
struct Run {
    seconds: f64,
    /// Stopped at [`LIMIT`].
    stopped: bool,
    peak_mib: u64,
    services: BTreeMap<(Ipv4Addr, u16, String), ServiceFacts>,
}

/// Runs `program ARGS -oX -` in the scanner namespace, stopping it at `limit`.
fn run(program: &str, args: &[String], limit: Duration) -> Result<Run> {
    let mut args = args.to_vec();
    args.extend(["-oX".to_string(), "-".to_string()]);
    let measured = measured_in_ns(SCANNER_NS, program, &args, limit)?;
    let services = if measured.stopped {
        BTreeMap::new()
    } else {
        nmap_xml::services(&measured.stdout)?
    };
    Ok(Run {
        seconds: measured.seconds,
        stopped: measured.stopped,
        peak_mib: measured.peak_bytes >> 20,
        services,
    })
}

/// One comparison: the flags both tools get, and the ports whose answers are shown.
struct Case {
    title: &'static str,
    flags: Vec<String>,
    targets: Vec<String>,
    ports: Vec<(Ipv4Addr, ExpectedService)>,
}

fn case(title: &'static str, scan: &str, hosts: &[&str], proto: &str) -> Case {
    let ports: Vec<(Ipv4Addr, ExpectedService)> = hosts
        .iter()
        .map(|h| lab::host(h))
        .flat_map(|h| {
            let addr = h.addr;
            h.expected_services().into_iter().map(move |e| (addr, e))
        })
        .filter(|(_, e)| e.proto == proto)
        .collect();
    let mut numbers: Vec<u16> = ports.iter().map(|(_, e)| e.port).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let list: Vec<String> = numbers.iter().map(u16::to_string).collect();
    Case {
        title,
        flags: vec![
            scan.into(),
            "-n".into(),
            "-Pn".into(),
            "-T4".into(),
            "-p".into(),
            list.join(","),
        ],
        targets: hosts
            .iter()
            .map(|h| lab::host(h).addr.to_string())
            .collect(),
        ports,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "TCP: every open port of the hosts with daemons",
            "-sSV",
            &["web", "svc", "dns", "drop", "reject", "win", "far"],
            "tcp",
        ),
        case("UDP: the UDP services", "-sUV", &["svc", "dns"], "udp"),
        case(
            "hostile host: echo, endless banner, garbage, drip, reset, TLS garbage, tcpwrapped, silent",
            "-sSV",
            &["hostile"],
            "tcp",
        ),
    ]
}

fn time_of(run: &Run) -> String {
    if run.stopped {
        format!(">{:.0} (stopped)", LIMIT.as_secs_f64())
    } else {
        format!("{:.2}", run.seconds)
    }
}

/// Runs every case and prints, per case, the times and the answers port by port.
pub fn version(scanner: &Path) -> Result<()> {
    let scanner = scanner.display().to_string();
    for case in cases() {
        let with = |extra: &[&str]| {
            let mut args: Vec<String> = case.flags.clone();
            args.extend(extra.iter().map(|s| s.to_string()));
            args.extend(case.targets.iter().cloned());
            args
        };
        let own = run(&scanner, &with(&[]), LIMIT)?;
        let nmap_db = run(&scanner, &with(&["--versiondb", NMAP_PROBES]), LIMIT)?;
        let nmap = run("nmap", &with(&[]), LIMIT)?;
        println!("\n== {}", case.title);
        println!(
            "   flags: {} {}",
            case.flags.join(" "),
            case.targets.join(" ")
        );
        println!(
            "   {:<34} {:>16} {:>10} {:>9}",
            "tool", "time s", "peak MiB", "nmap/x"
        );
        for (name, run) in [
            ("scanner (own database)", &own),
            ("scanner --versiondb nmap's", &nmap_db),
            ("nmap -sV", &nmap),
        ] {
            println!(
                "   {:<34} {:>16} {:>10} {:>8.1}x",
                name,
                time_of(run),
                run.peak_mib,
                nmap.seconds / run.seconds
            );
        }
        println!(
            "   {:<22} {:<34} {:<34} {:<34} same",
            "port", "scanner (own)", "scanner (nmap's db)", "nmap"
        );
        let mut same = 0;
        for (addr, e) in &case.ports {
            let key = (*addr, e.port, e.proto.to_string());
            let show = |run: &Run| {
                run.services
                    .get(&key)
                    .map_or("-".to_string(), ServiceFacts::summary)
            };
            let agree = match (nmap_db.services.get(&key), nmap.services.get(&key)) {
                (Some(a), Some(b)) => a.same_answer(b),
                _ => false,
            };
            same += usize::from(agree);
            println!(
                "   {:<22} {:<34} {:<34} {:<34} {}",
                format!("{addr}:{}/{}", e.port, e.proto),
                show(&own),
                show(&nmap_db),
                show(&nmap),
                if agree { "yes" } else { "no" }
            );
        }
        println!(
            "   same answer as nmap (with nmap's database): {same} of {} ports",
            case.ports.len()
        );
    }
    Ok(())
}

/// `bench version --coverage`: `-sV -T4` of every coverage-lab port (each daemon's
/// usual ports and their unusual twins) by the scanner with its own database, by the
/// scanner with nmap's (`--versiondb`) and by `nmap -sV`: each tool's time (TCP and UDP
/// scans together), each port's three answers with whether the own database's differs
/// from nmap's database's by the coverage rule (`lab::coverage::compare`), and the
/// agreement of the own database with nmap's database and with nmap, before exceptions.
/// The coverage lab is brought up here and taken down at the end.
pub fn version_coverage(scanner: &Path) -> Result<()> {
    use crate::lab::coverage::{self, compare};
    coverage::up()?;
    let result = (|| {
        let ports = compare::ports();
        let keys: Vec<_> = ports.iter().map(|(key, _)| key.clone()).collect();
        let scanner = scanner.display().to_string();
        let runs = |program: &str, extra: &[&str]| -> Result<(f64, BTreeMap<_, _>)> {
            let (mut seconds, mut services) = (0.0, BTreeMap::new());
            for proto in ["tcp", "udp"] {
                let Some(mut args) = compare::scan_args(&keys, proto) else {
                    continue;
                };
                args.push("-T4".to_string());
                args.extend(extra.iter().map(|s| s.to_string()));
                let run = run(program, &args, COVERAGE_LIMIT)?;
                if run.stopped {
                    println!(
                        "   {program} {extra:?} ({proto}) was stopped at {COVERAGE_LIMIT:?}: its {proto} answers are missing below"
                    );
                }
                seconds += run.seconds;
                services.extend(run.services);
            }
            Ok((seconds, services))
        };
        let (own_seconds, own) = runs(&scanner, &[])?;
        let (db_seconds, nmap_db) = runs(&scanner, &["--versiondb", NMAP_PROBES])?;
        let (nmap_seconds, nmap) = runs("nmap", &[])?;
        println!(
            "\n== coverage lab: {} ports of {} daemons",
            ports.len(),
            coverage::SERVICES.len()
        );
        println!("   {:<34} {:>8} {:>12}", "tool", "time s", "/own db");
        for (name, seconds) in [
            ("scanner (own database)", own_seconds),
            ("scanner --versiondb nmap's", db_seconds),
            ("nmap -sV -T4", nmap_seconds),
        ] {
            println!(
                "   {name:<34} {seconds:>8.2} {:>11.2}x",
                seconds / own_seconds
            );
        }
        println!(
            "   {:<13} {:<22} {:<34} {:<34} {:<34} own differs",
            "daemon", "port", "scanner (own)", "scanner (nmap's db)", "nmap"
        );
        let mut differ = 0;
        for (key, daemon) in &ports {
            let show = |services: &BTreeMap<_, ServiceFacts>| {
                services
                    .get(key)
                    .map_or("-".to_string(), ServiceFacts::summary)
            };
            let how = compare::difference(daemon, own.get(key), nmap_db.get(key));
            differ += usize::from(how.is_some());
            println!(
                "   {:<13} {:<22} {:<34} {:<34} {:<34} {}",
                daemon,
                format!("{}:{}/{}", key.0, key.1, key.2),
                show(&own),
                show(&nmap_db),
                show(&nmap),
                if how.is_some() { "yes" } else { "" }
            );
        }
        println!(
            "   own database against nmap's database: {}",
            compare::Agreement::of(&ports, &own, &nmap_db)
        );
        println!(
            "   own database against nmap -sV:        {}",
            compare::Agreement::of(&ports, &own, &nmap)
        );
        println!(
            "   ports where the own database differs by the coverage rule: {differ} (exceptions: {})",
            compare::NMAPS_KNOWN_ERRORS
                .iter()
                .map(|(daemon, _, why)| format!("{daemon}: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        Ok(())
    })();
    coverage::down()?;
    result
}
