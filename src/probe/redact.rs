//! Secrets never leave the process: every string that is shown, stored or sent passes here.
//!
//! Two rules: a header whose *name* says it carries credentials is cut to its scheme and a short
//! prefix (`Bearer eyJh…[redacted]`, enough to tell a JWT from garbage); and any occurrence of a
//! known secret value (configured secrets, the token of this probe and its base64url form) in any
//! text is replaced by `[redacted]`.

const MARK: &str = "[redacted]";
/// Shorter values are too likely to occur by chance in ordinary text to be scrubbed everywhere.
const MIN_SECRET_LEN: usize = 4;
/// A prefix is shown only for long credentials, where 4 characters reveal nothing useful.
const MIN_LEN_FOR_PREFIX: usize = 16;

const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
    "x-e2e-bypass-key",
];

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|secret| secret.len() >= MIN_SECRET_LEN)
            .collect();
        // Sorted and deduplicated once: adding one by one is quadratic in the secrets.
        secrets.sort_unstable();
        secrets.dedup();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    pub fn add(&mut self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_LEN || self.secrets.contains(&secret) {
            return;
        }
        self.secrets.push(secret);
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Replace every known secret in free text (messages, close reasons, bodies, errors).
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MARK);
            }
        }
        out
    }

    /// A header value: credential headers are cut to scheme + prefix, others scrubbed as text.
    pub fn header(&self, name: &str, value: &str) -> String {
        if is_credential_header(name) {
            return mask_credential(value);
        }
        let scrubbed = self.text(value);
        if scrubbed != value && name.eq_ignore_ascii_case("sec-websocket-protocol") {
            return self.subprotocols(value);
        }
        scrubbed
    }

    /// A subprotocol list such as `jwt-auth, jwt.eyJh…`: each entry holding a secret keeps its
    /// prefix, so the shape of what was offered stays visible.
    pub fn subprotocols(&self, value: &str) -> String {
        value
            .split(',')
            .map(|entry| self.subprotocol(entry.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn subprotocol(&self, entry: &str) -> String {
        match self.secrets.iter().find(|s| entry.contains(s.as_str())) {
            Some(secret) => {
                let at = entry.find(secret.as_str()).unwrap_or(0);
                format!("{}{}", &entry[..at], mask_credential(secret))
            }
            None => entry.to_owned(),
        }
    }
}

pub fn is_credential_header(name: &str) -> bool {
    CREDENTIAL_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name.trim()))
}

/// `Bearer eyJhbGciOi…` → `Bearer eyJh…[redacted]`; a bare value keeps only its prefix.
fn mask_credential(value: &str) -> String {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("[missing]") {
        return value.to_owned();
    }
    let (scheme, credential) = match value.split_once(' ') {
        Some((scheme, rest)) if !scheme.is_empty() && scheme.len() <= 16 => {
            (Some(scheme), rest.trim())
        }
        _ => (None, value),
    };
    let shown: String = if credential.chars().count() >= MIN_LEN_FOR_PREFIX {
        credential.chars().take(4).collect::<String>() + "…"
    } else {
        String::new()
    };
    match scheme {
        Some(scheme) => format!("{scheme} {shown}{MARK}"),
        None => format!("{shown}{MARK}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwcm9iZSJ9.c2lnbmF0dXJl";

    #[test]
    fn header_rules() {
        let r = Redactor::new([JWT.to_owned(), "hunter2-secret".to_owned()]);
        let cases: &[(&str, &str, &str)] = &[
            (
                "Authorization",
                &format!("Bearer {JWT}"),
                "Bearer eyJh…[redacted]",
            ),
            ("authorization", "Bearer short", "Bearer [redacted]"),
            ("authorization", "[MISSING]", "[MISSING]"),
            ("Cookie", "session=abcdefabcdefabcdef", "sess…[redacted]"),
            ("X-Custom", "k=hunter2-secret", "k=[redacted]"),
            ("X-E2E-Test", "true", "true"),
            (
                "Sec-WebSocket-Protocol",
                &format!("jwt-auth, jwt.{JWT}"),
                "jwt-auth, jwt.eyJh…[redacted]",
            ),
        ];
        for (name, value, want) in cases {
            assert_eq!(&r.header(name, value), want, "{name}: {value}");
        }
    }

    #[test]
    fn free_text_scrubs_every_occurrence_longest_first() {
        let r = Redactor::new(["abcd1234".to_owned(), "abcd1234efgh".to_owned()]);
        assert_eq!(
            r.text("x abcd1234efgh y abcd1234 z"),
            "x [redacted] y [redacted] z"
        );
    }

    #[test]
    fn short_values_are_not_treated_as_secrets() {
        let r = Redactor::new(["ab".to_owned()]);
        assert_eq!(r.text("about"), "about");
    }
}
