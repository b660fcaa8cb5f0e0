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

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap()
    }

    #[test]
    fn next_slot_table() {
        let every_5 = Schedule::parse("*/5 * * * *").unwrap();
        let every_10s = Schedule::parse("*/10 * * * * *").unwrap();
        let weekdays_9 = Schedule::parse("0 9 * * 1-5").unwrap();
        let cases = [
            (
                "on a slot: strictly after",
                &every_5,
                0,
                at(10, 5, 0),
                at(10, 10, 0),
            ),
            ("between slots", &every_5, 0, at(10, 7, 30), at(10, 10, 0)),
            (
                "offset shifts the slot",
                &every_5,
                90,
                at(10, 7, 30),
                at(10, 11, 30),
            ),
            (
                "offset already passed this slot",
                &every_5,
                90,
                at(10, 6, 31),
                at(10, 11, 30),
            ),
            (
                "offset not yet passed",
                &every_5,
                90,
                at(10, 6, 29),
                at(10, 6, 30),
            ),
            (
                "six fields: seconds",
                &every_10s,
                0,
                at(10, 0, 1),
                at(10, 0, 10),
            ),
            // 2026-11-23 is a Monday: POSIX weekdays, 1-5 is Monday to Friday.
            (
                "weekday schedule",
                &weekdays_9,
                0,
                at(9, 0, 0),
                at(9, 0, 0) + chrono::Duration::days(1),
            ),
        ];
        for (name, schedule, offset_s, after, want) in cases {
            let got = next_slot(schedule, Duration::from_secs(offset_s), after);
            assert_eq!(got, Some(want), "{name}");
        }
        // Friday 09:00 → next is Monday 09:00 (Saturday and Sunday skipped).
        let friday = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
        assert_eq!(
            next_slot(&weekdays_9, Duration::ZERO, friday),
            Some(Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap())
        );
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
