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
    /// Its clock minus the database's, in milliseconds, as last measured; `None` before
    /// the first measure.
    pub skew_ms: Option<i64>,
    /// When it last started a probe, whether or not the result could be written.
    #[serde(with = "crate::wire::time_opt")]
    pub last_probe: Option<DateTime<Utc>>,
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

/// Server side, a claim waits no longer than this for a lock, or to run.
const CLAIM_SERVER_TIMEOUT: &str = "1s";
/// This side, a claim gives up on a link that answers nothing after this long.
const CLAIM_GIVE_UP: Duration = Duration::from_secs(3);

/// A text as an SQL expression made of hex digits only, for the simple protocol's statements,
/// which take no parameters.
fn text_literal(text: &str) -> String {
    let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
    format!("convert_from(decode('{hex}', 'hex'), 'UTF8')")
}

const INSTANCES: &str = "SELECT id, location, version, started_at, last_seen, last_report,
         stopped_at, skew_ms, last_probe
     FROM instances ORDER BY location, id";

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
    /// A claim sent again after a failure (whose first try may have landed unseen) is true
    /// when the slot is already this replica's.
    /// On the claims' own connections, in one round trip, bounded on both sides: the server
    /// gives up on a lock or a slow statement after [`CLAIM_SERVER_TIMEOUT`], this side on a
    /// link that answers nothing after [`CLAIM_GIVE_UP`] (and drops that connection, whose
    /// state is unknown).
    pub async fn claim_slot(&self, env: &str, slot: DateTime<Utc>) -> Result<bool, StoreError> {
        // One simple-protocol message of three statements, an implicit transaction: the
        // `SET LOCAL`s end with it, so a pooler in transaction mode hands nothing on. No
        // parameters in that protocol: the texts go in as hex, which cannot break out.
        let sql = format!(
            "SET LOCAL lock_timeout = '{CLAIM_SERVER_TIMEOUT}';
             SET LOCAL statement_timeout = '{CLAIM_SERVER_TIMEOUT}';
             INSERT INTO slots (environment, location, slot_ms, instance)
             VALUES ({}, {}, {}, {})
             ON CONFLICT (environment, location, slot_ms) DO UPDATE SET instance = excluded.instance
             WHERE slots.instance = excluded.instance",
            text_literal(env),
            text_literal(self.location()),
            codec::ms(slot),
            text_literal(self.instance_id()),
        );
        // Never reached since start: say so at once, the slot is not worth a pool time-out.
        self.pg.ensure_up()?;
        let mut conn = self.pg.claims().acquire().await?;
        let claim = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *conn);
        match tokio::time::timeout(CLAIM_GIVE_UP, claim).await {
            Ok(done) => Ok(done?.rows_affected() == 1),
            Err(_) => {
                conn.close_on_drop();
                Err(StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the slot claim had no answer",
                ))))
            }
        }
    }

    /// Say this instance is alive, with its clock skew and when it last started a probe, and
    /// read the database's clock, in one statement: the membership round's. On the claims'
    /// connections, like [`FleetStore::members`]: a heartbeat queued behind a slow batch of
    /// writes would make the others take this live replica for dead and probe its slots too.
    pub async fn report_clock(
        &self,
        skew_ms: Option<i64>,
        last_probe: Option<DateTime<Utc>>,
    ) -> Result<DateTime<Utc>, StoreError> {
        self.pg.ensure_up()?;
        let now = sqlx::query_scalar(
            "WITH alive AS (UPDATE instances SET last_seen = now(), skew_ms = $2,
                     last_probe = COALESCE($3, last_probe)
                 WHERE id = $1)
             SELECT now()",
        )
        .bind(self.instance_id())
        .bind(skew_ms)
        .bind(last_probe)
        .fetch_one(self.pg.claims())
        .await?;
        Ok(now)
    }

    /// Every instance, by location then id (those gone a week are pruned: `Store::prune`).
    pub async fn instances(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        Ok(sqlx::query_as(INSTANCES).fetch_all(self.pool()).await?)
    }

    /// [`FleetStore::instances`] for the membership round, on the claims' connections (see
    /// [`FleetStore::report_clock`]).
    pub async fn members(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        Ok(sqlx::query_as(INSTANCES)
            .fetch_all(self.pg.claims())
            .await?)
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
    /// An expired lease goes to whoever asks first. Its fencing token goes up whenever the
    /// lease is taken (not renewed); the alert writes of this store carry the token held
    /// (`PgStore::check_fence`), so that once another instance took the lease over, this one's
    /// writes are refused even if it has not noticed yet.
    pub async fn hold_lease(&self, name: &str, ttl: Duration) -> Result<bool, StoreError> {
        let token: Option<i64> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, until, token)
             VALUES ($1, $2, now() + make_interval(secs => $3), 1)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until,
                 token = CASE WHEN leases.holder = excluded.holder AND leases.until >= now()
                              THEN leases.token ELSE leases.token + 1 END
             WHERE leases.until < now() OR leases.holder = excluded.holder
             RETURNING token",
        )
        .bind(name)
        .bind(self.instance_id())
        .bind(ttl.as_secs_f64())
        .fetch_optional(self.pool())
        .await?;
        // A lost lease keeps its old token here: the writes it carries are refused.
        if let Some(token) = token {
            self.pg.set_fence(name, token);
        }
        Ok(token.is_some())
    }

    /// Give the lease up at once (a clean shutdown), so that another instance need not wait
    /// for it to expire. The row stays, expired, so that its token only ever goes up.
    pub async fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE leases SET until = now() - interval '1 second'
             WHERE name = $1 AND holder = $2",
        )
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

#[cfg(test)]
mod tests {
    #[test]
    fn texts_reach_the_simple_protocol_as_hex_only() {
        let literal = super::text_literal("it's; DROP TABLE slots; --é");
        assert!(
            literal.starts_with("convert_from(decode('69742773"),
            "{literal}"
        );
        let hex =
            &literal["convert_from(decode('".len()..literal.len() - "', 'hex'), 'UTF8')".len()];
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{literal}");
    }
}
