//! Version detection (`-sV`) in the lab: every lab daemon named with the project's own
//! database; nmap's own database through `--versiondb` giving nmap's answers; and the
//! hostile host's services contained. Run by `cargo xtask test`.

use lab_tests::*;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use xtask::lab::{self, ExpectedService};
use xtask::nmap_xml::{services as xml_services, PortKey, ServiceFacts};

/// nmap's own probe database, as Debian installs it (with nmap, by `cargo xtask setup`).
const NMAP_PROBES: &str = "/usr/share/nmap/nmap-service-probes";

/// The services per (address, port, protocol) in an nmap-format XML document.
fn services(xml: &str) -> BTreeMap<PortKey, ServiceFacts> {
    xml_services(xml).expect("XML")
}

/// The lab's hosts with services, and what each port should be named.
fn expectations(hosts: &[&str]) -> Vec<(Ipv4Addr, ExpectedService)> {
    hosts
        .iter()
        .map(|name| lab::host(name))
        .flat_map(|host| {
            let addr = host.addr;
            host.expected_services().into_iter().map(move |e| (addr, e))
        })
        .collect()
}

/// A `-p` argument with the TCP and UDP ports of `expected`.
fn port_spec(expected: &[(Ipv4Addr, ExpectedService)]) -> String {
    let ports = |proto: &str| {
        let mut ports: Vec<u16> = expected
            .iter()
            .filter(|(_, e)| e.proto == proto)
            .map(|(_, e)| e.port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    [("T", ports("tcp")), ("U", ports("udp"))]
        .into_iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(prefix, list)| format!("{prefix}:{list}"))
        .collect::<Vec<_>>()
        .join(",")
}

const DAEMON_HOSTS: &[&str] = &["web", "svc", "dns", "drop", "reject", "win", "far"];

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn own_database_names_every_lab_daemon() {
    require_lab();
    let expected = expectations(DAEMON_HOSTS);
    let ports = port_spec(&expected);
    let addrs: Vec<String> = DAEMON_HOSTS
        .iter()
        .map(|h| lab::host(h).addr.to_string())
        .collect();
    let mut args = vec!["-sSUV", "-n", "-p", &ports, "-oX", "-"];
    args.extend(addrs.iter().map(String::as_str));
    let xml = scan_output(&args).unwrap();
    let found = services(&xml);
    let mut wrong = Vec::new();
    for (addr, e) in &expected {
        let Some(facts) = found.get(&(*addr, e.port, e.proto.to_string())) else {
            wrong.push(format!(
                "{addr}:{}/{}: no service reported",
                e.port, e.proto
            ));
            continue;
        };
        let product_ok = e.product.is_none() || facts.product.as_deref() == e.product;
        let version_ok = !e.versioned || facts.version.is_some();
        if facts.name != e.service || !product_ok || !version_ok || facts.method != "probed" {
            wrong.push(format!(
                "{addr}:{}/{}: expected {} {:?}{}, got {facts:?}",
                e.port,
                e.proto,
                e.service,
                e.product,
                if e.versioned { " with a version" } else { "" }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn nmaps_database_gives_nmaps_answers() {
    require_lab();
    // nmap as the oracle: the same ports, its own database in both tools. TCP on every
    // host with daemons; UDP on the hosts with UDP services (a UDP scan of closed
    // ports waits on the hosts' ICMP rate limit, in both tools).
    let mut differ = Vec::new();
    for (scan, hosts) in [("-sSV", DAEMON_HOSTS), ("-sUV", &["svc", "dns"][..])] {
        let proto = if scan == "-sSV" { "tcp" } else { "udp" };
        let expected: Vec<(Ipv4Addr, ExpectedService)> = expectations(hosts)
            .into_iter()
            .filter(|(_, e)| e.proto == proto)
            .collect();
        let ports = port_spec(&expected);
        let addrs: Vec<String> = hosts
            .iter()
            .map(|h| lab::host(h).addr.to_string())
            .collect();
        let mut ours = vec![
            scan,
            "-n",
            "--versiondb",
            NMAP_PROBES,
            "-p",
            &ports,
            "-oX",
            "-",
        ];
        ours.extend(addrs.iter().map(String::as_str));
        let started = Instant::now();
        let ours = services(&scan_output(&ours).unwrap());
        let our_time = started.elapsed();
        let mut theirs = vec![scan, "-n", "-Pn", "-T4", "-p", &ports];
        theirs.extend(addrs.iter().map(String::as_str));
        let started = Instant::now();
        let theirs = services(&nmap_xml_with(&theirs).unwrap());
        let their_time = started.elapsed();
        for (addr, e) in &expected {
            let key = (*addr, e.port, e.proto.to_string());
            match (ours.get(&key), theirs.get(&key)) {
                (Some(a), Some(b)) if a.same_answer(b) => {}
                (a, b) => differ.push(format!(
                    "{addr}:{}/{} ({scan}; scanner {our_time:?}, nmap {their_time:?}): scanner {a:?}, nmap {b:?}",
                    e.port, e.proto
                )),
            }
        }
    }
    assert!(
        differ.is_empty(),
        "the scanner with nmap's database differs from nmap -sV:\n{}",
        differ.join("\n")
    );
}

/// Runs the scanner in the lab with `args`; its stdout, wall time and peak memory.
fn scan_measured(args: &[&str]) -> (String, Duration, u64) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let binary = scanner_binary().display().to_string();
    let run =
        xtask::shell::measured_in_ns(lab::SCANNER_NS, &binary, &args, Duration::from_secs(120))
            .expect("running the scanner");
    assert!(
        run.success && !run.stopped,
        "scanner failed or ran past 120 s: {run:?}"
    );
    (
        run.stdout,
        Duration::from_secs_f64(run.seconds),
        run.peak_bytes,
    )
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn hostile_services_are_contained() {
    require_lab();
    let hostile = lab::host("hostile");
    let web = lab::host("web");
    let hostile_ports: Vec<String> = lab::hostile::SERVICES
        .iter()
        .map(|s| s.0.to_string())
        .collect();
    let ports = format!("22,80,{}", hostile_ports.join(","));
    let hostile_addr = hostile.addr.to_string();
    let web_addr = web.addr.to_string();
    let (xml, elapsed, peak) = scan_measured(&[
        "-sV",
        "-n",
        "-p",
        &ports,
        "-oX",
        "-",
        &hostile_addr,
        &web_addr,
    ]);
    let found = services(&xml);
    let mut wrong = Vec::new();
    for &(port, behaviour, name) in lab::hostile::SERVICES {
        match found.get(&(hostile.addr, port, "tcp".to_string())) {
            None => wrong.push(format!("{port} ({behaviour:?}): not reported open")),
            Some(facts) if name.is_some_and(|n| n != facts.name) => wrong.push(format!(
                "{port} ({behaviour:?}): expected {name:?}, got {facts:?}"
            )),
            Some(_) => {}
        }
    }
    // The slow drip is read whole, and names itself.
    let drip = found.get(&(hostile.addr, 2525, "tcp".to_string()));
    assert_eq!(
        drip.and_then(|f| f.product.as_deref()),
        Some("Postfix smtpd"),
        "{drip:?}"
    );
    // The other host's services are named as ever.
    for (port, name, product) in [(22, "ssh", "OpenSSH"), (80, "http", "nginx")] {
        let facts = found.get(&(web.addr, port, "tcp".to_string()));
        if facts.map(|f| (f.name.as_str(), f.product.as_deref())) != Some((name, Some(product))) {
            wrong.push(format!("web:{port}: {facts:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Bounded: answers are capped (the endless banner), waits are bounded (the
    // silent service), and nothing is held per byte.
    assert!(peak < 200 << 20, "peak memory {} MiB", peak >> 20);
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn outputs_carry_the_service() {
    require_lab();
    let web = lab::host("web").addr.to_string();
    // Normal output: the VERSION column, the certificate, the Service Info line.
    let text = scan_output(&["-sV", "-n", "-p", "22,443", &web]).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("443/tcp") && l.contains("ssl/http") && l.contains("nginx")),
        "{text}"
    );
    assert!(text.contains("PORT    STATE SERVICE  VERSION"), "{text}");
    assert!(
        text.contains("|_tls-certificate: subject CN=web.lab.test"),
        "{text}"
    );
    assert!(text.contains("Service Info: OS: Linux"), "{text}");
    // JSON lines: each open port once, with its service.
    let json = scan_json(&["-sV", "-n", "-p", "22,443", &web]).unwrap();
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{json}");
    let https = lines.iter().find(|v| v["port"] == 443).unwrap();
    assert_eq!(https["service"]["name"], "http", "{https}");
    assert_eq!(https["service"]["tunnel"], "ssl", "{https}");
    assert_eq!(
        https["service"]["certificate"]["subject"], "CN=web.lab.test",
        "{https}"
    );
    // Grepable: the version field.
    let grepable = scan_output(&["-sV", "-n", "-p", "22", "-oG", "-", &web]).unwrap();
    assert!(
        grepable.contains("22/open/tcp//ssh//OpenSSH 9."),
        "{grepable}"
    );
    // XML: nmap's DTD allows every attribute written, <cpe> included.
    let xml = scan_output(&["-sV", "-n", "-p", "22,443", "-oX", "-", &web]).unwrap();
    assert!(
        xml.contains(r#"tunnel="ssl" method="probed" conf="10"><cpe>cpe:/a:f5:nginx:"#),
        "{xml}"
    );
    assert_valid_nmap_xml(&xml);
    // Without privileges: a connect scan, and version detection as ever.
    let plain = scan_unprivileged(&["-sV", "-n", "-p", "22,443", &web]);
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(
        plain.contains("ssl/http nginx ")
            && plain
                .lines()
                .any(|l| l.starts_with("22/tcp") && l.contains("OpenSSH")),
        "{plain}"
    );
    // Intensity 0 still sends the port's own probes: http is named on port 80.
    let light = scan_json(&["-sV", "--version-intensity", "0", "-n", "-p", "80", &web]).unwrap();
    assert!(light.contains("\"product\":\"nginx\""), "{light}");
}
