//! What to scan: target addresses (nmap's syntax) and port lists.
//!
//! Targets are kept as sorted, merged address ranges, so a /8 costs two numbers,
//! "is this address one of ours?" is a binary search (the send path asks it of
//! every frame), and "the i-th address" is one too (sweeps walk a permutation of
//! indexes). Exclusions subtract ranges. This module does not resolve names.

pub mod blocklist;
pub mod permutation;
pub mod ports;
pub mod resolve;
pub mod services;

use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;

/// A set of IPv4 addresses as sorted, non-overlapping, non-adjacent inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetSet {
    ranges: Vec<(u32, u32)>,
    /// Number of addresses before each range (for `nth`).
    starts: Vec<u64>,
}

impl TargetSet {
    /// Parses nmap-style target specifications: `198.18.0.1`, `198.18.0.0/24`,
    /// `198.18.0.1-20`, `198.18.0-3.1-254` (a range in any octet).
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Self> {
        let mut ranges = Vec::new();
        for spec in specs {
            let spec = spec.as_ref().trim();
            if spec.is_empty() {
                continue;
            }
            parse_one(spec, &mut ranges)
                .with_context(|| format!("bad target {spec:?}: use an address, a CIDR block (198.18.0.0/24) or octet ranges (198.18.0.1-20)"))?;
        }
        Ok(Self::from_ranges(ranges))
    }

    /// The set of these addresses.
    pub fn from_addrs(addrs: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        Self::from_ranges(
            addrs
                .into_iter()
                .map(|a| (u32::from(a), u32::from(a)))
                .collect(),
        )
    }

    /// Builds a set from inclusive ranges in any order.
    pub fn from_ranges(mut ranges: Vec<(u32, u32)>) -> Self {
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        let mut starts = Vec::with_capacity(merged.len());
        let mut total = 0u64;
        for &(lo, hi) in &merged {
            starts.push(total);
            total += u64::from(hi - lo) + 1;
        }
        Self {
            ranges: merged,
            starts,
        }
    }

    /// Reads exclusions from a file: one spec per line (or several, space or comma
    /// separated), `#` starts a comment.
    pub fn parse_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut specs = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            for spec in line
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
            {
                Self::parse(&[spec])
                    .with_context(|| format!("{}:{}", path.display(), number + 1))?;
                specs.push(spec.to_string());
            }
        }
        Self::parse(&specs)
    }

    /// The addresses of `self` that are not in `other`.
    pub fn subtract(&self, other: &TargetSet) -> TargetSet {
        let mut out = Vec::new();
        let mut cut = other.ranges.iter().peekable();
        for &(lo, hi) in &self.ranges {
            let mut start = u64::from(lo);
            let end = u64::from(hi);
            while let Some(&&(clo, chi)) = cut.peek() {
                let (clo, chi) = (u64::from(clo), u64::from(chi));
                if chi < start {
                    cut.next();
                    continue;
                }
                if clo > end {
                    break;
                }
                if clo > start {
                    out.push((start as u32, (clo - 1) as u32));
                }
                start = chi + 1;
                if chi > end {
                    break;
                }
                cut.next();
            }
            if start <= end {
                out.push((start as u32, end as u32));
            }
        }
        Self::from_ranges(out)
    }

    /// Every address in `self` or `other`.
    pub fn union(&self, other: &TargetSet) -> TargetSet {
        Self::from_ranges(self.ranges.iter().chain(&other.ranges).copied().collect())
    }

    /// The `index`-th address in ascending order.
    pub fn nth(&self, index: u64) -> Option<Ipv4Addr> {
        let range = self
            .starts
            .partition_point(|&start| start <= index)
            .checked_sub(1)?;
        let (lo, hi) = self.ranges[range];
        let offset = index - self.starts[range];
        (offset <= u64::from(hi - lo)).then(|| Ipv4Addr::from(lo + offset as u32))
    }

    /// The inclusive ranges, sorted and merged.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    /// Whether any address of `self` is also in `other`.
    pub fn intersects(&self, other: &TargetSet) -> bool {
        self.subtract(other).len() != self.len()
    }

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let addr = u32::from(addr);
        let idx = self.ranges.partition_point(|&(_, hi)| hi < addr);
        self.ranges.get(idx).is_some_and(|&(lo, _)| lo <= addr)
    }

    /// Number of addresses.
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(lo, hi)| u64::from(hi - lo) + 1)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Every address, in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.ranges
            .iter()
            .flat_map(|&(lo, hi)| (lo..=hi).map(Ipv4Addr::from))
    }

    /// Every address in ascending order, `size` at a time (the last group may be
    /// smaller; `size` 0 is taken as 1). Each group is made when it is asked for, so
    /// walking a set of any size (`0.0.0.0/0`) holds one group's addresses at a time.
    pub fn groups(&self, size: usize) -> impl Iterator<Item = Vec<Ipv4Addr>> + '_ {
        let size = size.max(1);
        let mut addrs = self.iter();
        std::iter::from_fn(move || {
            let group: Vec<Ipv4Addr> = addrs.by_ref().take(size).collect();
            (!group.is_empty()).then_some(group)
        })
    }
}

fn parse_one(spec: &str, out: &mut Vec<(u32, u32)>) -> Result<()> {
    if let Some((addr, bits)) = spec.split_once('/') {
        let addr: Ipv4Addr = addr.parse().context("not an IPv4 address before the /")?;
        let bits: u32 = bits
            .parse()
            .context("the prefix length after / must be a number")?;
        if bits > 32 {
            bail!("prefix length {bits} is over 32");
        }
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        let lo = u32::from(addr) & mask;
        out.push((lo, lo | !mask));
        return Ok(());
    }
    let octets: Vec<&str> = spec.split('.').collect();
    if octets.len() != 4 {
        bail!("an IPv4 address has four octets (host names are not supported yet)");
    }
    let mut bounds = [(0u8, 0u8); 4];
    for (i, octet) in octets.iter().enumerate() {
        bounds[i] = parse_octet_range(octet)?;
    }
    // Contiguous when only the last ranged octet and those after it vary fully.
    for a in bounds[0].0..=bounds[0].1 {
        for b in bounds[1].0..=bounds[1].1 {
            for c in bounds[2].0..=bounds[2].1 {
                let base = u32::from_be_bytes([a, b, c, 0]);
                out.push((base | u32::from(bounds[3].0), base | u32::from(bounds[3].1)));
            }
        }
    }
    Ok(())
}

fn parse_octet_range(octet: &str) -> Result<(u8, u8)> {
    let parse = |s: &str| -> Result<u8> {
        s.parse::<u8>()
            .with_context(|| format!("octet {s:?} is not a number from 0 to 255"))
    };
    if octet == "*" {
        return Ok((0, 255));
    }
    match octet.split_once('-') {
        Some((lo, hi)) => {
            let lo = if lo.is_empty() { 0 } else { parse(lo)? };
            let hi = if hi.is_empty() { 255 } else { parse(hi)? };
            if lo > hi {
                bail!("octet range {lo}-{hi} runs backwards");
            }
            Ok((lo, hi))
        }
        None => {
            let v = parse(octet)?;
            Ok((v, v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(specs: &[&str]) -> TargetSet {
        TargetSet::parse(specs).unwrap()
    }

    #[test]
    fn parses_addresses_cidr_and_octet_ranges() {
        assert_eq!(set(&["198.18.0.1"]).len(), 1);
        assert_eq!(set(&["198.18.0.0/24"]).len(), 256);
        assert_eq!(
            set(&["198.18.0.7/30"]).iter().next(),
            Some(Ipv4Addr::new(198, 18, 0, 4))
        );
        assert_eq!(set(&["198.18.0.1-20"]).len(), 20);
        assert_eq!(set(&["198.18.0-1.1-2"]).len(), 4);
        assert_eq!(set(&["198.18.0.*"]).len(), 256);
        assert_eq!(set(&["0.0.0.0/0"]).len(), 1 << 32);
    }

    #[test]
    fn merges_overlaps_and_answers_membership() {
        let s = set(&["198.18.0.0/24", "198.18.0.5", "198.18.1.0/24", "10.0.0.1"]);
        assert_eq!(s.len(), 513);
        assert!(s.contains(Ipv4Addr::new(198, 18, 1, 255)));
        assert!(s.contains(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(!s.contains(Ipv4Addr::new(10, 0, 0, 2)));
        assert!(!s.contains(Ipv4Addr::new(198, 18, 2, 0)));
    }

    #[test]
    fn subtracts_exclusions() {
        let s = set(&["198.18.0.0/24", "198.18.2.0/24"]).subtract(&set(&[
            "198.18.0.10-19",
            "198.18.0.255",
            "198.18.2.0/25",
            "10.0.0.0/8",
        ]));
        assert_eq!(s.len(), 256 - 11 + 128);
        assert!(!s.contains(Ipv4Addr::new(198, 18, 0, 15)));
        assert!(s.contains(Ipv4Addr::new(198, 18, 0, 20)));
        assert!(!s.contains(Ipv4Addr::new(198, 18, 2, 1)));
        assert!(s.contains(Ipv4Addr::new(198, 18, 2, 200)));
        assert_eq!(set(&["0.0.0.0/0"]).subtract(&set(&["0.0.0.0/0"])).len(), 0);
        assert_eq!(
            set(&["0.0.0.0/0"])
                .subtract(&set(&["255.255.255.255"]))
                .len(),
            (1 << 32) - 1
        );
        assert!(set(&["198.18.0.0/24"]).intersects(&set(&["198.18.0.7"])));
        assert!(!set(&["198.18.0.0/24"]).intersects(&set(&["198.18.1.7"])));
    }

    #[test]
    fn nth_walks_the_addresses_in_order() {
        let s = set(&["198.18.0.250-255", "198.18.5.1", "10.0.0.0/30"]);
        let all: Vec<Ipv4Addr> = (0..s.len()).map(|i| s.nth(i).unwrap()).collect();
        assert_eq!(all, s.iter().collect::<Vec<_>>());
        assert_eq!(s.nth(s.len()), None);
    }

    #[test]
    fn groups_of_the_whole_space_come_one_at_a_time() {
        let excluded = set(&["0.0.0.0/8", "10.0.0.0/8", "0.0.1.0-255", "127.0.0.1"]);
        let all = set(&["0.0.0.0/0"]).subtract(&excluded);
        assert_eq!(all.len(), (1 << 32) - 2 * (1 << 24) - 1);
        // Built, never expanded: the set is a handful of ranges.
        assert!(all.ranges().len() <= 4);
        let started = std::time::Instant::now();
        let mut groups = all.groups(4096);
        let mut next = 1u32 << 24;
        for _ in 0..256 {
            let group = groups.next().unwrap();
            assert_eq!(group.len(), 4096);
            assert!(group.capacity() <= 2 * 4096, "{}", group.capacity());
            for addr in group {
                assert!(!excluded.contains(addr));
                assert_eq!(u32::from(addr), next);
                next += 1;
            }
        }
        // 256 groups of a 4-billion-address set cost what 256 groups cost: a
        // million addresses, not the set (expanding it would take minutes and 16 GB).
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Across the excluded block, the groups go on after it.
        let mut groups = all.groups(1 << 20);
        let last_before = groups.nth(9 * 16 - 1).unwrap();
        assert_eq!(last_before.last(), Some(&Ipv4Addr::new(9, 255, 255, 255)));
        assert_eq!(
            groups.next().unwrap().first(),
            Some(&Ipv4Addr::new(11, 0, 0, 0))
        );
        // Small sets: the last group holds the rest; size 0 is 1.
        let small = set(&["198.18.0.1-10"]);
        let sizes: Vec<usize> = small.groups(4).map(|g| g.len()).collect();
        assert_eq!(sizes, [4, 4, 2]);
        assert_eq!(small.groups(0).count(), 10);
        assert_eq!(TargetSet::default().groups(4).count(), 0);
    }

    #[test]
    fn reads_exclude_files() {
        let path = std::env::temp_dir().join(format!("scanner-exclude-{}", std::process::id()));
        std::fs::write(
            &path,
            "# lab hosts not to touch
198.18.0.10, 198.18.0.11
198.18.1.0/24 # far

",
        )
        .unwrap();
        let s = TargetSet::parse_file(&path).unwrap();
        assert_eq!(s.len(), 258);
        std::fs::write(
            &path,
            "198.18.0.10
not-an-address
",
        )
        .unwrap();
        let err = TargetSet::parse_file(&path).unwrap_err();
        assert!(format!("{err:#}").contains(":2"), "{err:#}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        for bad in [
            "198.18.0",
            "198.18.0.256",
            "198.18.0.0/33",
            "198.18.0.9-3",
            "x.y.z.w",
            "1.2.3.4/",
        ] {
            let err = TargetSet::parse(&[bad]).unwrap_err();
            assert!(format!("{err:#}").contains("bad target"), "{bad}: {err:#}");
        }
    }
}
