//! The one small trait every channel implements. A channel only *describes* what to send: a
//! pure function of the notification, tested against exact JSON. Building channels from the
//! config and sending happen in [`super::delivery`], retrying in [`super::outbox`], once each.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use super::notification::Notification;

pub trait Channel: Send + Sync {
    fn name(&self) -> &str;
    /// `slack`, `pagerduty`, `webhook` or `log`.
    fn kind(&self) -> &'static str;
    /// Least time between two sends: a channel's own rate limit, kept before it answers 429.
    fn min_interval(&self) -> Duration {
        Duration::ZERO
    }
    /// What delivering `notification` at `now` takes. Pure.
    fn request(&self, notification: &Notification, now: DateTime<Utc>) -> Outgoing;
}

pub enum Outgoing {
    Http(HttpRequest),
    /// Delivered by writing this line to the log.
    Log(String),
}

/// A POST with a JSON body.
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
