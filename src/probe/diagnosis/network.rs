//! What the network side adds to a sentence: the egress proxy as the side that acted (its
//! refusal of the CONNECT, or not being reachable at all), every address tried, and whether
//! wsprobe presented a client certificate to a server that wants one.

use super::registry::{self, Entry, Layer, Side};
use super::*;
use crate::probe::result::Outcome;

/// RFC 8446 §6 alerts a server sends about the certificate it received, which is always the
/// client's: each means it wants a (different) client certificate.
const CLIENT_CERTIFICATE_ALERTS: &[u16] = &[42, 43, 44, 45, 46, 48, 49, 116];

/// `; wsprobe presented its client certificate CN=probe` or `; wsprobe presented none …`, when
/// the alert is about the client's certificate.
pub(super) fn client_certificate_note(alert: &Entry, expected: &Expectations) -> String {
    if !CLIENT_CERTIFICATE_ALERTS.contains(&alert.code) {
        return String::new();
    }
    certificate_sent(expected)
}

/// A handshake the server ended with an alert that names no certificate (TLS 1.2's
/// `handshake_failure`) after asking for a client certificate: the request is the evidence
/// that the certificate is what it wants.
pub(super) fn certificate_wanted(
    alert: &Entry,
    error: &str,
    expected: &Expectations,
    attempts: &str,
) -> Option<String> {
    if CLIENT_CERTIFICATE_ALERTS.contains(&alert.code)
        || !error.contains(crate::probe::connect::CERTIFICATE_REQUESTED)
    {
        return None;
    }
    Some(format!(
        "The TLS handshake with {} failed: the server asked for a client certificate (CertificateRequest) and then ended the handshake with the TLS alert {} ({}){attempts}: it wants a client certificate it trusts{}{}.",
        expected.target,
        alert.name,
        alert.code,
        certificate_sent(expected),
        close::tag(Layer::Auth, Side::Server)
    ))
}

/// Whether wsprobe had a client certificate to present, said for a server that wanted one.
pub(super) fn certificate_sent(expected: &Expectations) -> String {
    match &expected.client_certificate {
        Some(subject) => format!(
            "; wsprobe presented its client certificate ({subject}), so the server does not accept that one"
        ),
        None => "; wsprobe presented none, since no tls.client_cert and tls.client_key are set"
            .to_owned(),
    }
}

/// ` (IPv4 203.0.113.10 timed out after 4000 ms, IPv6 2001:db8::1 refused)`: every address
/// tried when there was more than one, or the one address when the target is a name.
pub(super) fn addresses_phrase(result: &ProbeResult, expected: &Expectations) -> String {
    match result.addresses_tried.as_slice() {
        [] => String::new(),
        [one] if expected.target.contains(&one.address) => String::new(),
        [one] => format!(" (at {} {})", one.family.label(), one.address),
        all => format!(
            " ({})",
            all.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `, via IPv6 ::1 after IPv4 127.0.0.1 abandoned after 251 ms without an answer`: a passing
/// probe that had to fall back to another address says so, since the address passed over
/// fails (or slows) other clients. Attempts begun after the winner lost a race, nothing more.
pub(super) fn fallback_note(result: &ProbeResult) -> String {
    let winner_started = result
        .addresses_tried
        .iter()
        .find(|a| a.outcome == Outcome::Connected)
        .map_or(0.0, |a| a.started_ms);
    let failed: Vec<String> = result
        .addresses_tried
        .iter()
        .filter(|a| a.outcome != Outcome::Connected && a.started_ms < winner_started)
        .map(ToString::to_string)
        .collect();
    match (&result.peer, failed.is_empty()) {
        (Some(peer), false) => format!(
            ", via {} {} after {}",
            peer.family.label(),
            peer.address,
            failed.join(", ")
        ),
        _ => String::new(),
    }
}

/// Whether the sentence is the proxy's: one is configured and the probe ended before anything
/// went through its tunnel.
pub(super) fn proxy_acted(result: &ProbeResult, expected: &Expectations) -> bool {
    use Verdict::*;
    expected.proxy.is_some()
        && result.phases_ms.tls.is_none()
        && result.phases_ms.upgrade.is_none()
        && matches!(
            result.verdict,
            DnsFailed | ConnectRefused | ConnectTimeout | ProtocolError
        )
}

/// The sentence for a probe the egress proxy ended: it could not be reached, it did not answer
/// the CONNECT, or it answered with a refusal.
pub(super) fn proxy_sentence(result: &ProbeResult, expected: &Expectations) -> String {
    let proxy = expected.proxy.as_deref().unwrap_or("?");
    let target = &expected.target;
    if result.phases_ms.proxy.is_none() {
        return unreachable_proxy(result, proxy, target);
    }
    let Some(status) = result.http_status else {
        let (what, side) = if result.verdict == Verdict::ConnectTimeout {
            (
                format!(
                    "accepted the connection but never answered the CONNECT for {target} within the probe's {} timeout: it is overloaded or stuck",
                    ms(Some(expected.timeout_ms))
                ),
                Side::Intermediary,
            )
        } else {
            (
                format!(
                    "did not answer the CONNECT for {target} with HTTP ({}): what listens at that address is not an HTTP proxy (a SOCKS proxy, a TLS port or another service), so check the proxy URL",
                    detail(result)
                ),
                Side::Intermediary,
            )
        };
        return format!(
            "The egress proxy {proxy} {what}{}.",
            close::tag(Layer::Proxy, side)
        );
    };
    refusal(result, expected, proxy, status)
}

fn unreachable_proxy(result: &ProbeResult, proxy: &str, target: &str) -> String {
    let (what, layer, side) = match result.verdict {
        Verdict::DnsFailed => (
            format!("its name does not resolve ({})", detail(result)),
            Layer::Network,
            Side::Path,
        ),
        Verdict::ConnectTimeout => (
            format!("the TCP connection to it did not complete{}", phase_limit(result)),
            Layer::Network,
            Side::Path,
        ),
        _ => (
            "it refused the TCP connection: nothing listens at the proxy's address (proxy down, or a wrong port in the proxy URL)".to_owned(),
            Layer::Network,
            Side::Intermediary,
        ),
    };
    let tried = match result.addresses_tried.as_slice() {
        [] | [_] => String::new(),
        all => format!(
            " ({})",
            all.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "wsprobe could not reach its egress proxy {proxy}{}: {what}{tried}; {target} itself was never tried{}.",
        attempts_suffix(result),
        close::tag(layer, side)
    )
}

/// The proxy answered the CONNECT with `status`: what it wants, refuses or could not do.
fn refusal(result: &ProbeResult, expected: &Expectations, proxy: &str, status: u16) -> String {
    let target = &expected.target;
    let header = |name: &str| {
        result
            .headers
            .response
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| crate::text::excerpt(&one_line(v), 80))
    };
    let entry = registry::http_status(status);
    let squid = header("x-squid-error");
    let said = match &squid {
        Some(error) => format!(" (X-Squid-Error: {error})"),
        None => body_quote(result),
    };
    let cause = match status {
        407 => format!(
            "it wants credentials of its own{}, and {}",
            header("proxy-authenticate")
                .map(|h| format!(" (Proxy-Authenticate: {h})"))
                .unwrap_or_default(),
            if expected.proxy_credentials {
                "refused the ones in the proxy URL: check its user and password"
            } else {
                "the proxy URL carries none: write them into it (http://user:password@proxy:port)"
            }
        ),
        403 => "its access rules refuse this destination or this client (an allow-list of hosts, or CONNECT allowed to port 443 only)".to_owned(),
        _ if squid.as_deref().is_some_and(|e| e.starts_with("ERR_DNS_FAIL")) => {
            format!("the proxy's own DNS does not resolve {target}'s host")
        }
        502 | 503 => format!(
            "it could not connect to {target} itself: the target is down or unreachable from the proxy"
        ),
        504 => format!("its own connection to {target} timed out: the target is unreachable from the proxy"),
        _ => entry.meaning_and_advice(),
    };
    format!(
        "The egress proxy {proxy} refused to open a tunnel to {target}: it answered the CONNECT with HTTP {status} {}{said}: {cause}; the target was never reached, so this is the proxy's answer, not the server's{}.",
        entry.name,
        close::tag(Layer::Proxy, Side::Intermediary)
    )
}
