//! One plain sentence saying what happened, where, with the numbers, and the likely cause where
//! the evidence supports one. Pure: a result (plus what the config expected) in, text out.

use super::evidence::{
    ReasonPoints, TlsProblem, answering_proxy, human_duration, one_line, proxy_own_page,
    quote_text, reason_points, summarize_body, tls_problem,
};
use super::result::{ProbeResult, Status, Verdict};

mod close;
mod dialect;
mod login;
mod network;
pub mod registry;
pub mod token;
mod upgrade;

use crate::text::ms;
use close::{close_phrase, closed_before_ready, ready_mismatch, step_failed};
use registry::{Layer, Side};
use upgrade::upgrade_rejected;

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
    /// The session login's URL (query hidden), for `token_failed` of `auth.kind: session`.
    pub login_url: Option<String>,
    /// The CSRF cookie the session login sends back, if one is configured.
    pub csrf_cookie: Option<String>,
    pub health_url: Option<String>,
    pub expect_health_status: Option<u16>,
    /// Human description of each step (`expect {"/type":"pong"}`), by index.
    pub steps: Vec<String>,
    pub retries: u32,
    pub timeout_ms: f64,
    /// What the probe's own request carried: its JWT's seconds left when it went (negative:
    /// expired), read before redaction.
    pub token_seconds_left: Option<i64>,
    /// The egress proxy's `host:port`, when the probe went through one.
    pub proxy: Option<String>,
    /// The proxy URL carries credentials.
    pub proxy_credentials: bool,
    /// The subject of the client certificate wsprobe presents, when one is set.
    pub client_certificate: Option<String>,
}

/// `history`: earlier results of the same environment, newest first (empty for `check`).
pub fn explain(result: &ProbeResult, expected: &Expectations, history: &[ProbeResult]) -> String {
    let mut sentence = match dialect::explain(result, expected) {
        Some(sentence) => sentence,
        None => by_verdict(result, expected),
    };
    if !sentence.contains(" layer, ")
        && let Some((layer, side)) = verdict_layer(result.verdict)
    {
        sentence.pop();
        sentence.push_str(&close::tag(layer, side));
        sentence.push('.');
    }
    if let Some(note) = build_change(result, history) {
        sentence.pop();
        sentence.push_str(&note);
    }
    // Whatever a server put in the evidence, the sentence stays one line.
    one_line(&sentence)
}

/// The sentence each verdict says when no protocol of a preset says more.
fn by_verdict(result: &ProbeResult, expected: &Expectations) -> String {
    match result.verdict {
        _ if network::proxy_acted(result, expected) => network::proxy_sentence(result, expected),
        Verdict::Ok => ok(result),
        Verdict::Slow => slow(result, expected),
        Verdict::CertExpiring => cert_expiring(result, expected),
        Verdict::TokenFailed => token_failed(result, expected),
        Verdict::DnsFailed => dns_failed(result),
        Verdict::ConnectRefused => format!(
            "TCP connection to {}{} was refused{}: nothing is listening there (service down, scaled to zero, or wrong port).",
            expected.target,
            network::addresses_phrase(result, expected),
            attempts_suffix(result)
        ),
        Verdict::ConnectTimeout => format!(
            "TCP connection to {} did not complete{}{}{}: a firewall or security group drops the packets, or the host is down.",
            expected.target,
            phase_limit(result),
            attempts_suffix(result),
            network::addresses_phrase(result, expected)
        ),
        Verdict::TlsFailed => tls_failed(result, expected),
        Verdict::UpgradeRejected => upgrade_rejected(result, expected),
        Verdict::UpgradeTimeout => format!(
            "TCP{} to {} connected, but no answer to the upgrade request came before the probe's {} timeout: the load balancer or backend accepted the connection and hung (overloaded backend, or a proxy not configured for WebSocket upgrades).",
            if result.tls.is_some() { " and TLS" } else { "" },
            expected.target,
            ms(Some(expected.timeout_ms))
        ),
        Verdict::SubprotocolMismatch => subprotocol_mismatch(result, expected),
        Verdict::HeadersStripped => headers_stripped(result),
        Verdict::ClosedBeforeReady => closed_before_ready(result, expected),
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
    }
}

/// The layer and side a verdict points at when no registry row in its sentence says more.
fn verdict_layer(verdict: Verdict) -> Option<(Layer, Side)> {
    use Verdict::*;
    Some(match verdict {
        Ok | ProbeError => return None,
        Slow | ReadyTimeout | ReadyMismatch | StepFailed => (Layer::Application, Side::Server),
        CertExpiring | TlsFailed => (Layer::Tls, Side::Server),
        TokenFailed => (Layer::Auth, Side::Server),
        DnsFailed | ConnectTimeout => (Layer::Network, Side::Path),
        ConnectRefused => (Layer::Network, Side::Server),
        UpgradeRejected | HealthFailed => (Layer::Http, Side::Server),
        UpgradeTimeout => (Layer::Http, Side::Path),
        SubprotocolMismatch | ProtocolError | ClosedBeforeReady => (Layer::Protocol, Side::Server),
        HeadersStripped => (Layer::Proxy, Side::Intermediary),
    })
}

fn dns_failed(result: &ProbeResult) -> String {
    let error = detail(result);
    let lower = error.to_ascii_lowercase();
    if lower.contains("timed out")
        || lower.contains("temporary failure")
        || lower.contains("try again")
        || lower.contains("server failure")
    {
        format!(
            "The DNS resolver did not answer ({error}): the resolver wsprobe uses is unreachable or failing (check /etc/resolv.conf and the network path to it); this says nothing yet about the record itself, and nothing was sent."
        )
    } else {
        format!(
            "The host name does not resolve ({error}): the DNS record is missing or the URL's host is misspelt; nothing was sent."
        )
    }
}

fn tls_failed(result: &ProbeResult, expected: &Expectations) -> String {
    let error = detail(result);
    let target = &expected.target;
    let attempts = attempts_suffix(result);
    let certificate_end = result.tls.as_ref().and_then(|t| t.cert_not_after);
    let quoted = format!(" ({error})");
    let problem = tls_problem(&error);
    // An alert names what the server objected to: its registry row says what to do.
    if let Some(alert) = registry::tls_alert_in(&error) {
        if let Some(sentence) = network::certificate_wanted(&alert, &error, expected, &attempts) {
            return sentence;
        }
        return format!(
            "The TLS handshake with {target} failed: the server sent the TLS alert {} ({}){attempts}: {}{}.",
            alert.name,
            alert.code,
            alert.clause(),
            network::client_certificate_note(&alert, expected)
        );
    }
    let (said, advice) = match problem {
        // The error's own wording counts seconds: say it in days, and no raw numbers.
        TlsProblem::Expired { seconds_ago } => {
            let ago = seconds_ago
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX))
                .or_else(|| certificate_end.map(|at| (result.started_at - at).num_seconds()))
                .map(|s| format!(" {} ago", human_duration(s)))
                .unwrap_or_default();
            (
                String::new(),
                format!("the server's certificate expired{ago}, so renew it and reload the server (every client is failing TLS too)"),
            )
        }
        TlsProblem::NotYetValid { seconds_ahead } => (
            String::new(),
            format!(
                "the server's certificate is not valid yet{}: the server's or wsprobe's clock is wrong, or a certificate was deployed early",
                seconds_ahead
                    .map(|s| format!(" (for another {})", human_duration(i64::try_from(s).unwrap_or(i64::MAX))))
                    .unwrap_or_default()
            ),
        ),
        TlsProblem::UnknownIssuer => (quoted, "the certificate is signed by an authority wsprobe does not trust (a private CA or a self-signed certificate, or a missing intermediate in the server's chain): set tls.ca_file to that CA, or fix the chain the server sends".to_owned()),
        TlsProblem::WrongHost => (quoted, "the certificate is not valid for the host name in the URL: the server presents another site's certificate (a wrong SNI route or default certificate on the load balancer), or the URL uses a name the certificate does not list".to_owned()),
        TlsProblem::Version => (quoted, format!("client and server share no TLS version or cipher suite: the server only accepts a version wsprobe refuses (TLS 1.0/1.1) or requires one it lacks; update the server's TLS policy{}", close::tag(registry::Layer::Tls, registry::Side::Server))),
        TlsProblem::NotTls => (quoted, "what answered on that port does not speak TLS, most often plain HTTP on a port the URL says is wss:// (use ws://, or point wss:// at the TLS listener)".to_owned()),
        TlsProblem::Other => (quoted, "check the certificate chain and host name, or set tls.ca_file for a private CA".to_owned()),
    };
    format!("The TLS handshake with {target} failed{said}{attempts}: {advice}.")
}

/// `(“title — line”)`: what a body says, quoted, or nothing.
fn body_quote(result: &ProbeResult) -> String {
    result
        .body_excerpt
        .as_deref()
        .and_then(summarize_body)
        .map(|summary| format!(" (\"{summary}\")"))
        .unwrap_or_default()
}

fn ok(result: &ProbeResult) -> String {
    let mut text = format!("All steps passed in {}", ms(result.phases_ms.total));
    if let Some(ready) = result.phases_ms.ready {
        text.push_str(&format!(" (welcome after {})", ms(Some(ready))));
    }
    if let Some(sub) = &result.subprotocol {
        text.push_str(&format!(", subprotocol {sub}"));
    }
    if let Some(protocol) = result
        .protocol
        .as_ref()
        .filter(|p| result.subprotocol.as_ref() != Some(*p))
    {
        text.push_str(&format!(", protocol {protocol}"));
    }
    if let Some(version) = &result.version {
        text.push_str(&format!(", build {version}"));
    }
    text.push_str(&network::fallback_note(result));
    text.push('.');
    text
}

/// What each phase's time is spent on, and the layer and side it points at, for `slow`.
type SlowPhase = (&'static str, &'static str, &'static str, Layer, Side);
#[rustfmt::skip]
const SLOW_PHASES: &[SlowPhase] = &[
    ("dns", "resolving the host name (DNS)", "the resolver is slow or far away", Layer::Network, Side::Path),
    ("connect", "the TCP connect", "the path to the host or its accept queue is slow", Layer::Network, Side::Path),
    ("tls", "the TLS handshake", "the server's TLS termination is slow (OCSP fetches and a loaded load balancer do this)", Layer::Tls, Side::Server),
    ("upgrade", "the upgrade request (HTTP answer)", "the backend or a proxy in front is slow to answer the upgrade (authentication checks happen here)", Layer::Http, Side::Server),
    ("ready", "waiting for the welcome message", "the backend is slow to set up the session", Layer::Application, Side::Server),
    ("exchange", "the exchange after the welcome", "the application is slow to answer the steps", Layer::Application, Side::Server),
    ("close", "the close handshake", "the server is slow to answer wsprobe's close", Layer::Protocol, Side::Server),
];

fn slow(result: &ProbeResult, expected: &Expectations) -> String {
    let slowest = result
        .phases_ms
        .named()
        .into_iter()
        .filter(|(name, _)| !matches!(*name, "total" | "token" | "login" | "health"))
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let culprit = match slowest.and_then(|(name, v)| {
        SLOW_PHASES
            .iter()
            .find(|(phase, ..)| *phase == name)
            .map(|row| (row, v))
    }) {
        Some(((phase, what, cause, layer, side), v)) => format!(
            "most of it ({}) in the {phase} phase, {what}: {cause}{}",
            ms(Some(v)),
            close::tag(*layer, *side)
        ),
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
    if expected.login_url.is_some() {
        return login::login_failed(result, expected);
    }
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
            let said = body
                .as_deref()
                .and_then(summarize_body)
                .map(|summary| format!(" (\"{summary}\")"))
                .unwrap_or_default();
            format!(
                "{source} answered HTTP {status}{said}: {cause}, so no WebSocket was attempted."
            )
        }
        (None, _) => format!(
            "{source} failed ({}), so no WebSocket was attempted.",
            detail(result)
        ),
    }
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
    let forbidden_close = result
        .close_code
        .filter(|code| !registry::valid_on_wire(*code))
        .map(|code| registry::close_code(code, dialect::of(result)));
    let cause = if let Some(entry) = forbidden_close {
        entry.clause()
    } else if detail.contains("without answering the upgrade") {
        // No status at all is what nginx's `return 444` looks like from outside.
        format!(
            "nothing answered the upgrade at all: {}, or the backend crashed on the request",
            registry::http_status(444).clause()
        )
    } else if detail.contains("size limit") {
        "raise max_message_bytes if the application really sends such messages, otherwise the server is misbehaving (protocol layer, the server acted)".to_owned()
    } else if result.phases_ms.ready.is_some() || detail.contains("frames") {
        "after a valid upgrade, the server or something in between sent bytes that are not WebSocket frames (protocol layer, the server or something on the path acted)".to_owned()
    } else {
        "a proxy may have rewritten the handshake, or the endpoint is not a WebSocket server (protocol layer, the server or something on the path acted)".to_owned()
    };
    let ours = close::client_close_phrase(result)
        .map(|c| format!("; {c}"))
        .unwrap_or_default();
    format!("The server broke the WebSocket protocol: {detail}{ours}; {cause}.")
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

fn health_failed(result: &ProbeResult, expected: &Expectations) -> String {
    let health = result.health.as_ref();
    let url = expected.health_url.as_deref().unwrap_or("the health URL");
    let ready = ms(result.phases_ms.ready);
    let status = health.and_then(|h| h.http_status);
    let error = health.and_then(|h| h.error.as_deref());
    match (status, error) {
        // The right status with the wrong body: the endpoint itself reports trouble.
        (Some(status), Some(error)) if Some(status) == expected.expect_health_status => format!(
            "The WebSocket works (welcome after {ready}), but the HTTP health check {url} answered HTTP {status} and {}: the service reports itself unwell (or the health answer changed shape) while sockets still succeed.",
            error.trim_start_matches("the ")
        ),
        (Some(status), _) => format!(
            "The WebSocket works (welcome after {ready}), but the HTTP health check {url} answered HTTP {status}{}: the HTTP side or the health endpoint itself is failing while sockets still succeed.",
            expected
                .expect_health_status
                .map(|s| format!(" instead of {s}"))
                .unwrap_or_default()
        ),
        (None, error) => format!(
            "The WebSocket works (welcome after {ready}), but the HTTP health check {url} failed ({}): the HTTP side or the health endpoint itself is failing while sockets still succeed.",
            error.unwrap_or("no answer")
        ),
    }
}

fn health_phrase(result: &ProbeResult) -> String {
    match &result.health {
        Some(h) if h.ok => format!(
            " while the HTTP health check answered {}",
            h.http_status.map(|s| s.to_string()).unwrap_or_default()
        ),
        Some(h) => format!(
            ", and the HTTP health check failed too ({})",
            match (h.http_status, &h.error) {
                (Some(s), Some(error)) => format!("HTTP {s}, {error}"),
                (Some(s), None) => format!("HTTP {s}"),
                (None, error) => error.clone().unwrap_or_default(),
            }
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
mod table_tests;
#[cfg(test)]
mod tests;
