//! nmap's normal output: a report per host with PORT STATE SERVICE lines, the most
//! common uninteresting state folded into a "Not shown" line, and a closing summary.

use super::{services, HostResult, PortState, ScanResult};
use std::fmt::Write;

/// States with more ports than this are folded into "Not shown" (nmap does the same).
const FOLD_THRESHOLD: usize = 25;

pub fn render(result: &ScanResult) -> String {
    let mut out = String::new();
    for (addr, host) in &result.hosts {
        let _ = writeln!(out, "Scan report for {addr}");
        match host.latency {
            Some(latency) if host.is_up() => {
                let _ = writeln!(out, "Host is up ({:.5}s latency).", latency.as_secs_f64());
            }
            _ if host.is_up() => out.push_str("Host is up.\n"),
            _ => out.push_str("Host seems down or filters every probe (no reply).\n"),
        }
        render_ports(&mut out, host);
        out.push('\n');
    }
    let up = result.hosts.values().filter(|h| h.is_up()).count();
    let addresses = result.addresses.max(result.hosts.len() as u64);
    let _ = writeln!(
        out,
        "Scan done: {} IP address{} ({} host{} up) scanned in {:.2} seconds",
        addresses,
        if addresses == 1 { "" } else { "es" },
        up,
        if up == 1 { "" } else { "s" },
        result.elapsed.as_secs_f64()
    );
    out
}

fn render_ports(out: &mut String, host: &HostResult) {
    let count = |state| host.ports.values().filter(|p| p.state == state).count();
    let folded = [PortState::Closed, PortState::Filtered]
        .into_iter()
        .filter(|&s| count(s) > FOLD_THRESHOLD)
        .max_by_key(|&s| count(s));
    if let Some(state) = folded {
        let reason = host
            .ports
            .values()
            .find(|p| p.state == state)
            .map(|p| p.reason.as_str())
            .unwrap_or("");
        let _ = writeln!(
            out,
            "Not shown: {} {} tcp ports ({})",
            count(state),
            state.as_str(),
            reason
        );
    }
    let shown: Vec<_> = host
        .ports
        .values()
        .filter(|p| Some(p.state) != folded)
        .collect();
    if shown.is_empty() {
        if folded.is_some() {
            let _ = writeln!(
                out,
                "All {} scanned ports are {}",
                host.ports.len(),
                folded.map(|s| s.as_str()).unwrap_or("")
            );
        }
        return;
    }
    let port_width = shown
        .iter()
        .map(|p| format!("{}/{}", p.port, p.proto).len())
        .max()
        .unwrap_or(0)
        .max(4);
    let state_width = shown
        .iter()
        .map(|p| p.state.as_str().len())
        .max()
        .unwrap_or(0)
        .max(5);
    let _ = writeln!(
        out,
        "{:<port_width$} {:<state_width$} SERVICE",
        "PORT", "STATE"
    );
    for p in shown {
        let _ = writeln!(
            out,
            "{:<port_width$} {:<state_width$} {}",
            format!("{}/{}", p.port, p.proto),
            p.state.as_str(),
            services::name(p.port, p.proto)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{PortFinding, Reason};
    use std::net::Ipv4Addr;

    fn finding(port: u16, state: PortState, reason: Reason) -> PortFinding {
        PortFinding {
            addr: Ipv4Addr::new(198, 18, 0, 10),
            port,
            proto: "tcp",
            state,
            reason,
            ttl: Some(64),
            time: 0.0,
        }
    }

    #[test]
    fn folds_the_common_state_and_lists_the_rest() {
        let mut result = ScanResult::default();
        for port in 1..=100 {
            result.record(finding(port, PortState::Closed, Reason::Reset));
        }
        result.record(finding(22, PortState::Open, Reason::SynAck));
        result.record(finding(80, PortState::Open, Reason::SynAck));
        result.record(finding(81, PortState::Filtered, Reason::NoResponse));
        let text = render(&result);
        assert!(text.contains("Scan report for 198.18.0.10\n"), "{text}");
        assert!(
            text.contains("Not shown: 97 closed tcp ports (reset)\n"),
            "{text}"
        );
        assert!(text.contains("PORT   STATE    SERVICE\n22/tcp open     ssh\n80/tcp open     http\n81/tcp filtered hosts2-ns") || text.contains("81/tcp filtered unknown"), "{text}");
        assert!(text.contains("(1 host up)"), "{text}");
    }
}
