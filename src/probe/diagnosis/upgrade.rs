//! An upgrade answered with something else than 101: the status's registry row, the headers
//! that carry its cause, the body, and what the probe itself sent.

use super::*;
pub(super) fn upgrade_rejected(result: &ProbeResult) -> String {
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
