//! Port lists in nmap's syntax: `22`, `22,80,443`, `1000-2000`, `-` (all), `-1024`,
//! `60000-`, and `T:`/`U:` prefixes (only TCP is scanned by the SYN scan).

use anyhow::{bail, Context, Result};

/// A sorted list of distinct ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortList {
    ports: Vec<u16>,
}

impl PortList {
    /// Parses a `-p` argument. `T:` / `U:` sections select the protocol of the ports
    /// that follow; this returns the TCP ones (the ones before any prefix count as TCP).
    pub fn parse_tcp(spec: &str) -> Result<Self> {
        let mut ports = Vec::new();
        let mut tcp = true;
        for raw in spec.split(',') {
            let mut item = raw.trim();
            if let Some(rest) = item.strip_prefix("T:") {
                tcp = true;
                item = rest;
            } else if let Some(rest) = item.strip_prefix("U:") {
                tcp = false;
                item = rest;
            }
            if item.is_empty() {
                bail!("empty entry in port list {spec:?}");
            }
            let (lo, hi) = parse_range(item).with_context(|| {
                format!("bad port list {spec:?}: use ports and ranges such as 22,80,1000-2000 or - for all")
            })?;
            if tcp {
                ports.extend(lo..=hi);
            }
        }
        ports.sort_unstable();
        ports.dedup();
        if ports.is_empty() {
            bail!("port list {spec:?} names no TCP port");
        }
        Ok(Self { ports })
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
    fn rejects_bad_lists() {
        for bad in ["", "22,,80", "70000", "80-22", "http", "U:53", "0"] {
            assert!(PortList::parse_tcp(bad).is_err(), "{bad}");
        }
    }
}
