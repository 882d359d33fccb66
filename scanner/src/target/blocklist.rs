//! The default blocklist of sweeps: special-purpose, private and reserved IPv4 ranges
//! (RFC 6890 and its updates, multicast, the reserved class E) that an internet sweep
//! must not touch. `--allow-reserved-targets` lifts it (the lab lives in 198.18.0.0/15).

use super::TargetSet;

/// The ranges, with what each is.
pub const RESERVED: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (carrier NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
];

/// The blocklist as a set.
pub fn reserved() -> TargetSet {
    let specs: Vec<&str> = RESERVED.iter().map(|(cidr, _)| *cidr).collect();
    TargetSet::parse(&specs).expect("the built-in blocklist parses")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn blocks_private_and_lab_space_but_not_public_addresses() {
        let blocked = reserved();
        for addr in [
            [10, 1, 2, 3],
            [192, 168, 1, 1],
            [198, 18, 0, 10],
            [198, 19, 7, 7],
            [224, 0, 0, 1],
            [127, 0, 0, 1],
        ] {
            assert!(blocked.contains(Ipv4Addr::from(addr)), "{addr:?}");
        }
        for addr in [
            [1, 1, 1, 1],
            [8, 8, 8, 8],
            [198, 20, 0, 1],
            [223, 255, 255, 255],
        ] {
            assert!(!blocked.contains(Ipv4Addr::from(addr)), "{addr:?}");
        }
    }
}
