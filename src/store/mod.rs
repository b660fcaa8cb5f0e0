//! Every probe result, hourly rollups kept longer than the raw runs, and the facts that must
//! outlive a restart: in one SQLite file (the default), or in a PostgreSQL that a fleet of
//! instances shares (`postgres`). [`Store`] is the one interface over both (`backend.rs`).
//! The only place in the crate that holds SQL; for SQLite one file per table, plus the pure
//! encodings (`codec`) and latency buckets (`histogram`) both backends use. Alerting's tables
//! (incidents, alert state, the notification outbox) are in `incidents` and `outbox`.
//!
//! SQLite takes one writer at a time, so writes go through a pool of one connection: callers
//! queue in-process instead of meeting `SQLITE_BUSY`, and a prune in batches lets inserts in
//! between. Reads use their own read-only pool and, with WAL, never wait for the writer.
//!
//! Every method returns its failure (read-only file, full disk, damaged rows) as a
//! [`StoreError`] and never panics: the caller logs it and goes on probing.

mod backend;
mod blobs;
mod codec;
mod decode;
mod environments;
pub mod histogram;
mod incidents;
mod meta;
mod outbox;
pub mod postgres;
mod rollups;
mod runs;
mod skipped;
mod sqlite;
mod write;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::migrate::Migrator;

use crate::probe::result::{Headers, ProbeResult};
pub use backend::{AlertTx, Store};
use codec::RunContext;
pub use incidents::{AlertState, IncidentFilter, IncidentRecord, IncidentState};
pub use outbox::{
    DeliveryState, FailedNotification, NewNotification, NotificationRecord, PendingNotification,
};
pub use postgres::{InstanceRecord, LocationRun, ObservedRun, PgStore};
pub use rollups::{DayUptime, HourLatency};
pub use sqlite::{FileStatus, SqliteStore};

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
}

/// A result on its way into the store.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub result: std::sync::Arc<ProbeResult>,
    /// Inside a maintenance window when it ran.
    pub in_maintenance: bool,
    /// The scheduled slot it was probed for; `None` on demand.
    pub slot: Option<DateTime<Utc>>,
}

/// A result's text parts, encoded before the writer is taken: it is held for SQL only.
struct EncodedRun {
    context: String,
    headers: Option<codec::SplitHeaders>,
    messages: Option<String>,
}

impl EncodedRun {
    fn of(result: &ProbeResult) -> Result<EncodedRun, StoreError> {
        let context = serde_json::to_string(&RunContext {
            url: result.url.clone(),
            location: result.location.clone(),
            subprotocol: result.subprotocol.clone(),
            version: result.version.clone(),
            tls: result.tls.clone(),
        })
        .map_err(StoreError::Encode)?;
        let headers = if result.headers == Headers::default() {
            None
        } else {
            Some(codec::split_headers(&result.headers)?)
        };
        let messages = if result.messages.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&result.messages).map_err(StoreError::Encode)?)
        };
        Ok(EncodedRun {
            context,
            headers,
            messages,
        })
    }

    /// The run row, its blobs and its hour's rollup, inside the caller's transaction.
    async fn insert(
        &self,
        tx: &mut sqlx::SqliteConnection,
        result: &ProbeResult,
        in_maintenance: bool,
    ) -> Result<i64, StoreError> {
        let env_id = environments::id_for(tx, &result.environment).await?;
        let context_id = blobs::acquire(tx, &self.context).await?;
        let (headers_id, header_values) = match &self.headers {
            Some(split) => (
                Some(blobs::acquire(tx, &split.template).await?),
                split.values.clone(),
            ),
            None => (None, None),
        };
        let messages_id = match &self.messages {
            Some(json) => Some(blobs::acquire(tx, json).await?),
            None => None,
        };
        let body_id = match &result.body_excerpt {
            Some(body) => Some(blobs::acquire(tx, body).await?),
            None => None,
        };
        let refs = runs::Refs {
            context_id,
            headers_id,
            header_values,
            messages_id,
            body_id,
        };
        let id = runs::insert(tx, env_id, result, in_maintenance, refs).await?;
        let hour = codec::hour_start(result.started_at);
        rollups::add_run(tx, env_id, hour, result.status, result.phases_ms.total).await?;
        Ok(id)
    }
}

/// A stored probe result and what the store adds to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRun {
    /// Stable for the life of the row: the API's `before` cursor.
    pub id: i64,
    /// Inside a maintenance window when it ran: shown, but no notification was due.
    pub in_maintenance: bool,
    pub result: ProbeResult,
}

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
