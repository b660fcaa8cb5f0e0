//! Delivering the outbox. [`attempt`] decides one due notification (send, give up, postpone)
//! and [`deliver_stored`] runs it over the rows due in the store, recording each outcome;
//! [`run`] is the loop, which only sleeps until the next due time (or a wake-up when a row is
//! queued) and calls the step ([`super::Alerts::deliver_due`]). Retry, backoff, `Retry-After`,
//! giving up and pacing live here, once, for every channel.
//!
//! Delivery is at least once: a crash between a receiver's 2xx and the row being marked
//! delivered sends that notification again after the restart.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::delivery::{Attempt, Channels};
use super::grouping;
use super::notification::Notification;
use crate::store::{AlertStore, PendingNotification};

/// First retry after about this long, doubling per attempt…
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// …up to this.
pub const BACKOFF_CAP: Duration = Duration::from_secs(10 * 60);
/// Rows attempted per step: a backlog is worked through in slices, so shutdown waits for at
/// most one attempt and newly due rows are not starved behind it.
const BATCH: u32 = 50;
/// Rows attempted in a step whose batch ends in a group: a group's rows go out together.
const GROUPED_BATCH: u32 = 1000;
/// The loop looks again at least this often, whatever it was told: cheap, and a safety net.
const IDLE_RECHECK: Duration = Duration::from_secs(60);
/// After a store error, wait this long before the next step.
const STORE_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryOutcome {
    Delivered,
    Retried,
    Failed,
}

impl DeliveryOutcome {
    /// The `outcome` attribute of the `wsprobe.notifications` metric.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retried => "retried",
            DeliveryOutcome::Failed => "failed",
        }
    }
}

/// One attempt (or a give-up) and how it ended: enough to count `wsprobe.notifications`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptReport {
    pub id: i64,
    pub incident_id: i64,
    pub channel: String,
    pub kind: String,
    pub event: String,
    pub outcome: DeliveryOutcome,
    pub error: Option<String>,
    /// Retried: when the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// What a step did.
#[derive(Debug, Clone, Default)]
pub struct DeliveryReport {
    pub attempts: Vec<AttemptReport>,
    /// When the earliest pending notification is due (maybe `now`: more work right away).
    pub next_due: Option<DateTime<Utc>>,
    /// The store failed; nothing after the failure was done.
    pub store_error: Option<String>,
}

impl DeliveryReport {
    /// Keep the earliest of the due times seen.
    pub fn due_at(&mut self, due: Option<DateTime<Utc>>) {
        self.next_due = match (self.next_due, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    pub fn count(&self, outcome: DeliveryOutcome) -> usize {
        self.attempts
            .iter()
            .filter(|a| a.outcome == outcome)
            .count()
    }
}

/// Delay before attempt `attempts + 1`, after `attempts` failures: exponential from
/// [`BACKOFF_BASE`], capped at [`BACKOFF_CAP`], with "equal jitter" (`jitter` in [0, 1]
/// picks a point in the upper half) so that many rows failing together spread out but never
/// come back at once. Pure.
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << doublings)
        .min(BACKOFF_CAP);
    ceiling / 2 + ceiling.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// How an attempt ends up on its notification: in its outbox row, or on the copy the engine
/// holds in memory while the store cannot take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Delivered {
        attempts: u32,
        at: DateTime<Utc>,
    },
    Failed {
        attempts: u32,
        at: DateTime<Utc>,
        error: String,
    },
    Retry {
        attempts: u32,
        due: DateTime<Utc>,
        error: String,
    },
    /// Channel pacing: later, without counting an attempt.
    Postponed {
        due: DateTime<Utc>,
    },
}

impl Recorded {
    pub async fn write(&self, store: &AlertStore, id: i64) -> Result<(), crate::store::StoreError> {
        match self {
            Recorded::Delivered { attempts, at } => {
                store.notification_delivered(id, *attempts, *at).await
            }
            Recorded::Failed {
                attempts,
                at,
                error,
            } => store.notification_failed(id, *attempts, *at, error).await,
            Recorded::Retry {
                attempts,
                due,
                error,
            } => store.notification_retry(id, *attempts, *due, error).await,
            Recorded::Postponed { due } => store.notification_postponed(id, *due).await,
        }
    }
}

/// One due notification, decided: how to record it, and the attempt to report (none for a
/// postponement).
pub struct Decided {
    pub recorded: Recorded,
    pub report: Option<AttemptReport>,
}

/// Outcomes sent but not yet written, by outbox row id: such a row is never sent again while
/// its outcome waits (the store failing after a receiver's 2xx must not page twice); the
/// outcome is written first on every step until the store takes it.
pub type Unrecorded = parking_lot::Mutex<HashMap<i64, Recorded>>;

/// The store's part of a step: write outcomes still waiting, then attempt what is due in the
/// outbox. Stops at the first store error, which the report carries.
pub async fn deliver_stored(
    store: &AlertStore,
    channels: &Channels,
    now: DateTime<Utc>,
    stop: Option<&CancellationToken>,
    unrecorded: &Unrecorded,
    report: &mut DeliveryReport,
) {
    let waiting: Vec<(i64, Recorded)> = unrecorded
        .lock()
        .iter()
        .map(|(id, recorded)| (*id, recorded.clone()))
        .collect();
    for (id, recorded) in waiting {
        if let Err(err) = recorded.write(store, id).await {
            report.store_error = Some(err.to_string());
            return;
        }
        unrecorded.lock().remove(&id);
    }
    let due = match due_rows(store, now).await {
        Ok(due) => due,
        Err(err) => {
            report.store_error = Some(err.to_string());
            return;
        }
    };
    let full_batch = due.len() >= BATCH as usize;
    for batch in grouping::merge(due) {
        if stop.is_some_and(|s| s.is_cancelled()) {
            break;
        }
        if let Err(err) = store.check_fence().await {
            report.store_error = Some(err.to_string());
            return;
        }
        let decided = attempt(channels, now, &batch.row).await;
        report.attempts.extend(decided.report);
        for id in batch.ids {
            if let Err(err) = decided.recorded.write(store, id).await {
                unrecorded.lock().insert(id, decided.recorded.clone());
                report.store_error = Some(err.to_string());
                return;
            }
        }
    }
    let next_due = match store.next_notification_due().await {
        Ok(next) => next,
        Err(err) => {
            report.store_error = Some(err.to_string());
            None
        }
    };
    report.due_at(next_due);
    if full_batch {
        report.due_at(Some(now));
    }
}

/// The rows due at `now`, a batch of them; more when the batch ends inside a group
/// (`alerts.grouping`), whose rows are all due at once and must go out together.
async fn due_rows(
    store: &AlertStore,
    now: DateTime<Utc>,
) -> Result<Vec<PendingNotification>, crate::store::StoreError> {
    let due = store.due_notifications(now, BATCH).await?;
    let grouped = due.len() == BATCH as usize
        && due
            .last()
            .is_some_and(|row| row.payload.contains("\"group\":"));
    if grouped {
        return store.due_notifications(now, GROUPED_BATCH).await;
    }
    Ok(due)
}

/// One due notification: give up, postpone (pacing), or send. Nothing is written here.
pub async fn attempt(
    channels: &Channels,
    now: DateTime<Utc>,
    row: &PendingNotification,
) -> Decided {
    let Some(channel) = channels.get(&row.channel) else {
        let error = format!(
            "channel {:?} is no longer in the config: not sent",
            row.channel
        );
        return failed(row, now, row.attempts, error);
    };
    let age = (now - row.created_at).to_std().unwrap_or_default();
    if age >= channels.give_up_after {
        let error = gave_up(
            channels.give_up_after,
            row.attempts,
            row.last_error.as_deref(),
        );
        return failed(row, now, row.attempts, error);
    }
    if let Some(free_at) = channels.pacer.busy_until(&row.channel, now) {
        return Decided {
            recorded: Recorded::Postponed { due: free_at },
            report: None,
        };
    }
    let notification: Notification = match serde_json::from_str(&row.payload) {
        Ok(notification) => notification,
        Err(err) => {
            let error = format!("the stored notification does not decode: {err}");
            return failed(row, now, row.attempts, error);
        }
    };

    let request = channel.request(&notification, now);
    let result = channels
        .sender
        .send(channel, request, &channels.redactor, now)
        .await;
    let attempts = row.attempts.saturating_add(1);
    channels.pacer.hold(
        &row.channel,
        now + crate::text::chrono_duration(channel.min_interval()),
    );
    match result {
        Attempt::Delivered => Decided {
            recorded: Recorded::Delivered { attempts, at: now },
            report: Some(report(row, DeliveryOutcome::Delivered, None, None)),
        },
        Attempt::Failed { error } => failed(row, now, attempts, error),
        Attempt::Retry { error, retry_after } => {
            retry(channels, now, row, attempts, error, retry_after)
        }
    }
}

/// An attempt worth repeating: again after `Retry-After` or the backoff, unless that is past
/// `give_up_after`.
fn retry(
    channels: &Channels,
    now: DateTime<Utc>,
    row: &PendingNotification,
    attempts: u32,
    error: String,
    retry_after: Option<Duration>,
) -> Decided {
    let delay = retry_after.unwrap_or_else(|| backoff(attempts, rand::random()));
    // Whole milliseconds: what the store keeps, so the report and the row agree.
    let due = now + crate::text::chrono_duration(delay);
    let due = DateTime::from_timestamp_millis(due.timestamp_millis()).unwrap_or(due);
    if let Some(after) = retry_after {
        // The receiver asked the whole channel to wait, not just this row.
        channels
            .pacer
            .hold(&row.channel, now + crate::text::chrono_duration(after));
    }
    let deadline = row.created_at + crate::text::chrono_duration(channels.give_up_after);
    if due >= deadline {
        let error = gave_up(channels.give_up_after, attempts, Some(&error));
        return failed(row, now, attempts, error);
    }
    Decided {
        report: Some(report(
            row,
            DeliveryOutcome::Retried,
            Some(error.clone()),
            Some(due),
        )),
        recorded: Recorded::Retry {
            attempts,
            due,
            error,
        },
    }
}

/// `row` failed for good after `attempts`.
fn failed(row: &PendingNotification, now: DateTime<Utc>, attempts: u32, error: String) -> Decided {
    Decided {
        recorded: Recorded::Failed {
            attempts,
            at: now,
            error: error.clone(),
        },
        report: Some(report(row, DeliveryOutcome::Failed, Some(error), None)),
    }
}

fn report(
    row: &PendingNotification,
    outcome: DeliveryOutcome,
    error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
) -> AttemptReport {
    AttemptReport {
        id: row.id,
        incident_id: row.incident_id,
        channel: row.channel.clone(),
        kind: row.kind.clone(),
        event: row.event.clone(),
        outcome,
        error,
        next_attempt_at,
    }
}

fn gave_up(after: Duration, attempts: u32, last_error: Option<&str>) -> String {
    let after = humantime::format_duration(Duration::from_secs(after.as_secs()));
    match last_error {
        Some(error) => format!(
            "gave up: not delivered within {after} (alerts.give_up_after), {attempts} attempts; last error: {error}"
        ),
        None => format!(
            "gave up: not delivered within {after} (alerts.give_up_after), {attempts} attempts"
        ),
    }
}

/// The dispatcher: call `step`, sleep until the next due time or a wake-up, repeat until
/// `stop`; then return after the attempt in progress. `on_report` sees every step's report
/// (metrics, logs).
pub async fn run<F: Future<Output = DeliveryReport>>(
    step: impl Fn(DateTime<Utc>, &CancellationToken) -> F,
    wake: &Notify,
    stop: CancellationToken,
    on_report: impl Fn(&DeliveryReport),
) {
    loop {
        if stop.is_cancelled() {
            return;
        }
        let report = step(Utc::now(), &stop).await;
        on_report(&report);
        let sleep = if report.store_error.is_some() {
            STORE_RETRY
        } else {
            report
                .next_due
                .map(|due| (due - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(IDLE_RECHECK)
                .min(IDLE_RECHECK)
        };
        if sleep.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let s = Duration::from_secs;
        let cases = [
            (1, 0.0, s(1)),
            (1, 1.0, s(2)),
            (2, 0.0, s(2)),
            (2, 0.5, s(3)),
            (3, 1.0, s(8)),
            (9, 1.0, s(512)),
            (10, 0.0, s(300)),
            (10, 1.0, s(600)),
            (1000, 1.0, s(600)),
            (0, 1.0, s(2)),
            (1, 7.0, s(2)),
        ];
        for (attempts, jitter, expected) in cases {
            assert_eq!(backoff(attempts, jitter), expected, "{attempts} {jitter}");
        }
    }

    #[test]
    fn giving_up_says_why() {
        assert_eq!(
            gave_up(Duration::from_secs(86400), 12, Some("HTTP 503")),
            "gave up: not delivered within 1day (alerts.give_up_after), 12 attempts; last error: HTTP 503"
        );
    }
}
