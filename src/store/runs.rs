//! One row per probe result, and reading them back into the `ProbeResult` that was stored.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite, SqliteConnection, TypeInfo, ValueRef};

use super::codec::{self, Millis, RunContext};
use super::{NewRun, StoreError, StoredRun, multi_row};
use crate::probe::result::{HealthInfo, Phases, ProbeResult, Status, Verdict};

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

/// Blob ids and the per-request header values of a run about to be inserted.
pub struct Refs<'a> {
    pub context_id: i64,
    pub headers_id: Option<i64>,
    pub header_values: Option<&'a str>,
    pub messages_id: Option<i64>,
    pub body_id: Option<i64>,
}

/// The columns of a run row, in the order [`bind_run`] binds them.
const RUN_COLUMNS: &str = "env_id, started_at_ns, status, verdict, in_maintenance, attempts,
    failed_step, http_status, close_code, close_reason, close_after_ms,
    token_ms, login_ms, health_ms, dns_ms, connect_ms, proxy_ms, tls_ms, upgrade_ms, ready_ms,
    exchange_ms, close_ms, total_ms,
    health_status, health_ok, health_error,
    context_id, headers_id, header_values, messages_id, body_id, error, diagnosis,
    trace_id, silence_id";
const RUN_COLUMN_COUNT: usize = 35;

/// A run about to be inserted: its environment, the result, and its blobs' ids.
pub struct NewRow<'a> {
    pub env_id: i64,
    pub run: &'a NewRun,
    pub refs: Refs<'a>,
}

/// Insert `rows` in a few multi-row statements. Returns their ids, in the order of `rows`.
pub async fn insert(
    conn: &mut SqliteConnection,
    rows: Vec<NewRow<'_>>,
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut rows = rows.into_iter();
    for chunk in multi_row::chunks(rows.len()) {
        let sql = format!(
            "INSERT INTO runs ({RUN_COLUMNS}) VALUES {} RETURNING id",
            multi_row::placeholders(chunk.len(), RUN_COLUMN_COUNT)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in rows.by_ref().take(chunk.len()) {
            query = bind_run(query, row)?;
        }
        let mut chunk_ids: Vec<i64> = query
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        // RETURNING gives rows in no stated order, but the rows of one INSERT are inserted in
        // the order of VALUES and each new rowid is the largest so far plus one (`id` is not
        // AUTOINCREMENT and never near i64::MAX), so ascending ids are the rows' own order.
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    Ok(ids)
}

/// Bind one run's [`RUN_COLUMNS`].
fn bind_run<'q>(query: Query<'q>, row: NewRow<'_>) -> Result<Query<'q>, StoreError> {
    let NewRow { env_id, run, refs } = row;
    let result = &run.result;
    let health = result.health.as_ref();
    let query = query
        .bind(env_id)
        .bind(codec::to_unix_ns(result.started_at)?)
        .bind(codec::status_code(result.status))
        .bind(codec::verdict_code(result.verdict))
        .bind(run.in_maintenance)
        .bind(i64::from(result.attempts))
        .bind(
            result
                .failed_step
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        )
        .bind(result.http_status.map(i64::from))
        .bind(result.close_code.map(i64::from))
        .bind(result.close_reason.as_deref());
    let mut query = bind_ms(query, result.close_after_ms);
    // Column order above is the protocol order `named` gives.
    for (_, value) in result.phases_ms.named() {
        query = bind_ms(query, value);
    }
    Ok(query
        .bind(health.and_then(|h| h.http_status).map(i64::from))
        .bind(health.map(|h| h.ok))
        .bind(health.and_then(|h| h.error.as_deref()))
        .bind(refs.context_id)
        .bind(refs.headers_id)
        .bind(refs.header_values)
        .bind(refs.messages_id)
        .bind(refs.body_id)
        .bind(result.error.as_deref())
        .bind(result.diagnosis.as_str())
        .bind(result.trace_id.as_deref().and_then(codec::trace_id_bytes))
        .bind(run.silence))
}

fn bind_ms(query: Query<'_>, value: Option<f64>) -> Query<'_> {
    match value.map(codec::encode_ms) {
        None => query.bind(None::<i64>),
        Some(Millis::Micros(us)) => query.bind(us),
        Some(Millis::Exact(ms)) => query.bind(ms),
    }
}

/// The columns every reader selects, for `decode`; `r` is runs, `e` environments, and `c`, `h`,
/// `m`, `b` the context, headers, messages and body blobs.
macro_rules! run_columns {
    () => {
        "r.id, e.name AS environment, r.started_at_ns, r.status, r.verdict, r.in_maintenance,
         r.attempts, r.failed_step, r.http_status, r.close_code, r.close_reason,
         r.close_after_ms, r.token_ms, r.login_ms, r.health_ms, r.dns_ms, r.connect_ms, r.proxy_ms, r.tls_ms,
         r.upgrade_ms, r.ready_ms, r.exchange_ms, r.close_ms, r.total_ms,
         r.health_status, r.health_ok, r.health_error,
         c.body AS context, h.body AS headers, r.header_values, m.body AS messages,
         b.body AS body_excerpt, r.error, r.diagnosis, r.trace_id, r.silence_id"
    };
}

macro_rules! blob_joins {
    () => {
        " JOIN blobs c ON c.id = r.context_id
          LEFT JOIN blobs h ON h.id = r.headers_id
          LEFT JOIN blobs m ON m.id = r.messages_id
          LEFT JOIN blobs b ON b.id = r.body_id "
    };
}

const NEWEST: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs r JOIN environments e ON e.id = r.env_id",
    blob_joins!(),
    "WHERE e.name = ?1
     ORDER BY r.started_at_ns DESC, r.id DESC
     LIMIT ?2"
);

/// Keyset pagination: strictly older than the cursor run, ties on time broken by id.
const OLDER_THAN: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs r JOIN environments e ON e.id = r.env_id",
    blob_joins!(),
    "WHERE e.name = ?1 AND (r.started_at_ns, r.id) < (?2, ?3)
     ORDER BY r.started_at_ns DESC, r.id DESC
     LIMIT ?4"
);

/// One index probe per environment for its newest run, in one statement.
const LATEST: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM environments e
      JOIN runs r ON r.id = (
          SELECT id FROM runs WHERE env_id = e.id
          ORDER BY started_at_ns DESC, id DESC LIMIT 1)",
    blob_joins!(),
    "ORDER BY e.name"
);

pub async fn newest(
    conn: &mut SqliteConnection,
    env: &str,
    limit: u32,
    before: Option<i64>,
) -> Result<Vec<StoredRun>, StoreError> {
    let rows = match before {
        None => {
            sqlx::query(NEWEST)
                .bind(env)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?
        }
        Some(cursor) => {
            let started: Option<i64> =
                sqlx::query_scalar("SELECT started_at_ns FROM runs WHERE id = ?1")
                    .bind(cursor)
                    .fetch_optional(&mut *conn)
                    .await?;
            // A cursor pruned away (or never issued) has nothing before it that we can place.
            let Some(started) = started else {
                return Ok(Vec::new());
            };
            sqlx::query(OLDER_THAN)
                .bind(env)
                .bind(started)
                .bind(cursor)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?
        }
    };
    rows.iter().map(decode).collect()
}

pub async fn latest(conn: &mut SqliteConnection) -> Result<Vec<StoredRun>, StoreError> {
    let rows = sqlx::query(LATEST).fetch_all(conn).await?;
    rows.iter().map(decode).collect()
}

pub async fn recent_statuses(
    conn: &mut SqliteConnection,
    env: &str,
    n: u32,
) -> Result<Vec<(DateTime<Utc>, Status, Verdict)>, StoreError> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT r.started_at_ns, r.status, r.verdict
         FROM runs r JOIN environments e ON e.id = r.env_id
         WHERE e.name = ?1
         ORDER BY r.started_at_ns DESC, r.id DESC
         LIMIT ?2",
    )
    .bind(env)
    .bind(i64::from(n))
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(at, status, verdict)| {
            Ok((
                codec::from_unix_ns(at),
                codec::status_from_code(status)?,
                codec::verdict_from_code(verdict)?,
            ))
        })
        .collect()
}

/// The blob references of a deleted run.
#[derive(sqlx::FromRow)]
struct HeldRefs {
    context_id: i64,
    headers_id: Option<i64>,
    messages_id: Option<i64>,
    body_id: Option<i64>,
}

/// Delete up to `batch` runs of one environment started before `before_ns`. Returns how many
/// went and the blob references they held, for `blobs::release`.
pub async fn delete_before(
    conn: &mut SqliteConnection,
    env_id: i64,
    before_ns: i64,
    batch: u32,
) -> Result<(u64, HashMap<i64, i64>), StoreError> {
    let rows: Vec<HeldRefs> = sqlx::query_as(
        "DELETE FROM runs WHERE id IN (
             SELECT id FROM runs WHERE env_id = ?1 AND started_at_ns < ?2 LIMIT ?3)
         RETURNING context_id, headers_id, messages_id, body_id",
    )
    .bind(env_id)
    .bind(before_ns)
    .bind(i64::from(batch))
    .fetch_all(conn)
    .await?;
    let mut released: HashMap<i64, i64> = HashMap::new();
    for held in &rows {
        for id in [
            Some(held.context_id),
            held.headers_id,
            held.messages_id,
            held.body_id,
        ]
        .into_iter()
        .flatten()
        {
            *released.entry(id).or_default() += 1;
        }
    }
    Ok((rows.len() as u64, released))
}

fn decode(row: &SqliteRow) -> Result<StoredRun, StoreError> {
    let context: RunContext = serde_json::from_str(row.try_get::<&str, _>("context")?)
        .map_err(|e| codec::corrupt("context blob", e))?;
    let headers = match row.try_get::<Option<&str>, _>("headers")? {
        Some(template) => {
            codec::join_headers(template, row.try_get::<Option<&str>, _>("header_values")?)?
        }
        None => Default::default(),
    };
    let messages = match row.try_get::<Option<&str>, _>("messages")? {
        Some(json) => serde_json::from_str(json).map_err(|e| codec::corrupt("messages blob", e))?,
        None => Vec::new(),
    };
    let health = match row.try_get::<Option<bool>, _>("health_ok")? {
        Some(ok) => Some(HealthInfo {
            http_status: small(row, "health_status")?,
            ok,
            error: row.try_get("health_error")?,
        }),
        None => None,
    };
    let result = ProbeResult {
        environment: row.try_get("environment")?,
        location: context.location,
        url: context.url,
        started_at: codec::from_unix_ns(row.try_get("started_at_ns")?),
        status: codec::status_from_code(row.try_get("status")?)?,
        verdict: codec::verdict_from_code(row.try_get("verdict")?)?,
        close_code: small(row, "close_code")?,
        close_reason: row.try_get("close_reason")?,
        close_after_ms: millis(row, "close_after_ms")?,
        http_status: small(row, "http_status")?,
        body_excerpt: row.try_get("body_excerpt")?,
        subprotocol: context.subprotocol,
        attempts: small(row, "attempts")?.unwrap_or_default(),
        failed_step: small(row, "failed_step")?,
        version: context.version,
        phases_ms: Phases {
            token: millis(row, "token_ms")?,
            login: millis(row, "login_ms")?,
            health: millis(row, "health_ms")?,
            dns: millis(row, "dns_ms")?,
            connect: millis(row, "connect_ms")?,
            proxy: millis(row, "proxy_ms")?,
            tls: millis(row, "tls_ms")?,
            upgrade: millis(row, "upgrade_ms")?,
            ready: millis(row, "ready_ms")?,
            exchange: millis(row, "exchange_ms")?,
            close: millis(row, "close_ms")?,
            total: millis(row, "total_ms")?,
        },
        tls: context.tls,
        health,
        headers,
        messages,
        diagnosis: row.try_get("diagnosis")?,
        error: row.try_get("error")?,
        trace_id: row
            .try_get::<Option<&[u8]>, _>("trace_id")?
            .map(codec::trace_id_hex)
            .transpose()?,
        timeline: None,
        client_close_code: context.client_close_code,
        client_close_reason: context.client_close_reason,
        protocol: context.protocol,
        addresses_tried: codec::addresses_tried(
            context.addresses_tried,
            context.peer.as_ref(),
            millis(row, "connect_ms")?,
        ),
        peer: context.peer,
        confirmation: context.confirmation,
        requested_by: context.requested_by,
    };
    Ok(StoredRun {
        id: row.try_get("id")?,
        in_maintenance: row.try_get("in_maintenance")?,
        silenced_by: row.try_get("silence_id")?,
        result,
    })
}

/// An INTEGER column into a narrower integer type.
fn small<T: TryFrom<i64>>(row: &SqliteRow, column: &str) -> Result<Option<T>, StoreError> {
    match row.try_get::<Option<i64>, _>(column)? {
        None => Ok(None),
        Some(v) => T::try_from(v)
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("{column} {v} is out of range"))),
    }
}

/// A millisecond column written by `bind_ms`: INTEGER microseconds or the REAL itself.
fn millis(row: &SqliteRow, column: &str) -> Result<Option<f64>, StoreError> {
    let raw = row.try_get_raw(column)?;
    if raw.is_null() {
        return Ok(None);
    }
    let storage = raw.type_info().name().to_owned();
    match storage.as_str() {
        "INTEGER" => Ok(Some(codec::micros_to_ms(row.try_get(column)?))),
        "REAL" => Ok(Some(row.try_get(column)?)),
        other => Err(StoreError::Corrupt(format!("{column} holds {other}"))),
    }
}
