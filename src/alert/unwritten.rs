//! Alert work the store has not taken yet. Every step's writes (incident changes, queued
//! notifications, the new state) wait here: the engine advances in memory at once, and the
//! dispatcher writes them, in order, whenever the store takes writes. While it does not, the
//! notifications of unwritten steps are sent from here and written later with their outcome,
//! so an alert never waits on the disk and is never sent twice because of it.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use super::outbox::Recorded;
use crate::incident::Open;
use crate::probe::Verdict;
use crate::store::{AlertState, DeliveryState, PendingNotification};

/// An incident change, in the order the step made it.
#[derive(Debug, Clone)]
pub enum IncidentWrite {
    Open {
        id: i64,
        open: Open,
        diagnosis: String,
    },
    Verdict {
        id: i64,
        verdict: Verdict,
        diagnosis: String,
    },
    Resolve {
        id: i64,
        at: DateTime<Utc>,
    },
}

/// A notification the store has not taken: `row.id` is provisional (negative) until then.
#[derive(Debug, Clone)]
pub struct Unqueued {
    pub row: PendingNotification,
    pub state: DeliveryState,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Unqueued {
    /// The copy in memory, as the outbox row would be after [`Recorded::write`].
    pub fn apply(&mut self, recorded: &Recorded) {
        match recorded {
            Recorded::Delivered { attempts, at } => {
                self.row.attempts = *attempts;
                self.state = DeliveryState::Delivered;
                self.finished_at = Some(*at);
            }
            Recorded::Failed {
                attempts,
                at,
                error,
            } => {
                self.row.attempts = *attempts;
                self.row.last_error = Some(error.clone());
                self.state = DeliveryState::Failed;
                self.finished_at = Some(*at);
            }
            Recorded::Retry {
                attempts,
                due,
                error,
            } => {
                self.row.attempts = *attempts;
                self.row.due_at = *due;
                self.row.last_error = Some(error.clone());
            }
            Recorded::Postponed { due } => self.row.due_at = *due,
        }
    }
}

/// What one step has to write.
#[derive(Debug, Clone)]
pub struct StepWrite {
    pub env: String,
    pub incidents: Vec<IncidentWrite>,
    pub notifications: Vec<Unqueued>,
    pub after: AlertState,
}

#[derive(Debug, Default)]
pub struct Unwritten {
    /// Steps with incident changes or notifications, oldest first.
    steps: VecDeque<StepWrite>,
    /// The latest state of environments whose steps changed only counters: only the last one
    /// matters, so an outage on a store that is down costs one entry per environment.
    states: HashMap<String, AlertState>,
    last_provisional_id: i64,
}

impl Unwritten {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.states.is_empty()
    }

    /// A provisional id for a notification not yet in the outbox.
    pub fn provisional_id(&mut self) -> i64 {
        self.last_provisional_id -= 1;
        self.last_provisional_id
    }

    pub fn push(&mut self, step: StepWrite) {
        if step.incidents.is_empty() && step.notifications.is_empty() {
            self.states.insert(step.env, step.after);
        } else {
            // The step carries its own, newer state.
            self.states.remove(&step.env);
            self.steps.push_back(step);
        }
    }

    pub fn pop_step(&mut self) -> Option<StepWrite> {
        self.steps.pop_front()
    }

    /// Put back a step that could not be written: it stays first.
    pub fn unpop_step(&mut self, step: StepWrite) {
        self.steps.push_front(step);
    }

    pub fn take_states(&mut self) -> HashMap<String, AlertState> {
        std::mem::take(&mut self.states)
    }

    /// Put back states that could not be written, unless a newer step has superseded them.
    pub fn restore_states(&mut self, states: HashMap<String, AlertState>) {
        for (env, state) in states {
            if !self.steps.iter().any(|step| step.env == env) {
                self.states.entry(env).or_insert(state);
            }
        }
    }

    /// Pending notifications due at `now`, to be sent from memory.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<PendingNotification> {
        self.pending()
            .filter(|n| n.row.due_at <= now)
            .map(|n| n.row.clone())
            .collect()
    }

    /// When the next pending notification held here is due.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.pending().map(|n| n.row.due_at).min()
    }

    fn pending(&self) -> impl Iterator<Item = &Unqueued> {
        self.steps
            .iter()
            .flat_map(|step| &step.notifications)
            .filter(|n| n.state == DeliveryState::Pending)
    }

    /// Record an attempt on the notification `id`; `false` when it is no longer here (the
    /// store took it meanwhile, which the one dispatcher never lets happen).
    pub fn record(&mut self, id: i64, recorded: &Recorded) -> bool {
        let found = self
            .steps
            .iter_mut()
            .flat_map(|step| &mut step.notifications)
            .find(|n| n.row.id == id);
        match found {
            Some(n) => {
                n.apply(recorded);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(failures: u32) -> AlertState {
        let mut state = AlertState::default();
        state.state.failures = failures;
        state
    }

    fn step(env: &str, failures: u32, notifications: Vec<Unqueued>) -> StepWrite {
        StepWrite {
            env: env.to_owned(),
            incidents: Vec::new(),
            notifications,
            after: state(failures),
        }
    }

    fn unqueued(id: i64, due: DateTime<Utc>) -> Unqueued {
        Unqueued {
            row: PendingNotification {
                id,
                incident_id: 1,
                channel: "ops".into(),
                kind: "webhook".into(),
                event: "incident.triggered".into(),
                payload: "{}".into(),
                attempts: 0,
                created_at: due,
                due_at: due,
                last_error: None,
            },
            state: DeliveryState::Pending,
            finished_at: None,
        }
    }

    #[test]
    fn counter_only_steps_keep_one_state_per_environment() {
        let mut unwritten = Unwritten::default();
        for failures in 1..=100 {
            unwritten.push(step("staging", failures, Vec::new()));
        }
        assert!(unwritten.pop_step().is_none());
        let states = unwritten.take_states();
        assert_eq!(states.len(), 1);
        assert_eq!(states["staging"].state.failures, 100);
    }

    #[test]
    fn a_step_with_notifications_supersedes_an_older_state_and_keeps_its_order() {
        let now = Utc::now();
        let mut unwritten = Unwritten::default();
        unwritten.push(step("staging", 1, Vec::new()));
        unwritten.push(step("staging", 2, vec![unqueued(-1, now)]));
        unwritten.push(step("prod", 1, vec![unqueued(-2, now)]));
        assert!(unwritten.take_states().is_empty());
        let first = unwritten.pop_step().unwrap();
        assert_eq!(first.env, "staging");
        unwritten.unpop_step(first);
        assert_eq!(unwritten.pop_step().unwrap().env, "staging");
        assert_eq!(unwritten.pop_step().unwrap().env, "prod");
    }

    #[test]
    fn restored_states_never_overwrite_a_newer_step() {
        let now = Utc::now();
        let mut unwritten = Unwritten::default();
        unwritten.push(step("staging", 1, Vec::new()));
        let taken = unwritten.take_states();
        unwritten.push(step("staging", 3, vec![unqueued(-1, now)]));
        unwritten.restore_states(taken);
        assert!(unwritten.take_states().is_empty());
    }

    #[test]
    fn a_notification_sent_from_memory_is_not_due_again() {
        let now = Utc::now();
        let mut unwritten = Unwritten::default();
        unwritten.push(step("staging", 2, vec![unqueued(-1, now)]));
        assert_eq!(unwritten.due(now).len(), 1);
        assert!(unwritten.record(
            -1,
            &Recorded::Delivered {
                attempts: 1,
                at: now
            }
        ));
        assert!(unwritten.due(now).is_empty());
        assert_eq!(unwritten.next_due(), None);
        let retry_at = now + chrono::Duration::seconds(30);
        unwritten.push(step("prod", 2, vec![unqueued(-2, now)]));
        unwritten.record(
            -2,
            &Recorded::Retry {
                attempts: 1,
                due: retry_at,
                error: "HTTP 503".into(),
            },
        );
        assert!(unwritten.due(now).is_empty());
        assert_eq!(unwritten.next_due(), Some(retry_at));
        let written = unwritten.pop_step().unwrap();
        assert_eq!(written.notifications[0].state, DeliveryState::Delivered);
        assert_eq!(written.notifications[0].finished_at, Some(now));
    }
}
