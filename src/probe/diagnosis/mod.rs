//! One plain sentence saying what happened, where, with the numbers, and the likely cause where
//! the evidence supports one. Pure: a result (plus what the config expected) in, text out.

use super::evidence::{
    ReasonPoints, TlsProblem, answering_proxy, human_duration, one_line, proxy_own_page,
    quote_text, reason_points, summarize_body, tls_problem,
};
use super::result::{ProbeResult, Status, Verdict};

pub mod registry;
use crate::text::ms;

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
        Verdict::DnsFailed => dns_failed(result),
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
        Verdict::TlsFailed => tls_failed(result, expected),
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
    // Whatever a server put in the evidence, the sentence stays one line.
    one_line(&sentence)
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
    let (said, advice) = match tls_problem(&error) {
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
        TlsProblem::Version => (quoted, "client and server share no TLS version or cipher suite: the server only accepts a version wsprobe refuses (TLS 1.0/1.1) or requires one it lacks; update the server's TLS policy".to_owned()),
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

fn upgrade_rejected(result: &ProbeResult) -> String {
    let status = result.http_status.unwrap_or_default();
    let headers = &result.headers.response;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| one_line(v))
    };
    let body = result.body_excerpt.as_deref();
    let summary = body.and_then(summarize_body).unwrap_or_default();
    let said = body_quote(result);
    let lower = summary.to_ascii_lowercase();
    let proxy = answering_proxy(headers, body);
    let who = match proxy {
        Some(proxy) => format!("{proxy} answered the upgrade request"),
        None => "The upgrade request was answered".to_owned(),
    };
    let at_proxy = proxy.map(|p| format!(" at {p}")).unwrap_or_default();
    let cause = match status {
        300..=399 => match header("location") {
            Some(location) if location.starts_with("https://") || location.starts_with("wss://") => format!(
                "the endpoint redirects to {}, and WebSocket clients do not follow redirects; use the wss:// URL",
                crate::text::excerpt(&location, 120)
            ),
            Some(location) => format!(
                "the endpoint redirects to {}, and WebSocket clients do not follow redirects; point the URL there",
                crate::text::excerpt(&location, 120)
            ),
            None => "the endpoint redirects, which WebSocket clients do not follow".to_owned(),
        },
        400 | 431 if lower.contains("too large") || lower.contains("header") && lower.contains("large") || status == 431 => format!(
            "the request headers are larger than {} accepts (a big token or cookie), so raise its header buffer (nginx large_client_header_buffers) or send a smaller token",
            proxy.unwrap_or("the proxy")
        ),
        400 if proxy.is_some() && !proxy_own_page(body.unwrap_or_default()) => format!(
            "the backend behind {} refused it as not a WebSocket upgrade: the proxy does not forward the Upgrade and Connection headers on this route (nginx: proxy_http_version 1.1 and proxy_set_header Upgrade/Connection)",
            proxy.unwrap_or("the proxy")
        ),
        400 if proxy.is_some() => "the proxy itself refused the request as malformed: it does not pass WebSocket upgrades (a missing Upgrade/Connection forward), or it expected something else on this port (a PROXY protocol line, TLS)".to_owned(),
        400 => "the server found the upgrade request malformed (a proxy dropping Upgrade/Connection headers does this)".to_owned(),
        403 if lower.contains("administrative rules") || proxy.is_some() && lower.contains("access denied") => format!(
            "an access rule{at_proxy} refused the request before it reached the backend (an IP allow-list, a path or method rule, a WAF), so the credentials were not even looked at"
        ),
        401 | 403 => format!(
            "authentication was refused at the HTTP layer{}, before any WebSocket session (expired or wrong token, a missing header, or an access rule)",
            proxy.map_or(", by the backend or an auth proxy in front of it".to_owned(), |p| format!(", by {p} or what it forwards to"))
        ),
        404 => "the path is not routed to a WebSocket handler (wrong URL or ingress rule)".to_owned(),
        426 if proxy.is_some() => format!(
            "the backend received no upgrade request: {} does not forward the Upgrade and Connection headers on this route (nginx: proxy_http_version 1.1 and proxy_set_header Upgrade/Connection)",
            proxy.unwrap_or("the proxy")
        ),
        426 => "the server wants a WebSocket upgrade it did not get: something in between removed the Upgrade header".to_owned(),
        429 => "the server or load balancer is rate limiting new connections".to_owned(),
        502..=504 => format!(
            "the load balancer{at_proxy} could not reach a healthy backend (backend down, or the proxy's upstream timeout)"
        ),
        500..=501 => "the backend failed while handling the upgrade".to_owned(),
        200..=299 => "the route serves an HTTP page, not a WebSocket (the URL points at a web page, or a proxy or CDN in front does not pass upgrades)".to_owned(),
        _ => "the server refused the upgrade".to_owned(),
    };
    format!("{who} with HTTP {status} instead of 101{said}: {cause}.")
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
    let reason = result.close_reason.as_deref().unwrap_or_default();
    let points = reason_points(reason);
    let cause = match (code, points) {
        (4000..=4999, ReasonPoints::Credentials) => "the application itself refused the session, and its reason points at the credentials: an expired or invalid token, its lifetime, or clock skew between wsprobe and the server".to_owned(),
        (4000..=4999, _) => "the application itself chose to close (4000–4999 are its own codes): its reason is the message to act on".to_owned(),
        (1008 | 1011 | 1000, ReasonPoints::Credentials) => "the reason points at authentication, not at the WebSocket path: an expired or invalid token, a too short token lifetime (ttl), or clock skew between wsprobe and the server".to_owned(),
        (_, ReasonPoints::Capacity) => "the reason says the server is at a limit (rate or connections): it turns new sessions away".to_owned(),
        (1000, _) => "the server chose to end the session (authentication handled as a normal close, a dependency not ready, or a client/server protocol mismatch)".to_owned(),
        (1001, _) => "the server is going away (shutting down or redeploying)".to_owned(),
        (1006, _) => "the backend process crashed or a proxy/load balancer cut the connection (idle or upgrade timeout)".to_owned(),
        (1008, _) => "the server refused the session by policy, most often authentication or authorization".to_owned(),
        (1011 | 1014, _) if result.health.as_ref().is_some_and(|h| h.ok) => {
            "the failure is inside the backend's WebSocket path, not the service as a whole".to_owned()
        }
        (1011, _) => "the backend hit an internal error while setting up the session".to_owned(),
        (1012, _) => "the server is restarting".to_owned(),
        (1013, _) => "the server is overloaded and asks clients to try again later".to_owned(),
        _ => "the server ended the session before it was ready".to_owned(),
    };
    let reason_hint = match points {
        ReasonPoints::NotReady => {
            "; the reason says the backend's startup is incomplete (a dependency not ready)"
        }
        _ => "",
    };
    // A message that came before the close is evidence of its own: the server speaks, just
    // not the welcome the ready check waits for.
    if let Some(first) = result.messages.first()
        && matches!(code, 1000 | 1003 | 1007 | 1008)
        && points == ReasonPoints::Nothing
    {
        let (what, meaning) = match first_message(first) {
            FirstMessage::Binary(size) => (
                format!("a binary frame of {size} bytes"),
                "this endpoint speaks a binary protocol (or another API version) where the ready check expects text",
            ),
            FirstMessage::Event { key, name, quoted } => (
                format!("a message with {key} {name:?} (\"{quoted}\")"),
                "the backend answers with another event than the ready check expects (another protocol version, or a renamed welcome)",
            ),
            FirstMessage::Text(quoted) => (
                format!("\"{quoted}\""),
                "the backend says why in that message",
            ),
        };
        return format!(
            "Instead of the welcome the server sent {what} and then {close}{health}: {meaning}."
        );
    }
    format!("The server {close}, before the welcome message{health}: {cause}{reason_hint}.")
}

/// What a first message was, for quoting: a binary frame, an event by its name, or text.
enum FirstMessage {
    Binary(String),
    Event {
        key: &'static str,
        name: String,
        quoted: String,
    },
    Text(String),
}

fn first_message(message: &str) -> FirstMessage {
    if let Some(size) = message
        .strip_prefix("<binary message, ")
        .and_then(|rest| rest.strip_suffix(" bytes>"))
    {
        return FirstMessage::Binary(size.to_owned());
    }
    let quoted = quote_text(message);
    let event = serde_json::from_str::<serde_json::Value>(message)
        .ok()
        .and_then(|v| {
            ["type", "event", "op", "action"]
                .iter()
                .find_map(|k| v.get(k).and_then(|t| t.as_str()).map(|t| (*k, one_line(t))))
        });
    match event {
        Some((key, name)) if !message.to_ascii_lowercase().contains("error") => {
            FirstMessage::Event { key, name, quoted }
        }
        _ => FirstMessage::Text(quoted),
    }
}

fn ready_mismatch(result: &ProbeResult) -> String {
    let chosen = result
        .messages
        .iter()
        .find(|m| m.to_ascii_lowercase().contains("error"))
        .or_else(|| result.messages.first());
    let close = close_phrase(result)
        .map(|c| format!(" and then {c}"))
        .unwrap_or_default();
    let Some(message) = chosen else {
        return format!(
            "The server sent no welcome message{close}: the backend rejected the session at application level."
        );
    };
    match first_message(message) {
        FirstMessage::Binary(size) => format!(
            "The server's first message was a binary frame of {size} bytes where the ready check expects text{close}: this endpoint speaks a binary protocol (or another API version), so match the step to it or check the URL."
        ),
        FirstMessage::Event { key, name, quoted } => format!(
            "Instead of the welcome the server's first message had {key} {name:?} (\"{quoted}\"){close}: the backend answers with another event than the ready check expects (a renamed event or another protocol version); compare the step with what came."
        ),
        FirstMessage::Text(quoted) => format!(
            "Instead of the welcome message the server sent \"{quoted}\"{close}: the backend rejected the session at application level (authentication, protocol version, or a missing dependency); its message says why."
        ),
    }
}

/// What the probe appends to a step's error when its own close got no answer.
const CLOSE_UNANSWERED: &str = "the close handshake went unanswered";

fn step_failed(result: &ProbeResult, expected: &Expectations) -> String {
    let index = result.failed_step.unwrap_or_default();
    let step = expected
        .steps
        .get(index)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let ready = ms(result.phases_ms.ready);
    // Named as the config and `failed_step` index it, so the two agree.
    let number = format!("steps[{index}]");
    let reason = result.close_reason.as_deref().unwrap_or_default();
    match (result.close_code, result.error.as_deref()) {
        (Some(1006), _) => format!(
            "The welcome arrived after {ready}, but during {number}{step} the connection was dropped without a close frame (1006){}: in the middle of a session, that is a proxy's or load balancer's idle or read timeout (nginx proxy_read_timeout, HAProxy timeout tunnel, a cloud load balancer's idle timeout) or the backend process dying.",
            result
                .close_after_ms
                .map(|v| format!(" {} after accept", ms(Some(v))))
                .unwrap_or_default()
        ),
        (Some(code), _) if reason_points(reason) == ReasonPoints::Credentials => format!(
            "The welcome arrived after {ready}, but at {number}{step} the server {}: the reason points at the credentials (a token expiring mid-session, its lifetime, or clock skew), not at the exchange itself.",
            close_phrase(result).unwrap_or_else(|| format!("closed with {code}"))
        ),
        (Some(4000..=4999), _) => format!(
            "The welcome arrived after {ready}, but at {number}{step} the application {}: its own close code and reason say why.",
            close_phrase(result).unwrap_or_default()
        ),
        (Some(_), _) => format!(
            "The welcome arrived after {ready}, but at {number}{step} the server {}: the session opens but the application exchange is broken.",
            close_phrase(result).unwrap_or_default()
        ),
        (None, Some(err))
            if err.contains("timed out")
                || err.contains("within")
                || err.contains("no message") =>
        {
            // Whether the server still answered the close handshake tells a hung application
            // from a server (or path) that stopped answering altogether.
            // The probe notes an unanswered close in its error; the sentence says it once,
            // in its own clause, so the quote leaves it out.
            let (quoted, close_unanswered) = match err.split_once(CLOSE_UNANSWERED) {
                Some((step, _)) => (step.trim_end_matches([';', ' ']), true),
                None => (err, false),
            };
            let alive = match result.phases_ms.close.filter(|_| !close_unanswered) {
                Some(_) => {
                    "its WebSocket layer still answered the close handshake, so the connection is alive and the application handler is what stopped answering (stuck after the welcome, or replying in another shape)"
                }
                None => {
                    "its close handshake went unanswered too, so the server stopped answering altogether (a hung process, or a path that silently dropped the connection)"
                }
            };
            format!(
                "The welcome arrived after {ready}, but {number}{step} got no answer in time ({}): {alive}.",
                quote_text(quoted)
            )
        }
        (None, Some(err)) => format!(
            "The welcome arrived after {ready}, but {number}{step} failed ({}): the session opens but the application exchange is broken.",
            quote_text(err)
        ),
        (None, None) => format!(
            "The welcome arrived after {ready}, but {number}{step} failed: the session opens but the application exchange is broken."
        ),
    }
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
            let reason = match result.close_reason.as_deref().map(str::trim) {
                None | Some("") => String::new(),
                Some(raw) => match quote_text(raw) {
                    quoted if quoted.is_empty() => " and a reason that is only markup".to_owned(),
                    quoted => format!(" \"{quoted}\""),
                },
            };
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
mod tests;
