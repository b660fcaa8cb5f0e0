//! Incidents paged by a fleet instance while the shared store was away
//! (`crate::fleet::away`), taken in by the evaluator's engine under the id they were paged
//! with: the notices already sent are recorded as delivered, never sent again.

use chrono::{DateTime, Utc};

use super::Alerts;
use super::notification::Notification;
use super::step;
use super::unwritten::{IncidentWrite, StepWrite, Unqueued};
use crate::config::ChannelConfig;
use crate::incident::Open;
use crate::store::DeliveryState;

/// One incident paged without the store.
pub struct Adopted<'a> {
    pub name: &'a str,
    pub id: i64,
    pub open: Open,
    pub diagnosis: &'a str,
    pub channels: &'a [&'a ChannelConfig],
    /// The notifications already sent, and when: its `triggered`, and `resolved` if it was.
    pub sent: Vec<(Notification, DateTime<Utc>)>,
}

impl Alerts {
    /// Hold `adopted` open as the subject's incident, as if this engine had opened and
    /// announced it: its later notices (a resolve, reminders) go out once, from here, under
    /// its id. The caller makes sure no other incident of the subject is open. For a fleet's
    /// evaluator, whose environments follow their locations with a threshold of one.
    pub fn adopt(&self, adopted: &Adopted<'_>) {
        let mut states = self.states.lock();
        let mut after = states.get(adopted.name).cloned().unwrap_or_default();
        after.state.failures = 1;
        after.state.successes = 0;
        after.state.failing_since = Some(adopted.open.since);
        after.state.open = Some(adopted.open.clone());
        after.incident_id = Some(adopted.id);
        after.diagnosis = Some(adopted.diagnosis.to_owned());
        let step = StepWrite {
            env: adopted.name.to_owned(),
            incidents: vec![opened(adopted)],
            notifications: self.sent_rows(adopted),
            after: after.clone(),
        };
        states.insert(adopted.name.to_owned(), after);
        self.open.set(adopted.name, Some(adopted.id));
        self.unwritten.lock().push(step);
        drop(states);
        self.wake.notify_one();
    }

    /// Keep `adopted`, over by `resolved_at`, in the history without touching the subject's
    /// state. `resolve`: a resolve to send now, for a page that would otherwise stay open
    /// (the outage it told of is another incident's).
    pub fn record_adopted(
        &self,
        adopted: &Adopted<'_>,
        resolved_at: DateTime<Utc>,
        resolve: Option<&Notification>,
    ) {
        let states = self.states.lock();
        let after = states.get(adopted.name).cloned().unwrap_or_default();
        let mut notifications = self.sent_rows(adopted);
        if let Some(resolve) = resolve {
            let mut unwritten = self.unwritten.lock();
            for row in step::rows(adopted.channels, resolved_at, adopted.id, resolve) {
                notifications.push(Unqueued {
                    row: crate::store::PendingNotification {
                        id: unwritten.provisional_id(),
                        ..row
                    },
                    state: DeliveryState::Pending,
                    finished_at: None,
                });
            }
        }
        let step = StepWrite {
            env: adopted.name.to_owned(),
            incidents: vec![
                opened(adopted),
                IncidentWrite::Resolve {
                    id: adopted.id,
                    at: resolved_at,
                },
            ],
            notifications,
            after,
        };
        self.unwritten.lock().push(step);
        drop(states);
        self.wake.notify_one();
    }

    /// Attempts made without the store (a fleet instance paging while its database is away):
    /// logged and counted (`wsprobe.notifications`) as the dispatcher's are.
    pub fn sent_without_store(&self, report: &super::DeliveryReport) {
        self.reported(report);
    }

    /// One outbox row per channel and notice sent, delivered when it was.
    fn sent_rows(&self, adopted: &Adopted<'_>) -> Vec<Unqueued> {
        let mut unwritten = self.unwritten.lock();
        let mut rows = Vec::new();
        for (notification, at) in &adopted.sent {
            for row in step::rows(adopted.channels, *at, adopted.id, notification) {
                rows.push(Unqueued {
                    row: crate::store::PendingNotification {
                        id: unwritten.provisional_id(),
                        attempts: 1,
                        ..row
                    },
                    state: DeliveryState::Delivered,
                    finished_at: Some(*at),
                });
            }
        }
        rows
    }
}

fn opened(adopted: &Adopted<'_>) -> IncidentWrite {
    IncidentWrite::Open {
        id: adopted.id,
        open: adopted.open.clone(),
        diagnosis: adopted.diagnosis.to_owned(),
    }
}

/// The notification of `page`, sent without the store: the incident under its derived id,
/// the `delivery_id` every instance sending the same notice derives alike.
pub fn away_notification(
    page: &crate::fleet::away::Page,
    result: &crate::probe::ProbeResult,
    in_maintenance: bool,
    link: Option<String>,
    now: DateTime<Utc>,
) -> Notification {
    use crate::fleet::away::Page;
    use crate::incident::Notice;
    let (notice, local) = match page {
        Page::Triggered(local) => (Notice::Triggered, local),
        Page::Resolved(local) => (Notice::Resolved, local),
    };
    let event = step::event_name(notice);
    let at = local.resolved_at.unwrap_or(now);
    Notification {
        delivery_id: crate::fleet::away::delivery_id(&local.environment, local.id, event.as_str()),
        event,
        environment: Some(local.environment.clone()),
        incident: Some(step::incident_info(
            local.id,
            &local.open,
            notice,
            local.diagnosis.clone(),
            at,
        )),
        result: Some(super::notification::ResultSummary::of(
            result,
            in_maintenance,
        )),
        link,
        acknowledgement: None,
        note: None,
        // `alerts.grouping` waits in the outbox, which is in the database: each page made
        // without it goes alone.
        group: None,
        slo_burn: None,
    }
}

/// The resolve of a page whose outage another incident (`into`) holds: it closes the page
/// (PagerDuty's alert of its `dedup_key`) and says where the outage went on.
pub fn merged_resolve(triggered: &Notification, into: i64, now: DateTime<Utc>) -> Notification {
    let mut resolve = triggered.clone();
    resolve.event = super::EventName::Resolved;
    if let (Some(env), Some(incident)) = (&triggered.environment, &mut resolve.incident) {
        resolve.delivery_id = crate::fleet::away::delivery_id(env, incident.id, "resolved");
        incident.state = "resolved".to_owned();
        incident.resolved_at = Some(now);
        incident.duration_s = Some((now - incident.started_at).num_seconds());
        incident.diagnosis = format!(
            "{} The outage goes on as incident {into}.",
            incident.diagnosis
        );
    }
    resolve.result = None;
    resolve
}

/// The outbox rows of `notification` of incident `id`, one per channel (ids still to give):
/// what a page sent without the store goes through [`super::outbox::attempt`] as.
pub fn away_rows(
    channels: &[&ChannelConfig],
    now: DateTime<Utc>,
    id: i64,
    notification: &Notification,
) -> Vec<crate::store::PendingNotification> {
    step::rows(channels, now, id, notification)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Subject;
    use crate::fleet::away::{self, LocalIncident, Page};
    use crate::incident::IncidentEvent;
    use crate::probe::{ProbeResult, Status, Verdict};
    use crate::store::Store;

    const YAML: &str = "environments:\n  - { name: api, url: \"ws://127.0.0.1:9/ws\" }\nalerts:\n  channels:\n    - { name: hook, kind: webhook, url: \"http://127.0.0.1:9/hook\" }\n";

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn paged(id: i64) -> (LocalIncident, Notification) {
        let result = ProbeResult::note(
            "api",
            at(12),
            Status::Down,
            Verdict::ConnectRefused,
            "Nothing listens.".into(),
        );
        let local = LocalIncident {
            id,
            environment: "api".into(),
            location: "eu-west".into(),
            open: Open {
                since: at(10),
                opened_at: at(12),
                verdict: Verdict::ConnectRefused,
                last_notice_at: at(12),
                announced: true,
                acknowledged: false,
                flapping: false,
            },
            diagnosis: away::away_sentence("eu-west", at(0)),
            resolved_at: None,
        };
        let notification = away_notification(
            &Page::Triggered(local.clone()),
            &result,
            false,
            None,
            at(12),
        );
        (local, notification)
    }

    async fn engine() -> (tempfile::TempDir, crate::config::Config, Store, Alerts) {
        let dir = tempfile::tempdir().unwrap();
        let config =
            crate::config::load_str(&dir.path().join("probes.yaml"), YAML, &|_| None).unwrap();
        let store = Store::open(&dir.path().join("wsprobe.db")).await.unwrap();
        let alerts = Alerts::new(store.alerts()).await.unwrap();
        (dir, config, store, alerts)
    }

    fn step(
        alerts: &Alerts,
        config: &crate::config::Config,
        status: Status,
        s: i64,
    ) -> Vec<IncidentEvent> {
        let verdict = if status == Status::Down {
            Verdict::ConnectRefused
        } else {
            Verdict::Ok
        };
        let result = ProbeResult::note("api", at(s), status, verdict, "seen".into());
        let subject = Subject {
            name: "api",
            policy: crate::config::AlertPolicy {
                failure_threshold: 1,
                success_threshold: 1,
                ..crate::config::AlertPolicy::default()
            },
            channels: config.alerts.channels.iter().collect(),
        };
        alerts.observe_subject(
            config,
            subject,
            &result,
            super::super::Hold::default(),
            at(s),
        )
    }

    #[tokio::test]
    async fn an_adopted_incident_is_never_triggered_again_and_resolves_once_under_its_id() {
        let (_dir, config, store, alerts) = engine().await;
        let id = away::local_incident_id("api", at(10));
        let (local, triggered) = paged(id);
        let channels: Vec<&ChannelConfig> = config.alerts.channels.iter().collect();
        alerts.adopt(&Adopted {
            name: "api",
            id,
            open: local.open.clone(),
            diagnosis: &local.diagnosis,
            channels: &channels,
            sent: vec![(triggered.clone(), at(12))],
        });
        alerts.flush().await.unwrap();
        assert_eq!(alerts.open_incident("api"), Some(id));
        // Still failing: no second trigger, nothing due.
        let events = step(&alerts, &config, Status::Down, 20);
        assert!(
            !events.iter().any(|e| matches!(e, IncidentEvent::Opened)),
            "{events:?}"
        );
        alerts.flush().await.unwrap();
        let due = store
            .alerts()
            .due_notifications(at(3600), 100)
            .await
            .unwrap();
        assert!(due.is_empty(), "the trigger went out already: {due:?}");
        // Healthy: one resolve, under the same id.
        step(&alerts, &config, Status::Up, 22);
        alerts.flush().await.unwrap();
        let due = store
            .alerts()
            .due_notifications(at(3600), 100)
            .await
            .unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(
            (due[0].incident_id, due[0].event.as_str()),
            (id, "resolved")
        );
        let incident = store.alerts().incident(id).await.unwrap().unwrap();
        assert_eq!(incident.resolved_at, Some(at(22)));
        // The ids handed out in order go on below the derived ones.
        let next = store.alerts().next_incident_id().await.unwrap();
        assert_eq!(next, 1);
    }

    #[tokio::test]
    async fn a_duplicate_page_is_kept_and_closed_with_its_own_resolve() {
        let (_dir, config, store, alerts) = engine().await;
        // The engine already pages the outage as incident 1.
        step(&alerts, &config, Status::Down, 12);
        alerts.flush().await.unwrap();
        let id = away::local_incident_id("api", at(10));
        let (local, triggered) = paged(id);
        let channels: Vec<&ChannelConfig> = config.alerts.channels.iter().collect();
        let adopted = Adopted {
            name: "api",
            id,
            open: local.open.clone(),
            diagnosis: &local.diagnosis,
            channels: &channels,
            sent: vec![(triggered.clone(), at(12))],
        };
        let resolve = merged_resolve(&triggered, 1, at(30));
        alerts.record_adopted(&adopted, at(30), Some(&resolve));
        alerts.flush().await.unwrap();
        assert_eq!(
            alerts.open_incident("api"),
            Some(1),
            "the engine's own stays"
        );
        let due = store
            .alerts()
            .due_notifications(at(3600), 100)
            .await
            .unwrap();
        let mut events: Vec<(i64, String)> = due
            .iter()
            .map(|n| (n.incident_id, n.event.clone()))
            .collect();
        events.sort();
        assert_eq!(
            events,
            [(1, "triggered".to_owned()), (id, "resolved".to_owned())]
        );
        let sent: Notification =
            serde_json::from_str(&due.iter().find(|n| n.incident_id == id).unwrap().payload)
                .unwrap();
        assert_eq!(sent.delivery_id, away::delivery_id("api", id, "resolved"));
        assert!(
            sent.incident
                .unwrap()
                .diagnosis
                .ends_with("The outage goes on as incident 1."),
        );
    }
}
