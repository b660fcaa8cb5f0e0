//! One plain sentence saying what happened, where, with the numbers, and the likely cause where
//! the evidence supports one. Pure: a result (plus what the config expected) in, text out.

use super::result::{ProbeResult, Status, Verdict};
use crate::text::{excerpt, ms};

/// What the config asked for that the result itself does not carry.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// `host:port` the probe connected to.
    pub target: String,
    pub expect_subprotocol: Option<String>,
    pub offered_subprotocols: Vec<String>,
    pub degraded_after_ms: f64,
    pub cert_warn_days: u32,
    /// Token endpoint URL (query hidden), for `token_failed`.
    pub token_url: Option<String>,
    pub health_url: Option<String>,
    pub expect_health_status: Option<u16>,
    /// Human description of each step (`expect {"/type":"pong"}`), by index.
    pub steps: Vec<String>,
    pub retries: u32,
    pub timeout_ms: f64,
}

/// `history`: earlier results of the same environment, newest first (empty for `check`).
pub fn explain(result: &ProbeResult, expected: &Expectations, history: &[ProbeResult]) -> String {
    let mut sentence = match result.verdict {
        Verdict::Ok => ok(result),
        Verdict::Slow => slow(result, expected),
        Verdict::CertExpiring => cert_expiring(result, expected),
        Verdict::TokenFailed => token_failed(result, expected),
        Verdict::DnsFailed => format!(
            "The host name did not resolve ({}): check the DNS record or the URL; nothing was sent.",
            detail(result)
        ),
        Verdict::ConnectRefused => format!(
            "TCP connection to {} was refused{}: nothing is listening there (service down, scaled to zero, or wrong port).",
            expected.target,
            attempts_suffix(result)
        ),
        Verdict::ConnectTimeout => format!(
            "TCP connection to {} did not complete{}{}: a firewall or security group drops the packets, or the host is down.",
            expected.target,
            phase_limit(result),
            attempts_suffix(result)
        ),
        Verdict::TlsFailed => format!(
            "TLS handshake with {} failed ({}){}: check the certificate chain and host name, or set tls.ca_file for a private CA.",
            expected.target,
            detail(result),
            attempts_suffix(result)
        ),
        Verdict::UpgradeRejected => upgrade_rejected(result),
        Verdict::UpgradeTimeout => format!(
            "TCP{} to {} connected, but no answer to the upgrade request came before the probe's {} timeout: the load balancer or backend accepted the connection and hung (overloaded backend, or a proxy not configured for WebSocket upgrades).",
            if result.tls.is_some() { " and TLS" } else { "" },
            expected.target,
            ms(Some(expected.timeout_ms))
        ),
        Verdict::SubprotocolMismatch => subprotocol_mismatch(result, expected),
        Verdict::HeadersStripped => headers_stripped(result),
        Verdict::ClosedBeforeReady => closed_before_ready(result),
        Verdict::ReadyTimeout => format!(
            "The upgrade succeeded in {}, but no message matching the ready check arrived in time{}: the backend accepted the socket and never sent its welcome (stuck session setup, or a different welcome format).",
            ms(result.phases_ms.upgrade),
            match result.messages.len() {
                0 => " (no message at all)".to_owned(),
                n => format!(" ({n} other message{} arrived)", plural(n)),
            }
        ),
        Verdict::ReadyMismatch => ready_mismatch(result),
        Verdict::StepFailed => step_failed(result, expected),
        Verdict::ProtocolError => protocol_error(result),
        Verdict::HealthFailed => health_failed(result, expected),
        Verdict::ProbeError => format!(
            "wsprobe could not run this probe: {}.",
            detail(result).trim_end_matches('.')
        ),
    };
    if let Some(note) = build_change(result, history) {
        sentence.pop();
        sentence.push_str(&note);
    }
    sentence
}

fn ok(result: &ProbeResult) -> String {
    let mut text = format!("All steps passed in {}", ms(result.phases_ms.total));
    if let Some(ready) = result.phases_ms.ready {
        text.push_str(&format!(" (welcome after {})", ms(Some(ready))));
    }
    if let Some(sub) = &result.subprotocol {
        text.push_str(&format!(", subprotocol {sub}"));
    }
    if let Some(version) = &result.version {
        text.push_str(&format!(", build {version}"));
    }
    text.push('.');
    text
}

fn slow(result: &ProbeResult, expected: &Expectations) -> String {
    let slowest = result
        .phases_ms
        .named()
        .into_iter()
        .filter(|(name, _)| !matches!(*name, "total" | "token" | "health"))
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let culprit = match slowest {
        Some(("ready", v)) => format!(
            "most of it ({}) waiting for the welcome message, so the backend is slow to set up the session",
            ms(Some(v))
        ),
        Some(("connect", v)) | Some(("dns", v)) | Some(("tls", v)) => {
            format!("{} of it in the network before the upgrade", ms(Some(v)))
        }
        Some((name, v)) => format!("the slowest phase was {name} at {}", ms(Some(v))),
        None => "no phase stands out".to_owned(),
    };
    format!(
        "Every step passed but took {} against a degraded_after of {}, {culprit}.",
        ms(result.phases_ms.total),
        ms(Some(expected.degraded_after_ms))
    )
}

fn cert_expiring(result: &ProbeResult, expected: &Expectations) -> String {
    let tls = result.tls.as_ref();
    let not_after = tls.and_then(|t| t.cert_not_after);
    let days = not_after
        .map(|t| (t - result.started_at).num_hours() as f64 / 24.0)
        .unwrap_or_default();
    format!(
        "Every step passed, but the server certificate{} expires in {:.1} days ({}), sooner than the {}-day warning: renew it before clients start failing TLS.",
        tls.and_then(|t| t.cert_subject.as_deref())
            .map(|s| format!(" ({s})"))
            .unwrap_or_default(),
        days,
        not_after
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "unknown date".into()),
        expected.cert_warn_days
    )
}

fn token_failed(result: &ProbeResult, expected: &Expectations) -> String {
    let source = expected
        .token_url
        .as_deref()
        .map(|u| format!("The token endpoint {u}"))
        .unwrap_or_else(|| "Minting the token".to_owned());
    match (result.http_status, &result.body_excerpt) {
        (Some(status), body) => {
            let cause = match status {
                401 | 403 => {
                    "the credentials wsprobe sends to it (key, client secret) were refused"
                }
                404 => "the token URL is wrong",
                429 => "the token endpoint is rate limiting the probe",
                500..=599 => "the identity service itself is failing",
                _ => "it did not hand out a token",
            };
            format!(
                "{source} answered HTTP {status}{}: {cause}, so no WebSocket was attempted.",
                body.as_deref()
                    .filter(|b| !b.is_empty())
                    .map(|b| format!(" {b}"))
                    .unwrap_or_default()
            )
        }
        (None, _) => format!(
            "{source} failed ({}), so no WebSocket was attempted.",
            detail(result)
        ),
    }
}

fn upgrade_rejected(result: &ProbeResult) -> String {
    let status = result.http_status.unwrap_or_default();
    let cause = match status {
        401 | 403 => {
            "authentication was refused at the HTTP layer, by the backend or an auth proxy in front of it (expired or wrong token, missing header)"
        }
        400 => {
            "the server found the upgrade request malformed (a proxy dropping Upgrade/Connection headers does this)"
        }
        404 => "the path is not routed to a WebSocket handler (wrong URL or ingress rule)",
        426 => "the server wants a different protocol version",
        429 => "the server or load balancer is rate limiting new connections",
        502..=504 => "the load balancer could not reach a healthy backend",
        500..=501 => "the backend failed while handling the upgrade",
        200..=299 => {
            "something answered as a plain HTTP endpoint, not a WebSocket one (a proxy or CDN that does not pass upgrades)"
        }
        300..=399 => "the endpoint redirects, which WebSocket clients do not follow",
        _ => "the server refused the upgrade",
    };
    format!(
        "The upgrade request was answered HTTP {status} instead of 101{}: {cause}.",
        result
            .body_excerpt
            .as_deref()
            .filter(|b| !b.is_empty())
            .map(|b| format!(" (body: {b})"))
            .unwrap_or_default()
    )
}

fn subprotocol_mismatch(result: &ProbeResult, expected: &Expectations) -> String {
    let want = expected.expect_subprotocol.as_deref().unwrap_or("?");
    let got = match &result.subprotocol {
        Some(sub) => format!("selected {sub:?}"),
        None => "selected no subprotocol".to_owned(),
    };
    let mut text = format!(
        "The server accepted the upgrade but {got} although {want:?} was expected (offered: {}): browsers and most client libraries drop such a connection",
        expected.offered_subprotocols.join(", ")
    );
    if result.subprotocol.is_none() {
        text.push_str(", and a proxy that strips Sec-WebSocket-Protocol causes exactly this");
    }
    if let Some(close) = close_phrase(result) {
        text.push_str(&format!("; the server then {close}"));
    }
    text.push('.');
    text
}

fn protocol_error(result: &ProbeResult) -> String {
    let detail = detail(result);
    let cause = if detail.contains("size limit") {
        "raise max_message_bytes if the application really sends such messages, otherwise the server is misbehaving"
    } else if result.phases_ms.ready.is_some() || detail.contains("frames") {
        "after a valid upgrade, the server or something in between sent bytes that are not WebSocket frames"
    } else {
        "a proxy may have rewritten the handshake, or the endpoint is not a WebSocket server"
    };
    format!("The server broke the WebSocket protocol: {detail}; {cause}.")
}

fn headers_stripped(result: &ProbeResult) -> String {
    let missing = join_names(&result.headers.missing);
    let mut text = format!(
        "The backend reports {missing} as missing although the probe sent {}: a proxy or load balancer between the probe and the backend strips {} on the upgrade request",
        if result.headers.missing.len() == 1 {
            "it"
        } else {
            "them"
        },
        if result.headers.missing.len() == 1 {
            "it"
        } else {
            "them"
        },
    );
    let only_trace_context = result
        .headers
        .missing
        .iter()
        .all(|name| matches!(name.as_str(), "traceparent" | "tracestate"));
    if only_trace_context {
        text.push_str(
            ", so the backend's traces start afresh instead of joining the probe's (let the proxy forward traceparent and tracestate)",
        );
    }
    if let Some(close) = close_phrase(result) {
        text.push_str(&format!(", and the backend then {close}"));
    }
    text.push('.');
    text
}

fn closed_before_ready(result: &ProbeResult) -> String {
    let code = result.close_code.unwrap_or(1006);
    let close = close_phrase(result).unwrap_or_else(|| "closed the connection".into());
    let health = health_phrase(result);
    let cause = match code {
        1000 => "the server chose to end the session (authentication handled as a normal close, a dependency not ready, or a client/server protocol mismatch)".to_owned(),
        1001 => "the server is going away (shutting down or redeploying)".to_owned(),
        1006 => "the backend process crashed or a proxy/load balancer cut the connection (idle or upgrade timeout)".to_owned(),
        1008 => "the server refused the session by policy, most often authentication or authorization".to_owned(),
        1011 | 1014 if result.health.as_ref().is_some_and(|h| h.ok) => {
            "the failure is inside the backend's WebSocket path, not the service as a whole".to_owned()
        }
        1011 => "the backend hit an internal error while setting up the session".to_owned(),
        1012 => "the server is restarting".to_owned(),
        1013 => "the server is overloaded and asks clients to try again later".to_owned(),
        _ => "the server ended the session before it was ready".to_owned(),
    };
    let reason_hint = match result.close_reason.as_deref().map(str::to_ascii_lowercase) {
        Some(r) if r.contains("startup") || r.contains("not ready") => {
            "; the reason says the backend's startup is incomplete (a dependency not ready)"
        }
        _ => "",
    };
    format!("The server {close}, before the welcome message{health}: {cause}{reason_hint}.")
}

fn ready_mismatch(result: &ProbeResult) -> String {
    let message = result
        .messages
        .iter()
        .find(|m| m.to_ascii_lowercase().contains("error"))
        .or_else(|| result.messages.last())
        .map(|m| excerpt(m, 200))
        .unwrap_or_else(|| "a message".into());
    let mut text = format!("Instead of the welcome message the server sent {message}");
    if let Some(close) = close_phrase(result) {
        text.push_str(&format!(" and then {close}"));
    }
    text.push_str(": the backend rejected the session at application level (authentication, protocol version, or a missing dependency), read its message for the cause.");
    text
}

fn step_failed(result: &ProbeResult, expected: &Expectations) -> String {
    let index = result.failed_step.unwrap_or_default();
    let step = expected
        .steps
        .get(index)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let what = match (&result.close_code, result.error.as_deref()) {
        (Some(_), _) => close_phrase(result).unwrap_or_default(),
        (None, Some(err)) => err.to_owned(),
        (None, None) => "failed".to_owned(),
    };
    format!(
        "The welcome arrived after {}, but step {}{step} failed: the server {what}; the session opens but the application exchange is broken.",
        ms(result.phases_ms.ready),
        index + 1
    )
}

fn health_failed(result: &ProbeResult, expected: &Expectations) -> String {
    let health = result.health.as_ref();
    let url = expected.health_url.as_deref().unwrap_or("the health URL");
    let got = match health.and_then(|h| h.http_status) {
        Some(status) => format!("answered HTTP {status}"),
        None => format!(
            "failed ({})",
            health
                .and_then(|h| h.error.as_deref())
                .unwrap_or("no answer")
        ),
    };
    format!(
        "The WebSocket works (welcome after {}), but the HTTP health check {url} {got}{}: the HTTP side or the health endpoint itself is failing while sockets still succeed.",
        ms(result.phases_ms.ready),
        expected
            .expect_health_status
            .map(|s| format!(" instead of {s}"))
            .unwrap_or_default()
    )
}

/// `closed with 1011 "Internal error" 63 ms after accept`
fn close_phrase(result: &ProbeResult) -> Option<String> {
    let code = result.close_code?;
    let after = result
        .close_after_ms
        .map(|v| format!(" {} after accept", ms(Some(v))))
        .unwrap_or_default();
    Some(match code {
        1006 => format!("dropped the connection without a close frame (1006){after}"),
        1005 => format!("closed without a status code (1005){after}"),
        _ => {
            let reason = result
                .close_reason
                .as_deref()
                .filter(|r| !r.is_empty())
                .map(|r| format!(" {r:?}"))
                .unwrap_or_default();
            format!("closed with {code}{reason}{after}")
        }
    })
}

fn health_phrase(result: &ProbeResult) -> String {
    match &result.health {
        Some(h) if h.ok => format!(
            " while the HTTP health check answered {}",
            h.http_status.map(|s| s.to_string()).unwrap_or_default()
        ),
        Some(h) => format!(
            ", and the HTTP health check failed too ({})",
            h.http_status
                .map(|s| format!("HTTP {s}"))
                .or_else(|| h.error.clone())
                .unwrap_or_default()
        ),
        None => String::new(),
    }
}

/// Deploy correlation: the first failure after the answering build changed names both builds.
fn build_change(result: &ProbeResult, history: &[ProbeResult]) -> Option<String> {
    if result.status != Status::Down {
        return None;
    }
    let current = result.version.as_deref()?;
    let previous = history.first()?;
    let before = previous.version.as_deref()?;
    if before == current {
        return None;
    }
    Some(format!(
        "; the build that answered changed from {before} to {current} just before this failure."
    ))
}

fn detail(result: &ProbeResult) -> String {
    result.error.clone().unwrap_or_else(|| "no detail".into())
}

fn attempts_suffix(result: &ProbeResult) -> String {
    if result.attempts > 1 {
        format!(" after {} attempts", result.attempts)
    } else {
        String::new()
    }
}

fn phase_limit(result: &ProbeResult) -> String {
    result
        .phases_ms
        .total
        .map(|t| format!(" within {}", ms(Some(t))))
        .unwrap_or_default()
}

fn join_names(names: &[String]) -> String {
    match names {
        [] => "no header".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::result::{HealthInfo, Phases};

    fn result(verdict: Verdict) -> ProbeResult {
        ProbeResult {
            environment: "staging".into(),
            location: None,
            url: "wss://api.example.com/ws".into(),
            started_at: chrono::Utc::now(),
            status: verdict.status(),
            verdict,
            close_code: None,
            close_reason: None,
            close_after_ms: None,
            http_status: None,
            body_excerpt: None,
            subprotocol: None,
            attempts: 1,
            failed_step: None,
            version: None,
            phases_ms: Phases {
                connect: Some(1.1),
                upgrade: Some(3.2),
                total: Some(70.3),
                ..Phases::default()
            },
            tls: None,
            health: None,
            headers: Default::default(),
            messages: vec![],
            diagnosis: String::new(),
            error: None,
            trace_id: None,
            timeline: None,
        }
    }

    fn closed(code: u16, reason: &str, after: f64) -> ProbeResult {
        ProbeResult {
            close_code: Some(code),
            close_reason: Some(reason.into()),
            close_after_ms: Some(after),
            http_status: Some(101),
            ..result(Verdict::ClosedBeforeReady)
        }
    }

    fn expected() -> Expectations {
        Expectations {
            target: "api.example.com:443".into(),
            expect_subprotocol: Some("jwt-auth".into()),
            offered_subprotocols: vec!["jwt-auth".into()],
            degraded_after_ms: 2000.0,
            cert_warn_days: 14,
            token_url: Some("https://auth.example.com/token".into()),
            health_url: Some("https://api.example.com/health".into()),
            expect_health_status: Some(200),
            steps: vec![
                "expect welcome".into(),
                "send ping".into(),
                "expect pong".into(),
            ],
            retries: 2,
            timeout_ms: 15000.0,
        }
    }

    #[test]
    fn sentences_name_the_layer_with_the_numbers() {
        let healthy = Some(HealthInfo {
            http_status: Some(200),
            ok: true,
            error: None,
        });
        let cases: Vec<(&str, ProbeResult, &[&str])> = vec![
            (
                "1011 while health is green points inside the WebSocket path",
                ProbeResult {
                    health: healthy.clone(),
                    ..closed(1011, "Internal error", 63.0)
                },
                &[
                    "1011 \"Internal error\" 63 ms after accept",
                    "answered 200",
                    "inside the backend's WebSocket path",
                ],
            ),
            (
                "1011 without a health check: an internal error, no claim about the service",
                closed(1011, "Internal error", 63.0),
                &["internal error while setting up the session"],
            ),
            (
                "clean 1000 before ready: the server chose to end it",
                closed(1000, "main cleanup", 2.0),
                &["1000 \"main cleanup\"", "chose to end the session"],
            ),
            (
                "startup reason is called out",
                closed(1011, "Service startup incomplete", 1.0),
                &["startup is incomplete"],
            ),
            (
                "a drop is 1006",
                closed(1006, "", 10.0),
                &["without a close frame (1006)", "crashed"],
            ),
            (
                "stripped headers name the proxy",
                ProbeResult {
                    headers: crate::probe::result::Headers {
                        missing: vec!["authorization".into()],
                        ..Default::default()
                    },
                    verdict: Verdict::HeadersStripped,
                    ..closed(1011, "Internal error", 5.0)
                },
                &[
                    "authorization as missing",
                    "proxy or load balancer",
                    "then closed with 1011",
                ],
            ),
            (
                "a dropped traceparent says the traces part at the proxy",
                ProbeResult {
                    headers: crate::probe::result::Headers {
                        missing: vec!["traceparent".into()],
                        ..Default::default()
                    },
                    verdict: Verdict::HeadersStripped,
                    ..result(Verdict::HeadersStripped)
                },
                &[
                    "traceparent as missing",
                    "strips it on the upgrade request",
                    "instead of joining the probe's",
                ],
            ),
            (
                "token refused with status and body",
                ProbeResult {
                    http_status: Some(401),
                    body_excerpt: Some("{\"detail\":\"Invalid E2E bypass key\"}".into()),
                    ..result(Verdict::TokenFailed)
                },
                &[
                    "https://auth.example.com/token answered HTTP 401 {\"detail\":\"Invalid E2E bypass key\"}",
                    "were refused",
                ],
            ),
            (
                "502 at upgrade blames the load balancer",
                ProbeResult {
                    http_status: Some(502),
                    ..result(Verdict::UpgradeRejected)
                },
                &[
                    "HTTP 502 instead of 101",
                    "load balancer could not reach a healthy backend",
                ],
            ),
            (
                "refused after retries",
                ProbeResult {
                    attempts: 3,
                    ..result(Verdict::ConnectRefused)
                },
                &["api.example.com:443 was refused after 3 attempts"],
            ),
            (
                "upgrade timeout cites the configured timeout",
                result(Verdict::UpgradeTimeout),
                &["15000 ms timeout", "hung"],
            ),
            (
                "health failing while the socket works",
                ProbeResult {
                    health: Some(HealthInfo {
                        http_status: Some(503),
                        ok: false,
                        error: None,
                    }),
                    phases_ms: Phases {
                        ready: Some(4.0),
                        ..Phases::default()
                    },
                    ..result(Verdict::HealthFailed)
                },
                &["https://api.example.com/health answered HTTP 503 instead of 200"],
            ),
            (
                "a later step names its index and description",
                ProbeResult {
                    failed_step: Some(2),
                    error: Some("no matching message within 2000 ms".into()),
                    phases_ms: Phases {
                        ready: Some(4.0),
                        ..Phases::default()
                    },
                    ..result(Verdict::StepFailed)
                },
                &[
                    "step 3 (expect pong) failed",
                    "no matching message within 2000 ms",
                ],
            ),
            (
                "oversized message points at max_message_bytes",
                ProbeResult {
                    error: Some("the server sent a message over the size limit (x)".into()),
                    ..result(Verdict::ProtocolError)
                },
                &["max_message_bytes"],
            ),
        ];
        for (name, result, words) in cases {
            let sentence = explain(&result, &expected(), &[]);
            for word in words {
                assert!(
                    sentence.contains(word),
                    "{name}: {sentence:?} lacks {word:?}"
                );
            }
            assert!(sentence.ends_with('.'), "{name}: one sentence: {sentence}");
        }
    }

    #[test]
    fn a_new_build_just_before_a_failure_names_both_builds() {
        let previous = ProbeResult {
            version: Some("rev-4811".into()),
            ..result(Verdict::Ok)
        };
        let now = ProbeResult {
            version: Some("rev-4812".into()),
            ..closed(1011, "Internal error", 63.0)
        };
        let sentence = explain(&now, &expected(), std::slice::from_ref(&previous));
        assert!(
            sentence.contains("changed from rev-4811 to rev-4812"),
            "{sentence}"
        );
        let same = ProbeResult {
            version: Some("rev-4811".into()),
            ..closed(1011, "x", 1.0)
        };
        assert!(!explain(&same, &expected(), &[previous]).contains("changed"));
    }
}
