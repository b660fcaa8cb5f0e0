//! Headers on every response of both pages, so that a string from a probed server that ever
//! slipped past escaping still could not run or load anything: a Content-Security-Policy that
//! allows nothing but the pages' own stylesheet (by its hash: the pages have no script, no
//! image, no form, no inline style attribute), no MIME sniffing, no referrer (a link out of the
//! page must not carry an internal address with it).
//!
//! Framing stays allowed: status pages hang in wall displays and in other tools' iframes, and
//! there is nothing on them a framed click could do (the admin API takes a bearer token, never
//! a cookie).

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The policy, with the stylesheet's hash as CSP Level 2 spells it (`'sha256-<base64>'`).
pub fn content_security_policy(style: &str) -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style.as_bytes()));
    format!("default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'")
}

static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    HeaderValue::from_str(&content_security_policy(super::pages::STYLE))
        .expect("the policy is ASCII")
});

/// `axum::middleware::map_response` over every route.
pub async fn headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_the_stylesheet_it_hashes() {
        // `echo -n 'a{}' | openssl dgst -sha256 -binary | base64`
        assert_eq!(
            content_security_policy("a{}"),
            "default-src 'none'; style-src 'sha256-X1RutGBrXCt9KkSaXMK7tHftWiRscFHOhxsS8tv8hBk='; \
             base-uri 'none'; form-action 'none'"
        );
    }
}
