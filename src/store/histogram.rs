//! Latency histograms with fixed log-scale buckets, so hourly rollups can be summed into the
//! percentiles of any range without keeping the raw runs.
//!
//! Bucket 0 holds everything below 0.1 ms; bucket `i` in `1..=51` holds
//! `[0.1 · 1.3^(i−1), 0.1 · 1.3^i)` ms; bucket 52 holds everything from 0.1 · 1.3^51 ≈ 64.7 s up.
//! Each bucket is 30 % wider than the one before, so a percentile read back is off by at most one
//! bucket's width (under 30 % of the value) whatever the scale: 0.1 ms on loopback, 60 s timeouts.
//!
//! The layout is part of the stored format (`FORMAT`): changing `MIN_MS`, `GROWTH` or `BUCKETS`
//! needs a new format number and a conversion of the stored rollups.

use std::fmt;

/// Lower bound of bucket 1, in milliseconds.
pub const MIN_MS: f64 = 0.1;
/// Ratio between the bounds of consecutive buckets.
pub const GROWTH: f64 = 1.3;
/// Underflow bucket, 51 log buckets, overflow bucket.
pub const BUCKETS: usize = 53;
/// First byte of every encoded histogram: which layout the counts refer to.
const FORMAT: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: [u64; BUCKETS],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(&'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid latency histogram: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
        }
    }
}

/// Lower bound of bucket `i` in milliseconds (0 for the underflow bucket).
pub fn lower_bound(i: usize) -> f64 {
    match i {
        0 => 0.0,
        _ => MIN_MS * GROWTH.powi(i as i32 - 1),
    }
}

/// Upper bound (exclusive) of bucket `i` in milliseconds; infinite for the overflow bucket.
pub fn upper_bound(i: usize) -> f64 {
    if i + 1 >= BUCKETS {
        f64::INFINITY
    } else {
        lower_bound(i + 1)
    }
}

/// The bucket holding `ms`. Negative and NaN values (never measured, but never a panic either)
/// land in the underflow bucket.
pub fn bucket_of(ms: f64) -> usize {
    if ms.is_nan() || ms < MIN_MS {
        return 0;
    }
    let last = BUCKETS - 1;
    let guess = ((ms / MIN_MS).ln() / GROWTH.ln()).floor() + 1.0;
    let mut i = if guess.is_finite() {
        (guess.max(1.0) as usize).min(last)
    } else {
        last
    };
    // The logarithm can land one off at an exact bound; the bounds themselves decide.
    while i < last && ms >= lower_bound(i + 1) {
        i += 1;
    }
    while i > 1 && ms < lower_bound(i) {
        i -= 1;
    }
    i
}

impl Histogram {
    pub fn record(&mut self, ms: f64) {
        let slot = &mut self.counts[bucket_of(ms)];
        *slot = slot.saturating_add(1);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
    }

    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |sum, &n| sum.saturating_add(n))
    }

    /// The `q`-quantile (0 < q ≤ 1) by nearest rank, interpolated linearly inside its bucket;
    /// `None` when empty.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut below = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if below.saturating_add(n) >= rank {
                let lower = lower_bound(i);
                let upper = upper_bound(i);
                if upper.is_infinite() {
                    return Some(lower);
                }
                // The samples of a bucket are taken as spread evenly over it.
                let within = (rank - below) as f64 - 0.5;
                return Some(lower + (upper - lower) * within / n as f64);
            }
            below = below.saturating_add(n);
        }
        None
    }

    /// `FORMAT`, then one (bucket index, LEB128 count) pair per non-empty bucket: an hour of
    /// 12 runs usually takes 5 to 9 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT];
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            out.push(i as u8);
            let mut n = n;
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Histogram, DecodeError> {
        let (&format, mut rest) = bytes.split_first().ok_or(DecodeError("empty"))?;
        if format != FORMAT {
            return Err(DecodeError("unknown bucket layout"));
        }
        let mut histogram = Histogram::default();
        while let Some((&index, after)) = rest.split_first() {
            let slot = histogram
                .counts
                .get_mut(usize::from(index))
                .ok_or(DecodeError("bucket index out of range"))?;
            let mut value = 0u64;
            let mut shift = 0u32;
            rest = after;
            loop {
                let (&byte, after) = rest.split_first().ok_or(DecodeError("truncated count"))?;
                rest = after;
                if shift > 63 {
                    return Err(DecodeError("count too large"));
                }
                value |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            *slot = slot.saturating_add(value);
        }
        Ok(histogram)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_by_value() {
        let cases: &[(f64, usize)] = &[
            (f64::NAN, 0),
            (-1.0, 0),
            (0.0, 0),
            (0.099, 0),
            (0.1, 1),
            (0.129, 1),
            (0.13, 2),
            (1.0, 9),
            (10.0, 18),
            (100.0, 27),
            (1000.0, 36),
            (60_000.0, 51),
            (64_700.0, 51),
            (64_800.0, 52),
            (1e12, 52),
            (f64::INFINITY, 52),
        ];
        for &(ms, expected) in cases {
            assert_eq!(bucket_of(ms), expected, "{ms} ms");
        }
    }

    #[test]
    fn every_bucket_holds_its_own_bounds() {
        for i in 1..BUCKETS {
            assert_eq!(bucket_of(lower_bound(i)), i, "lower bound of {i}");
            let below_next = upper_bound(i) * (1.0 - 1e-12);
            if below_next.is_finite() {
                assert_eq!(
                    bucket_of(below_next),
                    i,
                    "just under the upper bound of {i}"
                );
            }
        }
        assert!(
            upper_bound(BUCKETS - 2) > 60_000.0,
            "60 s timeouts are not overflow"
        );
    }

    #[test]
    fn percentiles_land_within_one_bucket() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.record(f64::from(ms));
        }
        let cases: &[(f64, f64)] = &[(0.5, 50.0), (0.95, 95.0), (0.99, 99.0), (1.0, 100.0)];
        for &(q, exact) in cases {
            let got = h.percentile(q).unwrap();
            let i = bucket_of(exact);
            let width = upper_bound(i) - lower_bound(i);
            assert!((got - exact).abs() <= width, "p{q}: {got} vs {exact}");
        }
        assert_eq!(Histogram::default().percentile(0.5), None);
    }

    #[test]
    fn single_value_reads_back_inside_its_bucket() {
        let mut h = Histogram::default();
        h.record(70.3);
        let got = h.percentile(0.5).unwrap();
        let i = bucket_of(70.3);
        assert!(got >= lower_bound(i) && got < upper_bound(i), "{got}");
    }

    #[test]
    fn overflow_reads_back_as_its_lower_bound() {
        let mut h = Histogram::default();
        h.record(1e9);
        assert_eq!(h.percentile(0.5), Some(lower_bound(BUCKETS - 1)));
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(5.0);
        b.record(5.0);
        b.record(500.0);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.counts[bucket_of(5.0)], 2);
    }

    #[test]
    fn encoding_round_trips_and_is_small() {
        let mut h = Histogram::default();
        for _ in 0..300 {
            h.record(42.0);
        }
        h.record(0.01);
        h.record(1e9);
        let bytes = h.encode();
        assert_eq!(bytes.len(), 1 + 3 + 2 + 2);
        assert_eq!(Histogram::decode(&bytes).unwrap(), h);
        assert_eq!(
            Histogram::decode(&Histogram::default().encode()).unwrap(),
            Histogram::default()
        );
    }

    #[test]
    fn malformed_encodings_are_errors() {
        let cases: &[&[u8]] = &[
            &[],
            &[9],
            &[FORMAT, 200, 1],
            &[FORMAT, 3],
            &[FORMAT, 3, 0x80],
        ];
        for bytes in cases {
            assert!(Histogram::decode(bytes).is_err(), "{bytes:?}");
        }
        let huge = [
            FORMAT, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert!(Histogram::decode(&huge).is_err());
    }
}
