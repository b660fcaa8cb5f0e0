//! How wsprobe writes times and durations in JSON, the same in `check --format json`, the API
//! and every alert payload: RFC 3339 UTC with exactly three decimals
//! (`2026-12-02T20:31:05.123Z`), and milliseconds rounded to 0.1 ms. chrono's default would
//! write nanoseconds for some times and none for others, and a reader comparing two payloads
//! should not need two parsers. Reading back accepts any RFC 3339 time, so stored or older
//! payloads still load. Pure; a leaf like `text`.
//!
//! Use as `#[serde(with = "crate::wire::time")]` on a `DateTime<Utc>`,
//! `#[serde(with = "crate::wire::time_opt")]` on an `Option<DateTime<Utc>>`, and
//! `#[serde(serialize_with = "crate::wire::ms_opt")]` on an `Option<f64>` of milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The one text form of a time on the wire.
pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Milliseconds as the wire carries them: a tenth of a millisecond is finer than any phase
/// wsprobe times matters at, and `4.232679614626739` only looks precise.
pub fn round_ms(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

pub mod time {
    use super::*;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }
}

pub mod time_opt {
    use super::*;

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_str(&super::format(*at)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<Utc>>::deserialize(d)
    }
}

pub fn ms<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_ms(*value))
}

pub fn ms_opt<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_some(&round_ms(*v)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Sample {
        #[serde(with = "time")]
        at: DateTime<Utc>,
        #[serde(with = "time_opt")]
        maybe: Option<DateTime<Utc>>,
        #[serde(serialize_with = "ms_opt")]
        total_ms: Option<f64>,
    }

    #[test]
    fn times_carry_exactly_milliseconds_and_read_back() {
        let precise = DateTime::parse_from_rfc3339("2026-12-02T20:31:05.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let whole = DateTime::parse_from_rfc3339("2026-12-02T20:31:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let sample = Sample {
            at: precise,
            maybe: Some(whole),
            total_ms: Some(4.232679614626739),
        };
        let json = serde_json::to_value(&sample).unwrap();
        assert_eq!(json["at"], "2026-12-02T20:31:05.123Z");
        assert_eq!(json["maybe"], "2026-12-02T20:31:05.000Z");
        assert_eq!(json["total_ms"], 4.2);
        let back: Sample = serde_json::from_value(json).unwrap();
        assert_eq!(back.maybe, Some(whole));
        assert_eq!(back.at.timestamp_millis(), precise.timestamp_millis());
        let none = serde_json::to_value(Sample {
            maybe: None,
            total_ms: None,
            ..back
        })
        .unwrap();
        assert!(none["maybe"].is_null() && none["total_ms"].is_null());
    }
}
