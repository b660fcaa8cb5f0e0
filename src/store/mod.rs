//! Every probe result, hourly rollups kept longer than the raw runs, and the facts that must
//! outlive a restart: in one SQLite file (the default), or in a PostgreSQL that a fleet of
//! instances shares (`postgres`). [`Store`] opens, heals, prunes and closes either
//! (`lifecycle.rs`) and hands each caller the narrow view it needs:
//!
//! - [`RunStore`] (`store.runs()`): results in, runs, history, rollups and summaries out;
//! - [`AlertStore`] (`store.alerts()`): incidents and their notes, alert state and the
//!   notification outbox, their statements written once for both databases (`alerts/`);
//! - [`FleetStore`] (`store.fleet()`, a shared store only): slot claims, instances, the
//!   evaluator's lease, the newest result per location;
//! - [`ReadOnlyStore`] (`store.read_only()`): the reads the web serves, and no write.
//!
//! The only place in the crate that holds SQL; for SQLite one file per table, plus the pure
//! encodings (`codec`) and latency buckets (`histogram`) both backends use.
//!
//! SQLite takes one writer at a time, so writes go through a pool of one connection: callers
//! queue in-process instead of meeting `SQLITE_BUSY`, and a prune in batches lets inserts in
//! between. Reads use their own read-only pool and, with WAL, never wait for the writer.
//!
//! Every method returns its failure (read-only file, full disk, damaged rows) as a
//! [`StoreError`] and never panics: the caller logs it and goes on probing.

mod alerts;
mod blobs;
mod burn;
mod codec;
mod environments;
pub mod histogram;
mod lifecycle;
mod meta;
mod multi_row;
mod postgres;
mod read_only;
mod rollups;
mod run_store;
mod runs;
mod skipped;
mod sqlite;
mod write;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::migrate::Migrator;

use crate::probe::result::ProbeResult;
pub use alerts::{
    AckOutcome, AlertState, AlertStore, AlertTx, DeliveryState, ExpireOutcome, FailedNotification,
    IncidentFilter, IncidentRecord, IncidentState, NewNote, NewNotification, NoteRecord,
    NoteStatus, NotificationRecord, PendingNotification,
};
use lifecycle::Backend;
pub use lifecycle::Store;
pub use postgres::{AwayRecord, EVALUATOR_LEASE, ProbeRequest};
pub use postgres::{FleetStore, InstanceRecord, LocationRun, ObservedRun, is_bad_config};
pub use read_only::ReadOnlyStore;
pub use rollups::{DayUptime, HourLatency};
pub use run_store::RunStore;
pub use sqlite::FileStatus;

/// How long hourly rollups are kept, whatever `storage.retention` says about raw runs (a longer
/// raw retention wins): 400 days is a year-over-year comparison with a month to spare, at about
/// 100 bytes per environment-hour.
pub const ROLLUP_RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);

/// Runs deleted per write transaction while pruning: a few milliseconds of writer time, so a
/// probe result arriving meanwhile waits at most that long.
const PRUNE_BATCH: u32 = 500;
/// Concurrent readers: the status page, the API and the alert loop at once, on two cores.
const READERS: u32 = 4;
/// How long SQLite waits on a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for the writer or a reader of this process.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("encoding a result for storage: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
    #[error("{0}")]
    OutOfRange(String),
    /// An evaluator's write carrying a lease token that is no longer current: another
    /// instance took the lease over.
    #[error("the evaluator lease passed on: a write with fencing token {0} was refused")]
    Fenced(i64),
    #[error(
        "the store's database file {0} was deleted while open: results wait in memory until \
         a database is back at that path or the daemon restarts"
    )]
    FileDeleted(String),
    /// Overwritten in place: with WAL, writes would go on "succeeding" into the log of a file
    /// that is garbage, and nothing could be read back.
    #[error(
        "the store's database file {0} was overwritten with something that is not an SQLite \
         database: results wait in memory until a database is back at that path"
    )]
    NotDatabase(String),
    #[error(
        "the store's database file {0} was replaced by another file: it is reopened at the \
         next write"
    )]
    FileReplaced(String),
    /// A shared store not reached since start, with where and the last attempt's error.
    #[error("shared store {0}")]
    NotConnected(String),
}

/// A result on its way into the store.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub result: std::sync::Arc<ProbeResult>,
    /// Inside a maintenance window when it ran.
    pub in_maintenance: bool,
    /// The id of the silence that matched it: its notifications were held.
    pub silence: Option<i64>,
    /// The scheduled slot it was probed for; `None` on demand.
    pub slot: Option<DateTime<Utc>>,
}

/// A stored probe result and what the store adds to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRun {
    /// Stable for the life of the row: the API's `before` cursor.
    pub id: i64,
    /// Inside a maintenance window when it ran: shown, but no notification was due.
    pub in_maintenance: bool,
    /// The silence that matched it when it was recorded: shown, never notified.
    pub silenced_by: Option<i64>,
    pub result: ProbeResult,
}

/// A page of one environment's runs, newest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunsPage<'a> {
    pub limit: u32,
    /// The id of the last run of the previous page.
    pub before: Option<i64>,
    /// Runs from this location only; from every location when `None`.
    pub location: Option<&'a str>,
}

impl RunsPage<'_> {
    /// The newest `limit` runs from every location.
    pub fn newest(limit: u32) -> RunsPage<'static> {
        RunsPage {
            limit,
            ..RunsPage::default()
        }
    }
}

/// Where an environment's history starts: hourly latency from `hours`, daily counts from
/// `days` (the environment page's chart and uptime bars).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryFrom {
    pub hours: DateTime<Utc>,
    pub days: DateTime<Utc>,
}

/// Hourly latency percentiles and daily run counts, oldest first.
pub type History = (Vec<HourLatency>, Vec<DayUptime>);

/// What the status page shows per environment, read from hourly rollups. Windows are whole
/// hours counted back from the current one (24, 168, 720 of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Share of runs that were up or degraded; `None` without runs.
    pub uptime_24h: Option<f64>,
    pub uptime_7d: Option<f64>,
    pub uptime_30d: Option<f64>,
    /// Percentiles of `total` over serving runs only: a refused connection answers in a
    /// millisecond and would make an outage look fast. Within one histogram bucket (< 30 %).
    pub p50_ms_24h: Option<f64>,
    pub p95_ms_24h: Option<f64>,
    /// Slots not probed because the previous probe was still running.
    pub skipped_24h: u64,
}

/// `now - age`, or `None` when that is before any time chrono represents.
pub(crate) fn before(now: DateTime<Utc>, age: Duration) -> Option<DateTime<Utc>> {
    let age = chrono::Duration::from_std(age).ok()?;
    now.checked_sub_signed(age)
}
