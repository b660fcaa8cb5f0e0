//! One way to make a `ProbeResult` by hand (tests, and results no probe made): name the
//! environment and the verdict, set what matters, and every other field is absent.

use chrono::{DateTime, Utc};

use super::{Headers, HealthInfo, Phases, ProbeResult, Status, TlsInfo, Verdict};

/// Built by [`ProbeResult::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ProbeResultBuilder {
    result: ProbeResult,
}

/// One setter per field: `name(value: type) => what the field becomes;`. Optional fields
/// take the value itself.
macro_rules! setters {
    ($($field:ident($value:ident: $ty:ty) => $set:expr;)*) => {$(
        pub fn $field(mut self, $value: $ty) -> Self {
            self.result.$field = $set;
            self
        }
    )*};
}

impl ProbeResult {
    /// A result for `environment` with `verdict` (and the status it implies), started now,
    /// after no attempt, with nothing else known.
    pub fn builder(environment: impl Into<String>, verdict: Verdict) -> ProbeResultBuilder {
        ProbeResultBuilder {
            result: ProbeResult {
                environment: environment.into(),
                location: None,
                url: String::new(),
                started_at: Utc::now(),
                status: verdict.status(),
                verdict,
                close_code: None,
                close_reason: None,
                close_after_ms: None,
                http_status: None,
                body_excerpt: None,
                subprotocol: None,
                attempts: 0,
                failed_step: None,
                version: None,
                phases_ms: Phases::default(),
                tls: None,
                health: None,
                headers: Headers::default(),
                messages: Vec::new(),
                diagnosis: String::new(),
                error: None,
                trace_id: None,
                timeline: None,
                client_close_code: None,
                client_close_reason: None,
                protocol: None,
                peer: None,
                addresses_tried: Vec::new(),
                confirmation: None,
                requested_by: None,
            },
        }
    }
}

impl ProbeResultBuilder {
    setters! {
        location(value: impl Into<String>) => Some(value.into());
        url(value: impl Into<String>) => value.into();
        started_at(value: DateTime<Utc>) => value;
        status(value: Status) => value;
        close_code(value: u16) => Some(value);
        close_reason(value: impl Into<String>) => Some(value.into());
        close_after_ms(value: f64) => Some(value);
        http_status(value: u16) => Some(value);
        body_excerpt(value: impl Into<String>) => Some(value.into());
        subprotocol(value: impl Into<String>) => Some(value.into());
        attempts(value: u32) => value;
        failed_step(value: usize) => Some(value);
        version(value: impl Into<String>) => Some(value.into());
        phases_ms(value: Phases) => value;
        tls(value: TlsInfo) => Some(value);
        health(value: HealthInfo) => Some(value);
        headers(value: Headers) => value;
        messages(value: Vec<String>) => value;
        diagnosis(value: impl Into<String>) => value.into();
        error(value: impl Into<String>) => Some(value.into());
        trace_id(value: impl Into<String>) => Some(value.into());
        client_close_code(value: u16) => Some(value);
        client_close_reason(value: impl Into<String>) => Some(value.into());
        protocol(value: impl Into<String>) => Some(value.into());
        peer(value: super::Peer) => Some(value);
        addresses_tried(value: Vec<super::AddressTried>) => value;
        confirmation(value: u32) => Some(value);
        requested_by(value: impl Into<String>) => Some(value.into());
    }

    pub fn build(self) -> ProbeResult {
        self.result
    }
}
