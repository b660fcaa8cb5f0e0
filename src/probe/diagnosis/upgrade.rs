//! An upgrade answered with something else than 101: the status's registry row, the headers
//! that carry its cause, the body, and what the probe itself sent.

use super::registry::{self, Layer, Side};
use super::*;

/// Whether the probe's upgrade request carried this header (name lowercase).
fn sent(result: &ProbeResult, name: &str) -> bool {
    result
        .headers
        .sent
        .keys()
        .any(|k| k.eq_ignore_ascii_case(name))
}

/// The value the probe's upgrade request carried in this header (already redacted).
fn header_sent(result: &ProbeResult, name: &str) -> Option<String> {
    result
        .headers
        .sent
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| crate::text::excerpt(&one_line(v), 120))
}

/// RFC 6750 §3: `Bearer error="invalid_token", error_description="The token expired"`.
fn bearer_error(challenge: Option<&str>) -> Option<(String, String)> {
    let challenge = challenge?;
    let param = |key: &str| {
        let at = challenge.find(&format!("{key}="))? + key.len() + 1;
        let rest = &challenge[at..];
        let value = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next().unwrap_or_default(),
            None => rest.split([',', ' ']).next().unwrap_or_default(),
        };
        Some(value.to_owned())
    };
    let error = param("error")?;
    Some((error, param("error_description").unwrap_or_default()))
}

/// What each RFC 6750 error code means for the token wsprobe sent.
fn bearer_cause(error: &str, description: &str) -> String {
    let meaning = match error {
        "invalid_token" => {
            "the token wsprobe sent is expired, revoked or malformed (mint a new one, check its lifetime and the clocks)"
        }
        "insufficient_scope" => {
            "the token is valid but lacks the scope this endpoint needs (ask for the scope when minting it)"
        }
        "invalid_request" => {
            "the request lacks a parameter the server needs, or repeats one (check how the token is sent: header, query or subprotocol)"
        }
        _ => "the server names its own reason",
    };
    let said = match description.trim() {
        "" => String::new(),
        d => format!(" (\"{}\")", quote_text(d)),
    };
    format!("the server refused the token with WWW-Authenticate error={error}{said}: {meaning}")
}

pub(super) fn upgrade_rejected(result: &ProbeResult, expected: &Expectations) -> String {
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
    let entry = registry::http_status(status);
    if let Some(page) = registry::nginx_certificate_page(status, body) {
        return format!(
            "{who} with HTTP {status} instead of 101{said}, nginx's page for its {}: {}{}{}.",
            page.label(),
            page.meaning_and_advice(),
            super::network::certificate_sent(expected),
            close::tag(page.layer, page.side)
        );
    }
    let at_proxy_side = Some((Layer::Proxy, Side::Intermediary));
    let (cause, acted): (String, Option<(Layer, Side)>) = match status {
        300..=399 => (match header("location") {
            Some(location) if location.starts_with("https://") || location.starts_with("wss://") => format!(
                "the endpoint redirects ({}) to {}, and WebSocket clients do not follow redirects; use the wss:// URL",
                entry.name,
                crate::text::excerpt(&location, 120)
            ),
            Some(location) => format!(
                "the endpoint redirects ({}) to {}, and WebSocket clients do not follow redirects; point the URL there",
                entry.name,
                crate::text::excerpt(&location, 120)
            ),
            None => format!("{}: {}", entry.name, entry.clause()),
        }, None),
        400 | 431 if lower.contains("too large") || lower.contains("header") && lower.contains("large") || status == 431 => (format!(
            "the request headers are larger than {} accepts (a big token or cookie), so raise its header buffer (nginx large_client_header_buffers) or send a smaller token",
            proxy.unwrap_or("the proxy")
        ), proxy.and(at_proxy_side)),
        400 if proxy.is_some() && !proxy_own_page(body.unwrap_or_default()) => (format!(
            "the backend behind {} refused it as not a WebSocket upgrade: the proxy does not forward the Upgrade and Connection headers on this route (nginx: proxy_http_version 1.1 and proxy_set_header Upgrade/Connection)",
            proxy.unwrap_or("the proxy")
        ), at_proxy_side),
        400 if proxy.is_some() => ("the proxy itself refused the request as malformed: it does not pass WebSocket upgrades (a missing Upgrade/Connection forward), or it expected something else on this port (a PROXY protocol line, TLS)".to_owned(), at_proxy_side),
        400 => ("the server found the upgrade request malformed (a proxy dropping Upgrade/Connection headers does this)".to_owned(), None),
        403 if lower.contains("administrative rules") || proxy.is_some() && lower.contains("access denied") => (format!(
            "an access rule{at_proxy} refused the request before it reached the backend (an IP allow-list, a path or method rule, a WAF), so the credentials were not even looked at"
        ), proxy.and(at_proxy_side)),
        401 | 403 if bearer_error(header("www-authenticate").as_deref()).is_some() => {
            let (error, description) = bearer_error(header("www-authenticate").as_deref()).unwrap_or_default();
            (
                format!(
                    "{}: {}{}",
                    entry.meaning,
                    bearer_cause(&error, &description),
                    token::note(expected.token_seconds_left)
                ),
                Some((Layer::Auth, Side::Server)),
            )
        }
        403 if !sent(result, "origin") => (format!(
            "authentication or an access rule refused the request at the HTTP layer{}, before any WebSocket session; wsprobe sent no Origin header, which browsers always send, and servers that check Origin (RFC 6455 §10.2) refuse upgrades without one, so the server may require an Origin: set `origin` to the site's origin if the browser client works",
            proxy.map_or(", by the backend or an auth proxy in front of it".to_owned(), |p| format!(", by {p} or what it forwards to"))
        ), None),
        // A token's expiry, when known, weighs more than the Origin: the sentence below says it.
        403 if expected.token_seconds_left.is_none() => (format!(
            "the server refused the upgrade from the Origin wsprobe sent ({}): servers that check Origin (RFC 6455 §10.2) answer 403 to an origin they do not allow (Django Channels' allowed hosts, a CheckOrigin function), so set `origin` to one the server allows; with the right Origin, this 403 is the credentials or an access rule",
            header_sent(result, "origin").unwrap_or_default()
        ), None),
        401 | 403 => (format!(
            "{}: authentication was refused at the HTTP layer{}, before any WebSocket session ({})",
            entry.meaning,
            proxy.map_or(", by the backend or an auth proxy in front of it".to_owned(), |p| format!(", by {p} or what it forwards to")),
            if sent(result, "authorization") || sent(result, "cookie") {
                "expired or wrong token, or an access rule"
            } else {
                "wsprobe sent no Authorization header or cookie: a missing credential, or an access rule"
            }
        ) + &token::note(expected.token_seconds_left), None),
        407 => (format!(
            "{} between wsprobe and the server wants its own credentials{}, so it never forwarded the upgrade",
            proxy.unwrap_or("a proxy"),
            header("proxy-authenticate").map(|h| format!(" (Proxy-Authenticate: {})", crate::text::excerpt(&h, 80))).unwrap_or_default()
        ), None),
        404 => ("the path is not routed to a WebSocket handler (wrong URL or ingress rule)".to_owned(), None),
        426 if proxy.is_some() => (format!(
            "the backend received no upgrade request: {} does not forward the Upgrade and Connection headers on this route (nginx: proxy_http_version 1.1 and proxy_set_header Upgrade/Connection)",
            proxy.unwrap_or("the proxy")
        ), at_proxy_side),
        502 | 504 => (format!("{}{at_proxy}; {}", entry.meaning, entry.advice), None),
        200 => ("the route serves an HTTP page, not a WebSocket (the URL points at a web page, or a proxy or CDN in front does not pass upgrades)".to_owned(), None),
        _ => (format!("{}: {}", entry.name, entry.meaning_and_advice()), None),
    };
    let (layer, side) = acted.unwrap_or((entry.layer, entry.side));
    let retry = header("retry-after")
        .map(|v| format!("; Retry-After says {}", crate::text::excerpt(&v, 40)))
        .unwrap_or_default();
    let cause = format!("{cause}{}{retry}", close::tag(layer, side));
    format!("{who} with HTTP {status} instead of 101{said}: {cause}.")
}
