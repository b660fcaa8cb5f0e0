//! The PostgreSQL backend: the store a fleet of instances shares (`storage.url`). Every
//! instance writes its results here; slots are claimed here so that each is probed once per
//! location; the evaluator's lease, the incidents and the outbox live here, so that whichever
//! instance evaluates next starts from the same state.
//!
//! Unlike SQLite, PostgreSQL takes concurrent writers: there is one pool, and a failed
//! transaction is rolled back by sqlx and by the server, so a write fails alone. Runs keep the
//! whole result as JSON beside the columns that queries filter on. Here: connecting, runs,
//! rollups and pruning; `fleet.rs` holds what only a fleet's loops use ([`FleetStore`]), and
//! alerting's tables are `store/alerts/`, their statements shared with SQLite.

mod away;
mod connect;
mod fleet;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::codec::{self, hour_start};
use super::rollups::{DayUptime, SummaryRow, day_uptimes, hour_latencies, summarize, with_run};
use super::{
    History, HistoryFrom, NewRun, PRUNE_BATCH, ROLLUP_RETENTION, RunsPage, StoreError, StoredRun,
    Summary, before,
};
use crate::probe::result::{ProbeResult, Status, Verdict};

pub use away::AwayRecord;
pub use connect::is_bad_config;
pub use fleet::ProbeRequest;
pub use fleet::{FleetStore, InstanceRecord, LocationRun, ObservedRun};

/// The lease whose holder evaluates incidents and delivers notifications; its token fences
/// the holder's alert writes (`check_fence`).
pub const EVALUATOR_LEASE: &str = "evaluator";

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Instances not seen for this long are forgotten: a replaced host is not quiet for ever.
const FORGET_INSTANCES_AFTER: &str = "7 days";

/// Connections per instance: the writer, the evaluator, the status page and the API at once.
const CONNECTIONS: u32 = 6;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// A statement of the writer's transaction that takes longer is cancelled by the server: a
/// stuck lock must fail the write, not hold the writer for ever.
const STATEMENT_TIMEOUT: &str = "SET LOCAL statement_timeout = '15s'";

/// Connections for slot claims alone: a claim stuck on a lock or a dead link holds one of
/// these, never one the writer, the evaluator or the pages need.
const CLAIM_CONNECTIONS: u32 = 4;
/// A claim waits this long for a connection: claims are sent ahead of their slot, and one
/// that cannot be sent in time is decided without the database.
const CLAIM_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// Cheap to clone: the pool is shared.
#[derive(Debug, Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    /// Slot claims' own pool ([`CLAIM_CONNECTIONS`]), connected on first use.
    claims: PgPool,
    /// The evaluator lease's fencing token last held by this instance; 0 while it never held
    /// the lease. Kept once the lease is lost, so that a stalled evaluator's writes are refused.
    fence: AtomicI64,
    instance_id: String,
    location: String,
    /// `host:port/database`, for messages.
    target: String,
    /// Reached, migrated and registered: until then writes fail at once (`connect.rs`).
    up: std::sync::atomic::AtomicBool,
    /// Why the last attempt to reach the store failed, while it has not been reached.
    unreachable: parking_lot::Mutex<String>,
}

impl PgStore {
    /// Connect, migrate (sqlx takes an advisory lock, so replicas starting together migrate
    /// once) and register this instance. A server that does not answer or refuses connections
    /// is retried in the background (the store fails its writes meanwhile, at once); only a
    /// server that answers "wrong password" or "no such database" is an error here.
    pub async fn connect(
        url: &str,
        location: &str,
        instance_id: &str,
    ) -> Result<PgStore, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        // Startup parameters PgBouncer passes on only: no `options`, no `extra_float_digits`
        // (no float is read from a column; PostgreSQL 12+ prints them exactly anyway). No
        // session `SET` either (a transaction-mode pooler would hand it to other clients): the
        // write transaction sets its own statement timeout.
        let options = options.application_name("wsprobe").extra_float_digits(None);
        let claims = PgPoolOptions::new()
            .max_connections(CLAIM_CONNECTIONS)
            .acquire_timeout(CLAIM_ACQUIRE_TIMEOUT)
            // A ping before each claim would double its round trips on a slow link; a dead
            // connection fails the claim, which is then decided without the database.
            .test_before_acquire(false)
            // One kept open: the first claims need not open a connection before the slot.
            .min_connections(1)
            .connect_lazy_with(options.clone());
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.clone());
        let target = connect::target(&options);
        let store = PgStore {
            inner: Arc::new(Inner {
                pool,
                claims,
                fence: AtomicI64::new(0),
                instance_id: instance_id.to_owned(),
                location: location.to_owned(),
                target: target.clone(),
                up: std::sync::atomic::AtomicBool::new(false),
                unreachable: parking_lot::Mutex::new("not reached yet".to_owned()),
            }),
        };
        match store.bring_up(&options).await {
            Ok(()) => {}
            Err(err) if connect::is_bad_config(&err) => return Err(err),
            Err(err) => {
                let error = crate::text::error_chain(&err);
                tracing::warn!(
                    store = %target, attempt = 1,
                    "the shared store is not reachable, starting without it and retrying: {error}"
                );
                *store.inner.unreachable.lock() = error;
                tokio::spawn(store.clone().keep_trying(options));
            }
        }
        Ok(store)
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    fn claims(&self) -> &PgPool {
        &self.inner.claims
    }

    fn set_fence(&self, lease: &str, token: i64) {
        if lease == EVALUATOR_LEASE {
            self.inner.fence.store(token, Ordering::SeqCst);
        }
    }

    /// Refuse an alert write of an evaluator whose lease passed on: the write's transaction
    /// holds the lease row (`FOR SHARE`), so the lease cannot change hands before it commits.
    /// An instance that never held the lease writes only what any instance may (on-call).
    pub(crate) async fn check_fence(
        &self,
        conn: &mut sqlx::PgConnection,
    ) -> Result<(), StoreError> {
        let token = self.inner.fence.load(Ordering::SeqCst);
        if token == 0 {
            return Ok(());
        }
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT token FROM leases
             WHERE name = $1 AND holder = $2 AND token = $3 AND until >= now() FOR SHARE",
        )
        .bind(EVALUATOR_LEASE)
        .bind(self.instance_id())
        .bind(token)
        .fetch_optional(conn)
        .await?;
        match current {
            Some(_) => Ok(()),
            None => Err(StoreError::Fenced(token)),
        }
    }

    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// Store several results in one transaction, all or none; returns their ids, in order.
    /// The runs with their latest-per-location rows, then their rollups, each in a fixed order
    /// ((environment, location), then (environment, hour)): two instances that commit batches
    /// touching the same rows lock them in the same order, never in a deadlock.
    pub async fn insert_runs(&self, runs: &[&NewRun]) -> Result<Vec<i64>, StoreError> {
        self.ensure_up()?;
        let mut tx = self.pool().begin().await?;
        sqlx::query(STATEMENT_TIMEOUT).execute(&mut *tx).await?;
        let location_of = |run: &NewRun| -> String {
            run.result
                .location
                .clone()
                .unwrap_or_else(|| self.location().to_owned())
        };
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by_cached_key(|&i| (runs[i].result.environment.clone(), location_of(runs[i])));
        let mut ids = vec![0; runs.len()];
        for i in order {
            let run = runs[i];
            let result = &run.result;
            // One statement for the run and its location's newest-run row.
            ids[i] = sqlx::query_scalar(
                "WITH run AS (
                     INSERT INTO runs (environment, location, instance, slot_ms, started_at_ns,
                                       status, verdict, in_maintenance, result, diagnosis,
                                       close_code, silence_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::json, $10, $11, $12)
                     RETURNING id, environment, location, started_at_ns, status, verdict,
                               diagnosis, close_code),
                 newest AS (
                     INSERT INTO latest_runs (environment, location, run_id, started_at_ns,
                                              status, verdict, diagnosis, close_code)
                     SELECT environment, location, id, started_at_ns, status, verdict,
                            diagnosis, close_code FROM run
                     ON CONFLICT (environment, location) DO UPDATE SET
                         run_id = excluded.run_id, started_at_ns = excluded.started_at_ns,
                         status = excluded.status, verdict = excluded.verdict,
                         diagnosis = excluded.diagnosis, close_code = excluded.close_code
                     WHERE excluded.started_at_ns >= latest_runs.started_at_ns)
                 SELECT id FROM run",
            )
            .bind(&result.environment)
            .bind(location_of(run))
            .bind(self.instance_id())
            .bind(run.slot.map(codec::ms))
            .bind(codec::to_unix_ns(result.started_at)?)
            .bind(codec::status_code(result.status))
            .bind(codec::verdict_code(result.verdict))
            .bind(run.in_maintenance)
            // As text cast to json: the `json` type keeps it as written (a \u0000 in a message
            // included), where sqlx's Json would go through jsonb.
            .bind(stored_json(result)?)
            .bind(text(&result.diagnosis).as_ref())
            .bind(result.close_code.map(i64::from))
            .bind(run.silence)
            .fetch_one(&mut *tx)
            .await?;
        }
        let mut hours: Vec<(&str, i64, &NewRun)> = runs
            .iter()
            .map(|run| {
                let r = &run.result;
                (r.environment.as_str(), hour_start(r.started_at), *run)
            })
            .collect();
        hours.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (env, hour, run) in hours {
            add_to_rollup(&mut tx, env, hour, run).await?;
        }
        sqlx::query("UPDATE instances SET last_report = now(), last_seen = now() WHERE id = $1")
            .bind(self.instance_id())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ids)
    }

    pub async fn record_skipped(&self, env: &str, slot: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO skipped_slots (environment, location, slot_ms) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(env)
        .bind(self.location())
        .bind(codec::ms(slot))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            sqlx::query(
                "INSERT INTO rollups (environment, hour, skipped) VALUES ($1, $2, 1)
                 ON CONFLICT (environment, hour) DO UPDATE SET skipped = rollups.skipped + 1",
            )
            .bind(env)
            .bind(hour_start(slot))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs of `env` from every location (or `location` only), newest first.
    pub async fn runs(&self, env: &str, page: RunsPage<'_>) -> Result<Vec<StoredRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, in_maintenance, location, result, started_at_ns, silence_id FROM runs
             WHERE environment = $1
               AND ($2::BIGINT IS NULL
                    OR (started_at_ns, id) < (SELECT started_at_ns, id FROM runs WHERE id = $2))
               AND ($3::TEXT IS NULL OR location = $3)
             ORDER BY started_at_ns DESC, id DESC LIMIT $4",
        )
        .bind(env)
        .bind(page.before)
        .bind(page.location)
        .bind(i64::from(page.limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(stored_run).collect()
    }

    /// The newest run of every environment, from any location, by environment name.
    pub async fn latest(&self) -> Result<Vec<StoredRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (l.environment) r.id, r.in_maintenance, r.location, r.result,
                    r.started_at_ns, r.silence_id
             FROM latest_runs l JOIN runs r ON r.id = l.run_id
             ORDER BY l.environment, l.started_at_ns DESC, r.id DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(stored_run).collect()
    }

    pub async fn recent_statuses(
        &self,
        env: &str,
        n: u32,
    ) -> Result<Vec<(DateTime<Utc>, Status, Verdict)>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT started_at_ns, status, verdict FROM runs WHERE environment = $1
             ORDER BY started_at_ns DESC, id DESC LIMIT $2",
        )
        .bind(env)
        .bind(i64::from(n))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(ns, status, verdict)| {
                Ok((
                    codec::from_unix_ns(ns),
                    codec::status_from_code(status)?,
                    codec::verdict_from_code(verdict)?,
                ))
            })
            .collect()
    }

    /// Every environment with rollups in the last 30 days.
    pub async fn summaries(
        &self,
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, Summary>, StoreError> {
        let windows = super::rollups::Windows::ending(now);
        let rows: Vec<SummaryRow> = sqlx::query_as(
            "SELECT environment AS name,
                 COALESCE(SUM(CASE WHEN hour >= $1 THEN runs END), 0)::BIGINT AS runs_day,
                 COALESCE(SUM(CASE WHEN hour >= $1 THEN up + degraded END), 0)::BIGINT AS serving_day,
                 COALESCE(SUM(CASE WHEN hour >= $2 THEN runs END), 0)::BIGINT AS runs_week,
                 COALESCE(SUM(CASE WHEN hour >= $2 THEN up + degraded END), 0)::BIGINT AS serving_week,
                 COALESCE(SUM(runs), 0)::BIGINT AS runs_month,
                 COALESCE(SUM(up + degraded), 0)::BIGINT AS serving_month,
                 COALESCE(SUM(CASE WHEN hour >= $1 THEN skipped END), 0)::BIGINT AS skipped_day
             FROM rollups WHERE hour >= $3
             GROUP BY environment",
        )
        .bind(windows.day)
        .bind(windows.week)
        .bind(windows.month)
        .fetch_all(self.pool())
        .await?;
        let histograms: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT environment, histogram FROM rollups
             WHERE hour >= $1 AND histogram IS NOT NULL",
        )
        .bind(windows.day)
        .fetch_all(self.pool())
        .await?;
        Ok(summarize(rows, histograms))
    }

    /// `env`'s history across its locations, as [`super::SqliteStore::history`].
    pub async fn history(&self, env: &str, from: HistoryFrom) -> Result<History, StoreError> {
        let hourly: Vec<(i64, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT hour, histogram FROM rollups
             WHERE environment = $1 AND hour >= $2 AND runs > 0 ORDER BY hour",
        )
        .bind(env)
        .bind(from.hours.timestamp().div_euclid(3600) * 3600)
        .fetch_all(self.pool())
        .await?;
        let daily: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT hour / 86400 AS day, SUM(runs)::BIGINT, SUM(up + degraded)::BIGINT
             FROM rollups WHERE environment = $1 AND hour >= $2
             GROUP BY day HAVING SUM(runs) > 0 ORDER BY day",
        )
        .bind(env)
        .bind(from.days.timestamp().div_euclid(86_400) * 86_400)
        .fetch_all(self.pool())
        .await?;
        Ok((hour_latencies(env, hourly), day_uptimes(daily)))
    }

    /// `env`'s daily runs across its locations from `from_hour` on, maintenance left out.
    pub async fn days_outside_maintenance(
        &self,
        env: &str,
        from_hour: i64,
    ) -> Result<Vec<DayUptime>, StoreError> {
        let daily: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT hour / 86400 AS day, SUM(runs - maint_runs)::BIGINT,
                    SUM(up + degraded - maint_serving)::BIGINT
             FROM rollups WHERE environment = $1 AND hour >= $2
             GROUP BY day HAVING SUM(runs - maint_runs) > 0 ORDER BY day",
        )
        .bind(env)
        .bind(from_hour)
        .fetch_all(self.pool())
        .await?;
        Ok(day_uptimes(daily))
    }

    /// `env`'s burn-rate windows ending at `now`, across its locations (see
    /// [`super::burn`]).
    pub async fn burn_windows(
        &self,
        env: &str,
        now: DateTime<Utc>,
    ) -> Result<crate::slo::burn::Windows, StoreError> {
        super::burn::postgres(self.pool(), env, now).await
    }

    /// Delete what is older than the retention, in batches; any instance may prune, the
    /// deletes are idempotent. Slot claims go with the runs.
    pub async fn prune(&self, retention: Duration, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let runs_before_ns = before(now, retention)
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(i64::MIN);
        let slots_before_ms = before(now, retention).map(codec::ms).unwrap_or(i64::MIN);
        // A claim only matters while its slot is due.
        let claims_before_ms = codec::ms(now - chrono::Duration::days(1));
        let rollups_before = before(now, retention.max(ROLLUP_RETENTION))
            .map(hour_start)
            .unwrap_or(i64::MIN);
        let mut deleted = 0;
        loop {
            let n = sqlx::query(
                "DELETE FROM runs WHERE id IN (
                     SELECT id FROM runs WHERE started_at_ns < $1 LIMIT $2)",
            )
            .bind(runs_before_ns)
            .bind(i64::from(PRUNE_BATCH))
            .execute(self.pool())
            .await?
            .rows_affected();
            deleted += n;
            if n < u64::from(PRUNE_BATCH) {
                break;
            }
            tokio::task::yield_now().await;
        }
        sqlx::query("DELETE FROM slots WHERE slot_ms < $1")
            .bind(claims_before_ms)
            .execute(self.pool())
            .await?;
        sqlx::query("DELETE FROM skipped_slots WHERE slot_ms < $1")
            .bind(slots_before_ms)
            .execute(self.pool())
            .await?;
        // A location's newest run pruned with the rest: its cell goes too.
        sqlx::query("DELETE FROM latest_runs WHERE started_at_ns < $1")
            .bind(runs_before_ns)
            .execute(self.pool())
            .await?;
        sqlx::query("DELETE FROM instances WHERE last_seen < now() - CAST($1 AS INTERVAL)")
            .bind(FORGET_INSTANCES_AFTER)
            .execute(self.pool())
            .await?;
        sqlx::query("DELETE FROM rollups WHERE hour < $1")
            .bind(rollups_before)
            .execute(self.pool())
            .await?;
        Ok(deleted)
    }

    /// A real write, for /readyz: this instance's heartbeat.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.ensure_up()?;
        let updated = sqlx::query("UPDATE instances SET last_seen = now() WHERE id = $1")
            .bind(self.instance_id())
            .execute(self.pool())
            .await?
            .rows_affected();
        if updated == 0 {
            // Deleted by hand while running: come back.
            self.register(env!("CARGO_PKG_VERSION")).await?;
        }
        Ok(())
    }

    /// Say this instance stopped on purpose (not a quiet one), then close the pool.
    pub async fn close(self) {
        if !self.is_up() {
            self.pool().close().await;
            return;
        }
        let stopped = sqlx::query("UPDATE instances SET stopped_at = now() WHERE id = $1")
            .bind(self.instance_id())
            .execute(self.pool())
            .await;
        if let Err(err) = stopped {
            tracing::warn!("could not record this instance's stop in the shared store: {err}");
        }
        // A claim stuck on a dead link gives up on its own; shutdown does not wait for it.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.claims().close()).await;
        self.pool().close().await;
    }
}

/// The result as stored: its JSON, with the milliseconds as measured rather than rounded to
/// 0.1 ms as the API writes them, so that a run reads back exactly as the probe took it.
fn stored_json(result: &ProbeResult) -> Result<String, StoreError> {
    use serde_json::Value;
    let exact = |ms: Option<f64>| {
        ms.and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number)
    };
    let mut value = serde_json::to_value(result).map_err(StoreError::Encode)?;
    value["close_after_ms"] = exact(result.close_after_ms);
    value["phases_ms"] = Value::Object(
        result
            .phases_ms
            .named()
            .iter()
            .map(|(name, ms)| ((*name).to_owned(), exact(*ms)))
            .collect(),
    );
    if let Some(Value::Array(tried)) = value.get_mut("addresses_tried") {
        for (stored, attempt) in tried.iter_mut().zip(&result.addresses_tried) {
            stored["started_ms"] = exact(Some(attempt.started_ms));
            stored["ms"] = exact(Some(attempt.ms));
        }
    }
    serde_json::to_string(&value).map_err(StoreError::Encode)
}

/// Text for a PostgreSQL `TEXT` column, which cannot hold a NUL: a server's close reason may.
pub(super) fn text(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains('\0') {
        std::borrow::Cow::Owned(value.replace('\0', "\u{fffd}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// Count one run in its hour, the row locked meanwhile: instances of several locations add to
/// the same hour. A run in maintenance is also counted apart, for the SLO.
async fn add_to_rollup(
    tx: &mut Transaction<'static, Postgres>,
    env: &str,
    hour: i64,
    run: &NewRun,
) -> Result<(), StoreError> {
    let (status, total_ms) = (run.result.status, run.result.phases_ms.total);
    let in_maintenance = run.in_maintenance;
    // Creates the hour's row, or locks the existing one, and reads its histogram: the
    // no-op update is what takes the row lock until the transaction ends.
    let stored: Option<Vec<u8>> = sqlx::query_scalar(
        "INSERT INTO rollups (environment, hour) VALUES ($1, $2)
         ON CONFLICT (environment, hour) DO UPDATE SET runs = rollups.runs
         RETURNING histogram",
    )
    .bind(env)
    .bind(hour)
    .fetch_one(&mut **tx)
    .await?;
    let histogram = with_run(stored, status, total_ms);
    sqlx::query(
        "UPDATE rollups SET runs = runs + 1, up = up + $3, degraded = degraded + $4,
                            down = down + $5, histogram = $6, maint_runs = maint_runs + $7,
                            maint_serving = maint_serving + $8
         WHERE environment = $1 AND hour = $2",
    )
    .bind(env)
    .bind(hour)
    .bind(i64::from(status == Status::Up))
    .bind(i64::from(status == Status::Degraded))
    .bind(i64::from(status == Status::Down))
    .bind(histogram)
    .bind(i64::from(in_maintenance))
    .bind(i64::from(in_maintenance && status.is_serving()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `id, in_maintenance, location, result, started_at_ns, silence_id` into a stored run; the
/// time from its column, in nanoseconds whatever the JSON's precision.
pub(super) fn stored_run(row: &sqlx::postgres::PgRow) -> Result<StoredRun, StoreError> {
    let Json(mut result): Json<ProbeResult> = row
        .try_get(3)
        .map_err(|err| codec::corrupt("a stored result", err))?;
    result.started_at = codec::from_unix_ns(row.try_get(4)?);
    Ok(StoredRun {
        id: row.try_get(0)?,
        in_maintenance: row.try_get(1)?,
        silenced_by: row.try_get(5)?,
        result,
    })
}
