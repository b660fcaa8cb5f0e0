//! From config to delivered bytes: the channels of one config ([`Channels`], each kind's
//! notifier from [`super::channels`]), the one [`Sender`] (HTTP here, SMTP in
//! [`super::smtp`]) and how an answer is classified, and the [`Pacer`] that keeps each
//! channel's rate limit. Retrying lives in the outbox, once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use super::channels::{self, log};
use super::notifier::{Notifier, Outgoing};
use super::smtp;
use crate::config::{self, Config};
use crate::probe::redact::Redactor;

/// How long one delivery may take, connect to last byte.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Response bodies are kept this long in error texts: enough for Slack's `invalid_payload` or
/// PagerDuty's error list.
const ERROR_BODY_CHARS: usize = 300;

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth trying again: 429, 5xx, 408, or no answer at all. `retry_after`: what the
    /// receiver asked for (429/503 `Retry-After`).
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help (other 4xx, a redirect, a bad payload).
    Failed {
        error: String,
    },
}

impl Attempt {
    pub fn error(&self) -> Option<&str> {
        match self {
            Attempt::Delivered => None,
            Attempt::Retry { error, .. } | Attempt::Failed { error } => Some(error),
        }
    }
}

/// The next moment each channel may send again (pacing and `Retry-After`). Kept by the
/// engine across config reloads, which rebuild [`Channels`].
#[derive(Debug, Default)]
pub struct Pacer {
    free_at: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Pacer {
    /// When `channel` may send next, if that is after `now`.
    pub fn busy_until(&self, channel: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let free_at = self.free_at.lock();
        free_at.get(channel).copied().filter(|at| *at > now)
    }

    /// `channel` may not send before `at` (a later reservation already made stays).
    pub fn hold(&self, channel: &str, at: DateTime<Utc>) {
        let mut free_at = self.free_at.lock();
        let entry = free_at.entry(channel.to_owned()).or_insert(at);
        if *entry < at {
            *entry = at;
        }
    }
}

/// Everything the outbox needs to deliver: the channels of one config, the sender, the pacer,
/// and what may never appear in an error text.
pub struct Channels {
    by_name: HashMap<String, Box<dyn Notifier>>,
    pub sender: Sender,
    pub pacer: Arc<Pacer>,
    pub give_up_after: Duration,
    pub redactor: Redactor,
}

impl Channels {
    pub fn new(config: &Config, sender: Sender, pacer: Arc<Pacer>) -> Channels {
        Channels {
            by_name: config
                .alerts
                .channels
                .iter()
                .map(|channel| (channel.name.clone(), channels::notifier(channel)))
                .collect(),
            sender,
            pacer,
            give_up_after: config.alerts.give_up_after,
            redactor: redactor(config),
        }
    }

    /// With a sender of its own ([`SEND_TIMEOUT`]) and a fresh pacer: for tests and one-shot
    /// commands.
    pub fn from_config(config: &Config) -> Result<Channels, String> {
        Ok(Channels::new(
            config,
            Sender::new(SEND_TIMEOUT)?,
            Arc::new(Pacer::default()),
        ))
    }

    pub fn get(&self, name: &str) -> Option<&dyn Notifier> {
        self.by_name.get(name).map(|c| c.as_ref())
    }
}

/// Every configured secret, plus what each channel kind says may hide a key (its URLs).
pub fn redactor(config: &Config) -> Redactor {
    let mut redactor = Redactor::new(config.secret_values());
    for channel in &config.alerts.channels {
        for text in channel.kind.scrubbed() {
            redactor.add(&text);
        }
    }
    redactor
}

/// Sends requests over HTTP(S), and mail over SMTP, with a timeout; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    /// What one attempt may take, connect to last byte, for either.
    timeout: Duration,
}

impl Sender {
    pub fn new(timeout: Duration) -> Result<Sender, String> {
        let tls = crate::probe::tls::client_config(&config::TlsOptions::default())?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .user_agent(concat!("wsprobe/", env!("CARGO_PKG_VERSION")))
            // A webhook that redirects a POST is misconfigured: say so rather than follow.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        Ok(Sender { http, timeout })
    }

    /// One attempt. Error texts are scrubbed of every secret `redactor` knows and never hold
    /// the request URL.
    #[tracing::instrument(skip_all, fields(channel = %channel.name()))]
    pub async fn send(
        &self,
        channel: &dyn Notifier,
        request: Outgoing,
        redactor: &Redactor,
        now: DateTime<Utc>,
    ) -> Attempt {
        let request = match request {
            Outgoing::Log(line) => {
                log::emit(channel.name(), &line);
                return Attempt::Delivered;
            }
            Outgoing::Mail(mail) => return smtp::send(&mail, self.timeout, redactor).await,
            Outgoing::Http(request) => request,
        };
        let mut builder = self.http.post(request.url);
        if !request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        let response = match builder.body(request.body).send().await {
            Ok(response) => response,
            Err(err) => {
                return Attempt::Retry {
                    error: redactor.text(&error_chain(err)),
                    retry_after: None,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, now));
        let body = if response.status().is_success() {
            String::new()
        } else {
            response.text().await.unwrap_or_default()
        };
        // A service that says how long to wait in its body rather than in a header.
        let retry_after = match retry_after {
            None if status == 429 => channel.retry_hint(&body),
            given => given,
        };
        let excerpt = redactor.text(&crate::text::truncate(body.trim(), ERROR_BODY_CHARS));
        classify(status, retry_after, &excerpt)
    }
}

/// What an HTTP answer means for the notification. Pure.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> Attempt {
    let error = || {
        if body.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {body}")
        }
    };
    match status {
        200..=299 => Attempt::Delivered,
        408 | 429 | 500..=599 => Attempt::Retry {
            error: error(),
            retry_after,
        },
        _ => Attempt::Failed { error: error() },
    }
}

/// `Retry-After` as seconds or an HTTP date; a date in the past means now.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or_default())
}

/// A reqwest error with its causes ("connection refused"), and without the URL.
fn error_chain(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // The URL can be the secret (a Slack webhook): never part of the text.
    let err = err.without_url();
    crate::text::with_causes(kind.to_owned(), std::error::Error::source(&err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        let retry = |error: &str, after: Option<u64>| Attempt::Retry {
            error: error.into(),
            retry_after: after.map(Duration::from_secs),
        };
        let failed = |error: &str| Attempt::Failed {
            error: error.into(),
        };
        let cases = [
            (200, None, "", Attempt::Delivered),
            (202, None, "{\"status\":\"success\"}", Attempt::Delivered),
            (204, None, "", Attempt::Delivered),
            (429, Some(1), "", retry("HTTP 429", Some(1))),
            (429, None, "slow down", retry("HTTP 429: slow down", None)),
            (500, None, "", retry("HTTP 500", None)),
            (503, Some(30), "", retry("HTTP 503", Some(30))),
            (408, None, "", retry("HTTP 408", None)),
            (
                400,
                None,
                "invalid_payload",
                failed("HTTP 400: invalid_payload"),
            ),
            (403, None, "", failed("HTTP 403")),
            (404, None, "no_service", failed("HTTP 404: no_service")),
            (302, None, "", failed("HTTP 302")),
        ];
        for (status, after, body, expected) in cases {
            assert_eq!(
                classify(status, after.map(Duration::from_secs), body),
                expected,
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = "2026-11-22T22:50:00Z".parse::<DateTime<Utc>>().unwrap();
        let cases = [
            ("1", Some(1)),
            (" 120 ", Some(120)),
            ("Sun, 22 Nov 2026 22:50:30 GMT", Some(30)),
            ("Sun, 22 Nov 2026 22:49:00 GMT", Some(0)),
            ("soon", None),
            ("-5", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                retry_after(value, now),
                expected.map(Duration::from_secs),
                "{value}"
            );
        }
    }

    #[test]
    fn the_pacer_keeps_the_latest_hold() {
        let now = "2026-11-22T22:50:00Z".parse::<DateTime<Utc>>().unwrap();
        let pacer = Pacer::default();
        assert_eq!(pacer.busy_until("slack", now), None);
        pacer.hold("slack", now + chrono::Duration::seconds(30));
        pacer.hold("slack", now + chrono::Duration::seconds(1));
        assert_eq!(
            pacer.busy_until("slack", now),
            Some(now + chrono::Duration::seconds(30))
        );
        assert_eq!(
            pacer.busy_until("slack", now + chrono::Duration::seconds(30)),
            None
        );
    }
}
