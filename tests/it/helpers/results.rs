//! Probe results made by hand for tests that need one without a probe.

use chrono::{DateTime, Utc};
use wsprobe::probe::result::{Headers, Phases, ProbeResult, Status, Verdict};

/// Everything absent: what a probe that could not even start reports.
pub fn minimal(env: &str, started_at: DateTime<Utc>) -> ProbeResult {
    ProbeResult {
        environment: env.to_owned(),
        location: None,
        url: format!("wss://{env}.example.com/ws"),
        started_at,
        status: Status::Down,
        verdict: Verdict::ProbeError,
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
        diagnosis: "wsprobe could not run the probe: no runtime.".to_owned(),
        error: Some("no runtime".to_owned()),
        trace_id: None,
        timeline: None,
    }
}
