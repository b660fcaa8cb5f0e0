//! Alerts while a fleet's shared store is away (`crate::fleet::away` holds the decisions):
//! every result this instance makes steps its own location's incidents in memory; while the
//! store does not answer, a confirmed failure is paged from here, through the same channels and
//! the same attempt/retry code as the outbox ([`crate::alert::outbox::attempt`]), with rows
//! kept in memory. Once the store answers, what was paged is reported, and the evaluator
//! reconciles it ([`reconcile`]) before it steps any incident again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::state::DaemonState;
use crate::alert::outbox::{self, Recorded};
use crate::alert::{Adopted, EventName, Hold, Notification};
use crate::config::Environment;
use crate::fleet::Fleet;
use crate::fleet::away::{self, AwayBoard, LocalIncident, Mode, Page, Reconcile, Seen, StoreReach};
use crate::fleet::evaluate::LocationBoard;
use crate::probe::{ProbeResult, Status};
use crate::store::{AwayRecord, PendingNotification, StoreError};

/// How often the store is asked whether it answers, and pages waiting are looked at.
const EVERY: Duration = Duration::from_secs(1);
/// What one of those calls may take: the store is away when it cannot answer in this long.
const DEADLINE: Duration = Duration::from_secs(2);
/// Reported incidents the evaluator takes per step.
const RECONCILE_BATCH: u32 = 100;

/// A notice paged from here, as sent (JSON), and when.
type Sent = (String, DateTime<Utc>);

/// This instance's alerting without the store.
#[derive(Default)]
pub struct Away {
    board: Mutex<AwayBoard>,
    reach: Mutex<StoreReach>,
    /// Notifications paged from memory and not finished (delivered or failed for good).
    queue: Mutex<Vec<PendingNotification>>,
    /// The notices paged per local incident, as sent (JSON), and when: what is reported.
    notices: Mutex<HashMap<(i64, EventName), Sent>>,
    /// Reported incidents this instance's evaluator reconciled: never twice.
    reconciled: Mutex<HashSet<i64>>,
    next_row: AtomicI64,
    wake: Notify,
}

impl DaemonState {
    /// Step `result` of `env` through this location's incidents in memory, and page from
    /// here when the store is away and this replica is the one that pages `env`.
    pub(super) fn observe_away(
        &self,
        fleet: &Fleet,
        env: &Environment,
        slot: Option<DateTime<Utc>>,
        result: &ProbeResult,
        hold: Hold,
    ) {
        let config = self.config();
        let now = Utc::now();
        let replicas = fleet.replicas();
        let name = env.name.as_str();
        let mode = Mode {
            location: fleet.location(),
            away: self.away.reach.lock().away_since(now),
            pages: away::fallback_owner(&replicas, name) == Some(fleet.store().instance_id()),
        };
        let seen = Seen {
            result,
            slot,
            in_maintenance: hold.maintenance || self.parent_down(env),
            silenced: hold.silence.is_some(),
        };
        let policy = config.alert_policy(env);
        let Some(page) = self.away.board.lock().observe(&policy, &seen, &mode, now) else {
            return;
        };
        let link = crate::alert::environment_link(&config, name);
        let notification =
            crate::alert::away_notification(&page, result, hold.maintenance, link, now);
        let (Page::Triggered(local) | Page::Resolved(local)) = &page;
        tracing::warn!(
            environment = name, incident = local.id, event = %notification.event,
            "paging from this instance: the shared store is unreachable"
        );
        self.away
            .queue(&config.channels_for(env), local.id, &notification, now);
    }
}

impl DaemonState {
    /// An environment `env` depends on has an incident open, at the evaluator or here.
    fn parent_down(&self, env: &Environment) -> bool {
        if self.failing_parent(env).is_some() {
            return true;
        }
        let board = self.away.board.lock();
        env.depends_on.iter().any(|parent| board.is_down(parent))
    }
}

impl Away {
    fn queue(
        &self,
        channels: &[&crate::config::ChannelConfig],
        id: i64,
        notification: &Notification,
        now: DateTime<Utc>,
    ) {
        let rows = crate::alert::away_rows(channels, now, id, notification);
        if let Some(first) = rows.first() {
            self.notices
                .lock()
                .insert((id, notification.event), (first.payload.clone(), now));
        }
        let mut queue = self.queue.lock();
        for row in rows {
            let id = self.next_row.fetch_sub(1, Ordering::Relaxed) - 1;
            queue.push(PendingNotification { id, ..row });
        }
        drop(queue);
        self.wake.notify_one();
    }

    /// Whether the evaluator should wait: the store is away or only just back.
    fn settling(&self) -> bool {
        self.reach.lock().settling(Utc::now())
    }
}

/// The loops: whether the store answers (and reporting what was paged once it does), and
/// sending what was paged from memory.
pub(super) async fn run(state: Arc<DaemonState>, fleet: Arc<Fleet>, stop: CancellationToken) {
    tokio::join!(watch_store(&state, &fleet, &stop), deliver(&state, &stop));
}

async fn watch_store(state: &DaemonState, fleet: &Fleet, stop: &CancellationToken) {
    loop {
        let now = Utc::now();
        let answered = matches!(
            tokio::time::timeout(DEADLINE, fleet.store().ping()).await,
            Ok(Ok(()))
        );
        if answered {
            if state.away.reach.lock().answered(Utc::now()) {
                tracing::info!("the shared store answers again: evaluation goes back to it");
            }
            report(state, fleet).await;
        } else {
            state.away.reach.lock().failed(now);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// Tell the store of every incident paged from here that it does not know of yet.
async fn report(state: &DaemonState, fleet: &Fleet) {
    let unreported = state.away.board.lock().unreported();
    for local in unreported {
        let record = {
            let notices = state.away.notices.lock();
            let Some((triggered, _)) = notices.get(&(local.id, EventName::Triggered)) else {
                continue;
            };
            let resolved = notices.get(&(local.id, EventName::Resolved));
            away_record(fleet, &local, triggered, resolved.map(|(json, _)| json))
        };
        let reported =
            tokio::time::timeout(DEADLINE, fleet.store().report_away_incident(&record)).await;
        match reported {
            Ok(Ok(())) => {
                state.away.board.lock().reported(&local);
                let mut notices = state.away.notices.lock();
                notices.remove(&(local.id, EventName::Triggered));
                notices.remove(&(local.id, EventName::Resolved));
                tracing::info!(environment = %local.environment, incident = local.id,
                    "reported the incident paged while the shared store was unreachable");
            }
            Ok(Err(err)) => {
                tracing::warn!(
                    incident = local.id,
                    "cannot report a paged incident yet: {err}"
                );
                return;
            }
            Err(_) => return,
        }
    }
}

fn away_record(
    fleet: &Fleet,
    local: &LocalIncident,
    triggered: &str,
    resolved: Option<&String>,
) -> AwayRecord {
    AwayRecord {
        id: local.id,
        instance: fleet.store().instance_id().to_owned(),
        environment: local.environment.clone(),
        location: local.location.clone(),
        open: local.open.clone(),
        diagnosis: local.diagnosis.clone(),
        triggered: triggered.to_owned(),
        resolved_at: local.resolved_at,
        resolved: resolved.cloned(),
    }
}

/// Send what is due of the pages made from memory, with the outbox's own attempt (pacing,
/// `Retry-After`, backoff, giving up), until `stop`.
async fn deliver(state: &DaemonState, stop: &CancellationToken) {
    loop {
        let now = Utc::now();
        let due: Vec<PendingNotification> = {
            let queue = state.away.queue.lock();
            queue.iter().filter(|r| r.due_at <= now).cloned().collect()
        };
        if !due.is_empty() {
            let channels = state.alerts.channels(&state.config());
            for row in due {
                let decided = outbox::attempt(&channels, Utc::now(), &row).await;
                let report = crate::alert::DeliveryReport {
                    attempts: decided.report.into_iter().collect(),
                    ..Default::default()
                };
                state.alerts.sent_without_store(&report);
                apply(&mut state.away.queue.lock(), row.id, &decided.recorded);
            }
        }
        let sleep = {
            let queue = state.away.queue.lock();
            let next = queue.iter().map(|r| r.due_at).min();
            next.map(|at| (at - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(EVERY)
                .min(EVERY)
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = state.away.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// What an attempt leaves of row `id`: nothing once finished.
fn apply(queue: &mut Vec<PendingNotification>, id: i64, recorded: &Recorded) {
    let Some(row) = queue.iter_mut().find(|r| r.id == id) else {
        return;
    };
    match recorded {
        Recorded::Delivered { .. } | Recorded::Failed { .. } => queue.retain(|r| r.id != id),
        Recorded::Retry {
            attempts,
            due,
            error,
        } => {
            row.attempts = *attempts;
            row.due_at = *due;
            row.last_error = Some(error.clone());
        }
        Recorded::Postponed { due } => row.due_at = *due,
    }
}

/// The evaluator's first part of a step: adopt or record the incidents instances paged while
/// the store was away. `Ok(false)` while the store is away or only just back: the pages made
/// meanwhile are still being reported, and the evaluator steps no incident until they are.
pub(super) async fn reconcile(
    state: &DaemonState,
    fleet: &Fleet,
    board: &mut LocationBoard,
) -> Result<bool, StoreError> {
    if state.away.settling() {
        return Ok(false);
    }
    let records = within(fleet.store().unreconciled_away_incidents(RECONCILE_BATCH)).await?;
    for record in records {
        let how = match reconcile_one(state, &record, board).await {
            Ok(how) => how,
            // One record that cannot be read must not hold the evaluator for ever.
            Err(StoreError::Corrupt(err)) => {
                tracing::error!(
                    incident = record.id,
                    "a reported page does not decode: {err}"
                );
                "unreadable"
            }
            Err(err) => return Err(err),
        };
        state.away.reconciled.lock().insert(record.id);
        within(fleet.store().away_incident_reconciled(record.id, how)).await?;
    }
    Ok(true)
}

/// A store call with [`DEADLINE`]: the evaluator's step goes on being retried, not stuck.
async fn within<T>(call: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(DEADLINE, call)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::OutOfRange(format!(
                "the shared store did not answer within {DEADLINE:?}"
            )))
        })
}

async fn reconcile_one(
    state: &DaemonState,
    record: &AwayRecord,
    board: &mut LocationBoard,
) -> Result<&'static str, StoreError> {
    let config = state.config();
    let Some(env) = config.environment(&record.environment) else {
        return Ok("gone");
    };
    let known = state.away.reconciled.lock().contains(&record.id);
    let stored = known
        || within(state.store.alerts().incident(record.id))
            .await?
            .is_some();
    let open = state.alerts.open_incident(&record.environment);
    let decision = away::reconcile(record.id, record.resolved_at.is_some(), open, stored);
    let decode = |json: &str| {
        serde_json::from_str::<Notification>(json)
            .map_err(|err| StoreError::Corrupt(format!("a paged notification: {err}")))
    };
    let triggered = decode(&record.triggered)?;
    let mut sent = vec![(triggered.clone(), record.open.opened_at)];
    if let (Some(json), Some(at)) = (&record.resolved, record.resolved_at) {
        sent.push((decode(json)?, at));
    }
    let channels = config.channels_for(env);
    let adopted = Adopted {
        name: &record.environment,
        id: record.id,
        open: record.open.clone(),
        diagnosis: &record.diagnosis,
        channels: &channels,
        sent,
    };
    let now = Utc::now();
    match decision {
        Reconcile::Adopt => {
            seed(board, &config.alert_policy(env), record);
            state.alerts.adopt(&adopted);
        }
        Reconcile::Record => {
            let at = record.resolved_at.unwrap_or(now);
            state.alerts.record_adopted(&adopted, at, None);
        }
        Reconcile::Merge => {
            let into = open.unwrap_or_default();
            let resolve = crate::alert::merged_resolve(&triggered, into, now);
            state.alerts.record_adopted(&adopted, now, Some(&resolve));
        }
        Reconcile::Known => {}
    }
    tracing::info!(environment = %record.environment, incident = record.id,
        instance = %record.instance, ?decision, "reconciled an incident paged while the shared store was unreachable");
    Ok(decision.as_str())
}

/// The reporting location counts as down on the evaluator's board, as it did where it was
/// paged: the adopted incident stays open until that location (or, with `min_locations`, the
/// environment across locations) says otherwise, rather than being resolved by the results
/// from before the outage.
fn seed(board: &mut LocationBoard, policy: &crate::config::AlertPolicy, record: &AwayRecord) {
    let mut failing = ProbeResult::note(
        &record.environment,
        record.open.opened_at,
        Status::Down,
        record.open.verdict,
        record.diagnosis.clone(),
    );
    failing.location = Some(record.location.clone());
    for _ in 0..policy.failure_threshold.max(1) {
        board.observe(policy, &record.location, &failing);
    }
}
