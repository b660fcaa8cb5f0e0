//! A generic JSON webhook: the notification itself plus `sent_at` (README "Webhook event").
//! With a `secret`, `X-Wsprobe-Signature: sha256=<hex HMAC-SHA256 of the body>` lets the
//! receiver check origin and integrity, and `X-Wsprobe-Timestamp` (also `sent_at`, inside the
//! signed body) lets it refuse replays.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use crate::alert::notifier::{Notifier, HttpRequest, Outgoing};
use crate::alert::notification::Notification;
use crate::config::Secret;
use crate::config::channels::WebhookSettings;

pub const SIGNATURE_HEADER: &str = "X-Wsprobe-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Wsprobe-Timestamp";
pub const EVENT_HEADER: &str = "X-Wsprobe-Event";
/// The notification's `delivery_id`: the same on every retry of one notification.
pub const DELIVERY_HEADER: &str = "X-Wsprobe-Delivery";
/// The event body's shape; bumped only when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

pub struct Webhook {
    pub name: String,
    pub url: Url,
    pub secret: Option<Secret>,
}

pub fn notifier(name: &str, settings: &WebhookSettings) -> Box<dyn Notifier> {
    Box::new(Webhook {
        name: name.to_owned(),
        url: settings.url.clone(),
        secret: settings.secret.clone(),
    })
}

impl Notifier for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn request(&self, notification: &Notification, now: DateTime<Utc>) -> Outgoing {
        let body = body(notification, now).to_string().into_bytes();
        let mut headers = vec![
            (EVENT_HEADER, notification.event.as_str().to_owned()),
            (DELIVERY_HEADER, notification.delivery_id.clone()),
            (TIMESTAMP_HEADER, now.timestamp().to_string()),
        ];
        if let Some(secret) = &self.secret {
            headers.push((SIGNATURE_HEADER, signature(secret.expose(), &body)));
        }
        Outgoing::Http(HttpRequest {
            url: self.url.clone(),
            headers,
            body,
        })
    }
}

/// The JSON event. Pure.
pub fn body(notification: &Notification, now: DateTime<Utc>) -> Value {
    let mut body = json!({ "version": SCHEMA_VERSION });
    if let (Value::Object(body), Value::Object(fields)) = (&mut body, json!(notification)) {
        body.extend(fields);
    }
    body["sent_at"] = json!(crate::wire::format(now));
    body
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::EventName;
    use crate::alert::notification::tests::sample;

    #[test]
    fn signature_matches_rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn body_is_exact() {
        let now = "2026-11-22T22:50:01Z".parse().unwrap();
        let expected = json!({
            "version": 1,
            "delivery_id": "3f0c1c8e-6a51-4c39-9d8e-2f7f4b0c9a11",
            "event": "triggered",
            "environment": "staging",
            "incident": {
                "id": 7,
                "state": "open",
                "started_at": "2026-11-22T22:45:00.000Z",
                "opened_at": "2026-11-22T22:50:00.000Z",
                "resolved_at": null,
                "duration_s": null,
                "verdict": "closed_before_ready",
                "previous_verdict": null,
                "diagnosis": "Closed 1011 \"Internal error\" 63 ms after the upgrade.",
            },
            "result": {
                "started_at": "2026-11-22T22:50:00.123Z",
                "status": "down",
                "verdict": "closed_before_ready",
                "diagnosis": "Closed 1011 \"Internal error\" 63 ms after the upgrade.",
                "location": "us-central1",
                "url": "wss://api.staging.example.com/ws",
                "close_code": 1011,
                "close_reason": "Internal <error> & co",
                "close_after_ms": 63.0,
                "http_status": 101,
                "failed_step": null,
                "version": "rev-4812",
                "phases_ms": { "token": null, "login": null, "health": null, "dns": 0.4, "connect": 1.1, "proxy": null, "tls": null,
                               "upgrade": 3.2, "ready": null, "exchange": null, "close": null, "total": 70.3 },
                "missing_headers": [],
                "error": null,
                "in_maintenance": false,
            },
            "link": "https://status.example.com/environments/staging",
            "sent_at": "2026-11-22T22:50:01.000Z",
        });
        assert_eq!(body(&sample(EventName::Triggered), now), expected);
    }

    #[test]
    fn a_note_event_carries_the_incident_and_the_note() {
        let now = "2026-11-22T23:01:01Z".parse().unwrap();
        let body = body(&crate::alert::notification::tests::sample_note(), now);
        assert_eq!(body["event"], "note");
        assert_eq!(body["result"], Value::Null);
        assert_eq!(body["incident"]["id"], 7);
        assert_eq!(
            body["note"],
            json!({
                "id": 3,
                "incident_id": 7,
                "created_at": "2026-11-22T23:01:00.000Z",
                "status": "identified",
                "message": "The <b>database</b> failed over & @here the pool is reconnecting.",
                "author": "ana",
            })
        );
        let triggered = super::body(&sample(EventName::Triggered), now);
        assert_eq!(triggered.get("note"), None, "other events keep their shape");
    }

    #[test]
    fn signed_only_with_a_secret() {
        let now = "2026-11-22T22:50:01Z".parse().unwrap();
        let n = sample(EventName::Resolved);
        let hook = |secret: Option<&str>| Webhook {
            name: "audit".into(),
            url: Url::parse("http://127.0.0.1:9/hook").unwrap(),
            secret: secret.map(Secret::new),
        };
        let Outgoing::Http(signed) = hook(Some("s3cret")).request(&n, now) else {
            panic!("a webhook is HTTP");
        };
        let header = |name: &str| {
            signed
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header(SIGNATURE_HEADER),
            Some(signature("s3cret", &signed.body))
        );
        assert_eq!(header(TIMESTAMP_HEADER).as_deref(), Some("1795387801"));
        assert_eq!(header(EVENT_HEADER).as_deref(), Some("resolved"));
        assert_eq!(header(DELIVERY_HEADER), Some(n.delivery_id.clone()));
        let Outgoing::Http(unsigned) = hook(None).request(&n, now) else {
            panic!("a webhook is HTTP");
        };
        assert!(
            !unsigned
                .headers
                .iter()
                .any(|(name, _)| *name == SIGNATURE_HEADER)
        );
    }
}
