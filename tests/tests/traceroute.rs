//! `--traceroute` in the lab: the far host (behind the router) shows the router, then
//! itself; an on-link host is one hop; the hops agree with nmap's `--traceroute` on the
//! same lab, hop for hop; the XML validates against nmap's DTD; sweeps refuse it.

use lab_tests::{
    assert_valid_nmap_xml, nmap_xml_with, require_lab, scan_output, scan_output_and_messages,
};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use xtask::lab;

/// One host's trace as an XML report has it: the probe's port and protocol, and the
/// (TTL, address) of each hop.
#[derive(Debug, PartialEq, Eq)]
struct XmlTrace {
    port: Option<String>,
    proto: Option<String>,
    hops: Vec<(u8, Ipv4Addr)>,
}

/// The value of attribute `name` in the tag text `tag`.
fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(tag[start..].split('"').next()?.to_string())
}

/// The traces in an nmap-format XML report (nmap's or ours), by host.
fn traces(xml: &str) -> BTreeMap<Ipv4Addr, XmlTrace> {
    let mut out = BTreeMap::new();
    for host in xml.split("</host>") {
        let Some(host) = host.rfind("<host ").map(|at| &host[at..]) else {
            continue;
        };
        let Some(addr) = host
            .split("<address")
            .nth(1)
            .and_then(|tag| attr(tag, "addr"))
            .and_then(|a| a.parse().ok())
        else {
            continue;
        };
        let Some(trace) = host.split("<trace").nth(1) else {
            continue;
        };
        let trace = trace.split("</trace>").next().unwrap_or_default();
        let head = trace.split('>').next().unwrap_or_default();
        let hops = trace
            .split("<hop")
            .skip(1)
            .map(|tag| {
                let ttl = attr(tag, "ttl")
                    .expect("hop ttl")
                    .parse()
                    .expect("a number");
                let ip = attr(tag, "ipaddr")
                    .expect("hop ipaddr")
                    .parse()
                    .expect("an address");
                (ttl, ip)
            })
            .collect();
        out.insert(
            addr,
            XmlTrace {
                port: attr(head, "port"),
                proto: attr(head, "proto"),
                hops,
            },
        );
    }
    out
}

fn addr(name: &str) -> Ipv4Addr {
    lab::host(name).addr
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn the_far_host_is_behind_the_router_and_an_on_link_host_is_one_hop() {
    require_lab();
    let (far, web, router) = (addr("far"), addr("web"), addr("router"));
    let out = scan_output(&[
        "--traceroute",
        "-p",
        "22,80",
        &far.to_string(),
        &web.to_string(),
    ])
    .expect("scan");
    assert!(
        out.contains("TRACEROUTE (using port 80/tcp)\nHOP RTT     ADDRESS\n1   "),
        "{out}"
    );
    let xml = scan_output(&[
        "--traceroute",
        "-p",
        "22,80",
        "-oX",
        "-",
        &far.to_string(),
        &web.to_string(),
    ])
    .expect("scan");
    assert_valid_nmap_xml(&xml);
    let found = traces(&xml);
    assert_eq!(found[&far].hops, vec![(1, router), (2, far)], "{xml}");
    assert_eq!(
        (found[&far].port.as_deref(), found[&far].proto.as_deref()),
        (Some("80"), Some("tcp"))
    );
    assert_eq!(found[&web].hops, vec![(1, web)], "{xml}");
    assert_eq!(
        (found[&web].port.as_ref(), found[&web].proto.as_ref()),
        (None, None)
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn the_hops_agree_with_nmaps_traceroute() {
    require_lab();
    let hosts: Vec<String> = ["far", "web", "dns", "closed"]
        .iter()
        .map(|name| addr(name).to_string())
        .collect();
    for scan in [["-sS", "-p", "22,53,80"], ["-sn", "", ""]] {
        let flags: Vec<&str> = scan.iter().copied().filter(|f| !f.is_empty()).collect();
        let mut args: Vec<&str> = vec!["--traceroute", "-n", "-oX", "-"];
        args.extend(&flags);
        args.extend(hosts.iter().map(String::as_str));
        let ours = scan_output(&args).expect("scan");
        assert_valid_nmap_xml(&ours);
        let mut nmap_args: Vec<&str> = vec!["--traceroute", "-n", "-T4"];
        nmap_args.extend(&flags);
        nmap_args.extend(hosts.iter().map(String::as_str));
        let theirs = nmap_xml_with(&nmap_args).expect("nmap");
        let (ours, theirs) = (traces(&ours), traces(&theirs));
        let hops = |t: &BTreeMap<Ipv4Addr, XmlTrace>| -> BTreeMap<Ipv4Addr, Vec<(u8, Ipv4Addr)>> {
            t.iter().map(|(a, t)| (*a, t.hops.clone())).collect()
        };
        assert_eq!(hops(&ours), hops(&theirs), "{flags:?}");
        assert_eq!(ours.len(), hosts.len(), "{flags:?}: every host traced");
        if flags[0] == "-sS" {
            // The same probe as nmap's for each host, too.
            assert_eq!(ours, theirs);
        }
    }
}

/// With `-sn` no port answered: the trace sends the ping that found the host up
/// (nmap's "ping probe", the most trusted of those it answered), as nmap's does.
#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn with_sn_the_trace_sends_the_ping_that_found_the_host_as_nmaps_does() {
    require_lab();
    let (far, router) = (addr("far"), addr("router"));
    let target = far.to_string();
    let cases: [(&[&str], Option<&str>, &str); 5] = [
        (&["-PS80"], Some("80"), "tcp"),
        (&["-PS22"], Some("22"), "tcp"),
        (&["-PA8080"], Some("8080"), "tcp"),
        (&["-PE"], None, "icmp"),
        // nmap's default pings: the echo is sent first and its reply finds the host
        // up; the ACK to 80's reset, later, is not heard (by nmap either).
        (&[], None, "icmp"),
    ];
    for (pings, port, proto) in cases {
        let mut args: Vec<&str> = vec!["--traceroute", "-n", "-sn"];
        args.extend(pings);
        args.push(&target);
        let mut ours = args.clone();
        ours.extend(["-oX", "-"]);
        let ours = traces(&scan_output(&ours).expect("scan"));
        args.push("-T4");
        let theirs = traces(&nmap_xml_with(&args).expect("nmap"));
        assert_eq!(ours.get(&far), theirs.get(&far), "{pings:?}");
        assert_eq!(
            (ours[&far].port.as_deref(), ours[&far].proto.as_deref()),
            (port, Some(proto)),
            "{pings:?}"
        );
        assert_eq!(ours[&far].hops, vec![(1, router), (2, far)], "{pings:?}");
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn the_trace_streams_as_a_json_line() {
    require_lab();
    let far = addr("far");
    let out = scan_output(&[
        "--traceroute",
        "-n",
        "-p",
        "80",
        "-oJ",
        "-",
        &far.to_string(),
    ])
    .expect("scan");
    let trace = out
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|v| v.get("trace").is_some())
        .unwrap_or_else(|| panic!("no trace line:\n{out}"));
    assert_eq!(trace["addr"], far.to_string());
    assert_eq!(trace["trace"]["probe"]["proto"], "tcp");
    assert_eq!(trace["trace"]["probe"]["port"], 80);
    let hops: Vec<String> = trace["trace"]["hops"]
        .as_array()
        .expect("hops")
        .iter()
        .map(|h| h["addr"].as_str().unwrap_or("-").to_string())
        .collect();
    assert_eq!(hops, vec![addr("router").to_string(), far.to_string()]);
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn sweeps_and_connect_scans_refuse_it() {
    require_lab();
    let far = addr("far").to_string();
    for flags in [&["--sweep", "-p", "80"][..], &["-sT", "-p", "80"][..]] {
        let mut args = vec!["--traceroute"];
        args.extend(flags);
        args.push(&far);
        let err = scan_output_and_messages(&args)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("--traceroute"), "{flags:?}: {err}");
    }
}
