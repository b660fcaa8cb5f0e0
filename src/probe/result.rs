//! The result of one probe: what the SPEC's "Result (JSON)" shows, and what the store, alerts
//! and metrics record. Everything in here is already redacted.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod builder;
mod network;
pub use builder::ProbeResultBuilder;
pub use network::{AddressTried, Family, Outcome, Peer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Up,
    Degraded,
    Down,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Degraded => "degraded",
            Status::Down => "down",
        }
    }

    /// Up or degraded: the service works for its users.
    pub fn is_serving(self) -> bool {
        self != Status::Down
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every verdict of the SPEC, spelled as the SPEC spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Slow,
    CertExpiring,
    TokenFailed,
    DnsFailed,
    ConnectRefused,
    ConnectTimeout,
    TlsFailed,
    UpgradeRejected,
    UpgradeTimeout,
    SubprotocolMismatch,
    HeadersStripped,
    ClosedBeforeReady,
    ReadyTimeout,
    ReadyMismatch,
    StepFailed,
    ProtocolError,
    HealthFailed,
    ProbeError,
}

impl Verdict {
    pub const ALL: [Verdict; 19] = [
        Verdict::Ok,
        Verdict::Slow,
        Verdict::CertExpiring,
        Verdict::TokenFailed,
        Verdict::DnsFailed,
        Verdict::ConnectRefused,
        Verdict::ConnectTimeout,
        Verdict::TlsFailed,
        Verdict::UpgradeRejected,
        Verdict::UpgradeTimeout,
        Verdict::SubprotocolMismatch,
        Verdict::HeadersStripped,
        Verdict::ClosedBeforeReady,
        Verdict::ReadyTimeout,
        Verdict::ReadyMismatch,
        Verdict::StepFailed,
        Verdict::ProtocolError,
        Verdict::HealthFailed,
        Verdict::ProbeError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Slow => "slow",
            Verdict::CertExpiring => "cert_expiring",
            Verdict::TokenFailed => "token_failed",
            Verdict::DnsFailed => "dns_failed",
            Verdict::ConnectRefused => "connect_refused",
            Verdict::ConnectTimeout => "connect_timeout",
            Verdict::TlsFailed => "tls_failed",
            Verdict::UpgradeRejected => "upgrade_rejected",
            Verdict::UpgradeTimeout => "upgrade_timeout",
            Verdict::SubprotocolMismatch => "subprotocol_mismatch",
            Verdict::HeadersStripped => "headers_stripped",
            Verdict::ClosedBeforeReady => "closed_before_ready",
            Verdict::ReadyTimeout => "ready_timeout",
            Verdict::ReadyMismatch => "ready_mismatch",
            Verdict::StepFailed => "step_failed",
            Verdict::ProtocolError => "protocol_error",
            Verdict::HealthFailed => "health_failed",
            Verdict::ProbeError => "probe_error",
        }
    }

    pub fn parse(text: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == text)
    }

    pub fn status(self) -> Status {
        match self {
            Verdict::Ok => Status::Up,
            Verdict::Slow | Verdict::CertExpiring => Status::Degraded,
            _ => Status::Down,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Milliseconds per phase; `None` when the phase was not reached or does not apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub token: Option<f64>,
    /// The session login (`auth.kind: session`): the CSRF page, the login and its redirects.
    #[serde(default, serialize_with = "crate::wire::ms_opt")]
    pub login: Option<f64>,
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub health: Option<f64>,
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub dns: Option<f64>,
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub connect: Option<f64>,
    /// The CONNECT exchange with the egress proxy, when one is used.
    #[serde(default, serialize_with = "crate::wire::ms_opt")]
    pub proxy: Option<f64>,
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub tls: Option<f64>,
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub upgrade: Option<f64>,
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub ready: Option<f64>,
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub exchange: Option<f64>,
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub close: Option<f64>,
    /// Network phases only (dns → close of the last attempt): token, login and health are kept
    /// out.
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub total: Option<f64>,
}

impl Phases {
    /// (name, value) in protocol order, `total` last: for metrics and tables.
    pub fn named(&self) -> [(&'static str, Option<f64>); 12] {
        [
            ("token", self.token),
            ("login", self.login),
            ("health", self.health),
            ("dns", self.dns),
            ("connect", self.connect),
            ("proxy", self.proxy),
            ("tls", self.tls),
            ("upgrade", self.upgrade),
            ("ready", self.ready),
            ("exchange", self.exchange),
            ("close", self.close),
            ("total", self.total),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsInfo {
    pub version: String,
    pub cert_subject: Option<String>,
    pub cert_issuer: Option<String>,
    #[serde(with = "crate::wire::time_opt")]
    pub cert_not_after: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthInfo {
    pub http_status: Option<u16>,
    pub ok: bool,
    /// Why the request itself failed (no HTTP status), or the body excerpt of an unexpected one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Header maps keep names lowercase and values redacted.
pub type HeaderMap = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Headers {
    /// What the probe put on the upgrade request.
    pub sent: HeaderMap,
    /// What the server answered the upgrade with.
    pub response: HeaderMap,
    /// What the backend reported having received (the `echo` pointer).
    pub echoed: HeaderMap,
    /// Required headers the probe sent that the backend reports as absent.
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub environment: String,
    pub location: Option<String>,
    pub url: String,
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    pub status: Status,
    pub verdict: Verdict,
    pub close_code: Option<u16>,
    pub close_reason: Option<String>,
    /// How long after the 101 the server's close (or drop) came.
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub close_after_ms: Option<f64>,
    pub http_status: Option<u16>,
    /// Excerpt of the body of a refused upgrade or token request: it usually says why.
    pub body_excerpt: Option<String>,
    pub subprotocol: Option<String>,
    pub attempts: u32,
    pub failed_step: Option<usize>,
    pub version: Option<String>,
    pub phases_ms: Phases,
    pub tls: Option<TlsInfo>,
    pub health: Option<HealthInfo>,
    pub headers: Headers,
    pub messages: Vec<String>,
    pub diagnosis: String,
    pub error: Option<String>,
    /// The probe's W3C trace id (32 lowercase hex digits), also sent in `traceparent`.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Phase starts and span ids, for the spans exported right after the probe: never stored,
    /// never serialised.
    #[serde(skip)]
    pub timeline: Option<super::trace::Timeline>,
    /// wsprobe's own close, when it closed because of what the server sent (a frame it
    /// refused, a close code its WebSocket library answers with 1002); `close_code` stays
    /// what the server sent.
    #[serde(default)]
    pub client_close_code: Option<u16>,
    #[serde(default)]
    pub client_close_reason: Option<String>,
    /// The environment's protocol preset (`socket.io`, `mqtt`…), null without one.
    #[serde(default)]
    pub protocol: Option<String>,
    /// The address the connection went to (the egress proxy's, through one).
    #[serde(default)]
    pub peer: Option<Peer>,
    /// Every address the last attempt tried, in the order tried, and how each fared.
    #[serde(default)]
    pub addresses_tried: Vec<AddressTried>,
    /// Which re-probe of `alert.confirm` this run is (1, 2, …): run at once after a failure,
    /// to tell a blip from an outage. `null` for scheduled and on-demand runs.
    #[serde(default)]
    pub confirmation: Option<u32>,
    /// In a fleet, the location whose failing probe asked this one's to probe now (this run
    /// and its own confirmations): `null` for the runs a location made of its own accord.
    #[serde(default)]
    pub requested_by: Option<String>,
}

impl ProbeResult {
    /// A result no probe made: what the fleet's evaluator says about a location or an
    /// instance that went quiet, in the shape alerting and the pages already read.
    pub fn note(
        subject: &str,
        at: DateTime<Utc>,
        status: Status,
        verdict: Verdict,
        diagnosis: String,
    ) -> ProbeResult {
        ProbeResult::builder(subject, verdict)
            .started_at(at)
            .status(status)
            .diagnosis(diagnosis)
            .build()
    }

    /// The result without its bulky evidence (headers sent, returned and echoed, messages):
    /// what the daemon keeps in memory per environment, so that thousands of environments cost
    /// a few hundred bytes each. `missing` stays: it is the verdict's evidence. The whole
    /// result is in the store.
    pub fn without_bulk(&self) -> ProbeResult {
        ProbeResult {
            environment: self.environment.clone(),
            location: self.location.clone(),
            url: self.url.clone(),
            close_reason: self.close_reason.clone(),
            body_excerpt: self.body_excerpt.clone(),
            subprotocol: self.subprotocol.clone(),
            version: self.version.clone(),
            tls: self.tls.clone(),
            health: self.health.clone(),
            headers: Headers {
                missing: self.headers.missing.clone(),
                ..Headers::default()
            },
            messages: Vec::new(),
            diagnosis: self.diagnosis.clone(),
            error: self.error.clone(),
            phases_ms: self.phases_ms.clone(),
            trace_id: self.trace_id.clone(),
            timeline: None,
            client_close_reason: self.client_close_reason.clone(),
            protocol: self.protocol.clone(),
            peer: self.peer.clone(),
            addresses_tried: self.addresses_tried.clone(),
            requested_by: self.requested_by.clone(),
            ..*self
        }
    }
}
