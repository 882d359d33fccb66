//! How many probes may be in flight, and how many times one is sent: nmap's answers
//! to both, on top of the rate limit.
//!
//! - [`Congestion`]: a window of probes in flight that grows as replies come (one per
//!   reply while below the slow-start threshold, then one per window's worth) and is
//!   halved when a reply shows that an earlier send was lost (a retransmission was
//!   answered), at most once per timeout so one burst of loss counts once.
//! - [`RetryBudget`]: how many sends a probe gets. Retransmissions only pay off where
//!   the network has shown it loses packets, so a probe gets twice as many sends as
//!   the most any answered probe needed, and at least three, up to the cap
//!   (`--max-retries`). (nmap gives one more than the most needed; but the most
//!   needed is about where one probe in N fails every time, so one more send still
//!   leaves a port or so wrong per scan on a lossy link, where twice as many do not.)
//!
//! Neither knows what a probe is: the probe loop counts and asks.

use std::time::{Duration, Instant};

/// The congestion window.
#[derive(Clone, Debug)]
pub struct Congestion {
    cwnd: f64,
    ssthresh: f64,
    min: f64,
    max: f64,
    last_cut: Option<Instant>,
    /// Times the window was halved.
    pub cuts: u64,
}

impl Congestion {
    /// A window within `min..=max` probes that starts wide open (at `max`): a scan
    /// only slows down once it has seen loss.
    pub fn new(min: usize, max: usize) -> Self {
        let min = min.max(1) as f64;
        let max = (max as f64).max(min);
        Self {
            cwnd: max,
            ssthresh: max,
            min,
            max,
            last_cut: None,
            cuts: 0,
        }
    }

    /// How many more probes may leave with `in_flight` out.
    pub fn room(&self, in_flight: usize) -> usize {
        (self.cwnd as usize).saturating_sub(in_flight)
    }

    pub fn window(&self) -> usize {
        self.cwnd as usize
    }

    /// A reply came.
    pub fn on_reply(&mut self) {
        self.cwnd += if self.cwnd < self.ssthresh {
            1.0
        } else {
            1.0 / self.cwnd
        };
        self.cwnd = self.cwnd.min(self.max);
    }

    /// A reply showed an earlier send was lost; `timeout` is the current probe timeout.
    pub fn on_loss(&mut self, now: Instant, timeout: Duration) {
        if self.last_cut.is_some_and(|at| now < at + timeout) {
            return;
        }
        self.ssthresh = (self.cwnd / 2.0).max(self.min);
        self.cwnd = self.ssthresh;
        self.last_cut = Some(now);
        self.cuts += 1;
    }
}

/// How many times a probe is sent.
#[derive(Clone, Copy, Debug)]
pub struct RetryBudget {
    cap: u8,
    /// The most sends any answered probe needed (1 until a retransmission is answered).
    most_needed: u8,
}

impl RetryBudget {
    /// At most `max_retries` retransmissions per probe.
    pub fn new(max_retries: u8) -> Self {
        Self {
            cap: max_retries,
            most_needed: 1,
        }
    }

    /// A probe was answered after `sends` sends; true if probes may now be sent
    /// more often than before.
    pub fn answered_after(&mut self, sends: u8) -> bool {
        let before = self.allowed_sends().min(self.cap.saturating_add(1));
        self.most_needed = self.most_needed.max(sends);
        self.allowed_sends().min(self.cap.saturating_add(1)) > before
    }

    /// Whether a probe sent `sends` times so far may be sent again.
    pub fn may_resend(&self, sends: u8) -> bool {
        sends <= self.cap && sends < self.allowed_sends()
    }

    /// Sends a probe gets before the cap: twice the most needed, at least three.
    fn allowed_sends(&self) -> u8 {
        self.most_needed.saturating_mul(2).max(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_halves_once_per_timeout_and_grows_back() {
        let start = Instant::now();
        let timeout = Duration::from_millis(100);
        let mut c = Congestion::new(10, 1000);
        assert_eq!(c.room(0), 1000);
        c.on_loss(start, timeout);
        assert_eq!(c.window(), 500);
        c.on_loss(start + Duration::from_millis(50), timeout);
        assert_eq!(c.window(), 500, "one burst of loss counts once");
        for n in 1..=8 {
            c.on_loss(start + timeout * (n + 1), timeout);
        }
        assert_eq!(c.window(), 10, "never below the floor");
        assert_eq!(c.room(4), 6);
        for _ in 0..100 {
            c.on_reply();
        }
        assert!(c.window() > 10 && c.window() < 30, "{}", c.window());
    }

    #[test]
    fn retries_follow_what_the_network_has_needed() {
        let mut budget = RetryBudget::new(6);
        assert!(budget.may_resend(2), "two retransmissions always");
        assert!(!budget.may_resend(3));
        assert!(!budget.answered_after(1), "still three sends");
        assert!(budget.answered_after(2), "four sends");
        assert!(budget.answered_after(3), "six sends");
        assert!(!budget.answered_after(3));
        assert!(budget.may_resend(5) && !budget.may_resend(6));
        assert!(budget.answered_after(20));
        assert!(!budget.answered_after(30));
        assert!(budget.may_resend(6) && !budget.may_resend(7), "capped");
        assert!(!RetryBudget::new(0).may_resend(1), "--max-retries 0");
    }
}
