//! What the probe's own request said about its credential: a JWT's expiry, read from what
//! wsprobe sent (before redaction), so a refusal can be weighed against it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::probe::evidence::human_duration;

/// Seconds the first JWT among the sent header values had left at `at` (negative: expired
/// that long before); `None` when no JWT with an `exp` went.
pub fn seconds_left(sent: &[(String, String)], at: DateTime<Utc>) -> Option<i64> {
    sent.iter()
        .flat_map(|(_, value)| value.split([' ', ',', ';', '=']))
        .find_map(expiry)
        .map(|exp| exp - at.timestamp())
}

/// A JWT's `exp`: three base64url parts, the middle one JSON with a numeric `exp`.
fn expiry(candidate: &str) -> Option<i64> {
    let mut parts = candidate.trim().split('.');
    let (header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !header.starts_with("eyJ") {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    json.get("exp")?.as_i64()
}

/// `; the token wsprobe sent had expired 5 minutes before`, or that it had not.
pub fn note(seconds_left: Option<i64>) -> String {
    match seconds_left {
        Some(left) if left <= 0 => format!(
            "; the token wsprobe sent had expired {} before, so mint a fresh one (check its ttl and both clocks)",
            human_duration(-left)
        ),
        Some(left) => format!(
            "; the token wsprobe sent was valid for another {}, so not its expiry but its audience, issuer, signing key, a revocation or an access rule",
            human_duration(left)
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(exp: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"probe","exp":{exp}}}"#));
        format!("{header}.{payload}.c2ln")
    }

    #[test]
    fn the_bearer_tokens_expiry_is_read_and_said() {
        let now = Utc::now();
        let sent = vec![
            ("X-E2E-Test".to_owned(), "true".to_owned()),
            (
                "Authorization".to_owned(),
                format!("Bearer {}", jwt(now.timestamp() - 300)),
            ),
        ];
        let left = seconds_left(&sent, now);
        assert_eq!(left, Some(-300));
        assert!(note(left).contains("had expired 5 minutes before"));
        let fresh = vec![(
            "Cookie".to_owned(),
            format!("session={}", jwt(now.timestamp() + 600)),
        )];
        assert!(note(seconds_left(&fresh, now)).contains("valid for another 10 minutes"));
        assert_eq!(
            seconds_left(&[("Authorization".into(), "Bearer opaque".into())], now),
            None
        );
        assert_eq!(note(None), "");
    }
}
