//! When an environment's next probe fires. Pure: schedule, jitter, name and `after` in, time out.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Schedule;

/// A stable offset in `[0, jitter)` derived from the environment's name, so that many
/// environments on the same cron line spread out, and each always fires at the same offset
/// (comparable latencies from run to run, no thundering herd after a restart).
pub fn jitter_offset(name: &str, jitter: Duration) -> Duration {
    let span_ms = jitter.as_millis() as u64;
    if span_ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(fnv1a(name.as_bytes()) % span_ms)
}

/// The first firing time strictly after `after`: a cron occurrence plus the offset.
pub fn next_slot(
    schedule: &Schedule,
    offset: Duration,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let offset = chrono::Duration::from_std(offset).ok()?;
    schedule
        .next_after(after - offset)
        .map(|occurrence| occurrence + offset)
}

/// FNV-1a: tiny, stable across Rust versions and platforms (std's hasher is not).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A day of November 2026 and a time: "23 10:05:00" (the 23rd is a Monday).
    fn at(text: &str) -> DateTime<Utc> {
        let (day, time) = text.split_once(' ').unwrap();
        let day: u32 = day.parse().unwrap();
        let hms: Vec<u32> = time.split(':').map(|n| n.parse().unwrap()).collect();
        Utc.with_ymd_and_hms(2026, 11, day, hms[0], hms[1], hms[2])
            .unwrap()
    }

    #[test]
    fn next_slot_table() {
        // schedule, offset in seconds, after, the next slot, what the row shows.
        #[rustfmt::skip]
        let cases = [
            ("*/5 * * * *", 0, "23 10:05:00", "23 10:10:00", "on a slot: strictly after"),
            ("*/5 * * * *", 0, "23 10:07:30", "23 10:10:00", "between slots"),
            ("*/5 * * * *", 90, "23 10:07:30", "23 10:11:30", "offset shifts the slot"),
            ("*/5 * * * *", 90, "23 10:06:31", "23 10:11:30", "offset already passed this slot"),
            ("*/5 * * * *", 90, "23 10:06:29", "23 10:06:30", "offset not yet passed"),
            ("*/10 * * * * *", 0, "23 10:00:01", "23 10:00:10", "six fields: seconds"),
            // POSIX weekdays: 1-5 is Monday to Friday.
            ("0 9 * * 1-5", 0, "23 09:00:00", "24 09:00:00", "weekday schedule"),
            ("0 9 * * 1-5", 0, "27 09:00:00", "30 09:00:00", "Friday: Saturday and Sunday skipped"),
        ];
        for (schedule, offset_s, after, want, name) in cases {
            let schedule = Schedule::parse(schedule).unwrap();
            let got = next_slot(&schedule, Duration::from_secs(offset_s), at(after));
            assert_eq!(got, Some(at(want)), "{name}");
        }
    }

    #[test]
    fn jitter_is_stable_bounded_and_spread() {
        let jitter = Duration::from_secs(60);
        assert_eq!(
            jitter_offset("staging", jitter),
            jitter_offset("staging", jitter)
        );
        assert_eq!(jitter_offset("staging", Duration::ZERO), Duration::ZERO);
        let offsets: std::collections::HashSet<_> = (0..100)
            .map(|i| jitter_offset(&format!("env-{i}"), jitter))
            .inspect(|o| assert!(*o < jitter))
            .collect();
        assert!(offsets.len() > 90, "names spread over the window");
    }
}
