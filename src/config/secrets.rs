//! Which configured values are credentials: what every text is scrubbed of, and what is shown
//! as it is because it cannot be one.

use std::net::SocketAddr;

use url::Url;

/// Shorter values are not scrubbed from free text: they occur by chance in ordinary words and
/// numbers (`wrong`, `8080`, `prod`), and no credential worth the name is that short. They stay
/// masked where they are known to be credentials (an `Authorization` header, a cookie).
pub const MIN_SECRET_LEN: usize = 8;

/// A `${VAR}` value that reads as what it is rather than as a credential: what wsprobe
/// publishes anyway, a number (a port, a count), an IP address or `address:port`, or a value
/// too short to be a credential ([`MIN_SECRET_LEN`]); scrubbing those
/// from every text turned `listen=127.0.0.1:8080` into `listen=127.0.0.1:[redacted]`.
pub(super) fn is_plain_value(value: &str, published: &std::collections::HashSet<String>) -> bool {
    let value = value.trim();
    published.contains(value)
        || value.len() < MIN_SECRET_LEN
        || value.parse::<f64>().is_ok()
        || value.parse::<std::net::IpAddr>().is_ok()
        || value.parse::<SocketAddr>().is_ok()
}

/// What a URL may carry a credential in: its password and its query's values (an
/// `?access_token=` is how browser clients often authenticate a WebSocket), in raw and decoded
/// form, since either can show up in an error text.
pub(super) fn collect_url_secrets(url: &Url, into: &mut Vec<String>) {
    if let Some(password) = url.password() {
        into.push(password.to_owned());
    }
    if let Some(query) = url.query() {
        into.push(query.to_owned());
        let raw = query
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or(("", pair)));
        let decoded = url.query_pairs().collect::<Vec<_>>();
        let pairs = raw
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .chain(
                decoded
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.to_string())),
            );
        into.extend(
            pairs
                .filter(|(key, value)| is_query_secret(key, value))
                .map(|(_, value)| value),
        );
    }
}

/// Whether a query value can be a credential. Short values (`v=2`, `format=json`) are
/// settings, and so are plain words under a key that names no credential
/// (`transport=websocket`, `encoding=protobuf`): scrubbing those from every text blanked the
/// word "websocket" in every diagnosis of a Socket.IO environment. Tokens, keys and signatures
/// carry digits or symbols, or sit under a key that says what they are.
fn is_query_secret(key: &str, value: &str) -> bool {
    if value.len() < MIN_QUERY_SECRET_LEN {
        return false;
    }
    let key = key.to_ascii_lowercase();
    let credential_key = CREDENTIAL_KEY_PARTS.iter().any(|part| key.contains(part));
    let plain_word = value
        .bytes()
        .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_' || b == b'.');
    credential_key || !plain_word
}

/// Parts of a query key that say its value is a credential, whatever the value looks like.
const CREDENTIAL_KEY_PARTS: &[&str] = &[
    "token", "key", "secret", "pass", "pwd", "auth", "sig", "session", "code", "jwt", "cred",
    "ticket", "nonce",
];

/// A proxy's user, password and the `Proxy-Authorization` value made of them: from the file
/// or from a variable, never from a `${VAR}` alone.
pub(super) fn collect_proxy_secrets(
    setting: &super::network::ProxySetting,
    into: &mut Vec<String>,
) {
    use super::network::ProxySetting;
    match setting {
        ProxySetting::Direct => {}
        ProxySetting::Fixed(proxy) => into.extend(proxy.secrets()),
        ProxySetting::Variables(variables) => {
            into.extend(variables.proxies().flat_map(|proxy| proxy.secrets()))
        }
    }
}

/// A query value this short (`v=2`, `format=json`, `compress=true`) is a setting, and scrubbing
/// it from every text would blank ordinary words; tokens are far longer. The whole query
/// string is always a secret.
const MIN_QUERY_SECRET_LEN: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_secrets_when_they_can_be_credentials() {
        #[rustfmt::skip]
        let cases = [
            ("v", "2", false),
            ("transport", "websocket", false),
            ("encoding", "protobuf", false),
            ("token", "abcdefghij", true),
            ("access_token", "eyJhbGciOi.x", true),
            ("X-Amz-Signature", "deadbeefdeadbeef", true),
            ("client", "probe-0123456789", true),
            ("room", "lobby-main", false),
            ("apikey", "onlyletters", true),
        ];
        for (key, value, secret) in cases {
            assert_eq!(is_query_secret(key, value), secret, "{key}={value}");
        }
        let url =
            Url::parse("wss://h/socket.io/?EIO=4&transport=websocket&token=tok-12345678").unwrap();
        let mut secrets = Vec::new();
        collect_url_secrets(&url, &mut secrets);
        assert!(secrets.contains(&"tok-12345678".to_owned()));
        assert!(!secrets.contains(&"websocket".to_owned()), "{secrets:?}");
        assert!(
            secrets.contains(&url.query().unwrap().to_owned()),
            "the whole query"
        );
    }
}
