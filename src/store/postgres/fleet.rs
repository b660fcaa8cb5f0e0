//! What only a fleet needs: slot claims, the instances table, the evaluator's lease, and the
//! runs the evaluator reads from every location.

mod requests;

pub use requests::ProbeRequest;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::PgStore;
use crate::probe::result::{Status, Verdict};
use crate::store::StoreError;
use crate::store::codec;

/// One instance, as `GET /api/v1/instances` lists it (and as its row reads).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct InstanceRecord {
    pub id: String,
    pub location: String,
    pub version: String,
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub last_seen: DateTime<Utc>,
    /// The last time it wrote results.
    #[serde(with = "crate::wire::time_opt")]
    pub last_report: Option<DateTime<Utc>>,
    /// Set when it shut down cleanly.
    #[serde(with = "crate::wire::time_opt")]
    pub stopped_at: Option<DateTime<Utc>>,
}

/// The newest result of one environment from one location: a cell of the matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationRun {
    pub environment: String,
    pub location: String,
    pub started_at: DateTime<Utc>,
    pub status: Status,
    pub verdict: Verdict,
    pub diagnosis: String,
    pub close_code: Option<u16>,
}

/// A run as the evaluator reads it: enough to step the incident rules, and the result itself
/// for the notification's summary.
#[derive(Debug, Clone)]
pub struct ObservedRun {
    pub id: i64,
    pub location: String,
    pub in_maintenance: bool,
    pub result: crate::probe::ProbeResult,
}

/// What only a fleet's own loops need of the shared store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FleetStore {
    pg: PgStore,
}

impl PgStore {
    /// Insert or refresh this instance's row: it is alive and not stopped.
    pub(super) async fn register(&self, version: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO instances (id, location, version, started_at, last_seen)
             VALUES ($1, $2, $3, now(), now())
             ON CONFLICT (id) DO UPDATE SET location = excluded.location,
                 version = excluded.version, started_at = excluded.started_at,
                 last_seen = excluded.last_seen, stopped_at = NULL",
        )
        .bind(self.instance_id())
        .bind(self.location())
        .bind(version)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

impl FleetStore {
    pub(in crate::store) fn new(pg: PgStore) -> FleetStore {
        FleetStore { pg }
    }

    pub fn instance_id(&self) -> &str {
        self.pg.instance_id()
    }

    /// Where this instance probes from.
    pub fn location(&self) -> &str {
        self.pg.location()
    }

    pub(super) fn pool(&self) -> &sqlx::PgPool {
        self.pg.pool()
    }

    /// Claim `slot` of `env` for this location; true for the one replica whose claim landed.
    pub async fn claim_slot(&self, env: &str, slot: DateTime<Utc>) -> Result<bool, StoreError> {
        // Never reached since start: say so at once, the slot is not worth a pool time-out.
        self.pg.ensure_up()?;
        let claimed = sqlx::query(
            "INSERT INTO slots (environment, location, slot_ms, instance) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(env)
        .bind(self.location())
        .bind(codec::ms(slot))
        .bind(self.instance_id())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    /// Every instance, by location then id (those gone a week are pruned: `Store::prune`).
    pub async fn instances(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        const INSTANCES: &str = "SELECT id, location, version, started_at, last_seen, last_report,
                 stopped_at
             FROM instances ORDER BY location, id";
        Ok(sqlx::query_as(INSTANCES).fetch_all(self.pool()).await?)
    }

    /// The newest run of each environment from each location.
    pub async fn latest_by_location(&self) -> Result<Vec<LocationRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT environment, location, started_at_ns, status, verdict, diagnosis, close_code
             FROM latest_runs ORDER BY environment, location",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LocationRun {
                    environment: row.try_get(0)?,
                    location: row.try_get(1)?,
                    started_at: codec::from_unix_ns(row.try_get(2)?),
                    status: codec::status_from_code(row.try_get(3)?)?,
                    verdict: codec::verdict_from_code(row.try_get(4)?)?,
                    diagnosis: row.try_get(5)?,
                    close_code: row
                        .try_get::<Option<i64>, _>(6)?
                        .and_then(|c| u16::try_from(c).ok()),
                })
            })
            .collect()
    }

    /// Runs written after run `after`, oldest first: the evaluator's feed.
    pub async fn runs_after(&self, after: i64, limit: u32) -> Result<Vec<ObservedRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, location, in_maintenance, result, started_at_ns FROM runs WHERE id > $1
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(observed).collect()
    }

    /// The newest `per` runs of each environment and location, oldest first, and the id of
    /// the newest run of all: what a new evaluator replays to learn each location's state.
    pub async fn recent_runs(&self, per: u32) -> Result<(Vec<ObservedRun>, i64), StoreError> {
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM runs")
            .fetch_one(self.pool())
            .await?;
        let rows = sqlx::query(
            "SELECT id, location, in_maintenance, result, started_at_ns FROM (
                 SELECT id, location, in_maintenance, result, started_at_ns,
                        row_number() OVER (PARTITION BY environment, location ORDER BY id DESC) AS n
                 FROM runs WHERE started_at_ns > $2) recent
             WHERE n <= $1 ORDER BY id",
        )
        .bind(i64::from(per))
        .bind(
            (Utc::now() - chrono::Duration::hours(3))
                .timestamp_nanos_opt()
                .unwrap_or(0),
        )
        .fetch_all(self.pool())
        .await?;
        let runs = rows.iter().map(observed).collect::<Result<_, _>>()?;
        Ok((runs, newest.unwrap_or(0)))
    }

    /// Take or renew the lease `name` for `ttl`, on the database's clock: true while held.
    /// An expired lease goes to whoever asks first.
    pub async fn hold_lease(&self, name: &str, ttl: Duration) -> Result<bool, StoreError> {
        let holder: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, until)
             VALUES ($1, $2, now() + make_interval(secs => $3))
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE leases.until < now() OR leases.holder = excluded.holder
             RETURNING holder",
        )
        .bind(name)
        .bind(self.instance_id())
        .bind(ttl.as_secs_f64())
        .fetch_optional(self.pool())
        .await?;
        Ok(holder.is_some())
    }

    /// Give the lease up at once (a clean shutdown), so that another instance need not wait
    /// for it to expire.
    pub async fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(self.instance_id())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Who holds the lease `name`, if anyone holds it now.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let holder =
            sqlx::query_scalar("SELECT holder FROM leases WHERE name = $1 AND until >= now()")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        Ok(holder)
    }
}

fn observed(row: &sqlx::postgres::PgRow) -> Result<ObservedRun, StoreError> {
    let sqlx::types::Json(mut result): sqlx::types::Json<crate::probe::ProbeResult> = row
        .try_get(3)
        .map_err(|err| codec::corrupt("a stored result", err))?;
    let location: String = row.try_get(1)?;
    result.started_at = codec::from_unix_ns(row.try_get(4)?);
    Ok(ObservedRun {
        id: row.try_get(0)?,
        location,
        in_maintenance: row.try_get(2)?,
        result,
    })
}
