//! [`RunStore`]: probe results in, and what is read back from them: runs, the newest per
//! environment, recent outcomes, hourly history and summaries. SQLite and PostgreSQL keep
//! runs and rollups differently (`sqlite.rs` with one file per table, `postgres/`); this is
//! the one set of calls over both.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::lifecycle::either;
use super::{Backend, DayUptime, HourLatency, NewRun, StoreError, StoredRun, Summary};
use crate::probe::result::{Status, Verdict};

/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct RunStore {
    backend: Backend,
}

impl RunStore {
    pub(super) fn new(backend: Backend) -> RunStore {
        RunStore { backend }
    }

    /// Store results, each counted in its hour's rollup, in one transaction, all or none: the
    /// daemon's writer commits what queued meanwhile together. Returns their ids, in order.
    pub async fn insert_runs(&self, runs: &[&NewRun]) -> Result<Vec<i64>, StoreError> {
        either!(&self.backend, db => db.insert_runs(runs).await)
    }

    /// Record a slot skipped because the previous probe was still running. Recording the same
    /// slot again is a no-op.
    pub async fn record_skipped(&self, env: &str, slot: DateTime<Utc>) -> Result<(), StoreError> {
        either!(&self.backend, db => db.record_skipped(env, slot).await)
    }

    /// Runs of `env`, newest first, from `location` only or from every location; `before` is
    /// the id of the last run of the previous page. A single node's runs are all from its one
    /// location (or none): the filter applies to what each run says.
    pub async fn newest(
        &self,
        env: &str,
        limit: u32,
        before: Option<i64>,
        location: Option<&str>,
    ) -> Result<Vec<StoredRun>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => pg.runs(env, limit, before, location).await,
            Backend::Sqlite(s) => {
                let mut runs = s.runs(env, limit, before).await?;
                if let Some(location) = location {
                    runs.retain(|run| run.result.location.as_deref() == Some(location));
                }
                Ok(runs)
            }
        }
    }

    /// The newest run of every environment that has one, by environment name.
    pub async fn latest(&self) -> Result<Vec<StoredRun>, StoreError> {
        either!(&self.backend, db => db.latest().await)
    }

    /// The last `n` outcomes of `env`, newest first: the status bar.
    pub async fn recent_statuses(
        &self,
        env: &str,
        n: u32,
    ) -> Result<Vec<(DateTime<Utc>, Status, Verdict)>, StoreError> {
        either!(&self.backend, db => db.recent_statuses(env, n).await)
    }

    /// `env`'s hourly latency percentiles since `hours_from` and daily run counts since
    /// `days_from`, oldest first: the environment page's chart and uptime bars.
    pub async fn history(
        &self,
        env: &str,
        hours_from: DateTime<Utc>,
        days_from: DateTime<Utc>,
    ) -> Result<(Vec<HourLatency>, Vec<DayUptime>), StoreError> {
        either!(&self.backend, db => db.history(env, hours_from, days_from).await)
    }

    /// Every environment the store knows, by name.
    pub async fn summaries(
        &self,
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, Summary>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.summaries(now).await,
            Backend::Postgres(pg) => pg.summaries(now, None).await,
        }
    }
}
