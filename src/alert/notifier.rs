//! The one small trait every channel kind implements ([`super::channels`]). A notifier only
//! *describes* what to send: a pure function of the notification, tested against exact JSON.
//! Sending happens in [`super::delivery`], retrying in [`super::outbox`], once each.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use super::notification::Notification;

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
    /// The wait a 429 answer's body asks for, when the service says it there rather than in
    /// `Retry-After` (Discord's and Telegram's `retry_after`). Pure.
    fn retry_hint(&self, _body: &str) -> Option<Duration> {
        None
    }
    /// What delivering `notification` at `now` takes. Pure.
    fn request(&self, notification: &Notification, now: DateTime<Utc>) -> Outgoing;
}

pub enum Outgoing {
    Http(HttpRequest),
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
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}
