//! Probe results made by hand for tests that need one without a probe.

use chrono::{DateTime, Utc};
use wsprobe::probe::result::{ProbeResult, Verdict};

/// Everything absent: what a probe that could not even start reports.
pub fn minimal(env: &str, started_at: DateTime<Utc>) -> ProbeResult {
    ProbeResult::builder(env, Verdict::ProbeError)
        .url(format!("wss://{env}.example.com/ws"))
        .started_at(started_at)
        .diagnosis("wsprobe could not run the probe: no runtime.")
        .error("no runtime")
        .build()
}
