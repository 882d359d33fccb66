//! A token bucket for packets per second: how many frames may leave now so that the
//! average over the scan stays at the asked rate, with bursts capped so a stalled
//! loop does not dump a backlog at line rate.

use std::time::{Duration, Instant};

pub struct RateLimiter {
    rate: f64,
    max_burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// `rate` packets per second (at least 1); bursts of at most 10 ms worth (and at
    /// least one packet).
    pub fn new(rate: u64, now: Instant) -> Self {
        Self::per_second(rate.max(1) as f64, now)
    }

    /// `rate` packets per second, fractions allowed (one per 5 minutes is 1/300).
    pub fn per_second(rate: f64, now: Instant) -> Self {
        let rate = rate.max(1e-6);
        Self {
            rate,
            max_burst: (rate / 100.0).max(1.0),
            tokens: 1.0,
            last: now,
        }
    }

    /// How many packets may be sent at `now`.
    pub fn available(&mut self, now: Instant) -> usize {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.max_burst);
        self.tokens.floor() as usize
    }

    /// Records that `count` packets were sent.
    pub fn spend(&mut self, count: usize) {
        self.tokens -= count as f64;
    }

    /// How long until at least one packet may be sent.
    pub fn next_slot(&self) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_the_rate_and_caps_bursts() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10_000, start);
        let mut sent = 0;
        for ms in 1..=1000 {
            let now = start + Duration::from_millis(ms);
            let n = limiter.available(now);
            limiter.spend(n);
            sent += n;
        }
        assert!((9_900..=10_001).contains(&sent), "{sent}");
        // A one-second stall allows one burst of 10 ms worth, not a second's worth.
        let later = start + Duration::from_secs(2);
        assert_eq!(limiter.available(later), 100);
    }

    #[test]
    fn slow_rates_still_send() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10, start);
        assert_eq!(limiter.available(start), 1);
        limiter.spend(1);
        assert_eq!(limiter.available(start + Duration::from_millis(50)), 0);
        assert!(limiter.next_slot() > Duration::from_millis(40));
        assert_eq!(limiter.available(start + Duration::from_millis(101)), 1);
    }
}
