//! The database's clock, as this instance knows it: slots and quiet are judged on one clock for
//! the whole fleet, however far a host's own clock has drifted. Pure: each membership round
//! hands in one sample (local time before and after a statement, the database's `now()` in
//! between) and gets the offset back.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

/// Samples kept: the one with the shortest round trip among them is trusted, as NTP does, so
/// that a slow database (its answer late by half a second) does not tilt the estimate.
const KEPT: usize = 12;
/// A local clock off by more than this is said to be off (log, `/api/v1/instances`).
pub const SKEW_WARN_MS: i64 = 1000;

/// The offset of the database's clock from this host's: `database = local + offset`.
#[derive(Debug, Default, Clone)]
pub struct Offset {
    /// (round trip, offset), in milliseconds, newest last.
    samples: VecDeque<(i64, i64)>,
}

impl Offset {
    /// Learn from one statement sent at `sent`, answered at `received` (local clock), whose
    /// `now()` was `database`; returns the offset now believed. The database read its clock
    /// somewhere in the round trip: its middle is the best guess, wrong by at most half of it.
    pub fn sample(
        &mut self,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
        database: DateTime<Utc>,
    ) -> i64 {
        let round_trip = (received - sent).num_milliseconds().max(0);
        let middle = sent + (received - sent) / 2;
        let offset = (database - middle).num_milliseconds();
        if self.samples.len() == KEPT {
            self.samples.pop_front();
        }
        self.samples.push_back((round_trip, offset));
        self.offset_ms()
    }

    /// Whether any sample was taken.
    pub fn measured(&self) -> bool {
        !self.samples.is_empty()
    }

    /// The offset of the sample with the shortest round trip (the newest of equals); 0 before
    /// any sample.
    pub fn offset_ms(&self) -> i64 {
        self.samples
            .iter()
            .rev()
            .min_by_key(|(round_trip, _)| *round_trip)
            .map_or(0, |(_, offset)| *offset)
    }
}

/// This host's clock ahead of the database's by this much (negative: behind): what the
/// instance row and `/api/v1/instances` show.
pub fn skew_ms(offset_ms: i64) -> i64 {
    -offset_ms
}

/// Whether a skew is worth saying.
pub fn is_off(skew_ms: i64) -> bool {
    skew_ms.abs() > SKEW_WARN_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn the_offset_is_the_middle_of_the_round_trip() {
        let mut offset = Offset::default();
        assert_eq!(offset.offset_ms(), 0);
        // Local clock 90 s ahead: the database says 90 s earlier than the middle.
        assert_eq!(offset.sample(at(0), at(20), at(10 - 90_000)), -90_000);
        assert_eq!(skew_ms(offset.offset_ms()), 90_000);
        assert!(is_off(90_000) && is_off(-5000) && !is_off(400));
    }

    #[test]
    fn a_slow_answer_does_not_tilt_a_good_estimate() {
        let mut offset = Offset::default();
        offset.sample(at(0), at(10), at(5 + 3000));
        // A second round trip of 1 s whose answer left the database late: a worse guess.
        assert_eq!(offset.sample(at(100), at(1100), at(1000 + 3000)), 3000);
        // The good sample ages out after KEPT newer ones.
        for i in 0..KEPT as i64 {
            offset.sample(at(2000 + i), at(2000 + i + 600), at(2000 + i + 300 + 4000));
        }
        assert_eq!(offset.offset_ms(), 4000);
    }
}
