//! Reading the evidence a failed probe brought back, for the diagnosis: what a response body
//! says (its title, or its first meaningful lines, never its markup), which proxy answered,
//! what a close reason's words point at, which kind of TLS failure an error is. Pure and
//! general: each rule reads a property of the evidence (a `Server` header, a `<title>`, a
//! word in a reason), not the shape of one server's page.

use super::result::HeaderMap;

/// Longest summary quoted in a sentence.
const SUMMARY_CHARS: usize = 140;

/// One line of what a response body says, or `None` when it says nothing: an HTML page by its
/// title and the lines of text that add to it; a JSON error by its message field; plain text
/// by its first lines. Markup, scripts, entities and line breaks never come through.
pub fn summarize_body(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return None;
    }
    let summary = if looks_like_html(trimmed) {
        html_summary(trimmed)
    } else if let Some(message) = json_message(trimmed) {
        message
    } else {
        first_lines(trimmed, 2)
    };
    let summary = one_line(&summary);
    (!summary.is_empty()).then(|| cut(&summary, SUMMARY_CHARS))
}

/// A server's free text (a close reason, an error message) made safe to quote in a sentence:
/// one line, markup summarised, bounded.
pub fn quote_text(text: &str) -> String {
    summarize_body(text).unwrap_or_default()
}

/// Markup: a page, or any `<tag …>` in it (a close reason of `<script>…</script>` too).
pub fn looks_like_html(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(2).enumerate().any(|(i, pair)| {
        pair[0] == b'<'
            && (pair[1].is_ascii_alphabetic() || pair[1] == b'/' || pair[1] == b'!')
            && text[i..].contains('>')
    })
}

/// A page as the text a reader sees, title first, one line: the whole of what it says, where
/// [`summarize_body`] keeps its first two lines.
pub fn page_text(html: &str) -> String {
    let title = between_tags(html, "title").map(|t| one_line(&decode_entities(&t)));
    let mut lines: Vec<String> = title.into_iter().filter(|t| !t.is_empty()).collect();
    for line in visible_text(html)
        .lines()
        .map(one_line)
        .filter(|l| !l.is_empty())
    {
        if !lines.iter().any(|seen| same_words(seen, &line)) {
            lines.push(line);
        }
    }
    lines.join(" — ")
}

fn html_summary(html: &str) -> String {
    let title = between_tags(html, "title").map(|t| one_line(&decode_entities(&t)));
    let text = visible_text(html);
    let mut lines: Vec<String> = Vec::new();
    if let Some(title) = title.filter(|t| !t.is_empty()) {
        lines.push(title);
    }
    for line in text.lines().map(one_line).filter(|l| !l.is_empty()) {
        // A proxy's signature line says who answered, which the Server header tells better;
        // a repeated heading adds nothing.
        if is_signature(&line) || lines.iter().any(|seen| same_words(seen, &line)) {
            continue;
        }
        lines.push(line);
        if lines.len() >= 2 {
            break;
        }
    }
    lines.join(" — ")
}

/// The inner text of the first `<tag>…</tag>`, case-insensitively.
fn between_tags(html: &str, tag: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let open = lower.find(&format!("<{tag}"))?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find(&format!("</{tag}"))?;
    Some(html[start..end].to_owned())
}

/// The text a browser would show, one block per line: tags dropped, scripts and styles with
/// their content, block-level tags as line breaks.
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after[..close].trim_start_matches('/').to_ascii_lowercase();
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        rest = &after[close + 1..];
        if matches!(name.as_str(), "script" | "style" | "title" | "head") && !tag.ends_with('/') {
            // Skip to the end of the element: its content is not shown (the title is read
            // separately).
            let lower = rest.to_ascii_lowercase();
            match lower.find(&format!("</{name}")) {
                Some(end) => {
                    let tail = &rest[end..];
                    rest = tail.find('>').map_or("", |gt| &tail[gt + 1..]);
                }
                None => rest = "",
            }
            continue;
        }
        if matches!(
            name.as_str(),
            "br" | "p" | "div" | "h1" | "h2" | "h3" | "h4" | "li" | "tr" | "center" | "hr" | "body"
        ) {
            out.push('\n');
        }
    }
    out.push_str(rest);
    decode_entities(&out)
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// `nginx`, `nginx/1.22.1`, `Apache/2.4 (Debian) Server at x Port 80`: a server's signature.
fn is_signature(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let first = lower.split([' ', '/']).next().unwrap_or_default();
    let known = matches!(
        first,
        "nginx" | "openresty" | "apache" | "caddy" | "haproxy" | "envoy" | "cloudflare" | "tengine"
    );
    known && lower.split_whitespace().count() <= 8
}

/// One says what the other already does.
fn same_words(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    a.contains(&b) || b.contains(&a)
}

/// The message of a JSON error body: `message`, `error_description`, `error`, `detail` or
/// `title`, at the top or one level down (`{"error": {"message": …}}`).
fn json_message(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    const KEYS: [&str; 6] = [
        "message",
        "error_description",
        "detail",
        "error",
        "title",
        "reason",
    ];
    let find = |value: &serde_json::Value| {
        KEYS.iter()
            .find_map(|key| value.get(key).and_then(|v| v.as_str()).map(str::to_owned))
    };
    find(&value)
        .or_else(|| KEYS.iter().find_map(|key| value.get(key).and_then(&find)))
        .or_else(|| Some(value.to_string()))
}

fn first_lines(text: &str, count: usize) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(count)
        .collect::<Vec<_>>()
        .join(" — ")
}

/// Control characters and runs of whitespace become one space.
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    // End on a word, not mid-word.
    if let Some(space) = out.rfind(' ').filter(|i| *i > max / 2) {
        out.truncate(space);
    }
    out.push('…');
    out
}

/// Which product answered, from the `Server` and `Via` headers or a body's signature:
/// `nginx`, `HAProxy`, `Caddy`, `Envoy`, `Cloudflare`, … `None` when nothing says.
pub fn answering_proxy(headers: &HeaderMap, body: Option<&str>) -> Option<&'static str> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let server = header("server").unwrap_or_default();
    let via = header("via").unwrap_or_default();
    let body = body.unwrap_or_default().to_ascii_lowercase();
    const PRODUCTS: [(&str, &str); 10] = [
        ("nginx", "nginx"),
        ("openresty", "nginx (OpenResty)"),
        ("haproxy", "HAProxy"),
        ("caddy", "Caddy"),
        ("envoy", "Envoy"),
        ("cloudflare", "Cloudflare"),
        ("awselb", "an AWS load balancer"),
        ("traefik", "Traefik"),
        ("apache", "Apache"),
        ("varnish", "Varnish"),
    ];
    PRODUCTS
        .iter()
        .find(|(needle, _)| server.contains(needle) || via.contains(needle))
        .or_else(|| {
            // A body signature (nginx's `<hr><center>nginx</center>`); HAProxy's own pages
            // carry no Server header and no signature, but say what they are.
            PRODUCTS.iter().find(|(needle, _)| {
                body.contains(&format!("<center>{needle}"))
                    || body.contains(&format!("{needle}/")) && body.contains("<hr")
            })
        })
        .map(|(_, name)| *name)
        .or_else(|| {
            // HAProxy's built-in pages carry no Server header and no signature, but their
            // sentences are its own.
            const HAPROXY_PAGES: [&str; 4] = [
                "request forbidden by administrative rules",
                "no server is available to handle this request",
                "your browser sent an invalid request",
                "the server didn't respond in time",
            ];
            HAPROXY_PAGES
                .iter()
                .any(|sentence| body.contains(sentence))
                .then_some("HAProxy")
        })
}

/// Whether a body is the proxy's own error page rather than the backend's answer relayed
/// through it (a proxy rewrites `Server` on both): its signature line, or HAProxy's sentences.
pub fn proxy_own_page(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    let signed = lower.contains("<hr") && {
        let text = visible_text(body);
        text.lines().map(one_line).any(|line| is_signature(&line))
    };
    signed || answering_proxy(&HeaderMap::new(), Some(body)) == Some("HAProxy")
}

/// What the words of a close reason or an application message point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonPoints {
    /// An expired, invalid or unsigned token: auth, token lifetime or clock skew.
    Credentials,
    /// A startup or dependency not ready.
    NotReady,
    /// Too many clients, rate limits, capacity.
    Capacity,
    Nothing,
}

pub fn reason_points(reason: &str) -> ReasonPoints {
    let words = reason.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| words.contains(n));
    if any(&[
        "token",
        "jwt",
        "expired",
        "signature",
        "unauthori",
        "unauthenticated",
        "credential",
        "forbidden",
        "auth",
        "invalid key",
        "api key",
        "permission",
        "access refused",
        "access denied",
        "password",
    ]) {
        ReasonPoints::Credentials
    } else if any(&["startup", "not ready", "starting", "warming", "initializ"]) {
        ReasonPoints::NotReady
    } else if any(&["rate", "too many", "capacity", "overload", "busy", "limit"]) {
        ReasonPoints::Capacity
    } else {
        ReasonPoints::Nothing
    }
}

/// The kinds of TLS failure that each need their own advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The certificate expired, this long before the handshake when the error says.
    Expired {
        seconds_ago: Option<u64>,
    },
    /// Valid only this far in the future, when the error says.
    NotYetValid {
        seconds_ahead: Option<u64>,
    },
    UnknownIssuer,
    WrongHost,
    /// No protocol version (or cipher) both sides accept.
    Version,
    /// What answered is not TLS: plain HTTP on a `wss://` port, most often.
    NotTls,
    Other,
}

/// Classify a TLS error's text (rustls's and the OS's wordings).
pub fn tls_problem(error: &str) -> TlsProblem {
    let e = error.to_ascii_lowercase();
    if e.contains("expired") {
        TlsProblem::Expired {
            seconds_ago: number_before(&e, " seconds ago"),
        }
    } else if e.contains("notvalidyet") || e.contains("not valid yet") {
        TlsProblem::NotYetValid {
            seconds_ahead: number_before(&e, " seconds in future"),
        }
    } else if e.contains("unknownissuer")
        || e.contains("unknown issuer")
        || e.contains("self-signed")
        || e.contains("self signed")
    {
        TlsProblem::UnknownIssuer
    } else if e.contains("notvalidforname")
        || e.contains("not valid for name")
        || e.contains("hostname mismatch")
    {
        TlsProblem::WrongHost
    } else if e.contains("protocolversion")
        || e.contains("protocol version")
        || e.contains("peerincompatible")
        || e.contains("peer is incompatible")
        || e.contains("nociphersuitesincommon")
        || e.contains("handshakefailure")
        || e.contains("handshake_failure")
        || e.contains("no shared cipher")
    {
        TlsProblem::Version
    } else if e.contains("invalidcontenttype")
        || e.contains("corrupt message")
        || e.contains("wrong version number")
        || e.contains("not a tls")
        || e.contains("http request")
    {
        TlsProblem::NotTls
    } else {
        TlsProblem::Other
    }
}

/// The number right before `suffix` (rustls: `(432000 seconds ago)`).
fn number_before(text: &str, suffix: &str) -> Option<u64> {
    let end = text.find(suffix)?;
    let digits: String = text[..end]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

/// `5 days`, `3 hours`, `40 minutes`, `12 s`: a duration in the unit a person uses.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let (value, unit) = match s {
        0..=119 => (s, "second"),
        120..=7_199 => (s / 60, "minute"),
        7_200..=172_799 => (s / 3_600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{value} {unit}{}", if value == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_summarised_never_pasted() {
        let cases: &[(&str, Option<&str>)] = &[
            // nginx's own error page: the title and the line that says why.
            (
                "<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n",
                Some("400 Request Header Or Cookie Too Large — 400 Bad Request"),
            ),
            // HAProxy's: no title, a heading and a sentence.
            (
                "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n",
                Some("403 Forbidden — Request forbidden by administrative rules."),
            ),
            // An application page on the WebSocket path: its title; scripts never show.
            (
                "<!DOCTYPE html><html><head><title>Acme &amp; Co — Sign in</title><script>var x = '<b>';</script></head><body><h1>Welcome</h1></body></html>",
                Some("Acme & Co — Sign in — Welcome"),
            ),
            (
                "{\"detail\":\"Invalid E2E bypass key\"}",
                Some("Invalid E2E bypass key"),
            ),
            (
                "{\"error\":{\"code\":500,\"message\":\"upstream identity provider unavailable\"}}",
                Some("upstream identity provider unavailable"),
            ),
            (
                "Service Unavailable\n\nretry later\nthird line",
                Some("Service Unavailable — retry later"),
            ),
            ("   \r\n ", None),
            // Markup with nothing to show says nothing: never pasted.
            ("<script>alert(1)</script>", None),
            ("a < b and c > d", Some("a < b and c > d")),
        ];
        for (body, want) in cases {
            let got = summarize_body(body);
            assert_eq!(got.as_deref(), *want, "{body:?}");
            if let Some(got) = got {
                assert!(!got.contains(['\n', '\r']), "{got:?}");
                assert!(!looks_like_html(&got), "no markup: {got:?}");
            }
        }
        let long = format!("<title>{}</title>", "word ".repeat(100));
        let got = summarize_body(&long).unwrap();
        assert!(
            got.chars().count() <= SUMMARY_CHARS && got.ends_with("word…"),
            "{got}"
        );
    }

    #[test]
    fn the_answering_proxy_is_named_from_headers_or_signature() {
        let headers = |pairs: &[(&str, &str)]| -> HeaderMap {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            answering_proxy(&headers(&[("server", "nginx/1.22.1")]), None),
            Some("nginx")
        );
        assert_eq!(
            answering_proxy(&headers(&[("Server", "Caddy")]), None),
            Some("Caddy")
        );
        assert_eq!(
            answering_proxy(&headers(&[("via", "1.1 google")]), None),
            None
        );
        assert_eq!(
            answering_proxy(&headers(&[]), Some("<hr><center>nginx</center>")),
            Some("nginx")
        );
        assert_eq!(
            answering_proxy(&headers(&[("server", "uvicorn")]), None),
            None
        );
        let haproxy_page = "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>";
        assert_eq!(
            answering_proxy(&headers(&[]), Some(haproxy_page)),
            Some("HAProxy")
        );
    }

    #[test]
    fn reasons_point_by_their_words() {
        for (reason, points) in [
            ("Token expired", ReasonPoints::Credentials),
            ("invalid JWT signature", ReasonPoints::Credentials),
            ("Unauthorized", ReasonPoints::Credentials),
            ("Service startup incomplete", ReasonPoints::NotReady),
            ("too many connections", ReasonPoints::Capacity),
            ("Internal error", ReasonPoints::Nothing),
        ] {
            assert_eq!(reason_points(reason), points, "{reason}");
        }
    }

    #[test]
    fn tls_errors_are_told_apart() {
        for (error, problem) in [
            (
                "invalid peer certificate: Expired",
                TlsProblem::Expired { seconds_ago: None },
            ),
            (
                "invalid peer certificate: certificate expired: verification time 1796000000 (UNIX), but certificate is not valid after 1795568000 (432000 seconds ago)",
                TlsProblem::Expired {
                    seconds_ago: Some(432_000),
                },
            ),
            (
                "invalid peer certificate: UnknownIssuer",
                TlsProblem::UnknownIssuer,
            ),
            (
                "invalid peer certificate: NotValidForName",
                TlsProblem::WrongHost,
            ),
            ("received fatal alert: ProtocolVersion", TlsProblem::Version),
            (
                "peer is incompatible: NoCipherSuitesInCommon",
                TlsProblem::Version,
            ),
            (
                "received corrupt message of type InvalidContentType",
                TlsProblem::NotTls,
            ),
            ("connection reset", TlsProblem::Other),
        ] {
            assert_eq!(tls_problem(error), problem, "{error}");
        }
    }

    #[test]
    fn durations_read_in_the_unit_people_use() {
        for (seconds, words) in [
            (432_000, "5 days"),
            (86_400, "24 hours"),
            (3_600, "60 minutes"),
            (7_200, "2 hours"),
            (61, "61 seconds"),
            (1, "1 second"),
        ] {
            assert_eq!(human_duration(seconds), words);
        }
    }
}
