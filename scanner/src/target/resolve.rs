//! Host names as targets, and the names of hosts found up: looked up with an
//! asynchronous DNS client (hickory, using the system's resolver configuration) on the
//! tokio loop, all at once. As nmap does, a name is scanned at its first IPv4 address,
//! and the name is kept for the output; hosts found up get their reverse (PTR) name
//! unless `-n`.

use anyhow::{anyhow, Context, Result};
use hickory_resolver::Resolver;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Whether a target spec is a host name (optionally with `/bits`) rather than an
/// address, a CIDR block or octet ranges.
pub fn is_host_name(spec: &str) -> bool {
    let host = spec.split('/').next().unwrap_or("");
    host.chars().any(|c| c.is_ascii_alphabetic()) && !host.contains('*')
}

/// One resolved name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedName {
    pub name: String,
    pub addr: Ipv4Addr,
    /// `/bits` given after the name, if any.
    pub prefix: Option<String>,
}

/// Resolves every name (specs as given, `name` or `name/bits`) concurrently; fails
/// naming the first that has no IPv4 address.
pub async fn resolve(specs: &[String]) -> Result<Vec<ResolvedName>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let resolver = Resolver::builder_tokio()
        .context("reading the system's resolver configuration (/etc/resolv.conf)")?
        .build();
    let mut lookups = tokio::task::JoinSet::new();
    for (index, spec) in specs.iter().cloned().enumerate() {
        let resolver = resolver.clone();
        lookups.spawn(async move {
            let (name, prefix) = match spec.split_once('/') {
                Some((name, bits)) => (name.to_string(), Some(bits.to_string())),
                None => (spec.clone(), None),
            };
            let answer = resolver.ipv4_lookup(name.as_str()).await.map_err(|err| {
                anyhow!("cannot resolve target {name:?}: {err} (use an address, or check the name and /etc/resolv.conf)")
            })?;
            let addr = answer.iter().next().map(|a| a.0).ok_or_else(|| anyhow!("target {name:?} has no IPv4 address"))?;
            Ok::<_, anyhow::Error>((index, ResolvedName { name, addr, prefix }))
        });
    }
    let mut resolved: Vec<(usize, ResolvedName)> = Vec::with_capacity(specs.len());
    while let Some(joined) = lookups.join_next().await {
        resolved.push(joined??);
    }
    resolved.sort_by_key(|(index, _)| *index);
    Ok(resolved.into_iter().map(|(_, name)| name).collect())
}

/// How long reverse lookups may take in all: a broken resolver must not hold up
/// the results.
const REVERSE_BUDGET: Duration = Duration::from_secs(3);

/// The reverse-DNS (PTR) names of `addrs`, all looked up at once. Addresses without
/// one, or whose lookup fails or is not back within a few seconds, are left out: a
/// missing name is not an error.
pub async fn reverse(addrs: &[Ipv4Addr]) -> HashMap<Ipv4Addr, String> {
    let mut names = HashMap::new();
    if addrs.is_empty() {
        return names;
    }
    let Ok(builder) = Resolver::builder_tokio() else {
        return names;
    };
    let resolver = builder.build();
    let mut lookups = tokio::task::JoinSet::new();
    for &addr in addrs {
        let resolver = resolver.clone();
        lookups.spawn(async move {
            let answer = resolver.reverse_lookup(IpAddr::V4(addr)).await.ok()?;
            let name = answer.iter().next()?.to_string();
            Some((addr, name.trim_end_matches('.').to_string()))
        });
    }
    let deadline = tokio::time::Instant::now() + REVERSE_BUDGET;
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, lookups.join_next()).await {
        if let Ok(Some((addr, name))) = joined {
            names.insert(addr, name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_names_from_addresses() {
        for name in ["web.lab.test", "localhost", "web.lab.test/30", "a1.example"] {
            assert!(is_host_name(name), "{name}");
        }
        for spec in [
            "198.18.0.1",
            "198.18.0.0/24",
            "198.18.0-3.1-20",
            "198.18.0.*",
        ] {
            assert!(!is_host_name(spec), "{spec}");
        }
    }
}
