//! The services table: names of ports and how often each is found open, in the
//! nmap-services format (`name port/proto [frequency] [# comment]`). The project's own
//! table (`fingerprints/services`) is embedded; `--servicedb FILE` loads another in
//! the same format instead (a user may point it at nmap's own file).
//!
//! It answers three questions: the name of a port (the SERVICE column), the ports
//! of a name (`-p http,ssh`), and the most common ports (`--top-ports`, `-F`). The
//! table is a value, loaded once and passed to what needs it.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;

static BUILT_IN: &str = include_str!("../../../fingerprints/services");

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceEntry {
    pub name: String,
    pub port: u16,
    pub proto: String,
    pub frequency: f64,
}

#[derive(Clone, Debug, Default)]
pub struct ServicesTable {
    entries: Vec<ServiceEntry>,
    by_port: HashMap<(u16, String), usize>,
}

impl ServicesTable {
    /// The project's own table (`fingerprints/services`).
    pub fn built_in() -> Result<Self> {
        Self::parse(BUILT_IN, "fingerprints/services (built in)")
    }

    /// Parses a table; errors name the line.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let mut table = Self::default();
        for (number, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let parse = || -> Result<ServiceEntry> {
                let (port, proto) = fields
                    .get(1)
                    .and_then(|f| f.split_once('/'))
                    .context("the second field must be port/proto, such as 22/tcp")?;
                let frequency = match fields.get(2) {
                    Some(f) => f
                        .parse()
                        .with_context(|| format!("frequency {f:?} is not a number"))?,
                    None => 0.0,
                };
                Ok(ServiceEntry {
                    name: fields[0].to_string(),
                    port: port.parse().with_context(|| {
                        format!("port {port:?} is not a number from 0 to 65535")
                    })?,
                    proto: proto.to_ascii_lowercase(),
                    frequency,
                })
            };
            let entry = parse().with_context(|| format!("{origin}:{}: {raw:?}", number + 1))?;
            table
                .by_port
                .entry((entry.port, entry.proto.clone()))
                .or_insert(table.entries.len());
            table.entries.push(entry);
        }
        if table.entries.is_empty() {
            bail!("{origin} holds no services");
        }
        Ok(table)
    }

    /// The name of `port`/`proto`, or "unknown" as nmap says.
    pub fn name(&self, port: u16, proto: &str) -> &str {
        self.by_port
            .get(&(port, proto.to_string()))
            .map(|&i| self.entries[i].name.as_str())
            .unwrap_or("unknown")
    }

    /// The ports of `proto` whose name matches `pattern` (`*` and `?` wildcards).
    pub fn ports_named(&self, pattern: &str, proto: &str) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .entries
            .iter()
            .filter(|e| e.proto == proto && wildcard_match(pattern, &e.name))
            .map(|e| e.port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The `n` most frequent ports of `proto`, most frequent first.
    pub fn top_ports(&self, n: usize, proto: &str) -> Vec<u16> {
        let mut entries: Vec<&ServiceEntry> =
            self.entries.iter().filter(|e| e.proto == proto).collect();
        entries.sort_by(|a, b| {
            b.frequency
                .total_cmp(&a.frequency)
                .then(a.port.cmp(&b.port))
        });
        let mut ports = Vec::new();
        for entry in entries {
            if !ports.contains(&entry.port) {
                ports.push(entry.port);
            }
            if ports.len() == n {
                break;
            }
        }
        ports
    }
}

/// `*` matches any run of characters, `?` one; case-insensitive.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn matches(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => matches(&p[1..], n) || (!n.is_empty() && matches(p, &n[1..])),
            (Some(b'?'), Some(_)) => matches(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => matches(&p[1..], &n[1..]),
            _ => false,
        }
    }
    matches(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_lab_services_by_their_registry_names() {
        let t = ServicesTable::parse(BUILT_IN, "built-in").unwrap();
        assert_eq!(t.name(22, "tcp"), "ssh");
        assert_eq!(t.name(6379, "tcp"), "redis");
        assert_eq!(t.name(199, "tcp"), "smux");
        assert_eq!(t.name(8022, "tcp"), "oa-system");
        assert_eq!(t.name(161, "udp"), "snmp");
        assert_eq!(t.name(4, "tcp"), "unknown");
    }

    #[test]
    fn names_wildcards_and_top_ports() {
        let t = ServicesTable::parse(BUILT_IN, "built-in").unwrap();
        assert_eq!(t.ports_named("http", "tcp"), vec![80, 8888]);
        assert!(t.ports_named("http*", "tcp").contains(&8080));
        assert_eq!(t.ports_named("domain", "udp"), vec![53]);
        assert_eq!(t.top_ports(3, "tcp"), vec![80, 443, 22]);
        assert_eq!(t.top_ports(100, "tcp").len(), 100);
    }

    #[test]
    fn reads_nmap_format_and_reports_bad_lines() {
        let t = ServicesTable::parse(
            "# comment\nssh\t22/tcp\t0.18\t# Secure Shell\nfoo 7/udp\n",
            "x",
        )
        .unwrap();
        assert_eq!(t.name(22, "tcp"), "ssh");
        assert_eq!(t.name(7, "udp"), "foo");
        let err = ServicesTable::parse("ssh 22/tcp\nbad 99999/tcp\n", "file").unwrap_err();
        assert!(format!("{err:#}").contains("file:2"), "{err:#}");
        assert!(ServicesTable::parse("# nothing\n", "empty").is_err());
    }
}
