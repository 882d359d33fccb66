//! Service names for the SERVICE column, from `fingerprints/services` (the project's
//! own table, embedded at build time).

use std::collections::HashMap;
use std::sync::OnceLock;

static TABLE: &str = include_str!("../../../fingerprints/services");

fn table() -> &'static HashMap<(u16, &'static str), &'static str> {
    static PARSED: OnceLock<HashMap<(u16, &'static str), &'static str>> = OnceLock::new();
    PARSED.get_or_init(|| {
        TABLE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|line| {
                let (name, port_proto) = line.split_once(' ')?;
                let (port, proto) = port_proto.trim().split_once('/')?;
                Some(((port.parse().ok()?, proto), name))
            })
            .collect()
    })
}

/// The usual service on `port`/`proto`, or "unknown" as nmap says.
pub fn name(port: u16, proto: &str) -> &'static str {
    let proto: &'static str = if proto == "udp" { "udp" } else { "tcp" };
    table().get(&(port, proto)).copied().unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    #[test]
    fn knows_the_lab_services() {
        assert_eq!(super::name(22, "tcp"), "ssh");
        assert_eq!(super::name(6379, "tcp"), "redis");
        assert_eq!(super::name(161, "udp"), "snmp");
        assert_eq!(super::name(4, "tcp"), "unknown");
    }
}
