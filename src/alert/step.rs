//! One alert step's writes: the incident changes, the notifications for the subject's
//! channels and the state after, built from the state machine's events (a result's, or an
//! acknowledgement's). Nothing is written here; the engine hands the result to the
//! dispatcher.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

use super::Hold;
use super::grouping::{Group, GroupMember, Grouper};
use super::notification::{self, EventName, IncidentInfo, Notification, ResultSummary};
use super::unwritten::{IncidentWrite, StepWrite, Unqueued, Unwritten};
use crate::config::{ChannelConfig, Grouping};
use crate::incident::{self, IncidentEvent, Notice, Open};
use crate::oncall::Acknowledgement;
use crate::probe::ProbeResult;
use crate::store::{AlertState, DeliveryState, PendingNotification};

/// What one step is about, and where it started and ended.
pub(super) struct StepInput<'a> {
    pub name: &'a str,
    pub channels: &'a [&'a ChannelConfig],
    pub result: &'a ProbeResult,
    pub hold: Hold,
    pub now: DateTime<Utc>,
    /// `{server.public_url}/environments/{name}`, when set.
    pub link: Option<String>,
    pub before: &'a AlertState,
    pub after: &'a incident::MachineState,
    /// `flapping.window` of the policy: what a flapping incident's sentence counts over.
    pub flap_window: u32,
    /// `alerts.grouping`, when set: triggers wait for their group.
    pub grouping: Option<&'a Grouping>,
}

impl StepInput<'_> {
    /// The diagnosis an incident opened or re-diagnosed now carries: the result's own, said
    /// to be one of many changes when the incident is a flapping one.
    fn diagnosis(&self) -> String {
        match &self.after.open {
            Some(open) if open.flapping => {
                let window = self.after.recent.len.min(self.flap_window);
                format!(
                    "Flapping: {} changed state {} times in its last {window} probes. Latest: {}",
                    self.name,
                    self.after.recent.changes(self.flap_window),
                    self.result.diagnosis
                )
            }
            _ => self.result.diagnosis.clone(),
        }
    }
}

/// The writes of one step whose `events` the state machine produced. Incident ids come from
/// `next_incident_id`, provisional notification ids from `unwritten`.
pub(super) fn step_write(
    input: &StepInput<'_>,
    events: &[IncidentEvent],
    next_incident_id: &AtomicI64,
    unwritten: &parking_lot::Mutex<Unwritten>,
    grouper: &mut Grouper,
) -> StepWrite {
    let mut step = StepWrite {
        env: input.name.to_owned(),
        incidents: Vec::new(),
        notifications: Vec::new(),
        after: AlertState::default(),
    };
    let mut incident_id = input.before.incident_id;
    let mut resolved = None;
    for event in events {
        match event {
            IncidentEvent::Opened => {
                let open = input
                    .after
                    .open
                    .as_ref()
                    .expect("Opened leaves an open incident");
                let id = next_incident_id.fetch_add(1, Ordering::Relaxed);
                incident_id = Some(id);
                step.incidents.push(IncidentWrite::Open {
                    id,
                    open: open.clone(),
                    diagnosis: input.diagnosis(),
                });
                tracing::warn!(verdict = %input.result.verdict, incident = id, "incident opened");
            }
            IncidentEvent::Resolved => {
                if let Some(id) = incident_id {
                    step.incidents
                        .push(IncidentWrite::Resolve { id, at: input.now });
                    // Whether notified or not, the group no longer waits on this member.
                    let sends_at = grouper.sends_at(id);
                    resolved = grouper
                        .resolve(id, input.now)
                        .map(|(group, last)| (group, last, sends_at));
                }
                tracing::info!("incident resolved");
            }
            IncidentEvent::Notify { notice, held } => {
                if let Some(id) = incident_id {
                    let route = Route {
                        id,
                        notice: *notice,
                        held: *held,
                        resolved: resolved.clone(),
                    };
                    notify(input, &route, &mut step, unwritten, grouper);
                }
            }
        }
    }
    step.after = state_after(input, incident_id, events);
    step
}

/// One notice of incident `id`, and what the grouping stage knows of it.
struct Route {
    id: i64,
    notice: Notice,
    held: bool,
    /// Resolved in this step: its group as it stands, whether this was the group's last open
    /// member, and when the group's trigger goes out.
    resolved: Option<(Group, bool, Option<DateTime<Utc>>)>,
}

/// The grouping stage for one notice that is not held: `None` when it is not sent at all (a
/// partial resolve, a reminder another member gives); else its group and when it is due.
fn group_notice(
    input: &StepInput<'_>,
    route: &Route,
    member: GroupMember,
    grouper: &mut Grouper,
) -> Option<(Option<Group>, DateTime<Utc>)> {
    let now = input.now;
    let after_trigger = |at: Option<DateTime<Utc>>| at.map_or(now, |at| at.max(now));
    match route.notice {
        Notice::Triggered => match input.grouping {
            Some(grouping) => {
                let joined = grouper.join(grouping, member, now);
                Some((Some(joined.group), joined.due))
            }
            None => Some((None, now)),
        },
        Notice::Resolved => match &route.resolved {
            Some((_, false, _)) => None,
            Some((group, true, sends_at)) => Some((Some(group.clone()), after_trigger(*sends_at))),
            None => Some((None, now)),
        },
        Notice::Reminder if !grouper.lead(route.id) => None,
        _ => Some((
            grouper.group_of(route.id),
            after_trigger(grouper.sends_at(route.id)),
        )),
    }
}

/// This environment as a member of a group.
fn member(input: &StepInput<'_>, id: i64, open: &Open, diagnosis: &str) -> GroupMember {
    GroupMember {
        environment: input.name.to_owned(),
        incident_id: id,
        state: "open".to_owned(),
        verdict: open.verdict,
        location: input.result.location.clone(),
        started_at: open.since,
        resolved_at: None,
        diagnosis: diagnosis.to_owned(),
    }
}

/// A notice of incident `id`: a verdict change is written to the incident, and one
/// notification queued per channel (held ones recorded, never sent), through the grouping
/// stage.
fn notify(
    input: &StepInput<'_>,
    route: &Route,
    step: &mut StepWrite,
    unwritten: &parking_lot::Mutex<Unwritten>,
    grouper: &mut Grouper,
) {
    let Route {
        id, notice, held, ..
    } = *route;
    let result = input.result;
    // A resolve tells of the incident as it was; every other notice of it as it is now.
    let (open, diagnosis) = match notice {
        Notice::Resolved => (
            input.before.state.open.as_ref(),
            input.before.diagnosis.clone().unwrap_or_default(),
        ),
        _ => (input.after.open.as_ref(), input.diagnosis()),
    };
    let Some(open) = open else { return };
    if let Notice::VerdictChanged { .. } = notice {
        step.incidents.push(IncidentWrite::Verdict {
            id,
            verdict: result.verdict,
            diagnosis: input.diagnosis(),
        });
    }
    let (group, due) = if held {
        (None, input.now)
    } else {
        let member = member(input, id, open, &diagnosis);
        match group_notice(input, route, member, grouper) {
            Some(routed) => routed,
            None => {
                tracing::info!(incident = id, notice = %event_name(notice), "left to the incident's group");
                return;
            }
        }
    };
    let notification = Notification {
        delivery_id: notification::new_delivery_id(),
        event: event_name(notice),
        environment: Some(input.name.to_owned()),
        incident: Some(incident_info(id, open, notice, diagnosis, input.now)),
        result: Some(ResultSummary::of(result, input.hold.maintenance)),
        link: input.link.clone(),
        acknowledgement: None,
        note: None,
        slo_burn: None,
        group,
    };
    let at = Stamp {
        now: input.now,
        due,
    };
    queue(input.channels, at, id, &notification, held, step, unwritten);
    if held {
        log_held(input.hold, &notification);
    }
}

fn log_held(hold: Hold, notification: &Notification) {
    let why = match hold {
        Hold {
            silence: Some(_), ..
        } => "silenced",
        Hold {
            dependency: true, ..
        } => "a failing dependency",
        _ => "maintenance window",
    };
    let silence = hold.silence;
    tracing::info!(event = %notification.event, ?silence, "notification held: {why}");
}

/// When a notification is made, and when it is due (a group's, once its wait ends).
#[derive(Clone, Copy)]
struct Stamp {
    now: DateTime<Utc>,
    due: DateTime<Utc>,
}

/// One outbox row per channel for `notification` of incident `id`, pending or `held`.
fn queue(
    channels: &[&ChannelConfig],
    at: Stamp,
    id: i64,
    notification: &Notification,
    held: bool,
    step: &mut StepWrite,
    unwritten: &parking_lot::Mutex<Unwritten>,
) {
    let delivery = if held {
        DeliveryState::Held
    } else {
        DeliveryState::Pending
    };
    let mut unwritten = unwritten.lock();
    for row in rows(channels, at.now, id, notification) {
        let row = PendingNotification {
            id: unwritten.provisional_id(),
            due_at: at.due,
            ..row
        };
        step.notifications.push(Unqueued {
            row,
            state: delivery,
            finished_at: None,
        });
    }
}

/// What someone acknowledging an open incident changes.
pub(super) struct AckInput<'a> {
    pub name: &'a str,
    pub channels: &'a [&'a ChannelConfig],
    pub ack: &'a Acknowledgement,
    pub now: DateTime<Utc>,
    pub link: Option<String>,
    pub before: &'a AlertState,
    pub after: &'a incident::MachineState,
    /// The incident's group, when it is in one: PagerDuty acknowledges the group's incident.
    pub group: Option<Group>,
    /// When that group's trigger goes out: the acknowledgement not before.
    pub group_sends_at: Option<DateTime<Utc>>,
}

/// The writes of an acknowledgement whose `events` [`incident::acknowledge`] produced: the
/// state after, and an `acknowledged` notification per channel when the incident had been
/// announced.
pub(super) fn acknowledge_write(
    input: &AckInput<'_>,
    events: &[IncidentEvent],
    unwritten: &parking_lot::Mutex<Unwritten>,
) -> StepWrite {
    let mut step = StepWrite {
        env: input.name.to_owned(),
        incidents: Vec::new(),
        notifications: Vec::new(),
        after: AlertState {
            state: input.after.clone(),
            ..input.before.clone()
        },
    };
    let (Some(id), Some(open)) = (input.before.incident_id, input.after.open.as_ref()) else {
        return step;
    };
    for event in events {
        if let IncidentEvent::Notify { notice, held } = *event {
            let diagnosis = input.before.diagnosis.clone().unwrap_or_default();
            let notification = Notification {
                delivery_id: notification::new_delivery_id(),
                event: event_name(notice),
                environment: Some(input.name.to_owned()),
                incident: Some(incident_info(id, open, notice, diagnosis, input.now)),
                result: None,
                link: input.link.clone(),
                acknowledgement: Some(input.ack.clone()),
                note: None,
                slo_burn: None,
                group: input.group.clone(),
            };
            let at = Stamp {
                now: input.now,
                due: input
                    .group_sends_at
                    .map_or(input.now, |at| at.max(input.now)),
            };
            queue(
                input.channels,
                at,
                id,
                &notification,
                held,
                &mut step,
                unwritten,
            );
        }
    }
    step
}

/// One outbox row per channel for `notification` of incident `id`, ids still to give.
pub(super) fn rows(
    channels: &[&ChannelConfig],
    now: DateTime<Utc>,
    id: i64,
    notification: &Notification,
) -> Vec<PendingNotification> {
    // Plain data with string keys: encoding cannot fail.
    let payload =
        serde_json::to_string(notification).expect("a notification always encodes as JSON");
    channels
        .iter()
        .map(|channel| PendingNotification {
            id: 0,
            incident_id: id,
            channel: channel.name.clone(),
            kind: channel.kind.kind().to_owned(),
            event: notification.event.as_str().to_owned(),
            payload: payload.clone(),
            attempts: 0,
            created_at: now,
            due_at: now,
            last_error: None,
        })
        .collect()
}

/// The state to persist after the step: the open incident keeps the diagnosis it was opened
/// (or last re-diagnosed) with.
fn state_after(
    input: &StepInput<'_>,
    incident_id: Option<i64>,
    events: &[IncidentEvent],
) -> AlertState {
    let incident_id = incident_id.filter(|_| input.after.open.is_some());
    let rediagnosed = events.iter().any(|event| {
        matches!(
            event,
            IncidentEvent::Opened
                | IncidentEvent::Notify {
                    notice: Notice::VerdictChanged { .. },
                    ..
                }
        )
    });
    AlertState {
        diagnosis: incident_id.and_then(|_| {
            if rediagnosed {
                Some(input.diagnosis())
            } else {
                input.before.diagnosis.clone()
            }
        }),
        state: input.after.clone(),
        incident_id,
    }
}

pub(super) fn event_name(notice: Notice) -> EventName {
    match notice {
        Notice::Triggered => EventName::Triggered,
        Notice::Reminder => EventName::Reminder,
        Notice::VerdictChanged { .. } => EventName::VerdictChanged,
        Notice::Resolved => EventName::Resolved,
        Notice::Acknowledged => EventName::Acknowledged,
    }
}

pub(super) fn incident_info(
    id: i64,
    open: &Open,
    notice: Notice,
    diagnosis: String,
    now: DateTime<Utc>,
) -> IncidentInfo {
    let resolved = notice == Notice::Resolved;
    IncidentInfo {
        id,
        state: if resolved { "resolved" } else { "open" }.to_owned(),
        started_at: open.since,
        opened_at: open.opened_at,
        resolved_at: resolved.then_some(now),
        duration_s: resolved.then(|| (now - open.since).num_seconds()),
        verdict: open.verdict,
        previous_verdict: match notice {
            Notice::VerdictChanged { from } => Some(from),
            _ => None,
        },
        diagnosis,
    }
}
