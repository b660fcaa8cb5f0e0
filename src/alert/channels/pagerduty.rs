//! PagerDuty Events API v2: `trigger` for every notice of an open incident (PagerDuty folds
//! them into one alert by `dedup_key`), `acknowledge` and `resolve` with the same key. The
//! routing key is the secret; it lives in the body, so the body is built at send time and
//! never stored.
//!
//! The Events API has no "update" action. A note on an open incident is a `trigger` with the
//! incident's key: PagerDuty appends it to the open alert's log (no new incident, no new
//! page), with the note in `custom_details`. A note on a resolved incident is not sent: a
//! trigger would open a new PagerDuty incident, and a change event (`/v2/change/enqueue`)
//! belongs to the service's timeline of deploys, not to the incident.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use url::Url;

use crate::alert::notifier::{Notifier, HttpRequest, Outgoing};
use crate::alert::notification::{EventName, Notification};
use crate::config::Secret;
use crate::config::channels::PagerDutySettings;
use crate::text::truncate;

/// PagerDuty's limit on `payload.summary`.
const SUMMARY_MAX: usize = 1024;

pub struct PagerDuty {
    pub name: String,
    pub routing_key: Secret,
    pub severity: String,
    pub events_url: Url,
}

pub fn notifier(name: &str, settings: &PagerDutySettings) -> Box<dyn Notifier> {
    Box::new(PagerDuty {
        name: name.to_owned(),
        routing_key: settings.routing_key.clone(),
        severity: settings.severity.clone(),
        events_url: settings.events_url.clone(),
    })
}

impl Notifier for PagerDuty {
    fn name(&self) -> &str {
        &self.name
    }

    /// The test's alert is resolved right after: it pages (at `info`) but does not stay open.
    fn resolves_its_test(&self) -> bool {
        true
    }

    fn sends(&self, notification: &Notification) -> bool {
        notification.event != EventName::Note
            || notification
                .incident
                .as_ref()
                .is_some_and(|incident| incident.state == "open")
    }

    fn request(&self, notification: &Notification, now: DateTime<Utc>) -> Outgoing {
        let body = payload(
            notification,
            self.routing_key.expose(),
            &self.severity,
            &self.name,
            now,
        );
        Outgoing::Http(HttpRequest {
            url: self.events_url.clone(),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        })
    }
}

/// One key per incident, the same for its trigger, reminders and resolve; one per group for a
/// grouped incident (`alerts.grouping`), so the group is one PagerDuty incident. Tests use
/// one key per channel, so that the test's resolve closes the test's trigger.
pub fn dedup_key(notification: &Notification, channel: &str) -> String {
    if let Some(group) = &notification.group {
        return format!("wsprobe-group-{}", group.key);
    }
    match (&notification.incident, &notification.slo_burn) {
        (Some(incident), _) => format!("wsprobe-{}-{}", notification.subject(), incident.id),
        (None, Some(burn)) => format!(
            "wsprobe-{}-slo-{}-{}",
            notification.subject(),
            burn.speed.as_str(),
            burn.id
        ),
        (None, None) => format!("wsprobe-test-{channel}"),
    }
}

/// The event for `notification`; `now` stamps events without a result (tests). Pure.
pub fn payload(
    notification: &Notification,
    routing_key: &str,
    severity: &str,
    channel: &str,
    now: DateTime<Utc>,
) -> Value {
    let n = notification;
    let dedup_key = dedup_key(n, channel);
    // An acknowledged alert stays quiet until it resolves, even through new triggers.
    let action = match n.event {
        EventName::Resolved | EventName::SloBurnResolved => Some("resolve"),
        EventName::Acknowledged => Some("acknowledge"),
        _ => None,
    };
    if let Some(action) = action {
        return json!({
            "routing_key": routing_key,
            "event_action": action,
            "dedup_key": dedup_key,
        });
    }
    let summary = match (&n.result, &n.note) {
        (Some(result), _) => format!("{} — {}", n.headline(), result.diagnosis),
        (None, Some(note)) => format!("{} — {}", n.headline(), note.message),
        (None, None) => match &n.slo_burn {
            Some(burn) => format!("{} — {}", n.headline(), burn.summary),
            None => format!("[TEST] {}", n.headline()),
        },
    };
    let source = n
        .result
        .as_ref()
        .and_then(|r| Url::parse(&r.url).ok())
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| "wsprobe".to_owned());
    let timestamp = crate::wire::format(n.result.as_ref().map_or(now, |r| r.started_at));
    let mut inner = json!({
        "summary": truncate(&summary, SUMMARY_MAX),
        "source": source,
        // A test must not wake anyone up.
        "severity": match (n.event, &n.slo_burn) {
            (EventName::Test, _) => "info",
            // The burn says how urgent it is: a fast one pages, a slow one is a warning.
            (_, Some(burn)) => burn.severity.as_str(),
            _ => severity,
        },
        "component": n.subject(),
        "timestamp": timestamp,
        "custom_details": custom_details(n),
    });
    if let Some(result) = &n.result {
        inner["class"] = json!(result.verdict);
        if let Some(location) = &result.location {
            inner["group"] = json!(location);
        }
    }
    let links: Vec<Value> = n
        .link
        .iter()
        .map(|href| json!({ "href": href, "text": format!("{} on the wsprobe status page", n.subject()) }))
        .collect();
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": inner,
        "links": links,
        "client": "wsprobe",
    });
    // PagerDuty shows `client` as a link to `client_url` ("View in wsprobe").
    if let Some(link) = &n.link {
        event["client_url"] = json!(link);
    }
    event
}

/// What the alert carries beside its summary: the event, and the incident, result and note
/// the notification has.
fn custom_details(n: &Notification) -> serde_json::Map<String, Value> {
    let mut details = serde_json::Map::new();
    details.insert("event".into(), json!(n.event));
    if let Some(incident) = &n.incident {
        details.insert("incident".into(), json!(incident));
    }
    if let Some(result) = &n.result {
        details.insert("result".into(), json!(result));
    }
    if let Some(note) = &n.note {
        details.insert("note".into(), json!(note));
    }
    if let Some(burn) = &n.slo_burn {
        details.insert("slo_burn".into(), json!(burn));
    }
    if let Some(group) = &n.group {
        details.insert("group".into(), json!(group));
    }
    details
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::tests::sample;

    fn now() -> DateTime<Utc> {
        "2026-11-22T23:00:00Z".parse().unwrap()
    }

    #[test]
    fn trigger_is_exact() {
        let n = sample(EventName::Triggered);
        let expected = json!({
            "routing_key": "R0UT1NGKEY",
            "event_action": "trigger",
            "dedup_key": "wsprobe-staging-7",
            "payload": {
                "summary": "staging is down: closed_before_ready — Closed 1011 \"Internal error\" 63 ms after the upgrade.",
                "source": "api.staging.example.com",
                "severity": "critical",
                "component": "staging",
                "group": "us-central1",
                "class": "closed_before_ready",
                "timestamp": "2026-11-22T22:50:00.123Z",
                "custom_details": {
                    "event": "triggered",
                    "incident": serde_json::to_value(n.incident.as_ref().unwrap()).unwrap(),
                    "result": serde_json::to_value(n.result.as_ref().unwrap()).unwrap(),
                },
            },
            "links": [ { "href": "https://status.example.com/environments/staging", "text": "staging on the wsprobe status page" } ],
            "client": "wsprobe",
            "client_url": "https://status.example.com/environments/staging",
        });
        assert_eq!(
            payload(&n, "R0UT1NGKEY", "critical", "oncall", now()),
            expected
        );
        assert_eq!(
            expected["payload"]["custom_details"]["result"]["close_code"], 1011,
            "the evidence travels with the page"
        );
    }

    #[test]
    fn resolve_carries_the_same_key_and_nothing_else() {
        let expected = json!({
            "routing_key": "R0UT1NGKEY",
            "event_action": "resolve",
            "dedup_key": "wsprobe-staging-7",
        });
        assert_eq!(
            payload(
                &sample(EventName::Resolved),
                "R0UT1NGKEY",
                "critical",
                "oncall",
                now()
            ),
            expected
        );
    }

    #[test]
    fn acknowledge_carries_the_same_key_and_nothing_else() {
        let expected = json!({
            "routing_key": "R0UT1NGKEY",
            "event_action": "acknowledge",
            "dedup_key": "wsprobe-staging-7",
        });
        let n = sample(EventName::Acknowledged);
        assert_eq!(
            payload(&n, "R0UT1NGKEY", "critical", "oncall", now()),
            expected
        );
    }

    #[test]
    fn a_note_joins_the_open_alert_s_log_and_is_not_sent_once_resolved() {
        let n = crate::alert::notification::tests::sample_note();
        let body = payload(&n, "R0UT1NGKEY", "critical", "oncall", now());
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "wsprobe-staging-7", "the incident's own alert");
        assert_eq!(
            body["payload"]["summary"],
            "staging incident #7: identified — The <b>database</b> failed over & @here the pool is reconnecting."
        );
        assert_eq!(body["payload"]["custom_details"]["event"], "note");
        assert_eq!(body["payload"]["custom_details"]["note"]["author"], "ana");
        assert_eq!(body["payload"]["timestamp"], "2026-11-22T23:00:00.000Z");
        let pd = PagerDuty {
            name: "oncall".into(),
            routing_key: Secret::new("R0UT1NGKEY"),
            severity: "critical".into(),
            events_url: Url::parse("https://events.pagerduty.com/v2/enqueue").unwrap(),
        };
        assert!(pd.sends(&n));
        let mut resolved = n.clone();
        resolved.incident.as_mut().unwrap().state = "resolved".into();
        assert!(!pd.sends(&resolved), "a trigger would open a new incident");
        assert!(pd.sends(&sample(EventName::Resolved)));
    }

    #[test]
    fn summaries_are_cut_to_1024_characters() {
        let mut n = sample(EventName::Reminder);
        n.result.as_mut().unwrap().diagnosis = "x".repeat(5000);
        let body = payload(&n, "k", "warning", "oncall", now());
        let summary = body["payload"]["summary"].as_str().unwrap();
        assert_eq!(summary.chars().count(), 1024);
        assert!(summary.ends_with('…'));
        assert_eq!(body["payload"]["severity"], "warning");
        assert_eq!(body["event_action"], "trigger");
    }

    #[test]
    fn a_test_is_marked_and_informational() {
        let body = payload(&Notification::test(None), "k", "critical", "oncall", now());
        assert_eq!(body["dedup_key"], "wsprobe-test-oncall");
        assert_eq!(body["payload"]["severity"], "info");
        assert!(
            body["payload"]["summary"]
                .as_str()
                .unwrap()
                .starts_with("[TEST] ")
        );
        let mut resolve = Notification::test(None);
        resolve.event = EventName::Resolved;
        assert_eq!(
            payload(&resolve, "k", "critical", "oncall", now())["dedup_key"],
            "wsprobe-test-oncall"
        );
    }
}
