//! A session login (`auth.kind: session`) that gave no session: the CSRF page, the login's
//! answer and the cookies it set, weighed with whether wsprobe sent a CSRF token back.

use super::registry::{self, Layer, Side};
use super::*;

/// What a refusal page says when CSRF protection, not the credentials, refused the request:
/// Django ("CSRF verification failed"), Rails (`InvalidAuthenticityToken`), Spring Security
/// ("Invalid CSRF Token"), Laravel (419 "Page Expired", "CSRF token mismatch"), Express csurf
/// ("invalid csrf token"), Angular's `XSRF-TOKEN`.
const CSRF_WORDS: &[&str] = &[
    "csrf",
    "xsrf",
    "authenticity token",
    "authenticitytoken",
    "forgery",
];

/// Laravel's own status for an expired or missing CSRF token.
const LARAVEL_PAGE_EXPIRED: u16 = 419;

pub(super) fn login_failed(result: &ProbeResult, expected: &Expectations) -> String {
    let url = expected.login_url.as_deref().unwrap_or("the login URL");
    let error = detail(result);
    let said = body_quote(result);
    let status = result.http_status;
    if error.starts_with("the CSRF cookie") {
        return format!(
            "{}{said}, so no login was attempted: the page sets no cookie of that name (check auth.csrf.cookie against the Set-Cookie the page answers with, and auth.csrf.url against the page that shows the login form).",
            capitalised(&error)
        );
    }
    if error.starts_with("the CSRF page") {
        return format!(
            "{}{said}, so no login was attempted: auth.csrf.url is wrong or that page is failing.",
            capitalised(&error)
        );
    }
    let Some(status) = status else {
        return format!(
            "The login at {url} could not be reached ({error}), so no WebSocket was attempted{}.",
            close::tag(Layer::Network, Side::Path)
        );
    };
    if error.starts_with("the login answer") {
        return format!(
            "{}{said}: a refused login shows its form again (Django, Rails) or redirects back to it, so check the fields and values under auth.login; no WebSocket was attempted.",
            capitalised(&error)
        );
    }
    let cause = refusal_cause(result, status, expected.csrf_cookie.as_deref());
    format!(
        "The login at {url} answered HTTP {status}{said}: {cause}, so no WebSocket was attempted."
    )
}

/// Why a login answered with an error status: CSRF protection, the credentials, or the server.
fn refusal_cause(result: &ProbeResult, status: u16, csrf_cookie: Option<&str>) -> String {
    let body = result
        .body_excerpt
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let csrf_page = status == LARAVEL_PAGE_EXPIRED
        || matches!(status, 400 | 403 | 422) && CSRF_WORDS.iter().any(|word| body.contains(word));
    match (csrf_page, csrf_cookie) {
        (true, None) => {
            "the login form is CSRF-protected and wsprobe sent no CSRF token: set auth.csrf (the page that sets the CSRF cookie, the cookie's name, and the form field or header the token goes back in)".to_owned()
        }
        (true, Some(cookie)) => format!(
            "CSRF protection refused the token wsprobe sent back from the `{cookie}` cookie: check auth.csrf's field or header name, and that auth.csrf.url is on the login's own site (the Referer and Origin checks over HTTPS compare them)"
        ),
        (false, _) => match status {
            401 | 403 | 422 => "the credentials under auth.login were refused (a wrong user or password, a locked account, or one without access)".to_owned(),
            404 | 405 => "auth.login's URL or method is not the login's".to_owned(),
            429 => "the login is rate limiting the probe (lower its frequency, or exempt the probe's account)".to_owned(),
            500..=599 => "the application's login itself is failing".to_owned(),
            _ => {
                let entry = registry::http_status(status);
                format!("{}: {}", entry.name, entry.meaning_and_advice())
            }
        },
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
