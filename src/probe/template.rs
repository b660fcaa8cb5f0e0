//! `{token}` and `{token_base64url}` in the URL, headers, subprotocols and sent messages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

/// RFC 3986 §2.3's unreserved characters stay as they are; everything else in a token is
/// percent-encoded, so a `+`, `&` or `=` in it cannot change the URL's shape.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The templates, as written and as the URL parser leaves them in a path (it percent-encodes
/// braces there, not in a query).
const NAMES: [&str; 2] = ["token_base64url", "token"];

pub(super) struct Templates {
    token: String,
    /// Kept beside the token: it is a secret too, redacted wherever it appears.
    pub(super) token_base64url: String,
}

impl Templates {
    pub(super) fn new(token: Option<&str>) -> Self {
        let token = token.unwrap_or_default().to_owned();
        let token_base64url = URL_SAFE_NO_PAD.encode(token.as_bytes());
        Self {
            token,
            token_base64url,
        }
    }

    /// The URL with its templates filled, the values percent-encoded; the URL itself when it
    /// has none.
    pub(super) fn fill_url(&self, url: &Url) -> Url {
        let mut text = url.as_str().to_owned();
        for name in NAMES {
            let value = match name {
                "token" => &self.token,
                _ => &self.token_base64url,
            };
            let encoded = utf8_percent_encode(value, URL_COMPONENT).to_string();
            text = text
                .replace(&format!("{{{name}}}"), &encoded)
                .replace(&format!("%7B{name}%7D"), &encoded);
        }
        if text == url.as_str() {
            return url.clone();
        }
        Url::parse(&text).unwrap_or_else(|_| url.clone())
    }

    pub(super) fn fill(&self, template: &str) -> String {
        template
            .replace("{token_base64url}", &self.token_base64url)
            .replace("{token}", &self.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_templates_fill_the_path_and_query_percent_encoded() {
        let templates = Templates::new(Some("a+b/c=d&e f"));
        let rows = [
            (
                "wss://chat.example.com/socket.io/?EIO=4&transport=websocket&token={token}",
                "wss://chat.example.com/socket.io/?EIO=4&transport=websocket&token=a%2Bb%2Fc%3Dd%26e%20f",
            ),
            (
                "ws://h:8080/ws/{token_base64url}?v=2",
                "ws://h:8080/ws/YStiL2M9ZCZlIGY?v=2",
            ),
            ("ws://h/ws?token=abc", "ws://h/ws?token=abc"),
        ];
        for (template, want) in rows {
            let url = Url::parse(template).unwrap();
            assert_eq!(templates.fill_url(&url).as_str(), want, "{template}");
        }
        let jwt = Templates::new(Some("eyJhbGciOi.eyJzdWIiOi.c2ln-_"));
        let url = Url::parse("ws://h/ws?access_token={token}").unwrap();
        let filled = jwt.fill_url(&url);
        assert_eq!(
            filled.as_str(),
            "ws://h/ws?access_token=eyJhbGciOi.eyJzdWIiOi.c2ln-_"
        );
        assert_eq!(
            filled.query_pairs().next().map(|(_, v)| v.into_owned()),
            Some("eyJhbGciOi.eyJzdWIiOi.c2ln-_".to_owned())
        );
    }
}
