//! Each probe is one trace (W3C Trace Context): its ids are drawn before the first request so
//! that the token, health and upgrade requests can carry a `traceparent` naming the span that
//! made them, and the backend's own tracing joins the probe's trace. Exporting the spans is the
//! telemetry layer's business; this module only knows ids, the header and when phases started.

use super::result::Phases;
use opentelemetry::trace::{SpanId, TraceId};

/// The header name, lowercase as HTTP/2 and the W3C recommendation write it.
pub const TRACEPARENT: &str = "traceparent";

/// The W3C Baggage header (lowercase, as the recommendation writes it).
pub const BAGGAGE: &str = "baggage";

/// The baggage member that marks a request as synthetic, so the target's tracing, analytics and
/// sampling can tell the probe from its users (OpenTelemetry propagates baggage to every service
/// downstream).
const SYNTHETIC_REQUEST: (&str, &str) = ("synthetic_request", "true");

/// Add the synthetic-request member to the upgrade's headers: to a `baggage` header of the
/// config's own (W3C Baggage §3.2: one list, comma-separated) unless it already has one of
/// that key, else as a header of its own.
pub fn add_synthetic_baggage(headers: &mut Vec<(String, String)>) {
    let (key, value) = SYNTHETIC_REQUEST;
    let member = format!("{key}={value}");
    match headers
        .iter_mut()
        .find(|(name, _)| name.eq_ignore_ascii_case(BAGGAGE))
    {
        Some((_, list)) => {
            let has_key = list
                .split(',')
                .any(|entry| entry.split(['=', ';']).next().map(str::trim) == Some(key));
            if !has_key {
                list.push(',');
                list.push_str(&member);
            }
        }
        None => headers.push((BAGGAGE.to_owned(), member)),
    }
}

/// The ids of one probe's trace: the root span's, and those of the phases that send a request,
/// fixed in advance because their `traceparent` goes out before the span is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTrace {
    pub trace_id: TraceId,
    pub root: SpanId,
    pub token: SpanId,
    pub health: SpanId,
    pub upgrade: SpanId,
}

impl ProbeTrace {
    /// Fresh random ids. An all-zero id is invalid in W3C Trace Context, so it is drawn again.
    pub fn generate() -> ProbeTrace {
        let trace_id = loop {
            let bytes: [u8; 16] = rand::random();
            if bytes != [0; 16] {
                break TraceId::from_bytes(bytes);
            }
        };
        ProbeTrace {
            trace_id,
            root: new_span_id(),
            token: new_span_id(),
            health: new_span_id(),
            upgrade: new_span_id(),
        }
    }

    /// `traceparent` for a request made by the span `parent`: version 00, lowercase hex, the
    /// sampled flag set (every probe is recorded, so the backend should record its side too).
    pub fn traceparent(&self, parent: SpanId) -> String {
        format!("00-{}-{parent}-01", self.trace_id)
    }
}

/// A random span id, never the invalid all-zero one.
pub fn new_span_id() -> SpanId {
    loop {
        let id = SpanId::from_bytes(rand::random());
        if id != SpanId::INVALID {
            return id;
        }
    }
}

/// What the telemetry layer needs to turn a finished probe into spans; kept beside the result,
/// never serialised.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub ids: ProbeTrace,
    /// When each phase started, in milliseconds after the probe started (monotonic clock);
    /// `None` where the phase did not run. `total` is when the network phases began.
    pub starts_ms: Phases,
    /// The phase the probe stopped in, which has a start but no duration in `phases_ms`, and
    /// how long it ran until the probe gave up on it.
    pub unfinished: Option<(&'static str, f64)>,
    /// From the probe's start to its result, the root span's length.
    pub elapsed_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the header says, read back by OpenTelemetry's own baggage propagator.
    #[test]
    fn synthetic_baggage_joins_a_configured_list_once() {
        use opentelemetry::baggage::BaggageExt as _;
        use opentelemetry_sdk::propagation::BaggagePropagator;
        let rows: &[(Option<&str>, &str)] = &[
            (None, "synthetic_request=true"),
            (Some("tenant=acme"), "tenant=acme,synthetic_request=true"),
            (Some("synthetic_request=false"), "synthetic_request=false"),
            (
                Some("a=1, synthetic_request = yes;p"),
                "a=1, synthetic_request = yes;p",
            ),
        ];
        for (configured, want) in rows {
            let mut headers = vec![("X-E2E".to_owned(), "1".to_owned())];
            headers.extend(configured.map(|v| ("Baggage".to_owned(), v.to_owned())));
            add_synthetic_baggage(&mut headers);
            let sent: Vec<&(String, String)> = headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(BAGGAGE))
                .collect();
            assert_eq!(sent.len(), 1, "{configured:?}");
            assert_eq!(sent[0].1, *want, "{configured:?}");
        }
        let mut headers = Vec::new();
        add_synthetic_baggage(&mut headers);
        let carrier: HashMap<String, String> = headers.into_iter().collect();
        let context = BaggagePropagator::new().extract(&carrier);
        assert_eq!(
            context
                .baggage()
                .get("synthetic_request")
                .map(|v| v.as_str().to_owned()),
            Some("true".to_owned())
        );
    }
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::TraceContextExt as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use std::collections::HashMap;

    #[test]
    fn traceparent_is_what_an_independent_w3c_parser_reads_back() {
        let trace = ProbeTrace::generate();
        let header = trace.traceparent(trace.upgrade);
        assert_eq!(header.len(), 55, "{header}");
        let carrier = HashMap::from([(TRACEPARENT.to_owned(), header)]);
        let context = TraceContextPropagator::new().extract(&carrier);
        let span = context.span();
        let seen = span.span_context();
        assert!(seen.is_valid() && seen.is_remote());
        assert!(seen.is_sampled());
        assert_eq!(seen.trace_id(), trace.trace_id);
        assert_eq!(seen.span_id(), trace.upgrade);
    }

    #[test]
    fn every_probe_has_its_own_trace_and_distinct_spans() {
        let a = ProbeTrace::generate();
        let b = ProbeTrace::generate();
        assert_ne!(a.trace_id, b.trace_id);
        let spans = [a.root, a.token, a.health, a.upgrade];
        for (i, x) in spans.iter().enumerate() {
            assert_ne!(*x, SpanId::INVALID);
            assert!(spans[i + 1..].iter().all(|y| y != x));
        }
    }
}
