//! How fast and how patiently a scan probes: nmap's timing templates (`-T0` … `-T5`)
//! and the options that override them, turned into one [`Timing`] the probe loop
//! reads. Also the parser for nmap's time values (`500ms`, `2s`, `5m`, `1h`).

use anyhow::{bail, Context, Result};
use std::time::Duration;

/// Timing of the probe loop's phases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Probes per second (fractions for the slow templates: one per 5 minutes at -T0).
    pub rate: f64,
    /// The most extra sends of an unanswered probe (`--max-retries`); how many it
    /// gets depends on how lossy the network has shown itself (see `congestion`).
    pub retries: u8,
    /// Bounds of the congestion window (`--min-parallelism`, `--max-parallelism`).
    pub min_parallelism: usize,
    pub max_parallelism: usize,
    /// Give up on a host after this long (`--host-timeout`); it is left out of the
    /// results, as nmap does.
    pub host_timeout: Option<Duration>,
    /// How long to keep listening for late replies once every probe is settled.
    pub wait: Duration,
    /// Timeout before the first RTT sample, and the bounds of adaptive ones.
    pub initial_timeout: Duration,
    pub min_timeout: Duration,
    pub max_timeout: Duration,
    /// The gap between paced sends to an ICMP rate-limited host (Linux sends one
    /// error per second per peer once its burst of six is spent).
    pub icmp_limit_gap: Duration,
}

/// The congestion window's default floor and ceiling: a lossy network slows a scan
/// down to 64 probes in flight, never fewer unless asked.
pub const DEFAULT_MIN_PARALLELISM: usize = 64;
pub const DEFAULT_MAX_PARALLELISM: usize = 100_000;

impl Timing {
    /// nmap's template `level` (0 paranoid … 5 insane), with nmap's timeouts and
    /// retry caps. The scan delays of -T0 to -T2 become rates; -T3 and -T4 differ in
    /// how long they wait for a first reply and how often they retry; -T5 gives up on
    /// a host after 15 minutes.
    pub fn template(level: u8) -> Result<Self> {
        let ms = Duration::from_millis;
        let (rate, initial, min, max, retries) = match level {
            0 => (1.0 / 300.0, ms(300_000), ms(100), ms(300_000), 10),
            1 => (1.0 / 15.0, ms(15_000), ms(100), ms(15_000), 10),
            2 => (2.5, ms(1_000), ms(100), ms(10_000), 10),
            3 => (100_000.0, ms(1_000), ms(100), ms(10_000), 10),
            4 => (250_000.0, ms(500), ms(100), ms(1_250), 6),
            5 => (500_000.0, ms(250), ms(50), ms(300), 2),
            _ => bail!("-T{level}: timing templates are -T0 (paranoid) to -T5 (insane)"),
        };
        Ok(Self {
            rate,
            retries,
            min_parallelism: DEFAULT_MIN_PARALLELISM,
            max_parallelism: DEFAULT_MAX_PARALLELISM,
            host_timeout: (level == 5).then(|| Duration::from_secs(15 * 60)),
            wait: ms(200),
            initial_timeout: initial,
            min_timeout: min,
            max_timeout: max,
            // Linux's 1 s, and a little more: a token that has not quite accrued when
            // the probe arrives costs a whole retry.
            icmp_limit_gap: ms(1_100),
        })
    }

    /// The template named by `-T`'s argument: a digit or nmap's name for it.
    pub fn parse_template(text: &str) -> Result<Self> {
        let level = match text.to_ascii_lowercase().as_str() {
            "paranoid" => 0,
            "sneaky" => 1,
            "polite" => 2,
            "normal" => 3,
            "aggressive" => 4,
            "insane" => 5,
            digit => digit.parse().with_context(|| {
                format!("-T{text}: use 0-5 or paranoid, sneaky, polite, normal, aggressive, insane")
            })?,
        };
        Self::template(level)
    }
}

/// Parses nmap's time values: a number with an optional unit `ms`, `s`, `m` or `h`
/// (seconds without one): `500ms`, `1.5s`, `5m`, `2`.
pub fn parse_time(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .with_context(|| {
            format!("{text:?} is not a time: use a number with ms, s, m or h (500ms, 2s, 5m)")
        })?;
    let seconds = value * scale;
    if seconds > 86_400.0 * 7.0 {
        bail!("{text:?}: more than a week");
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_nmap_reads_them() {
        assert_eq!(parse_time("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_time("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_time("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_time("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_time("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "fast", "-1s", "2d", "1e9h", "NaN"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_get_faster_and_less_patient() {
        let levels: Vec<Timing> = (0..=5).map(|l| Timing::template(l).unwrap()).collect();
        for pair in levels.windows(2) {
            assert!(pair[0].rate <= pair[1].rate);
            assert!(pair[0].initial_timeout >= pair[1].initial_timeout);
        }
        assert!(Timing::template(6).is_err());
        assert_eq!(Timing::parse_template("aggressive").unwrap(), levels[4]);
        assert!(Timing::parse_template("fast").is_err());
    }
}
