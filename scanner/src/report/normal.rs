//! nmap's normal output: a report per host with PORT STATE SERVICE lines (REASON with
//! `--reason`), the uninteresting states folded into a "Not shown" line, the MAC of
//! on-link hosts, and a closing summary.

use super::{folded_states, format_mac, services, HostResult, OutputOptions, ScanResult};
use std::fmt::Write;

pub fn render(result: &ScanResult, opts: OutputOptions) -> String {
    let mut out = String::new();
    for (addr, host) in &result.hosts {
        if !opts.shows_host(host) {
            continue;
        }
        match host.display_name() {
            Some(name) => {
                let _ = writeln!(out, "Scan report for {name} ({addr})");
            }
            None => {
                let _ = writeln!(out, "Scan report for {addr}");
            }
        }
        let received = if opts.reason {
            format!(", received {}", host.status_reason())
        } else {
            String::new()
        };
        match host.latency {
            Some(latency) if host.is_up() => {
                let _ = writeln!(
                    out,
                    "Host is up{received} ({:.5}s latency).",
                    latency.as_secs_f64()
                );
            }
            _ if host.is_up() => {
                let _ = writeln!(out, "Host is up{received}.");
            }
            _ => out.push_str("Host seems down or filters every probe (no reply).\n"),
        }
        render_ports(&mut out, host, opts);
        if let Some(mac) = &host.mac {
            let _ = writeln!(out, "MAC Address: {}", format_mac(mac));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Scan done: {}", result.summary());
    out
}

fn render_ports(out: &mut String, host: &HostResult, opts: OutputOptions) {
    let folded = folded_states(host);
    if !folded.is_empty() {
        let parts: Vec<String> = folded
            .iter()
            .flat_map(|state| {
                ["tcp", "udp"].into_iter().filter_map(move |proto| {
                    let ports: Vec<_> = host
                        .ports
                        .values()
                        .filter(|p| p.state == *state && p.proto == proto)
                        .collect();
                    let reason = ports.first()?.reason.as_str();
                    let noun = if ports.len() == 1 { "port" } else { "ports" };
                    Some(format!(
                        "{} {} {proto} {noun} ({reason})",
                        ports.len(),
                        state.as_str()
                    ))
                })
            })
            .collect();
        let _ = writeln!(out, "Not shown: {}", parts.join(", "));
    }
    let shown: Vec<_> = host
        .ports
        .values()
        .filter(|p| !folded.contains(&p.state) && opts.lists_port(p))
        .collect();
    if shown.is_empty() {
        if !folded.is_empty() {
            let _ = writeln!(
                out,
                "All {} scanned ports are in ignored states.",
                host.ports.len()
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
    let service_width = shown
        .iter()
        .map(|p| services::name(p.port, p.proto).len())
        .max()
        .unwrap_or(0)
        .max(7);
    if opts.reason {
        let _ = writeln!(
            out,
            "{:<port_width$} {:<state_width$} {:<service_width$} REASON",
            "PORT", "STATE", "SERVICE"
        );
    } else {
        let _ = writeln!(
            out,
            "{:<port_width$} {:<state_width$} SERVICE",
            "PORT", "STATE"
        );
    }
    for p in shown {
        let port = format!("{}/{}", p.port, p.proto);
        let service = services::name(p.port, p.proto);
        if opts.reason {
            let ttl = p.ttl.map(|t| format!(" ttl {t}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "{port:<port_width$} {:<state_width$} {service:<service_width$} {}{ttl}",
                p.state.as_str(),
                p.reason.as_str()
            );
        } else {
            let _ = writeln!(
                out,
                "{port:<port_width$} {:<state_width$} {service}",
                p.state.as_str()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{PortFinding, PortState, Reason};
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

    fn sample() -> ScanResult {
        let mut result = ScanResult::default();
        for port in 1..=100 {
            result.record(finding(port, PortState::Closed, Reason::Reset));
        }
        for port in 200..=230 {
            result.record(finding(port, PortState::Filtered, Reason::NoResponse));
        }
        result.record(finding(22, PortState::Open, Reason::SynAck));
        result.record(finding(80, PortState::Open, Reason::SynAck));
        result.record(finding(300, PortState::Filtered, Reason::NoResponse));
        result
    }

    #[test]
    fn folds_every_large_uninteresting_state() {
        let text = render(&sample(), OutputOptions::default());
        assert!(text.contains("Scan report for 198.18.0.10\n"), "{text}");
        assert!(
            text.contains(
                "Not shown: 98 closed tcp ports (reset), 32 filtered tcp ports (no-response)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("PORT   STATE SERVICE\n22/tcp open  ssh\n80/tcp open  http\n"),
            "{text}"
        );
        assert!(text.contains("(1 host up)"), "{text}");
    }

    #[test]
    fn reason_column_and_open_only() {
        let text = render(
            &sample(),
            OutputOptions {
                open_only: true,
                reason: true,
            },
        );
        assert!(
            text.contains("22/tcp open  ssh     syn-ack ttl 64\n"),
            "{text}"
        );
        assert!(!text.contains("300/tcp"), "{text}");
    }
}
