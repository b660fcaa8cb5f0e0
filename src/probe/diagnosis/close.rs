//! A session that ended: the close's registry row, its side, its reason (or the message that
//! came before it) and when it came.

use super::registry::{self, Layer, Side};
use super::*;
pub(super) fn closed_before_ready(result: &ProbeResult, expected: &Expectations) -> String {
    let code = result.close_code.unwrap_or(1006);
    let entry = registry::close_code(code, dialect::of(result));
    let close = close_phrase(result).unwrap_or_else(|| "closed the connection".into());
    let health = health_phrase(result);
    let reason = result.close_reason.as_deref().unwrap_or_default();
    let points = reason_points(reason);
    let health_ok = result.health.as_ref().is_some_and(|h| h.ok);
    // Evidence that says more than the registry row: the reason's words, a healthy HTTP side.
    let cause = match (entry.layer, points) {
        (Layer::Application | Layer::Auth, ReasonPoints::Credentials) if code >= 4000 => format!(
            "the application itself refused the session, and its reason points at the credentials: an expired or invalid token, its lifetime, or clock skew between wsprobe and the server{}{}",
            tag(Layer::Auth, Side::Server),
            token::note(expected.token_seconds_left)
        ),
        (Layer::Application | Layer::Auth, ReasonPoints::Credentials) => format!(
            "the reason points at authentication, not at the WebSocket path: an expired or invalid token, a too short token lifetime (ttl), or clock skew between wsprobe and the server{}{}",
            tag(Layer::Auth, Side::Server),
            token::note(expected.token_seconds_left)
        ),
        (_, ReasonPoints::Capacity) => format!(
            "the reason says the server is at a limit (rate or connections): it turns new sessions away{}",
            tag(Layer::Application, Side::Server)
        ),
        (Layer::Application | Layer::Proxy, _) if health_ok && matches!(code, 1011 | 1014) => {
            format!(
                "the failure is inside the backend's WebSocket path, not the service as a whole{}",
                tag(entry.layer, entry.side)
            )
        }
        _ => entry.clause(),
    };
    let reason_hint = match points {
        ReasonPoints::NotReady => {
            "; the reason says the backend's startup is incomplete (a dependency not ready)"
        }
        _ => "",
    };
    let ours = client_close_phrase(result)
        .map(|c| format!("; {c}"))
        .unwrap_or_default();
    // A message that came before the close is evidence of its own: the server speaks, just
    // not the welcome the ready check waits for; with no reason on the close, it is the reason.
    let reasonless = reason.trim().is_empty() && !matches!(code, 1006);
    if let Some(first) = result.messages.first()
        && (reasonless || matches!(code, 1000 | 1003 | 1007 | 1008))
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
            "Instead of the welcome the server sent {what} and then {close}{health}: {meaning}{}{ours}.",
            tag(entry.layer, Side::Server)
        );
    }
    format!("The server {close}, before the welcome message{health}: {cause}{reason_hint}{ours}.")
}

/// With no reason on the close, the last message after the welcome is the reason.
fn message_before_close(result: &ProbeResult) -> Option<String> {
    let reason = result.close_reason.as_deref().unwrap_or_default();
    if !reason.trim().is_empty() || result.messages.len() < 2 {
        return None;
    }
    result.messages.last().map(|m| quote_text(m))
}

/// ` (proxy layer, a proxy or gateway acted)`
pub(super) fn tag(layer: Layer, side: Side) -> String {
    format!(" ({layer} layer, {side})")
}

/// wsprobe's own close, said as wsprobe's: `wsprobe answered with 1002 "Protocol violation"…`
pub(super) fn client_close_phrase(result: &ProbeResult) -> Option<String> {
    let code = result.client_close_code?;
    let reason = result
        .client_close_reason
        .as_deref()
        .map(|r| format!(" \"{}\"", quote_text(r)))
        .unwrap_or_default();
    Some(match result.close_code {
        Some(server) if !registry::valid_on_wire(server) || server == 1014 => format!(
            "wsprobe, not the server, then closed with {code}{reason}, its WebSocket library's answer to close code {server}"
        ),
        _ => format!(
            "wsprobe, not the server, closed with {code}{reason} because it refused what the server sent"
        ),
    })
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
    if let Some((size, _)) = crate::probe::message::binary_from_evidence(message) {
        return FirstMessage::Binary(size.to_string());
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

pub(super) fn ready_mismatch(result: &ProbeResult) -> String {
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

pub(super) fn step_failed(result: &ProbeResult, expected: &Expectations) -> String {
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
            "The welcome arrived after {ready}, but during {number}{step} the connection was dropped without a close frame (1006){}: in the middle of a session, that is a proxy's or load balancer's idle or read timeout (nginx proxy_read_timeout, HAProxy timeout tunnel, a cloud load balancer's idle timeout) or the backend process dying{}.",
            result
                .close_after_ms
                .map(|v| format!(" {} after accept", ms(Some(v))))
                .unwrap_or_default(),
            tag(Layer::Network, Side::Path)
        ),
        (Some(code), _) if reason_points(reason) == ReasonPoints::Credentials => format!(
            "The welcome arrived after {ready}, but at {number}{step} the server {}: the reason points at the credentials (a token expiring mid-session, its lifetime, or clock skew), not at the exchange itself{}.",
            close_phrase(result).unwrap_or_else(|| format!("closed with {code}")),
            tag(Layer::Auth, Side::Server)
        ),
        (Some(code), _) => {
            let entry = registry::close_code(code, dialect::of(result));
            let said = message_before_close(result)
                .map(|m| format!(" sent \"{m}\" and then"))
                .unwrap_or_default();
            let ours = client_close_phrase(result)
                .map(|c| format!("; {c}"))
                .unwrap_or_default();
            format!(
                "The welcome arrived after {ready}, but at {number}{step} the server{said} {}: {}{ours}.",
                close_phrase(result).unwrap_or_default(),
                entry.clause()
            )
        }
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

/// `closed with 1011 "Internal error" 63 ms after accept`
pub(super) fn close_phrase(result: &ProbeResult) -> Option<String> {
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
