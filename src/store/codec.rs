//! How the parts of a `ProbeResult` become column values and back. Pure, so every encoding is
//! table-tested without a database, and the stored formats are written down in one place.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::probe::result::{
    AddressTried, HeaderMap, Headers, Outcome, Peer, ProbeResult, Status, TlsInfo, Verdict,
};

/// Stored status codes. Rows outlive releases: a code is never reused or renumbered.
pub fn status_code(status: Status) -> i64 {
    match status {
        Status::Up => 0,
        Status::Degraded => 1,
        Status::Down => 2,
    }
}

pub fn status_from_code(code: i64) -> Result<Status, StoreError> {
    Ok(match code {
        0 => Status::Up,
        1 => Status::Degraded,
        2 => Status::Down,
        _ => return Err(StoreError::Corrupt(format!("unknown status code {code}"))),
    })
}

/// Stored verdict codes, in the SPEC's table order as of the first schema. Rows outlive
/// releases: a new verdict takes the next free number, an old one is never renumbered.
pub fn verdict_code(verdict: Verdict) -> i64 {
    match verdict {
        Verdict::Ok => 0,
        Verdict::Slow => 1,
        Verdict::CertExpiring => 2,
        Verdict::TokenFailed => 3,
        Verdict::DnsFailed => 4,
        Verdict::ConnectRefused => 5,
        Verdict::ConnectTimeout => 6,
        Verdict::TlsFailed => 7,
        Verdict::UpgradeRejected => 8,
        Verdict::UpgradeTimeout => 9,
        Verdict::SubprotocolMismatch => 10,
        Verdict::HeadersStripped => 11,
        Verdict::ClosedBeforeReady => 12,
        Verdict::ReadyTimeout => 13,
        Verdict::ReadyMismatch => 14,
        Verdict::StepFailed => 15,
        Verdict::ProtocolError => 16,
        Verdict::HealthFailed => 17,
        Verdict::ProbeError => 18,
    }
}

pub fn verdict_from_code(code: i64) -> Result<Verdict, StoreError> {
    Verdict::ALL
        .into_iter()
        .find(|v| verdict_code(*v) == code)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown verdict code {code}")))
}

/// A millisecond value as stored: phases are measured to the microsecond, so most fit an
/// INTEGER of microseconds (2-4 bytes on disk instead of a REAL's 8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Millis {
    /// Microseconds; reads back as `us / 1000.0`, which equals the original bit for bit.
    Micros(i64),
    /// Anything that would not read back exactly (sums of rounded phases, -0.0, huge values)
    /// is kept as the float itself. NaN becomes NULL in SQLite, as it would in JSON.
    Exact(f64),
}

/// Beyond this the microsecond count leaves the range where every integer is a float.
const MAX_MICROS_MS: f64 = 9.0e12;

pub fn encode_ms(ms: f64) -> Millis {
    if ms.is_finite() && ms.abs() <= MAX_MICROS_MS {
        let us = (ms * 1000.0).round() as i64;
        if micros_to_ms(us).to_bits() == ms.to_bits() {
            return Millis::Micros(us);
        }
    }
    Millis::Exact(ms)
}

pub fn micros_to_ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// Nanoseconds keep `started_at` exactly as the probe took it (`Utc::now()`); 8 bytes on disk
/// against 6 for milliseconds.
pub fn to_unix_ns(at: DateTime<Utc>) -> Result<i64, StoreError> {
    at.timestamp_nanos_opt()
        .ok_or_else(|| StoreError::OutOfRange(format!("{at} is outside 1677..2262")))
}

pub fn from_unix_ns(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// Unix seconds of the start of the UTC hour holding `at`: the rollup key.
/// Milliseconds since the epoch: the unit of every alerting time column.
pub fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub fn hour_start(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600) * 3600
}

/// What answered and where: identical from run to run until a deploy or a certificate renewal,
/// so it is one blob referenced by every run instead of five columns repeated on each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprotocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// wsprobe's own close, when it closed on a frame it refused: rare, so it rides in the
    /// context blob (older blobs read as none) rather than in two columns of every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_close_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_close_reason: Option<String>,
    /// The protocol preset, when the environment has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The address that answered: the same from run to run while DNS does not move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Peer>,
    /// Only when it says more than `peer` and the connect phase do (see
    /// [`addresses_to_store`]): its times change every run, and would make every run's context
    /// a blob of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses_tried: Vec<AddressTried>,
    /// The re-probe of `alert.confirm` the run was, if any: rare, like the close above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<u32>,
    /// The location that asked for the run (a fleet's confirmation across locations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// `addresses_tried` as the context blob keeps it: empty when it is exactly one attempt, at
/// the peer, that connected at once in the whole connect phase, which is what
/// [`addresses_tried`] rebuilds from the peer and `connect_ms`.
pub fn addresses_to_store(result: &ProbeResult) -> Vec<AddressTried> {
    let rebuilt = addresses_tried(Vec::new(), result.peer.as_ref(), result.phases_ms.connect);
    if rebuilt == result.addresses_tried {
        Vec::new()
    } else {
        result.addresses_tried.clone()
    }
}

/// The stored list, or the one attempt a stored peer and connect time stand for.
pub fn addresses_tried(
    stored: Vec<AddressTried>,
    peer: Option<&Peer>,
    connect_ms: Option<f64>,
) -> Vec<AddressTried> {
    match (stored.is_empty(), peer, connect_ms) {
        (true, Some(peer), Some(connect_ms)) => vec![AddressTried {
            address: peer.address.clone(),
            family: peer.family,
            outcome: Outcome::Connected,
            started_ms: 0.0,
            ms: connect_ms,
            error: None,
        }],
        _ => stored,
    }
}

/// Headers whose value is new on every request by design (the handshake nonce and its answer,
/// the date, request and trace ids, cookies). Their values are stored with the run, the rest of
/// the header set as a blob that then repeats. Only a size optimisation: the blob records which
/// headers were lifted, so changing this list never changes how old rows read back.
const PER_REQUEST_HEADERS: &[&str] = &[
    "date",
    "sec-websocket-key",
    "sec-websocket-accept",
    "set-cookie",
    "x-request-id",
    "request-id",
    "x-correlation-id",
    "traceparent",
    "tracestate",
    "x-cloud-trace-context",
    "x-amzn-trace-id",
    "x-amzn-requestid",
    "x-amz-cf-id",
    "cf-ray",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-envoy-upstream-service-time",
];

/// The stored header blob: the header set with lifted values emptied, and which ones they were.
#[derive(Debug, Serialize, Deserialize)]
struct HeaderTemplate {
    #[serde(flatten)]
    headers: Headers,
    #[serde(default, skip_serializing_if = "Lifted::is_empty")]
    lifted: Lifted,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Lifted {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sent: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    response: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    echoed: Vec<String>,
}

impl Lifted {
    fn is_empty(&self) -> bool {
        self.sent.is_empty() && self.response.is_empty() && self.echoed.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SplitHeaders {
    /// JSON of the header set with per-request values emptied: the blob.
    pub template: String,
    /// JSON array of the lifted values, `None` when nothing was lifted.
    pub values: Option<String>,
}

pub fn split_headers(headers: &Headers) -> Result<SplitHeaders, StoreError> {
    let mut template = HeaderTemplate {
        headers: headers.clone(),
        lifted: Lifted::default(),
    };
    let mut values = Vec::new();
    let maps = [
        (&mut template.headers.sent, &mut template.lifted.sent),
        (
            &mut template.headers.response,
            &mut template.lifted.response,
        ),
        (&mut template.headers.echoed, &mut template.lifted.echoed),
    ];
    for (map, lifted) in maps {
        for (name, value) in map.iter_mut() {
            if PER_REQUEST_HEADERS
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
            {
                lifted.push(name.clone());
                values.push(std::mem::take(value));
            }
        }
    }
    Ok(SplitHeaders {
        template: serde_json::to_string(&template).map_err(StoreError::Encode)?,
        values: if values.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&values).map_err(StoreError::Encode)?)
        },
    })
}

pub fn join_headers(template: &str, values: Option<&str>) -> Result<Headers, StoreError> {
    let HeaderTemplate {
        mut headers,
        lifted,
    } = serde_json::from_str(template).map_err(|e| corrupt("headers blob", e))?;
    let values: Vec<String> = match values {
        Some(text) => serde_json::from_str(text).map_err(|e| corrupt("header values", e))?,
        None => Vec::new(),
    };
    let mut values = values.into_iter();
    let maps: [(&mut HeaderMap, &Vec<String>); 3] = [
        (&mut headers.sent, &lifted.sent),
        (&mut headers.response, &lifted.response),
        (&mut headers.echoed, &lifted.echoed),
    ];
    for (map, names) in maps {
        for name in names {
            let value = values
                .next()
                .ok_or_else(|| StoreError::Corrupt("fewer header values than lifted".into()))?;
            map.insert(name.clone(), value);
        }
    }
    if values.next().is_some() {
        return Err(StoreError::Corrupt("more header values than lifted".into()));
    }
    Ok(headers)
}

/// A trace id as stored: its 16 bytes; `None` for text that is not 32 hex digits.
pub fn trace_id_bytes(hex: &str) -> Option<Vec<u8>> {
    let id = opentelemetry::trace::TraceId::from_hex(hex).ok()?;
    (hex.len() == 32).then(|| id.to_bytes().to_vec())
}

pub fn trace_id_hex(bytes: &[u8]) -> Result<String, StoreError> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("a trace id of {} bytes", bytes.len())))?;
    Ok(opentelemetry::trace::TraceId::from_bytes(bytes).to_string())
}

pub fn corrupt(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_tried_are_stored_only_when_they_say_more_than_the_peer() {
        let attempt = |address: &str, outcome, started_ms, ms| AddressTried {
            address: address.to_owned(),
            family: crate::probe::result::Family::of(&address.parse().unwrap()),
            outcome,
            started_ms,
            ms,
            error: None,
        };
        let peer = |address: &str| Peer::of(&address.parse().unwrap());
        #[rustfmt::skip]
        type Case = (Option<Peer>, Option<f64>, Vec<AddressTried>, bool);
        let cases: Vec<Case> = vec![
            // (peer, connect_ms, addresses_tried, kept in the blob)
            (
                Some(peer("203.0.113.1")),
                Some(1.25),
                vec![attempt("203.0.113.1", Outcome::Connected, 0.0, 1.25)],
                false,
            ),
            (
                Some(peer("203.0.113.1")),
                Some(1.25),
                vec![attempt("203.0.113.1", Outcome::Connected, 0.0, 1.0)],
                true,
            ),
            (
                Some(peer("::1")),
                Some(251.0),
                vec![
                    attempt("127.0.0.1", Outcome::Cancelled, 0.0, 251.0),
                    attempt("::1", Outcome::Connected, 250.0, 1.0),
                ],
                true,
            ),
            (
                None,
                None,
                vec![attempt("203.0.113.1", Outcome::TimedOut, 0.0, 15000.0)],
                true,
            ),
            (None, None, vec![], false),
        ];
        for (peer, connect_ms, tried, kept) in cases {
            let result = ProbeResult::builder("e", Verdict::Ok)
                .phases_ms(crate::probe::result::Phases {
                    connect: connect_ms,
                    ..Default::default()
                })
                .addresses_tried(tried.clone());
            let result = match &peer {
                Some(peer) => result.peer(peer.clone()),
                None => result,
            }
            .build();
            let stored = addresses_to_store(&result);
            assert_eq!(!stored.is_empty(), kept, "{tried:?}");
            assert_eq!(addresses_tried(stored, peer.as_ref(), connect_ms), tried);
        }
    }

    #[test]
    fn status_and_verdict_codes_are_pinned() {
        // Changing a number here corrupts every stored row: add, never renumber.
        let statuses = [(Status::Up, 0), (Status::Degraded, 1), (Status::Down, 2)];
        for (status, code) in statuses {
            assert_eq!(status_code(status), code);
            assert_eq!(status_from_code(code).unwrap(), status);
        }
        for (expected, verdict) in Verdict::ALL.into_iter().enumerate() {
            let code = verdict_code(verdict);
            assert_eq!(code, expected as i64, "{verdict}");
            assert_eq!(verdict_from_code(code).unwrap(), verdict);
        }
        assert!(status_from_code(3).is_err());
        assert!(verdict_from_code(19).is_err());
        assert!(verdict_from_code(-1).is_err());
    }

    #[test]
    fn millis_are_micros_when_exact() {
        let cases: &[(f64, Millis)] = &[
            (0.0, Millis::Micros(0)),
            (0.4, Millis::Micros(400)),
            (12.345, Millis::Micros(12_345)),
            (70.3, Millis::Micros(70_300)),
            (2500.0, Millis::Micros(2_500_000)),
            (-0.0, Millis::Exact(-0.0)),
            (0.1 + 0.2, Millis::Exact(0.1 + 0.2)),
            (1.0e-7, Millis::Exact(1.0e-7)),
            (1.0e15, Millis::Exact(1.0e15)),
            (f64::INFINITY, Millis::Exact(f64::INFINITY)),
        ];
        for &(ms, expected) in cases {
            let got = encode_ms(ms);
            assert_eq!(got, expected, "{ms}");
            let back = match got {
                Millis::Micros(us) => micros_to_ms(us),
                Millis::Exact(v) => v,
            };
            assert_eq!(back.to_bits(), ms.to_bits(), "{ms} reads back exactly");
        }
    }

    #[test]
    fn rounded_phases_always_read_back_exactly() {
        // What probe::timing::round_ms produces, over a wide spread of values.
        for i in 0..200_000u64 {
            let raw = (i as f64) * 0.7919 + (i % 13) as f64 * 1e-4;
            let ms = (raw * 1000.0).round() / 1000.0;
            match encode_ms(ms) {
                Millis::Micros(us) => assert_eq!(micros_to_ms(us).to_bits(), ms.to_bits()),
                Millis::Exact(_) => panic!("{ms} should fit in microseconds"),
            }
        }
    }

    #[test]
    fn times_keep_nanoseconds_and_hours_floor() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T22:50:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(from_unix_ns(to_unix_ns(at).unwrap()), at);
        assert_eq!(hour_start(at), at.timestamp() - 50 * 60);
        let before_epoch = DateTime::parse_from_rfc3339("1969-12-31T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(hour_start(before_epoch), -3600);
        let far = DateTime::parse_from_rfc3339("2300-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(to_unix_ns(far).is_err());
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn per_request_headers_are_lifted_and_restored() {
        let headers = Headers {
            sent: map(&[
                ("authorization", "Bearer eyJh…[redacted]"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ]),
            response: map(&[
                ("date", "Sun, 22 Nov 2026 22:50:00 GMT"),
                ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                ("x-revision", "rev-4812"),
            ]),
            echoed: map(&[("authorization", "[MISSING]")]),
            missing: vec!["authorization".into()],
        };
        let split = split_headers(&headers).unwrap();
        assert!(!split.template.contains("dGhlIHNhbXBsZSBub25jZQ"));
        assert!(split.template.contains("rev-4812"));
        assert_eq!(
            split.values.as_deref(),
            Some(
                r#"["dGhlIHNhbXBsZSBub25jZQ==","Sun, 22 Nov 2026 22:50:00 GMT","s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]"#
            )
        );
        assert_eq!(
            join_headers(&split.template, split.values.as_deref()).unwrap(),
            headers
        );

        // Two runs differing only in per-request values share the template.
        let mut next = headers.clone();
        next.sent.insert(
            "sec-websocket-key".into(),
            "AAAAAAAAAAAAAAAAAAAAAA==".into(),
        );
        assert_eq!(split_headers(&next).unwrap().template, split.template);
    }

    #[test]
    fn headers_without_per_request_values_have_no_values() {
        let headers = Headers {
            sent: map(&[("x-e2e-test", "true")]),
            ..Headers::default()
        };
        let split = split_headers(&headers).unwrap();
        assert_eq!(split.values, None);
        assert_eq!(join_headers(&split.template, None).unwrap(), headers);
        let empty = split_headers(&Headers::default()).unwrap();
        assert_eq!(
            join_headers(&empty.template, None).unwrap(),
            Headers::default()
        );
    }

    #[test]
    fn mismatched_header_values_are_corrupt() {
        let headers = Headers {
            response: map(&[("date", "x")]),
            ..Headers::default()
        };
        let split = split_headers(&headers).unwrap();
        assert!(join_headers(&split.template, None).is_err());
        assert!(join_headers(&split.template, Some(r#"["a","b"]"#)).is_err());
        assert!(join_headers("not json", None).is_err());
    }
}
