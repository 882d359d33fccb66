//! The progress line on stderr: the phase, probes sent, rate, replies, findings, hit
//! rate and time left. Redrawn in place every second on a terminal; a plain line at
//! a fixed interval otherwise (logs, CI), or whenever `--stats-every` says.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// When the line is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressOptions {
    /// Redrawn in place on a terminal.
    pub on_terminal: bool,
    /// A plain line this often when stderr is not a terminal (None: never).
    pub plain_every: Option<Duration>,
    /// `--stats-every`: a plain line this often, terminal or not.
    pub stats_every: Option<Duration>,
}

impl ProgressOptions {
    pub const OFF: Self = Self {
        on_terminal: false,
        plain_every: None,
        stats_every: None,
    };
}

pub struct Progress {
    label: &'static str,
    total: u64,
    started: Instant,
    last_draw: Option<Instant>,
    last_sent: u64,
    last_at: Instant,
    terminal: bool,
    /// How often a line is drawn (None: never), and whether in place.
    every: Option<Duration>,
}

/// What the line shows.
pub struct Snapshot {
    pub sent: u64,
    pub replies: u64,
    /// What the phase found so far (open ports, hosts up).
    pub open: u64,
}

impl Progress {
    /// `label`: the phase ("SYN scan"); `total`: probes of the first pass (for the
    /// percentage and ETA).
    pub fn new(label: &'static str, total: u64, opts: ProgressOptions) -> Self {
        let now = Instant::now();
        let on_terminal = std::io::stderr().is_terminal();
        let (terminal, every) = match opts.stats_every {
            Some(every) => (false, Some(every)),
            None if on_terminal && opts.on_terminal => (true, Some(Duration::from_secs(1))),
            None if on_terminal => (false, None),
            None => (false, opts.plain_every),
        };
        Self {
            label,
            total,
            started: now,
            last_draw: None,
            last_sent: 0,
            last_at: now,
            terminal,
            every,
        }
    }

    /// Draws the line if it is time to.
    pub fn tick(&mut self, snapshot: &Snapshot) {
        let Some(every) = self.every else {
            return;
        };
        let now = Instant::now();
        if self.last_draw.is_some_and(|t| now < t + every)
            || now < self.started + every.min(Duration::from_secs(1))
        {
            return;
        }
        let rate = (snapshot.sent - self.last_sent) as f64
            / now.duration_since(self.last_at).as_secs_f64().max(1e-3);
        self.last_sent = snapshot.sent;
        self.last_at = now;
        self.last_draw = Some(now);
        let line = format!(
            "{}: {}",
            self.label,
            render(self.total, now.duration_since(self.started), rate, snapshot)
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Ends an in-place line so later output starts on a fresh one.
    pub fn finish(&mut self) {
        if self.terminal && self.last_draw.is_some() {
            eprintln!();
        }
    }
}

fn human(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

fn render(total: u64, elapsed: Duration, rate: f64, s: &Snapshot) -> String {
    let done = if total == 0 {
        100.0
    } else {
        (s.sent as f64 / total as f64 * 100.0).min(100.0)
    };
    let hit = if s.sent == 0 {
        0.0
    } else {
        s.open as f64 / s.sent as f64 * 100.0
    };
    let left = total.saturating_sub(s.sent);
    let eta = if rate >= 1.0 {
        format!("{}s", (left as f64 / rate).ceil() as u64)
    } else {
        "-".into()
    };
    format!(
        "sent {}/{} ({done:.1}%), {}pps, replies {}, found {}, hit {hit:.3}%, elapsed {}s, ETA {eta}",
        human(s.sent as f64),
        human(total as f64),
        human(rate),
        human(s.replies as f64),
        human(s.open as f64),
        elapsed.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_the_numbers_a_user_wants() {
        let line = render(
            1_000_000,
            Duration::from_secs(3),
            250_000.0,
            &Snapshot {
                sent: 750_000,
                replies: 1200,
                open: 300,
            },
        );
        assert_eq!(line, "sent 750.0k/1.00M (75.0%), 250.0kpps, replies 1.2k, found 300, hit 0.040%, elapsed 3s, ETA 1s");
    }
}
