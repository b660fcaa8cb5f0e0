//! The optional HTTP health check beside the socket: the same service seen over plain HTTP,
//! so a diagnosis can tell "the service is down" from "only its WebSocket path is".

use std::time::Duration;

use super::result::HealthInfo;
use super::{connect, evidence, trace};

/// The most of a health answer's body read for `expect_body`: a health endpoint that answers
/// megabytes cannot bloat the daemon, and a match is judged on what was read.
const HEALTH_BODY_LIMIT: usize = 64 * 1024;

/// What the health URL answered; `Err` only when wsprobe itself could not ask (its own
/// resources ran out), which is not the service's fault.
pub(super) async fn check(
    http: &reqwest::Client,
    health: &crate::config::HealthCheck,
    budget: Duration,
    traceparent: &str,
) -> Result<HealthInfo, String> {
    let request = http
        .get(health.url.clone())
        .header(trace::TRACEPARENT, traceparent)
        .timeout(budget);
    Ok(match request.send().await {
        Ok(response) => judge(response, health).await,
        Err(err) if connect::local_exhaustion_in(&err).is_some() => {
            return Err(format!(
                "wsprobe itself ran out of resources ({}): not the service's fault",
                connect::local_exhaustion_in(&err).expect("just matched")
            ));
        }
        Err(err) => HealthInfo {
            http_status: None,
            ok: false,
            error: Some(if err.is_timeout() {
                "timed out".to_owned()
            } else {
                crate::text::error_chain(&err)
            }),
        },
    })
}

/// The status against `expect_status`, then (only if that passed) the body against
/// `expect_body`.
async fn judge(response: reqwest::Response, health: &crate::config::HealthCheck) -> HealthInfo {
    let status = response.status().as_u16();
    let mut info = HealthInfo {
        http_status: Some(status),
        ok: status == health.expect_status,
        error: None,
    };
    if let (true, Some(matcher)) = (info.ok, &health.expect_body) {
        let body = read_bounded(response, HEALTH_BODY_LIMIT).await;
        let json = serde_json::from_str::<serde_json::Value>(&body).ok();
        if !matcher.matches(&body, json.as_ref()) {
            info.ok = false;
            info.error = Some(format!(
                "the body does not match expect_body {}: got \"{}\"",
                matcher.describe(),
                evidence::summarize_body(&body).unwrap_or_else(|| "an empty body".into())
            ));
        }
    }
    info
}

/// Up to `limit` bytes of a response body, as text; what did not arrive in the budget is
/// simply not there.
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> String {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())])
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}
