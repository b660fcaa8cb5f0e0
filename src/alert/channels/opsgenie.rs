//! Opsgenie Alert API (and Jira Service Management's Opsgenie-compatible one): every notice of
//! an open incident creates the alert by `alias` (Opsgenie folds repeats into one alert and
//! counts them), `acknowledged` acknowledges it and `resolved` closes it by the same alias,
//! and a note is added to it by the same alias (Opsgenie's "Add Note to Alert", open or
//! closed). `Authorization: GenieKey <key>`, the
//! secret. Fields keep to Opsgenie's limits: `message` 130 characters, `description` 15000,
//! `alias` 512, `entity` 512, 20 tags of 50, `details` 8000 in all.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use url::Url;

use crate::alert::facts;
use crate::alert::notification::{EventName, Notification};
use crate::alert::notifier::{HttpRequest, Notifier, Outgoing};
use crate::config::Secret;
use crate::config::channels::OpsgenieSettings;
use crate::text::truncate;

pub const MESSAGE_MAX: usize = 130;
pub const DESCRIPTION_MAX: usize = 15_000;
pub const ALIAS_MAX: usize = 512;
pub const ENTITY_MAX: usize = 512;
pub const TAG_MAX: usize = 50;
const DETAIL_MAX: usize = 1_000;
/// A note and its user, as "Add Note to Alert" takes them.
const NOTE_MAX: usize = 25_000;
const USER_MAX: usize = 100;

pub struct Opsgenie {
    pub name: String,
    pub api_key: Secret,
    pub priority: String,
    pub api_url: Url,
}

pub fn notifier(name: &str, settings: &OpsgenieSettings) -> Box<dyn Notifier> {
    Box::new(Opsgenie {
        name: name.to_owned(),
        api_key: settings.api_key.clone(),
        priority: settings.priority.clone(),
        api_url: settings.api_url.clone(),
    })
}

impl Notifier for Opsgenie {
    fn name(&self) -> &str {
        &self.name
    }

    /// The test's alert is closed right after: it notifies (at P5) but does not stay open.
    fn resolves_its_test(&self) -> bool {
        true
    }

    fn request(&self, notification: &Notification, _now: DateTime<Utc>) -> Outgoing {
        let alias = alias(notification, &self.name);
        let by_alias = |action| endpoint(&self.api_url, &["v2", "alerts", &alias, action], true);
        let (url, body) = match (notification.event, &notification.note) {
            (EventName::Resolved | EventName::SloBurnResolved, _) => {
                (by_alias("close"), close_payload(notification))
            }
            (EventName::Acknowledged, _) => {
                (by_alias("acknowledge"), acknowledge_payload(notification))
            }
            (_, Some(note)) => (by_alias("notes"), note_payload(note)),
            _ => (
                endpoint(&self.api_url, &["v2", "alerts"], false),
                create_payload(notification, &self.priority, &self.name),
            ),
        };
        Outgoing::Http(HttpRequest {
            url,
            headers: vec![(
                "Authorization",
                format!("GenieKey {}", self.api_key.expose()),
            )],
            body: body.to_string().into_bytes(),
        })
    }
}

/// `api_url` (with any path it has, as Jira Service Management's) plus `segments`, each
/// percent-encoded; `by_alias`: `?identifierType=alias`.
pub fn endpoint(api_url: &Url, segments: &[&str], by_alias: bool) -> Url {
    let mut url = api_url.clone();
    url.set_query(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    if by_alias {
        url.set_query(Some("identifierType=alias"));
    }
    url
}

/// One alias per incident, the same for its creates and its close (one per group for a
/// grouped incident); tests use one per channel, so that the test's close closes the test's
/// alert.
pub fn alias(notification: &Notification, channel: &str) -> String {
    if let Some(group) = &notification.group {
        return truncate(&format!("wsprobe-group-{}", group.key), ALIAS_MAX);
    }
    let alias = match (&notification.incident, &notification.slo_burn) {
        (Some(incident), _) => format!("wsprobe-{}-{}", notification.subject(), incident.id),
        (None, Some(burn)) => format!(
            "wsprobe-{}-slo-{}-{}",
            notification.subject(),
            burn.speed.as_str(),
            burn.id
        ),
        (None, None) => format!("wsprobe-test-{channel}"),
    };
    truncate(&alias, ALIAS_MAX)
}

/// The create request for `notification`. Pure.
pub fn create_payload(notification: &Notification, priority: &str, channel: &str) -> Value {
    let n = notification;
    let message = match n.event {
        EventName::Test => format!("[TEST] {}", n.headline()),
        _ => n.headline(),
    };
    let mut description = facts::plain_lines(n, channel);
    if let Some(link) = &n.link {
        description.push(link.clone());
    }
    let mut details = Map::new();
    let mut tags = vec!["wsprobe".to_owned()];
    if let Some(result) = &n.result {
        for fact in facts::facts(n, result) {
            details.insert(
                fact.label.to_owned(),
                json!(truncate(&fact.value, DETAIL_MAX)),
            );
        }
        if let Some(phases) = facts::phases(result) {
            details.insert("Phases".into(), json!(phases));
        }
        tags.push(truncate(result.verdict.as_str(), TAG_MAX));
        if let Some(location) = &result.location {
            tags.push(truncate(location, TAG_MAX));
        }
    }
    if let Some(incident) = &n.incident {
        details.insert("Incident".into(), json!(incident.id.to_string()));
    }
    if let Some(link) = &n.link {
        details.insert("Status page".into(), json!(link));
    }
    json!({
        "message": truncate(&message, MESSAGE_MAX),
        "alias": alias(n, channel),
        "description": truncate(&description.join("\n"), DESCRIPTION_MAX),
        "entity": truncate(n.subject(), ENTITY_MAX),
        "source": "wsprobe",
        // A test must not wake anyone up.
        "priority": match (n.event, n.slo_burn.as_ref().map(|b| b.speed)) {
            (EventName::Test, _) => "P5",
            // A slow burn is a ticket: below a page whatever the channel's priority.
            (_, Some(crate::slo::burn::Speed::Slow)) => "P3",
            _ => priority,
        },
        "tags": tags,
        "details": details,
    })
}

/// The acknowledge request: who did it (Opsgenie shows `user`), and what they said. Pure.
pub fn acknowledge_payload(notification: &Notification) -> Value {
    let mut note = notification.headline();
    let mut body = json!({ "source": "wsprobe" });
    if let Some(ack) = &notification.acknowledgement {
        body["user"] = json!(truncate(&ack.by, USER_MAX));
        if let Some(comment) = &ack.comment {
            note = format!("{note}: {comment}");
        }
    }
    body["note"] = json!(truncate(&note, NOTE_MAX));
    body
}

/// The "Add Note to Alert" request: the note's text, its author as the `user` (100
/// characters at most, as Opsgenie takes). Pure.
pub fn note_payload(note: &crate::store::NoteRecord) -> Value {
    let mut body = json!({
        "source": "wsprobe",
        "note": truncate(&facts::note_text(note), NOTE_MAX),
    });
    if let Some(author) = &note.author {
        body["user"] = json!(truncate(author, USER_MAX));
    }
    body
}

/// The close request for a resolve. Pure.
pub fn close_payload(notification: &Notification) -> Value {
    json!({
        "source": "wsprobe",
        "note": truncate(&notification.headline(), 25_000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::facts::tests::TRIGGERED_LINES;
    use crate::alert::notification::tests::sample;

    #[test]
    fn create_is_exact() {
        let expected = json!({
            "message": "staging is down: closed_before_ready",
            "alias": "wsprobe-staging-7",
            "description": format!(
                "Closed 1011 \"Internal error\" 63 ms after the upgrade.\n{TRIGGERED_LINES}\n\
                 https://status.example.com/environments/staging"
            ),
            "entity": "staging",
            "source": "wsprobe",
            "priority": "P2",
            "tags": ["wsprobe", "closed_before_ready", "us-central1"],
            "details": {
                "Environment": "staging",
                "Status": "down",
                "Verdict": "closed_before_ready",
                "Close": "1011 Internal <error> & co",
                "HTTP status": "101",
                "Build": "rev-4812",
                "At": "2026-11-22T22:50:00.123Z",
                "Phases": "dns 0.4 ms · connect 1.1 ms · upgrade 3.2 ms · total 70 ms",
                "Incident": "7",
                "Status page": "https://status.example.com/environments/staging"
            }
        });
        assert_eq!(
            create_payload(&sample(EventName::Triggered), "P2", "og"),
            expected
        );
    }

    fn og(api_url: &str) -> Opsgenie {
        Opsgenie {
            name: "og".into(),
            api_key: Secret::new("K"),
            priority: "P1".into(),
            api_url: Url::parse(api_url).unwrap(),
        }
    }

    #[test]
    fn close_is_by_alias_and_exact() {
        let og = og("https://api.eu.opsgenie.com");
        let Outgoing::Http(request) = og.request(&sample(EventName::Resolved), Utc::now()) else {
            panic!("an HTTP request");
        };
        assert_eq!(
            request.url.as_str(),
            "https://api.eu.opsgenie.com/v2/alerts/wsprobe-staging-7/close?identifierType=alias"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&request.body).unwrap(),
            json!({
                "source": "wsprobe",
                "note": "staging recovered after 22m 30s (was closed_before_ready)",
            })
        );
        assert_eq!(request.headers, [("Authorization", "GenieKey K".to_owned())]);
    }

    #[test]
    fn acknowledge_is_by_alias_and_names_who() {
        let og = og("https://api.opsgenie.com");
        let Outgoing::Http(request) = og.request(&sample(EventName::Acknowledged), Utc::now())
        else {
            panic!("an HTTP request");
        };
        assert_eq!(
            request.url.as_str(),
            "https://api.opsgenie.com/v2/alerts/wsprobe-staging-7/acknowledge?identifierType=alias"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&request.body).unwrap(),
            json!({
                "source": "wsprobe",
                "user": "alice",
                "note": "staging: alice acknowledged incident #7 (closed_before_ready): looking into it <b>now</b>",
            })
        );
    }

    #[test]
    fn a_note_is_added_to_the_incident_s_alert_by_alias() {
        let n = crate::alert::notification::tests::sample_note();
        let Outgoing::Http(request) = og("https://api.opsgenie.com").request(&n, Utc::now()) else {
            panic!("an HTTP request");
        };
        assert_eq!(
            request.url.as_str(),
            "https://api.opsgenie.com/v2/alerts/wsprobe-staging-7/notes?identifierType=alias"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&request.body).unwrap(),
            json!({
                "source": "wsprobe",
                "user": "ana",
                "note": "Identified: The <b>database</b> failed over & @here the pool is reconnecting.\n— ana",
            })
        );
    }

    #[test]
    fn a_path_in_api_url_is_kept_and_aliases_are_encoded() {
        let jsm = Url::parse("https://api.atlassian.com/jsm/ops/integration").unwrap();
        assert_eq!(
            endpoint(&jsm, &["v2", "alerts"], false).as_str(),
            "https://api.atlassian.com/jsm/ops/integration/v2/alerts"
        );
        assert_eq!(
            endpoint(&jsm, &["v2", "alerts", "wsprobe-a b/c-1", "close"], true).as_str(),
            "https://api.atlassian.com/jsm/ops/integration/v2/alerts/wsprobe-a%20b%2Fc-1/close?identifierType=alias"
        );
    }

    #[test]
    fn a_test_is_marked_informational_and_closed_by_its_alias() {
        let body = create_payload(&Notification::test(None), "P1", "og");
        assert_eq!(body["priority"], "P5");
        assert_eq!(body["alias"], "wsprobe-test-og");
        assert!(body["message"].as_str().unwrap().starts_with("[TEST] "));
        assert!(og(crate::config::OPSGENIE_API_URL).resolves_its_test());
    }

    #[test]
    fn fields_keep_to_opsgenie_s_limits() {
        let mut n = sample(EventName::Reminder);
        n.result.as_mut().unwrap().diagnosis = "x".repeat(20_000);
        n.environment = Some("e".repeat(600));
        let body = create_payload(&n, "P1", "og");
        let chars = |key: &str| body[key].as_str().unwrap().chars().count();
        assert_eq!(chars("message"), MESSAGE_MAX);
        assert!(body["message"].as_str().unwrap().ends_with('…'));
        assert_eq!(chars("description"), DESCRIPTION_MAX);
        assert!(chars("alias") <= ALIAS_MAX);
        assert!(chars("entity") <= ENTITY_MAX);
        let details: usize = body["details"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| k.chars().count() + v.as_str().unwrap().chars().count())
            .sum();
        assert!(details <= 8000, "{details}");
    }
}
