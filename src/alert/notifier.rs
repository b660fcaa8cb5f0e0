//! The one small trait every channel kind implements ([`super::channels`]). A notifier only
//! *describes* what to send: a pure function of the notification, tested against exact JSON
//! (or, for mail, exact text). Sending happens in [`super::delivery`] (over HTTP, or SMTP in
//! [`super::smtp`]), retrying in [`super::outbox`], once each.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use super::notification::Notification;
pub use super::smtp::MailRequest;

/// One configured channel's way of sending.
pub trait Notifier: Send + Sync {
    /// The channel's name.
    fn name(&self) -> &str;
    /// Least time between two sends: a channel's own rate limit, kept before it answers 429.
    fn min_interval(&self) -> Duration {
        Duration::ZERO
    }
    /// Whether `wsprobe alert test` resolves its test notification right after sending it.
    fn resolves_its_test(&self) -> bool {
        false
    }
    /// The wait an HTTP 429 answer's body asks for, when the service says it there rather
    /// than in `Retry-After` (Discord's and Telegram's `retry_after`). Pure.
    fn retry_hint(&self, _body: &str) -> Option<Duration> {
        None
    }
    /// Whether this kind has anything to send for `notification`: a kind whose service has no
    /// way to say it (PagerDuty and a note on a resolved incident) is not queued at all. Pure.
    fn sends(&self, _notification: &Notification) -> bool {
        true
    }
    /// What delivering `notification` at `now` takes. Pure.
    fn request(&self, notification: &Notification, now: DateTime<Utc>) -> Outgoing;
}

pub enum Outgoing {
    Http(HttpRequest),
    /// A message handed to an SMTP server.
    Mail(MailRequest),
    /// Delivered by writing this line to the log.
    Log(String),
}

/// A POST, with a JSON body unless `headers` set a `Content-Type` of their own.
pub struct HttpRequest {
    /// May itself be a secret (Slack's webhook URL): never logged, never in an error text.
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("url", &"[redacted]")
            .field("headers", &redacted_headers(&self.headers))
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// Headers as `Debug` shows them: `Authorization`'s value (a token, a key) is never shown.
fn redacted_headers(headers: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            if name.eq_ignore_ascii_case("authorization") {
                (*name, "[redacted]".to_owned())
            } else {
                (*name, value.clone())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_url_or_an_authorization() {
        let request = HttpRequest {
            url: Url::parse("https://hooks.example.com/S3CRET").unwrap(),
            headers: vec![
                ("Authorization", "Bearer T0KEN".to_owned()),
                ("Title", "staging is down".to_owned()),
            ],
            body: b"{}".to_vec(),
        };
        let shown = format!("{request:?}");
        assert!(
            !shown.contains("S3CRET") && !shown.contains("T0KEN"),
            "{shown}"
        );
        assert!(shown.contains("staging is down"), "{shown}");
    }
}
