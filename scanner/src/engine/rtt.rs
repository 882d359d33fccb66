//! Round-trip-time estimation (RFC 6298's smoothed RTT and variance), giving the
//! timeout after which an unanswered probe is sent again.

use std::time::Duration;

pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    initial: Duration,
    min: Duration,
    max: Duration,
}

impl RttEstimator {
    /// Timeouts start at `initial` and stay within `min..=max`.
    pub fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        Self {
            srtt: None,
            rttvar: Duration::ZERO,
            initial,
            min,
            max,
        }
    }

    pub fn observe(&mut self, sample: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(sample);
                self.rttvar = sample / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(sample);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + sample) / 8);
            }
        }
    }

    /// The smoothed RTT, once a sample has been seen.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// How long to wait for a reply before sending the probe again.
    pub fn timeout(&self) -> Duration {
        match self.srtt {
            None => self.initial,
            Some(srtt) => (srtt + self.rttvar * 4).clamp(self.min, self.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_follows_samples_within_bounds() {
        let ms = Duration::from_millis;
        let mut rtt = RttEstimator::new(ms(500), ms(100), ms(1000));
        assert_eq!(rtt.timeout(), ms(500));
        rtt.observe(Duration::from_micros(50));
        assert_eq!(rtt.timeout(), ms(100));
        for _ in 0..50 {
            rtt.observe(ms(400));
        }
        assert!(rtt.timeout() >= ms(400) && rtt.timeout() <= ms(1000));
        rtt.observe(ms(5000));
        assert_eq!(rtt.timeout(), ms(1000));
    }
}
