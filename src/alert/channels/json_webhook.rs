//! A chat service's incoming webhook: a JSON body POSTed to a URL that is itself the secret.
//! Slack, Teams, Google Chat, Discord and Mattermost are each one of these with a payload of
//! their own, so a kind's file holds what differs (its payload, its limits) and not the
//! request around it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::alert::notification::Notification;
use crate::alert::notifier::{HttpRequest, Notifier, Outgoing};
use crate::config::Secret;

/// The body for a notification; the channel's name (test messages say it) and the time of
/// sending are given. Pure.
pub type Payload = Box<dyn Fn(&Notification, &str, DateTime<Utc>) -> Value + Send + Sync>;

pub struct JsonWebhook {
    /// The `kind:` value, for the one message a URL that does not parse would get.
    pub kind: &'static str,
    pub name: String,
    pub url: Secret,
    /// The service's own pace, kept before it answers 429.
    pub min_interval: Duration,
    /// Set when the service wants more than `application/json`.
    pub content_type: Option<&'static str>,
    pub payload: Payload,
    /// The wait a 429's body asks for, where the service says it there.
    pub retry_hint: fn(&str) -> Option<Duration>,
}

impl JsonWebhook {
    /// A webhook of `kind` with no pace, content type or retry hint of its own.
    pub fn new(kind: &'static str, name: &str, url: &Secret, payload: Payload) -> JsonWebhook {
        JsonWebhook {
            kind,
            name: name.to_owned(),
            url: url.clone(),
            min_interval: Duration::ZERO,
            content_type: None,
            payload,
            retry_hint: |_| None,
        }
    }

    /// The same, for a payload that needs only the notification and the channel's name.
    pub fn of(
        kind: &'static str,
        name: &str,
        url: &Secret,
        payload: fn(&Notification, &str) -> Value,
    ) -> JsonWebhook {
        Self::new(
            kind,
            name,
            url,
            Box::new(move |n, channel, _| payload(n, channel)),
        )
    }

    /// At most one message per `interval`: the service's own pace.
    pub fn paced(self, interval: Duration) -> JsonWebhook {
        JsonWebhook {
            min_interval: interval,
            ..self
        }
    }
}

impl Notifier for JsonWebhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn min_interval(&self) -> Duration {
        self.min_interval
    }

    fn retry_hint(&self, body: &str) -> Option<Duration> {
        (self.retry_hint)(body)
    }

    fn request(&self, notification: &Notification, now: DateTime<Utc>) -> Outgoing {
        let body = (self.payload)(notification, &self.name, now);
        match url::Url::parse(self.url.expose()) {
            Ok(url) => Outgoing::Http(HttpRequest {
                url,
                headers: self
                    .content_type
                    .map(|value| vec![("Content-Type", value.to_owned())])
                    .unwrap_or_default(),
                body: body.to_string().into_bytes(),
            }),
            // Validated at load; unreachable, but a log line beats a panic.
            Err(_) => Outgoing::Log(format!(
                "{} channel {}: the webhook URL does not parse",
                self.kind, self.name
            )),
        }
    }
}
