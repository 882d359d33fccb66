//! The truth as port states per (address, port), the scanner's JSON findings read into
//! the same shape, and the differences between the two (states, and the services
//! `-sV` named): what the demo prints and the tests assert on.

use super::PortState;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Port states per (address, port).
pub type States = BTreeMap<(Ipv4Addr, u16), PortState>;

/// Expands a -p list of numbers and ranges.
pub fn expand_ports(spec: &str) -> Vec<u16> {
    spec.split(',')
        .flat_map(|item| match item.split_once('-') {
            Some((lo, hi)) => {
                (lo.parse::<u16>().unwrap()..=hi.parse::<u16>().unwrap()).collect::<Vec<_>>()
            }
            None => vec![item.parse().unwrap()],
        })
        .collect()
}

/// The truth for these hosts and ports.
pub fn truth(hosts: &[String], ports: &str) -> States {
    let mut states = States::new();
    for host in super::hosts()
        .into_iter()
        .filter(|h| hosts.contains(&h.addr.to_string()))
    {
        for port in expand_ports(ports) {
            states.insert((host.addr, port), host.tcp_state(port));
        }
    }
    states
}

/// Reads the scanner's JSON lines (`-oJ`) into states; a port reported twice is an error.
pub fn parse_findings(jsonl: &str) -> Result<States> {
    let mut states = States::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("bad JSON line {line:?}"))?;
        let addr: Ipv4Addr = v["addr"].as_str().context("addr")?.parse()?;
        let port = v["port"].as_u64().context("port")? as u16;
        let state = match v["state"].as_str() {
            Some("open") => PortState::Open,
            Some("closed") => PortState::Closed,
            Some("filtered") => PortState::Filtered,
            other => bail!("unknown state {other:?}"),
        };
        if states.insert((addr, port), state).is_some() {
            bail!("{addr}:{port} was reported twice");
        }
    }
    Ok(states)
}

/// Lines describing where `found` differs from `expected`.
pub fn differences(expected: &States, found: &States) -> Vec<String> {
    let mut diffs = Vec::new();
    for (key, want) in expected {
        match found.get(key) {
            Some(got) if got == want => {}
            Some(got) => diffs.push(format!(
                "{}:{} is {} but was reported {}",
                key.0,
                key.1,
                want.as_str(),
                got.as_str()
            )),
            None => diffs.push(format!(
                "{}:{} ({}) was not reported",
                key.0,
                key.1,
                want.as_str()
            )),
        }
    }
    for key in found.keys().filter(|k| !expected.contains_key(k)) {
        diffs.push(format!("{}:{} was reported but not scanned", key.0, key.1));
    }
    diffs
}

/// Where the services in the scanner's JSON lines (`-sV -oJ`) differ from what the
/// lab runs, for every open TCP port the lines report.
pub fn service_differences(json_lines: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for line in json_lines.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).context("a JSON line")?;
        if v["state"] != "open" || v["proto"] != "tcp" {
            continue;
        }
        let addr: Ipv4Addr = v["addr"].as_str().context("addr")?.parse()?;
        let port = v["port"].as_u64().context("port")? as u16;
        let Some(host) = super::hosts().into_iter().find(|h| h.addr == addr) else {
            continue;
        };
        let Some(expected) = host
            .expected_services()
            .into_iter()
            .find(|e| e.port == port && e.proto == "tcp")
        else {
            continue;
        };
        let service = &v["service"];
        let name = match service["tunnel"].as_str() {
            Some(tunnel) => format!("{tunnel}/{}", service["name"].as_str().unwrap_or("")),
            None => service["name"].as_str().unwrap_or("").to_string(),
        };
        let product = service["product"].as_str();
        let name_ok = expected.service.is_empty() || name == expected.service;
        if !name_ok || (expected.product.is_some() && product != expected.product) {
            out.push(format!(
                "{addr}:{port} runs {} {:?} but was named {name} {product:?}",
                expected.service, expected.product
            ));
        }
    }
    Ok(out)
}
