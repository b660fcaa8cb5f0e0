//! The channel-neutral notification: what the outbox stores (as JSON) and every channel's
//! payload builder reads. It is also, with `sent_at` added, the webhook channel's body, so its
//! shape is public (README "Webhook event").
//!
//! Channel settings (URLs, keys) are not in here: they are read from the config when the
//! notification is sent, so secrets never reach the database and a reload applies to
//! notifications still queued.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::burn::SloBurnInfo;
use super::grouping::Group;
use crate::oncall::Acknowledgement;
use crate::probe::result::Phases;
use crate::probe::{ProbeResult, Status, Verdict};
use crate::store::{IncidentRecord, IncidentState, NoteRecord};
use crate::text::duration_words;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    Triggered,
    Reminder,
    VerdictChanged,
    Resolved,
    /// `wsprobe alert test`: no incident, no result.
    Test,
    /// Someone acknowledged the incident (`POST /api/v1/incidents/{id}/ack`): no result.
    Acknowledged,
    /// A written update on an incident (`POST /api/v1/incidents/{id}/notes`): the incident
    /// and the note, no result.
    Note,
    /// An environment's error budget burns fast or slow ([`crate::slo::burn`]): not an
    /// incident of the environment, a notification of its own, with `slo_burn`.
    SloBurn,
    /// That burn stopped: the short window dropped below the threshold.
    SloBurnResolved,
}

impl EventName {
    pub const ALL: [EventName; 9] = [
        EventName::Triggered,
        EventName::Reminder,
        EventName::VerdictChanged,
        EventName::Resolved,
        EventName::Test,
        EventName::Acknowledged,
        EventName::Note,
        EventName::SloBurn,
        EventName::SloBurnResolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Triggered => "triggered",
            EventName::Reminder => "reminder",
            EventName::VerdictChanged => "verdict_changed",
            EventName::Resolved => "resolved",
            EventName::Test => "test",
            EventName::Acknowledged => "acknowledged",
            EventName::Note => "note",
            EventName::SloBurn => "slo_burn",
            EventName::SloBurnResolved => "slo_burn_resolved",
        }
    }

    pub fn parse(text: &str) -> Option<EventName> {
        EventName::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

impl std::fmt::Display for EventName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Made when the notification is, and stored with it: the same across retries and
    /// restarts, new for a reminder, so a receiver can tell one from the other.
    #[serde(default = "new_delivery_id")]
    pub delivery_id: String,
    pub event: EventName,
    /// `None` only for tests.
    pub environment: Option<String>,
    pub incident: Option<IncidentInfo>,
    /// The result that caused the notice (for `resolved`: the one that resolved it).
    pub result: Option<ResultSummary>,
    /// `{server.public_url}/environments/{name}`, when `public_url` is set.
    pub link: Option<String>,
    /// `acknowledged` only: who acknowledged the incident, when, and what they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledgement: Option<Acknowledgement>,
    /// `note` only: the update written on the incident. Absent from other events' JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<NoteRecord>,
    /// `slo_burn` and `slo_burn_resolved` only: the burn. Absent from other events' JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_burn: Option<SloBurnInfo>,
    /// With `alerts.grouping`: the group the incident is in and its members. The fields
    /// above then tell of the member that led the group (its first). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentInfo {
    pub id: i64,
    /// `open` or `resolved`.
    pub state: String,
    /// The first failing result of the outage.
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    /// The result that crossed `failure_threshold`.
    #[serde(with = "crate::wire::time")]
    pub opened_at: DateTime<Utc>,
    #[serde(with = "crate::wire::time_opt")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Resolved incidents: seconds from `started_at` to `resolved_at`.
    pub duration_s: Option<i64>,
    /// The incident's verdict (for `verdict_changed`, the new one).
    pub verdict: Verdict,
    /// `verdict_changed` only: the verdict notified before.
    pub previous_verdict: Option<Verdict>,
    pub diagnosis: String,
}

impl IncidentInfo {
    /// The incident as the store holds it now (a note tells of it as it stands).
    pub fn of_record(incident: &IncidentRecord) -> IncidentInfo {
        let resolved = incident.state == IncidentState::Resolved;
        IncidentInfo {
            id: incident.id,
            state: incident.state.as_str().to_owned(),
            started_at: incident.started_at,
            opened_at: incident.opened_at,
            resolved_at: incident.resolved_at,
            duration_s: incident
                .resolved_at
                .filter(|_| resolved)
                .map(|at| (at - incident.started_at).num_seconds()),
            verdict: incident.verdict,
            previous_verdict: None,
            diagnosis: incident.diagnosis.clone(),
        }
    }
}

/// The evidence of one result, bounded: what a notification shows. Headers and messages stay
/// on the status page (they can be large); `missing_headers` is what matters in a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultSummary {
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    pub status: Status,
    pub verdict: Verdict,
    pub diagnosis: String,
    pub location: Option<String>,
    /// Without its query string (tokens hide there).
    pub url: String,
    pub close_code: Option<u16>,
    pub close_reason: Option<String>,
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub close_after_ms: Option<f64>,
    pub http_status: Option<u16>,
    pub failed_step: Option<usize>,
    pub version: Option<String>,
    pub phases_ms: Phases,
    pub missing_headers: Vec<String>,
    pub error: Option<String>,
    pub in_maintenance: bool,
}

impl ResultSummary {
    /// `result` is already redacted by the probe.
    pub fn of(result: &ProbeResult, in_maintenance: bool) -> ResultSummary {
        let url = match result.url.split_once('?') {
            Some((base, _)) => format!("{base}?…"),
            None => result.url.clone(),
        };
        ResultSummary {
            started_at: result.started_at,
            status: result.status,
            verdict: result.verdict,
            diagnosis: result.diagnosis.clone(),
            location: result.location.clone(),
            url,
            close_code: result.close_code,
            close_reason: result.close_reason.clone(),
            close_after_ms: result.close_after_ms,
            http_status: result.http_status,
            failed_step: result.failed_step,
            version: result.version.clone(),
            phases_ms: result.phases_ms.clone(),
            missing_headers: result.headers.missing.clone(),
            error: result.error.clone(),
            in_maintenance,
        }
    }
}

/// A random (v4) UUID.
pub fn new_delivery_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Notification {
    /// What `wsprobe alert test` sends.
    pub fn test(link: Option<String>) -> Notification {
        Notification {
            delivery_id: new_delivery_id(),
            event: EventName::Test,
            environment: None,
            incident: None,
            result: None,
            link,
            acknowledgement: None,
            note: None,
            slo_burn: None,
            group: None,
        }
    }

    /// What a note on `incident` sends.
    pub fn note(incident: &IncidentRecord, note: NoteRecord, link: Option<String>) -> Notification {
        Notification {
            delivery_id: new_delivery_id(),
            event: EventName::Note,
            environment: Some(incident.environment.clone()),
            incident: Some(IncidentInfo::of_record(incident)),
            result: None,
            link,
            note: Some(note),
            acknowledgement: None,
            slo_burn: None,
            group: None,
        }
    }

    /// `Some("staging")`, or `"wsprobe"` for tests: the name a message leads with.
    pub fn subject(&self) -> &str {
        self.environment.as_deref().unwrap_or("wsprobe")
    }

    /// The environments a group lists (more than one), in its order.
    pub fn grouped_environments(&self) -> Option<Vec<&str>> {
        let group = self.group.as_ref().filter(|g| g.environments.len() > 1)?;
        Some(
            group
                .environments
                .iter()
                .map(|m| m.environment.as_str())
                .collect(),
        )
    }

    /// Whom the headline names: the subject, or a group's members (`3 environments (a, b,
    /// c)`).
    pub fn who(&self) -> String {
        match self.grouped_environments() {
            Some(names) => format!("{} environments ({})", names.len(), names.join(", ")),
            None => self.subject().to_owned(),
        }
    }

    /// One plain line that says what happened, shared by every channel (Slack's fallback
    /// text, PagerDuty's summary, the log line). No markup.
    pub fn headline(&self) -> String {
        let env = self.who();
        let env = env.as_str();
        let verdict = self
            .incident
            .as_ref()
            .map(|i| i.verdict)
            .or(self.result.as_ref().map(|r| r.verdict));
        let status = self
            .result
            .as_ref()
            .map(|r| r.status.as_str())
            .unwrap_or("down");
        let verdict = verdict.map(Verdict::as_str).unwrap_or("unknown");
        let is = if self.grouped_environments().is_some() {
            "are"
        } else {
            "is"
        };
        match self.event {
            EventName::Triggered => format!("{env} {is} {status}: {verdict}"),
            EventName::Reminder => {
                let since = self
                    .incident
                    .as_ref()
                    .map(|i| format!(" since {}", i.started_at.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_default();
                format!("{env} {is} still {status}{since}: {verdict}")
            }
            EventName::VerdictChanged => {
                let from = self
                    .incident
                    .as_ref()
                    .and_then(|i| i.previous_verdict)
                    .map(Verdict::as_str)
                    .unwrap_or("unknown");
                format!("{env} {is} {status}: verdict changed from {from} to {verdict}")
            }
            EventName::Resolved => {
                let after = self
                    .incident
                    .as_ref()
                    .and_then(|i| i.duration_s)
                    .map(|s| format!(" after {}", duration_words(s)))
                    .unwrap_or_default();
                format!("{env} recovered{after} (was {verdict})")
            }
            EventName::Test => {
                "Test notification from wsprobe: this channel is wired correctly, no action needed"
                    .to_owned()
            }
            EventName::Acknowledged => {
                let id = self.incident.as_ref().map(|i| i.id).unwrap_or_default();
                let by = self
                    .acknowledgement
                    .as_ref()
                    .map_or("someone", |a| a.by.as_str());
                format!("{env}: {by} acknowledged incident #{id} ({verdict})")
            }
            EventName::Note => {
                let incident = self
                    .incident
                    .as_ref()
                    .map(|i| format!(" incident #{}", i.id))
                    .unwrap_or_default();
                let heading = self.note.as_ref().map_or("Update", NoteRecord::heading);
                format!("{env}{incident}: {}", heading.to_lowercase())
            }
            EventName::SloBurn | EventName::SloBurnResolved => self.burn_headline(env),
        }
    }

    /// Short, for titles and subjects; the burn's `summary` is the sentence.
    fn burn_headline(&self, env: &str) -> String {
        match &self.slo_burn {
            Some(b) if self.event == EventName::SloBurn => format!(
                "{env} burns its error budget {} over {} ({} {} burn)",
                b.long_burn_rate
                    .map_or_else(|| "fast".to_owned(), |r| format!("{r:.1}× too fast")),
                b.long_window,
                b.speed.as_str(),
                b.action
            ),
            Some(b) => format!("{env}'s {} SLO burn is over", b.speed.as_str()),
            None => format!("{env}: SLO burn"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The notification the channel payload tests share.
    pub(crate) fn sample(event: EventName) -> Notification {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let resolved = event == EventName::Resolved;
        Notification {
            delivery_id: "3f0c1c8e-6a51-4c39-9d8e-2f7f4b0c9a11".into(),
            event,
            environment: Some("staging".into()),
            incident: Some(IncidentInfo {
                id: 7,
                state: if resolved { "resolved" } else { "open" }.into(),
                started_at: at("2026-11-22T22:45:00Z"),
                opened_at: at("2026-11-22T22:50:00Z"),
                resolved_at: resolved.then(|| at("2026-11-22T23:07:30Z")),
                duration_s: resolved.then_some(1350),
                verdict: Verdict::ClosedBeforeReady,
                previous_verdict: (event == EventName::VerdictChanged)
                    .then_some(Verdict::HeadersStripped),
                diagnosis: "Closed 1011 \"Internal error\" 63 ms after the upgrade.".into(),
            }),
            // An acknowledgement is no result's doing.
            result: (event != EventName::Acknowledged).then(|| ResultSummary {
                started_at: at("2026-11-22T22:50:00.123Z"),
                status: if resolved { Status::Up } else { Status::Down },
                verdict: if resolved {
                    Verdict::Ok
                } else {
                    Verdict::ClosedBeforeReady
                },
                diagnosis: "Closed 1011 \"Internal error\" 63 ms after the upgrade.".into(),
                location: Some("us-central1".into()),
                url: "wss://api.staging.example.com/ws".into(),
                close_code: Some(1011),
                close_reason: Some("Internal <error> & co".into()),
                close_after_ms: Some(63.0),
                http_status: Some(101),
                failed_step: None,
                version: Some("rev-4812".into()),
                phases_ms: Phases {
                    dns: Some(0.4),
                    connect: Some(1.1),
                    upgrade: Some(3.2),
                    total: Some(70.3),
                    ..Phases::default()
                },
                missing_headers: vec![],
                error: None,
                in_maintenance: false,
            }),
            link: Some("https://status.example.com/environments/staging".into()),
            acknowledgement: (event == EventName::Acknowledged).then(|| Acknowledgement {
                by: "alice".into(),
                at: at("2026-11-22T22:55:00Z"),
                comment: Some("looking into it <b>now</b>".into()),
            }),
            note: None,
            slo_burn: None,
            group: None,
        }
    }

    /// The note the channel payload tests share: on the sample's open incident.
    pub(crate) fn sample_note() -> Notification {
        let mut n = sample(EventName::Triggered);
        n.event = EventName::Note;
        n.result = None;
        n.note = Some(NoteRecord {
            id: 3,
            incident_id: 7,
            created_at: "2026-11-22T23:01:00Z".parse().unwrap(),
            status: Some(crate::store::NoteStatus::Identified),
            message: "The <b>database</b> failed over & @here the pool is reconnecting.".into(),
            author: Some("ana".into()),
        });
        n
    }

    #[test]
    fn headlines() {
        let cases = [
            (EventName::Triggered, "staging is down: closed_before_ready"),
            (
                EventName::Reminder,
                "staging is still down since 2026-11-22 22:45 UTC: closed_before_ready",
            ),
            (
                EventName::VerdictChanged,
                "staging is down: verdict changed from headers_stripped to closed_before_ready",
            ),
            (
                EventName::Resolved,
                "staging recovered after 22m 30s (was closed_before_ready)",
            ),
            (
                EventName::Acknowledged,
                "staging: alice acknowledged incident #7 (closed_before_ready)",
            ),
        ];
        assert_eq!(sample_note().headline(), "staging incident #7: identified");
        for (event, expected) in cases {
            assert_eq!(sample(event).headline(), expected);
        }
    }

    #[test]
    fn event_names_round_trip() {
        for event in EventName::ALL {
            assert_eq!(EventName::parse(event.as_str()), Some(event));
            assert_eq!(
                serde_json::to_value(event).unwrap(),
                serde_json::json!(event.as_str())
            );
        }
    }
}
