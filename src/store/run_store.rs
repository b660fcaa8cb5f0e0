//! [`RunStore`]: probe results in, and what the daemon reads back from them at start and for
//! its status: the newest run per environment, recent outcomes and summaries (the web's own
//! reads are on [`super::ReadOnlyStore`]). SQLite and PostgreSQL keep runs and rollups
//! differently (`sqlite.rs` with one file per table, `postgres/`); this is the one set of
//! calls over both.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::lifecycle::either;
use super::{Backend, DayUptime, NewRun, StoreError, StoredRun, Summary};
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

    /// `env`'s runs per UTC day from `from_hour` (epoch seconds of an hour's start) on, runs
    /// in maintenance left out: what its SLO is measured on. Oldest first.
    pub async fn days_outside_maintenance(
        &self,
        env: &str,
        from_hour: i64,
    ) -> Result<Vec<DayUptime>, StoreError> {
        either!(&self.backend, db => db.days_outside_maintenance(env, from_hour).await)
    }

    /// `env`'s runs over the burn-rate windows (5 min, 30 min, 1 h, 6 h) ending at `now`,
    /// maintenance counted apart: at most two hours of raw runs and six rollups read.
    pub async fn burn_windows(
        &self,
        env: &str,
        now: DateTime<Utc>,
    ) -> Result<crate::slo::burn::Windows, StoreError> {
        either!(&self.backend, db => db.burn_windows(env, now).await)
    }

    /// Every environment the store knows, by name.
    pub async fn summaries(
        &self,
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, Summary>, StoreError> {
        either!(&self.backend, db => db.summaries(now).await)
    }
}
