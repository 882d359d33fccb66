//! Whether this process may use raw packets: root, or CAP_NET_RAW in its effective
//! capability set. Without it the scanner falls back to the connect scan, which
//! needs nothing.

/// Bit of CAP_NET_RAW in the capability sets.
const CAP_NET_RAW: u32 = 13;

/// True when raw sockets (and so -sS, sweeps, XDP) can be expected to work.
pub fn raw_packets_allowed() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    std::fs::read_to_string("/proc/self/status")
        .map(|status| has_cap_net_raw(&status))
        .unwrap_or(false)
}

/// Reads `CapEff:` from a /proc/PID/status text.
fn has_cap_net_raw(status: &str) -> bool {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_NET_RAW) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_set() {
        assert!(has_cap_net_raw("Name:\tx\nCapEff:\t0000000000002000\n"));
        assert!(has_cap_net_raw("CapEff:\t000001ffffffffff\n"));
        assert!(!has_cap_net_raw("CapEff:\t0000000000000000\n"));
        assert!(!has_cap_net_raw("Name:\tx\n"));
    }
}
