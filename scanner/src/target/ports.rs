//! Port lists in nmap's syntax: `22`, `22,80,443`, `1000-2000`, `-` (all), `-1024`,
//! `60000-`, service names and wildcards (`http,ssh`, `http*`), and `T:`/`U:`
//! prefixes (the SYN scan and sweeps take the TCP ones). `--top-ports N` and `-F`
//! pick the most frequent ports of the services table; `--exclude-ports` removes
//! ports from any of these.

use super::services::ServicesTable;
use anyhow::{bail, Context, Result};

/// A sorted list of distinct ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortList {
    ports: Vec<u16>,
}

/// Which protocol a port item belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    /// Before any prefix: every protocol scanned, as nmap reads it.
    Any,
    Tcp,
    Udp,
}

/// Every item of a `-p` spec with its protocol.
fn items(spec: &str) -> Result<Vec<(Proto, &str)>> {
    let mut out = Vec::new();
    let mut proto = Proto::Any;
    for raw in spec.split(',') {
        let mut item = raw.trim();
        if let Some(rest) = item.strip_prefix("T:") {
            proto = Proto::Tcp;
            item = rest;
        } else if let Some(rest) = item.strip_prefix("U:") {
            proto = Proto::Udp;
            item = rest;
        }
        if item.is_empty() {
            bail!("empty entry in port list {spec:?}");
        }
        out.push((proto, item));
    }
    Ok(out)
}

impl PortList {
    /// Parses a `-p` argument without service names (numbers and ranges only).
    pub fn parse_tcp(spec: &str) -> Result<Self> {
        Self::parse_tcp_with(spec, &ServicesTable::default())
    }

    /// Parses a `-p` argument, looking names up in `services`; returns the TCP ports.
    pub fn parse_tcp_with(spec: &str, services: &ServicesTable) -> Result<Self> {
        Self::parse_for(spec, services, "tcp")
    }

    /// Parses a `-p` argument for `proto` ("tcp" or "udp"): the items before any
    /// `T:`/`U:` prefix and those after the prefix of `proto`.
    pub fn parse_for(spec: &str, services: &ServicesTable, proto: &str) -> Result<Self> {
        let mine = if proto == "udp" {
            Proto::Udp
        } else {
            Proto::Tcp
        };
        let upper = proto.to_ascii_uppercase();
        let mut ports = Vec::new();
        for (item_proto, item) in items(spec)? {
            let wanted = item_proto == Proto::Any || item_proto == mine;
            if item.starts_with(|c: char| c.is_ascii_alphabetic() || c == '*' || c == '?') {
                let named = services.ports_named(item, proto);
                if named.is_empty() && wanted {
                    bail!("no {upper} service named {item:?} in the services table (bad port list {spec:?})");
                }
                if wanted {
                    ports.extend(named);
                }
                continue;
            }
            let (lo, hi) = parse_range(item).with_context(|| {
                format!("bad port list {spec:?}: use ports and ranges such as 22,80,1000-2000, names such as http, or - for all")
            })?;
            if wanted {
                ports.extend(lo..=hi);
            }
        }
        Self::from_ports(ports).with_context(|| format!("port list {spec:?} names no {upper} port"))
    }

    /// The `n` most frequent TCP ports of `services` (`--top-ports`; `-F` is 100).
    pub fn top(n: usize, services: &ServicesTable) -> Result<Self> {
        Self::top_for(n, services, "tcp")
    }

    /// The `n` most frequent ports of `proto` in `services`.
    pub fn top_for(n: usize, services: &ServicesTable, proto: &str) -> Result<Self> {
        if n == 0 {
            bail!("--top-ports wants at least 1");
        }
        Self::from_ports(services.top_ports(n, proto))
            .with_context(|| format!("the services table has no {proto} ports"))
    }

    fn from_ports(mut ports: Vec<u16>) -> Result<Self> {
        ports.sort_unstable();
        ports.dedup();
        if ports.is_empty() {
            bail!("no ports left to scan");
        }
        Ok(Self { ports })
    }

    /// The ports of `self` not in `excluded` (`--exclude-ports`).
    pub fn without(&self, excluded: &PortList) -> Result<Self> {
        Self::from_ports(
            self.ports
                .iter()
                .copied()
                .filter(|p| excluded.ports.binary_search(p).is_err())
                .collect(),
        )
        .context("--exclude-ports removed every port")
    }

    pub fn as_slice(&self) -> &[u16] {
        &self.ports
    }

    pub fn len(&self) -> usize {
        self.ports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

fn parse_port(text: &str) -> Result<u16> {
    let value: u32 = text
        .parse()
        .with_context(|| format!("{text:?} is not a port number"))?;
    if value > 65535 {
        bail!("port {value} is over 65535");
    }
    Ok(value as u16)
}

fn parse_range(item: &str) -> Result<(u16, u16)> {
    let (lo, hi) = match item.split_once('-') {
        Some((lo, hi)) => (
            if lo.is_empty() { 1 } else { parse_port(lo)? },
            if hi.is_empty() {
                65535
            } else {
                parse_port(hi)?
            },
        ),
        None => {
            let p = parse_port(item)?;
            (p, p)
        }
    };
    if lo > hi {
        bail!("range {lo}-{hi} runs backwards");
    }
    if lo == 0 && hi == 0 {
        bail!("port 0 cannot be scanned on its own");
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nmap_syntax() {
        assert_eq!(
            PortList::parse_tcp("22,80,1000-1002").unwrap().as_slice(),
            &[22, 80, 1000, 1001, 1002]
        );
        assert_eq!(PortList::parse_tcp("-").unwrap().len(), 65535);
        assert_eq!(PortList::parse_tcp("-3").unwrap().as_slice(), &[1, 2, 3]);
        assert_eq!(
            PortList::parse_tcp("65534-").unwrap().as_slice(),
            &[65534, 65535]
        );
        assert_eq!(
            PortList::parse_tcp("80,22,80").unwrap().as_slice(),
            &[22, 80]
        );
        assert_eq!(
            PortList::parse_tcp("T:22,U:53,161").unwrap().as_slice(),
            &[22]
        );
    }

    #[test]
    fn names_top_ports_and_exclusions() {
        let table = &ServicesTable::built_in().unwrap();
        assert_eq!(
            PortList::parse_tcp_with("ssh,https,25", table)
                .unwrap()
                .as_slice(),
            &[22, 25, 443]
        );
        assert!(PortList::parse_tcp_with("http*", table)
            .unwrap()
            .as_slice()
            .contains(&8080));
        assert!(PortList::parse_tcp_with("nosuchservice", table).is_err());
        assert_eq!(PortList::top(3, table).unwrap().as_slice(), &[22, 80, 443]);
        assert_eq!(PortList::top(100, table).unwrap().len(), 100);
        let all = PortList::parse_tcp("1-10").unwrap();
        assert_eq!(
            all.without(&PortList::parse_tcp("2-9").unwrap())
                .unwrap()
                .as_slice(),
            &[1, 10]
        );
        assert!(all.without(&all).is_err());
    }

    #[test]
    fn rejects_bad_lists() {
        for bad in ["", "22,,80", "70000", "80-22", "U:53", "0"] {
            assert!(PortList::parse_tcp(bad).is_err(), "{bad}");
        }
    }
}
