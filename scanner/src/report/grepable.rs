//! nmap's grepable output (`-oG`): one `Host:` line for status and one for ports per
//! host, `Ignored State:` for the folded ones, and comment lines around them.

use super::{ctime, folded_states, services, OutputOptions, ScanResult};
use std::fmt::Write;

pub fn render(result: &ScanResult, opts: OutputOptions) -> String {
    let mut out = String::new();
    let start = result.start_time();
    let _ = writeln!(
        out,
        "# scanner {} scan initiated {} as: {}",
        env!("CARGO_PKG_VERSION"),
        ctime(start),
        result.args
    );
    for (addr, host) in &result.hosts {
        if !opts.shows_host(host) {
            continue;
        }
        let name = host.display_name().unwrap_or("");
        let _ = writeln!(
            out,
            "Host: {addr} ({name})\tStatus: {}",
            if host.is_up() { "Up" } else { "Down" }
        );
        let folded = folded_states(host);
        let listed: Vec<String> = host
            .ports
            .values()
            .filter(|p| !folded.contains(&p.state) && opts.lists_port(p))
            .map(|p| {
                format!(
                    "{}/{}/{}//{}///",
                    p.port,
                    p.state.as_str(),
                    p.proto,
                    services::name(p.port, p.proto)
                )
            })
            .collect();
        let mut line = format!("Host: {addr} ({name})\tPorts: {}", listed.join(", "));
        if let Some(state) = folded
            .iter()
            .max_by_key(|s| host.ports.values().filter(|p| p.state == **s).count())
        {
            let count = host.ports.values().filter(|p| p.state == *state).count();
            let _ = write!(line, "\tIgnored State: {} ({count})", state.as_str());
        }
        if !listed.is_empty() || !folded.is_empty() {
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = writeln!(
        out,
        "# scanner done at {} -- {}",
        ctime(start + result.elapsed),
        result.summary()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{PortFinding, PortState, Reason};
    use std::net::Ipv4Addr;

    #[test]
    fn host_lines_as_nmap_writes_them() {
        let mut result = ScanResult {
            addresses: 1,
            ..Default::default()
        };
        let addr = Ipv4Addr::new(198, 18, 1, 10);
        for port in 1..=30 {
            let (state, reason) = if port == 22 {
                (PortState::Open, Reason::SynAck)
            } else {
                (PortState::Closed, Reason::Reset)
            };
            result.record(PortFinding {
                addr,
                port,
                proto: "tcp",
                state,
                reason,
                ttl: Some(63),
                time: 0.0,
            });
        }
        let text = render(&result, OutputOptions::default());
        assert!(
            text.contains("Host: 198.18.1.10 ()\tStatus: Up\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "Host: 198.18.1.10 ()\tPorts: 22/open/tcp//ssh///\tIgnored State: closed (29)\n"
            ),
            "{text}"
        );
    }
}
