//! Times as the output formats write them: RFC 3339 (UTC), nmap's `startstr`
//! (ctime-like, UTC), seconds since the Unix epoch.

use std::time::SystemTime;

/// Seconds since the Unix epoch of a system time (0 before it).
pub fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Seconds since the Unix epoch, now, with fractions (a finding's `time`).
pub fn unix_time() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A time in UTC, split into its civil parts.
struct CivilTime {
    year: i64,
    /// 1 to 12.
    month: i64,
    day: i64,
    /// Seconds into the day.
    second_of_day: i64,
    /// 0 is Thursday (1970-01-01 was one).
    weekday_from_thursday: i64,
}

impl CivilTime {
    fn of(time: SystemTime) -> Self {
        let secs = epoch_seconds(time) as i64;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // The civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        CivilTime {
            year,
            month,
            day,
            second_of_day: rem,
            weekday_from_thursday: days.rem_euclid(7),
        }
    }

    fn clock(&self) -> String {
        let rem = self.second_of_day;
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
    }
}

/// A time as RFC 3339 writes it, in UTC: "2026-11-28T19:53:09Z".
pub fn rfc3339(time: SystemTime) -> String {
    let t = CivilTime::of(time);
    format!("{}-{:02}-{:02}T{}Z", t.year, t.month, t.day, t.clock())
}

/// A time as nmap's `startstr` writes it: "Sat Nov 28 19:53:09 2026" (UTC).
pub fn ctime(time: SystemTime) -> String {
    let t = CivilTime::of(time);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {} {}",
        WEEKDAYS[t.weekday_from_thursday as usize],
        MONTHS[(t.month - 1) as usize],
        t.day,
        t.clock(),
        t.year
    )
}

/// A date as nmap's fingerprints write it: "11/28" (month/day, UTC).
pub fn month_day(time: SystemTime) -> String {
    let t = CivilTime::of(time);
    format!("{}/{}", t.month, t.day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_read_as_nmap_writes_them() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_895_589);
        assert_eq!(ctime(t), "Sat Nov 28 19:53:09 2026");
        assert_eq!(month_day(t), "11/28");
        assert_eq!(ctime(SystemTime::UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
        assert_eq!(rfc3339(t), "2026-11-28T19:53:09Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
