//! Small formatting helpers that many layers use and that are not the result model:
//! the calendar ([`calendar`]: RFC 3339, nmap's ctime, epoch seconds), MAC addresses
//! and port ranges as nmap writes them. Depends on nothing in the crate.

pub mod calendar;

pub use calendar::{ctime, epoch_seconds, month_day, rfc3339, unix_time};

/// Writes ascending numbers as comma-separated ranges (`1-79,81-999`).
pub fn compress_ranges(numbers: impl IntoIterator<Item = u16>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Option<(u16, u16)> = None;
    let flush = |lo: u16, hi: u16, out: &mut Vec<String>| {
        out.push(if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        });
    };
    for n in numbers {
        run = match run {
            Some((lo, hi)) if u32::from(n) == u32::from(hi) + 1 => Some((lo, n)),
            Some((lo, hi)) => {
                flush(lo, hi, &mut out);
                Some((n, n))
            }
            None => Some((n, n)),
        };
    }
    if let Some((lo, hi)) = run {
        flush(lo, hi, &mut out);
    }
    out.join(",")
}

/// A MAC address as nmap writes it: `DE:F9:CF:DC:50:E2`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_macs_read_as_nmap_writes_them() {
        assert_eq!(compress_ranges([1, 2, 3, 5, 7, 8, 1024]), "1-3,5,7-8,1024");
        assert_eq!(compress_ranges([]), "");
        assert_eq!(compress_ranges([65534, 65535]), "65534-65535");
        assert_eq!(
            format_mac(&[0xde, 0xf9, 0xcf, 0xdc, 0x50, 0xe2]),
            "DE:F9:CF:DC:50:E2"
        );
    }
}
