//! [`Store`]: the one interface the daemon, the alert engine and the web layer use, over the
//! SQLite file of a single node or the PostgreSQL a fleet shares. Both backends take the same
//! calls with the same meaning; what only a fleet has (slot claims, instances, the evaluator's
//! lease, results per location) answers for a single node as one location would.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::postgres::{InstanceRecord, PgAlertTx, PgStore};
use super::sqlite::{FileStatus, SqliteStore};
use super::{
    AlertState, DayUptime, DeliveryState, FailedNotification, HourLatency, IncidentFilter,
    IncidentRecord, NewNotification, NewRun, PendingNotification, StoreError, StoredRun, Summary,
};
use crate::incident::Open;
use crate::probe::result::{ProbeResult, Status, Verdict};

/// Cheap to clone; `close` on any clone closes the store for all.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// The same call on whichever backend this is.
macro_rules! either {
    ($store:expr, $backend:ident => $call:expr) => {
        match $store {
            Store::Sqlite($backend) => $call,
            Store::Postgres($backend) => $call,
        }
    };
}

/// One environment's alert step on either backend; dropped without `commit`, it rolls back.
pub enum AlertTx {
    Sqlite(super::incidents::SqliteAlertTx),
    Postgres(PgAlertTx),
}

macro_rules! either_tx {
    ($tx:expr, $backend:ident => $call:expr) => {
        match $tx {
            AlertTx::Sqlite($backend) => $call,
            AlertTx::Postgres($backend) => $call,
        }
    };
}

impl Store {
    /// The SQLite file at `path` (or an SQLite URI), created and migrated if need be.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        SqliteStore::open(path).await.map(Store::Sqlite)
    }

    /// The shared PostgreSQL at `url`, migrated, with this instance registered in it.
    pub async fn connect(
        url: &str,
        location: &str,
        instance_id: &str,
    ) -> Result<Store, StoreError> {
        PgStore::connect(url, location, instance_id, env!("CARGO_PKG_VERSION"))
            .await
            .map(Store::Postgres)
    }

    /// The shared store, when this is one: what the fleet's own loops need.
    pub fn shared(&self) -> Option<&PgStore> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(pg) => Some(pg),
        }
    }

    pub fn file_status(&self) -> FileStatus {
        match self {
            Store::Sqlite(s) => s.file_status(),
            Store::Postgres(_) => FileStatus::Same,
        }
    }

    /// SQLite: reopen a file replaced under the daemon. PostgreSQL has no file, and its pool
    /// reconnects by itself.
    pub async fn heal(&self) -> Result<FileStatus, StoreError> {
        match self {
            Store::Sqlite(s) => s.heal().await,
            Store::Postgres(_) => Ok(FileStatus::Same),
        }
    }

    pub async fn insert_result(
        &self,
        result: &ProbeResult,
        in_maintenance: bool,
    ) -> Result<i64, StoreError> {
        either!(self, s => s.insert_result(result, in_maintenance).await)
    }

    pub async fn insert_runs(&self, runs: &[&NewRun]) -> Result<(), StoreError> {
        either!(self, s => s.insert_runs(runs).await)
    }

    pub async fn record_skipped(&self, env: &str, slot: DateTime<Utc>) -> Result<(), StoreError> {
        either!(self, s => s.record_skipped(env, slot).await)
    }

    /// Runs of `env`, newest first; `before` is the id of the last run of the previous page.
    pub async fn runs(
        &self,
        env: &str,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<StoredRun>, StoreError> {
        self.runs_from(env, limit, before, None).await
    }

    /// Runs of `env` from `location` only, or from every location. A single node's runs are
    /// all from its one location (or none): the filter applies to what each run says.
    pub async fn runs_from(
        &self,
        env: &str,
        limit: u32,
        before: Option<i64>,
        location: Option<&str>,
    ) -> Result<Vec<StoredRun>, StoreError> {
        match self {
            Store::Postgres(pg) => pg.runs(env, limit, before, location).await,
            Store::Sqlite(s) => {
                let mut runs = s.runs(env, limit, before).await?;
                if let Some(location) = location {
                    runs.retain(|run| run.result.location.as_deref() == Some(location));
                }
                Ok(runs)
            }
        }
    }

    pub async fn latest(&self) -> Result<Vec<StoredRun>, StoreError> {
        either!(self, s => s.latest().await)
    }

    pub async fn recent_statuses(
        &self,
        env: &str,
        n: u32,
    ) -> Result<Vec<(DateTime<Utc>, Status, Verdict)>, StoreError> {
        either!(self, s => s.recent_statuses(env, n).await)
    }

    pub async fn summary(&self, env: &str, now: DateTime<Utc>) -> Result<Summary, StoreError> {
        match self {
            Store::Sqlite(s) => s.summary(env, now).await,
            Store::Postgres(pg) => Ok(pg
                .summaries(now, Some(env))
                .await?
                .remove(env)
                .unwrap_or_default()),
        }
    }

    /// `env`'s hourly latency percentiles since `hours_from` and daily run counts since
    /// `days_from`, oldest first: the environment page's chart and uptime bars.
    pub async fn history(
        &self,
        env: &str,
        hours_from: DateTime<Utc>,
        days_from: DateTime<Utc>,
    ) -> Result<(Vec<HourLatency>, Vec<DayUptime>), StoreError> {
        either!(self, s => s.history(env, hours_from, days_from).await)
    }

    pub async fn summaries(
        &self,
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, Summary>, StoreError> {
        match self {
            Store::Sqlite(s) => s.summaries(now).await,
            Store::Postgres(pg) => pg.summaries(now, None).await,
        }
    }

    /// The OTLP `service.instance.id`: stable across restarts on the same SQLite file; an
    /// instance's own name in a fleet.
    pub fn instance_id(&self) -> &str {
        either!(self, s => s.instance_id())
    }

    pub async fn prune(&self, retention: Duration, now: DateTime<Utc>) -> Result<u64, StoreError> {
        either!(self, s => s.prune(retention, now).await)
    }

    pub async fn check_writable(&self) -> Result<(), StoreError> {
        either!(self, s => s.check_writable().await)
    }

    pub async fn close(self) {
        either!(self, s => s.close().await)
    }

    pub async fn begin_alerts(&self, env: &str) -> Result<AlertTx, StoreError> {
        match self {
            Store::Sqlite(s) => s.begin_alerts(env).await.map(AlertTx::Sqlite),
            Store::Postgres(pg) => pg.begin_alerts(env).await.map(AlertTx::Postgres),
        }
    }

    pub async fn alert_states(&self) -> Result<Vec<(String, AlertState)>, StoreError> {
        either!(self, s => s.alert_states().await)
    }

    /// The id the next incident is to get: ids are handed out in memory by the one engine
    /// that writes incidents (on a fleet, the holder of the evaluator lease).
    pub async fn next_incident_id(&self) -> Result<i64, StoreError> {
        either!(self, s => s.next_incident_id().await)
    }

    pub async fn save_alert_states(
        &self,
        states: &[(&str, &AlertState)],
    ) -> Result<(), StoreError> {
        either!(self, s => s.save_alert_states(states).await)
    }

    pub async fn incidents(
        &self,
        filter: &IncidentFilter<'_>,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        either!(self, s => s.incidents(filter).await)
    }

    pub async fn open_incidents(&self) -> Result<Vec<(String, i64)>, StoreError> {
        either!(self, s => s.open_incidents().await)
    }

    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingNotification>, StoreError> {
        either!(self, s => s.due_notifications(now, limit).await)
    }

    pub async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        either!(self, s => s.next_notification_due().await)
    }

    pub async fn notification_delivered(
        &self,
        id: i64,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.notification_delivered(id, attempts, at).await,
            Store::Postgres(pg) => {
                pg.finish_notification(id, DeliveryState::Delivered, attempts, at, None)
                    .await
            }
        }
    }

    pub async fn notification_failed(
        &self,
        id: i64,
        attempts: u32,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.notification_failed(id, attempts, at, error).await,
            Store::Postgres(pg) => {
                pg.finish_notification(id, DeliveryState::Failed, attempts, at, Some(error))
                    .await
            }
        }
    }

    pub async fn notification_retry(
        &self,
        id: i64,
        attempts: u32,
        due: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        either!(self, s => s.notification_retry(id, attempts, due, error).await)
    }

    pub async fn notification_postponed(
        &self,
        id: i64,
        due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        either!(self, s => s.notification_postponed(id, due).await)
    }

    pub async fn overdue_notifications(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        either!(self, s => s.overdue_notifications(before).await)
    }

    pub async fn failed_notifications(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FailedNotification>, StoreError> {
        either!(self, s => s.failed_notifications(since, limit).await)
    }

    /// Claim a scheduled slot for this location. A single node is its location's only
    /// replica: every slot is its own.
    pub async fn claim_slot(&self, env: &str, slot: DateTime<Utc>) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(true),
            Store::Postgres(pg) => pg.claim_slot(env, slot).await,
        }
    }

    /// Every instance writing to this store (a fleet), or `None` for a single node.
    pub async fn instances(&self) -> Result<Option<Vec<InstanceRecord>>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(pg) => pg.instances().await.map(Some),
        }
    }
}

impl AlertTx {
    pub async fn save_state(&mut self, state: &AlertState) -> Result<(), StoreError> {
        either_tx!(self, tx => tx.save_state(state).await)
    }

    pub async fn insert_incident(
        &mut self,
        id: i64,
        open: &Open,
        diagnosis: &str,
    ) -> Result<(), StoreError> {
        either_tx!(self, tx => tx.insert_incident(id, open, diagnosis).await)
    }

    pub async fn set_incident_verdict(
        &mut self,
        id: i64,
        verdict: Verdict,
        diagnosis: &str,
    ) -> Result<(), StoreError> {
        either_tx!(self, tx => tx.set_incident_verdict(id, verdict, diagnosis).await)
    }

    pub async fn resolve_incident(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        either_tx!(self, tx => tx.resolve_incident(id, at).await)
    }

    pub async fn enqueue(&mut self, notification: &NewNotification<'_>) -> Result<i64, StoreError> {
        either_tx!(self, tx => tx.enqueue(notification).await)
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        either_tx!(self, tx => tx.commit().await)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        either_tx!(self, tx => tx.rollback().await)
    }
}
