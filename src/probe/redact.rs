//! Secrets never leave the process: every string that is shown, stored or sent passes here.
//!
//! Two rules: a header whose *name* says it carries credentials is cut to its scheme and a short
//! prefix (`Bearer eyJh…[redacted]`, enough to tell a JWT from garbage); and any occurrence of a
//! known secret value (configured secrets, the token of this probe and its base64url form) in any
//! text is replaced by `[redacted]`, as a whole token: where the text goes on with a letter or
//! digit on either side, it is another word that happens to contain the value.

use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

pub const MARK: &str = "[redacted]";
use crate::config::MIN_SECRET_LEN;
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

/// The secrets to scrub: the configured ones in one automaton built once per config and
/// shared by every probe (at 10,000 environments with a secret each, matching them one by one
/// was most of a probe's CPU), plus the few a probe learns as it runs (its token).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    known: Arc<Known>,
    /// Longest first, so a secret containing another is replaced whole.
    extra: Vec<String>,
}

#[derive(Debug, Default)]
struct Known {
    secrets: Vec<String>,
    /// Leftmost-longest: a secret containing another is replaced whole.
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|secret| secret.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_unstable();
        secrets.dedup();
        let matcher = (!secrets.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&secrets)
                    .ok()
            })
            .flatten();
        Self {
            known: Arc::new(Known { secrets, matcher }),
            extra: Vec::new(),
        }
    }

    pub fn add(&mut self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_LEN
            || self.extra.contains(&secret)
            || self.known.secrets.binary_search(&secret).is_ok()
        {
            return;
        }
        self.extra.push(secret);
        self.extra.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Replace every known secret in free text (messages, close reasons, bodies, errors).
    pub fn text(&self, text: &str) -> String {
        let mut out = Cow::Borrowed(text);
        for secret in &self.extra {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(replace_whole(&out, secret));
            }
        }
        if let Some(matcher) = &self.known.matcher
            && matcher.is_match(out.as_ref())
        {
            let source = out.as_ref();
            let mut replaced = String::with_capacity(source.len());
            matcher.replace_all_with(source, &mut replaced, |found, matched, dst| {
                if stands_alone(source, found.start(), found.end()) {
                    dst.push_str(MARK);
                } else {
                    dst.push_str(matched);
                }
                true
            });
            out = Cow::Owned(replaced);
        }
        out.into_owned()
    }

    /// The first secret `text` holds as a whole token, longest first among those starting at
    /// the same place.
    fn first_in<'a>(&'a self, text: &str) -> Option<&'a str> {
        let alone = |secret: &str| {
            text.match_indices(secret)
                .any(|(at, _)| stands_alone(text, at, at + secret.len()))
        };
        if let Some(secret) = self.extra.iter().find(|s| alone(s)) {
            return Some(secret);
        }
        self.known
            .matcher
            .as_ref()?
            .find_iter(text)
            .find(|found| stands_alone(text, found.start(), found.end()))
            .map(|found| self.known.secrets[found.pattern().as_usize()].as_str())
    }

    /// A header value: cookies keep their names, credential headers are cut to scheme +
    /// prefix, others scrubbed as text.
    pub fn header(&self, name: &str, value: &str) -> String {
        let name = name.trim();
        if name.eq_ignore_ascii_case("cookie") {
            return mask_cookies(value);
        }
        if name.eq_ignore_ascii_case("set-cookie") {
            let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
            return mask_set_cookie(pair, &self.text(attributes));
        }
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
        match self.first_in(entry) {
            Some(secret) => {
                let at = entry.find(secret).unwrap_or(0);
                format!("{}{}", &entry[..at], mask_credential(secret))
            }
            None => entry.to_owned(),
        }
    }
}

/// `text[start..end]` is a token of its own: no letter or digit right before or after it.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let glued = |byte: Option<u8>| byte.is_some_and(|b| b.is_ascii_alphanumeric());
    !glued(text.as_bytes()[..start].last().copied()) && !glued(text.as_bytes().get(end).copied())
}

fn replace_whole(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in text.match_indices(secret) {
        let end = at + secret.len();
        if at < last || !stands_alone(text, at, end) {
            continue;
        }
        out.push_str(&text[last..at]);
        out.push_str(MARK);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

pub fn is_credential_header(name: &str) -> bool {
    CREDENTIAL_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name.trim()))
}

/// `locale=en; sessionid=…` → `locale=[redacted]; sessionid=[redacted]`: which cookies went is
/// evidence (a missing session cookie explains a 403), their values are not shown.
fn mask_cookies(value: &str) -> String {
    value
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{}={MARK}", name.trim()),
            None => MARK.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `sessionid=…; Path=/; HttpOnly` → `sessionid=[redacted]; Path=/; HttpOnly`: the attributes
/// (scope, `Secure`, `SameSite`) say where the cookie goes, and are no secret.
fn mask_set_cookie(pair: &str, attributes: &str) -> String {
    let masked = mask_cookies(pair);
    if attributes.is_empty() {
        masked
    } else {
        format!("{masked};{attributes}")
    }
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
            ("Cookie", "session=abcdefabcdefabcdef", "session=[redacted]"),
            (
                "cookie",
                "locale=en; sessionid=abcdefabcdef; bare",
                "locale=[redacted]; sessionid=[redacted]; [redacted]",
            ),
            (
                "Set-Cookie",
                "sessionid=abcdefabcdef; expires=Thu, 01 Jan 2026 00:00:00 GMT; HttpOnly; Path=/; SameSite=Lax",
                "sessionid=[redacted]; expires=Thu, 01 Jan 2026 00:00:00 GMT; HttpOnly; Path=/; SameSite=Lax",
            ),
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
        let r = Redactor::new(["ab".to_owned(), "wrong".to_owned(), "8080".to_owned()]);
        assert_eq!(r.text("about"), "about");
        assert_eq!(
            r.text("an expired or wrong token on 127.0.0.1:8080"),
            "an expired or wrong token on 127.0.0.1:8080"
        );
    }

    /// One row per kind of text a secret meets: scrubbed where it stands as a token of its
    /// own, left alone where it is only part of a longer word or number.
    #[test]
    fn secrets_are_matched_as_whole_tokens() {
        let r = Redactor::new(["s3cr3t-value".to_owned(), "20261207".to_owned()]);
        let rows: &[(&str, &str)] = &[
            ("token=s3cr3t-value&x=1", "token=[redacted]&x=1"),
            ("{\"key\":\"s3cr3t-value\"}", "{\"key\":\"[redacted]\"}"),
            ("Bearer s3cr3t-value", "Bearer [redacted]"),
            ("jwt.s3cr3t-value", "jwt.[redacted]"),
            ("s3cr3t-value", "[redacted]"),
            ("xs3cr3t-value", "xs3cr3t-value"),
            ("s3cr3t-values", "s3cr3t-values"),
            (
                "build 20261207 at 120261207",
                "build [redacted] at 120261207",
            ),
        ];
        for (text, want) in rows {
            assert_eq!(&r.text(text), want, "{text}");
        }
        let mut learnt = Redactor::default();
        learnt.add("learnt-token-1");
        assert_eq!(
            learnt.text("learnt-token-1 and learnt-token-12"),
            "[redacted] and learnt-token-12"
        );
    }
}
