//! What the phases observe, written as they go and unredacted until `assemble` turns it into
//! a result: a phase that stops the probe leaves behind everything gathered so far.

use std::time::Instant;

use super::redact::Redactor;
use super::result::{HealthInfo, Phases, TlsInfo};
use super::session::SessionOutcome;
use super::timing::between_ms;
use super::trace::ProbeTrace;
use super::verdict::Stop;

/// Everything observed, unredacted until `into_result`.
pub(super) struct Facts {
    pub(super) redactor: Redactor,
    /// The probe's start on the monotonic clock: phase starts are offsets from it.
    pub(super) started: Instant,
    pub(super) trace: ProbeTrace,
    pub(super) phases: Phases,
    /// When each phase began, in milliseconds after `started`, set as it begins: a phase with
    /// a start and no duration is the one the probe stopped in.
    pub(super) starts: Phases,
    pub(super) secure: bool,
    /// The host is a name, not an IP literal: a dns phase runs.
    pub(super) resolves: bool,
    /// The connection goes through an egress proxy: a proxy phase runs.
    pub(super) proxied: bool,
    /// The peer and every address tried, of the last attempt.
    pub(super) transport: super::connect::Observed,
    pub(super) attempts: u32,
    pub(super) net_started: Option<Instant>,
    pub(super) http_status: Option<u16>,
    pub(super) body_excerpt: Option<String>,
    pub(super) error: Option<String>,
    pub(super) tls: Option<TlsInfo>,
    pub(super) health: Option<HealthInfo>,
    pub(super) sent: Vec<(String, String)>,
    pub(super) response_headers: Vec<(String, String)>,
    pub(super) subprotocol: Option<String>,
    pub(super) subprotocol_mismatch: bool,
    pub(super) missing: Vec<String>,
    pub(super) version: Option<String>,
    pub(super) session: Option<SessionOutcome>,
}

impl Facts {
    pub(super) fn new(redactor: Redactor, started: Instant) -> Self {
        Self {
            redactor,
            started,
            trace: ProbeTrace::generate(),
            phases: Phases::default(),
            starts: Phases::default(),
            secure: false,
            resolves: false,
            proxied: false,
            transport: Default::default(),
            attempts: 0,
            net_started: None,
            http_status: None,
            body_excerpt: None,
            error: None,
            tls: None,
            health: None,
            sent: Vec::new(),
            response_headers: Vec::new(),
            subprotocol: None,
            subprotocol_mismatch: false,
            missing: Vec::new(),
            version: None,
            session: None,
        }
    }

    pub(super) fn offset(&self, at: Instant) -> f64 {
        between_ms(self.started, at)
    }
}

/// Why a phase ended the probe: the stop the verdict reads, and the error that explains it
/// (none when the facts already say it, as a refused upgrade's status and body do).
#[derive(Debug)]
pub(super) struct Halt {
    pub(super) stop: Stop,
    pub(super) error: Option<String>,
}

impl Halt {
    pub(super) fn new(stop: Stop, error: impl Into<String>) -> Self {
        Self {
            stop,
            error: Some(error.into()),
        }
    }

    /// The stop alone: the facts recorded already explain it.
    pub(super) fn bare(stop: Stop) -> Self {
        Self { stop, error: None }
    }

    /// wsprobe could not do its part (a bad URL, no TLS configuration, no resources).
    pub(super) fn own_fault(error: impl Into<String>) -> Self {
        Self::new(Stop::ProbeError, error)
    }
}
