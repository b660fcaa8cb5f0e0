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
