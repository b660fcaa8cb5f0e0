//! The runs of the burn-rate windows (5 min, 30 min, 1 h, 6 h) ending now, for one environment
//! ([`crate::slo::burn`]). Rollups have one-hour resolution, so the windows are cut into what
//! they can answer and what only raw runs can: the last hour's runs (every short window, the
//! hour itself and the current hour's part of 6 h) in one index range scan, the whole hours
//! inside the 6 h from the rollups, and the part of the oldest hour inside the 6 h from the
//! raw runs again. At most two hours of raw runs are read, whatever the schedule.
//!
//! The statements are written once; the dialects differ only in how they name the environment
//! and number their parameters.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row, SqlitePool};

use super::StoreError;
use crate::slo::burn::{Counts, Windows};

const NS: i64 = 1_000_000_000;
const HOUR: i64 = 3600;

/// Where the windows start, for a given `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bounds {
    /// Starts of the 5 min, 30 min and 1 h windows and of the current hour, nanoseconds.
    recent_ns: [i64; 4],
    /// The part of the 6 h window before its first whole hour: `[from, to)`, nanoseconds.
    head_ns: (i64, i64),
    /// The whole hours inside the 6 h window: `[from, to)`, hour starts in seconds.
    hours: (i64, i64),
}

impl Bounds {
    pub(super) fn at(now: DateTime<Utc>) -> Bounds {
        let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let back = |secs: i64| now_ns.saturating_sub(secs * NS);
        let current_hour = now.timestamp().div_euclid(HOUR) * HOUR;
        let six_ago_ns = back(6 * HOUR);
        // The first hour boundary at or after the 6 h window's start.
        let first_whole = if six_ago_ns.rem_euclid(HOUR * NS) == 0 {
            six_ago_ns.div_euclid(NS)
        } else {
            (six_ago_ns.div_euclid(NS).div_euclid(HOUR) + 1) * HOUR
        };
        Bounds {
            recent_ns: [back(300), back(1800), back(HOUR), current_hour * NS],
            head_ns: (six_ago_ns, first_whole * NS),
            hours: (first_whole, current_hour),
        }
    }
}

/// Four counts for each lower bound numbered from `first` (`?N` or `$N`).
fn counting(bounds: usize, first: usize, mark: char) -> String {
    (first..first + bounds)
        .map(|n| {
            let from = format!("started_at_ns >= {mark}{n}");
            format!(
                "COUNT(*) FILTER (WHERE {from}),
                 COUNT(*) FILTER (WHERE {from} AND status IN (0, 1)),
                 COUNT(*) FILTER (WHERE {from} AND in_maintenance),
                 COUNT(*) FILTER (WHERE {from} AND in_maintenance AND status IN (0, 1))"
            )
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

/// Runs of the environment (parameter 1) in `[?2, ?3)`, counted from each of `bounds` lower
/// bounds (parameters 4 on): one range scan of the runs' (environment, time) index.
fn runs_statement(bounds: usize, mark: char, environment: &str) -> String {
    format!(
        "SELECT {} FROM runs
         WHERE {environment} AND started_at_ns >= {mark}2 AND started_at_ns < {mark}3",
        counting(bounds, 4, mark)
    )
}

const SQLITE_ENV: &str = "env_id = (SELECT id FROM environments WHERE name = ?1)";
const PG_ENV: &str = "environment = $1";

/// The statements, built once from constants only (no value is ever spliced in).
struct Statements {
    recent: String,
    head: String,
    hours: String,
}

static SQLITE: LazyLock<Statements> = LazyLock::new(|| Statements {
    recent: runs_statement(4, '?', SQLITE_ENV),
    head: runs_statement(1, '?', SQLITE_ENV),
    hours: rollups_statement(SQLITE_ENV, '?'),
});

static POSTGRES: LazyLock<Statements> = LazyLock::new(|| Statements {
    recent: runs_statement(4, '$', PG_ENV),
    head: runs_statement(1, '$', PG_ENV),
    hours: rollups_statement(PG_ENV, '$'),
});

fn rollups_statement(environment: &str, mark: char) -> String {
    format!(
        "SELECT CAST(COALESCE(SUM(runs), 0) AS BIGINT),
                CAST(COALESCE(SUM(up + degraded), 0) AS BIGINT),
                CAST(COALESCE(SUM(maint_runs), 0) AS BIGINT),
                CAST(COALESCE(SUM(maint_serving), 0) AS BIGINT)
         FROM rollups WHERE {environment} AND hour >= {mark}2 AND hour < {mark}3"
    )
}

/// The counts a row holds from column `first` on.
fn counts_at<R>(row: &R, first: usize) -> Result<Counts, StoreError>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
{
    let get = |i: usize| -> Result<u64, StoreError> {
        Ok(u64::try_from(row.try_get::<i64, _>(first + i)?).unwrap_or_default())
    };
    Ok(Counts {
        runs: get(0)?,
        serving: get(1)?,
        maint_runs: get(2)?,
        maint_serving: get(3)?,
    })
}

/// The windows from the three reads: the recent runs' four counts, the oldest hour's part,
/// the whole hours between.
fn windows(recent: [Counts; 4], head: Counts, hours: Counts) -> Windows {
    let [m5, m30, h1, current_hour] = recent;
    Windows {
        m5,
        m30,
        h1,
        h6: head + hours + current_hour,
    }
}

/// The four windows of `env` ending at `now`, from SQLite.
pub(super) async fn sqlite(
    pool: &SqlitePool,
    env: &str,
    now: DateTime<Utc>,
) -> Result<Windows, StoreError> {
    let b = Bounds::at(now);
    let mut conn = pool.acquire().await?;
    let mut recent = sqlx::query(SQLITE.recent.as_str())
        .bind(env)
        .bind(b.recent_ns[2])
        .bind(i64::MAX);
    for from in b.recent_ns {
        recent = recent.bind(from);
    }
    let row = recent.fetch_one(&mut *conn).await?;
    let recent = [0, 4, 8, 12].map(|i| counts_at(&row, i));
    let head = sqlx::query(SQLITE.head.as_str())
        .bind(env)
        .bind(b.head_ns.0)
        .bind(b.head_ns.1)
        .bind(b.head_ns.0)
        .fetch_one(&mut *conn)
        .await?;
    let hours = sqlx::query(SQLITE.hours.as_str())
        .bind(env)
        .bind(b.hours.0)
        .bind(b.hours.1)
        .fetch_one(&mut *conn)
        .await?;
    let [a, b2, c, d] = recent;
    Ok(windows(
        [a?, b2?, c?, d?],
        counts_at(&head, 0)?,
        counts_at(&hours, 0)?,
    ))
}

/// The four windows of `env` ending at `now`, across a fleet's locations, from PostgreSQL.
pub(super) async fn postgres(
    pool: &PgPool,
    env: &str,
    now: DateTime<Utc>,
) -> Result<Windows, StoreError> {
    let b = Bounds::at(now);
    let mut recent = sqlx::query(POSTGRES.recent.as_str())
        .bind(env)
        .bind(b.recent_ns[2])
        .bind(i64::MAX);
    for from in b.recent_ns {
        recent = recent.bind(from);
    }
    let row = recent.fetch_one(pool).await?;
    let recent = [0, 4, 8, 12].map(|i| counts_at(&row, i));
    let head = sqlx::query(POSTGRES.head.as_str())
        .bind(env)
        .bind(b.head_ns.0)
        .bind(b.head_ns.1)
        .bind(b.head_ns.0)
        .fetch_one(pool)
        .await?;
    let hours = sqlx::query(POSTGRES.hours.as_str())
        .bind(env)
        .bind(b.hours.0)
        .bind(b.hours.1)
        .fetch_one(pool)
        .await?;
    let [a, b2, c, d] = recent;
    Ok(windows(
        [a?, b2?, c?, d?],
        counts_at(&head, 0)?,
        counts_at(&hours, 0)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_six_hours_are_cut_at_whole_hours_with_no_gap_and_no_overlap() {
        // (now, head from, first whole hour, current hour), in seconds.
        let table = [
            (
                "2026-12-07T12:20:30Z",
                "2026-12-07T06:20:30Z",
                "2026-12-07T07:00:00Z",
                "2026-12-07T12:00:00Z",
            ),
            (
                "2026-12-07T12:00:00Z",
                "2026-12-07T06:00:00Z",
                "2026-12-07T06:00:00Z",
                "2026-12-07T12:00:00Z",
            ),
            (
                "2026-12-07T12:59:59Z",
                "2026-12-07T06:59:59Z",
                "2026-12-07T07:00:00Z",
                "2026-12-07T12:00:00Z",
            ),
        ];
        let s = |t: &str| t.parse::<DateTime<Utc>>().unwrap().timestamp();
        for (now, head, whole, current) in table {
            let b = Bounds::at(now.parse().unwrap());
            assert_eq!(b.head_ns, (s(head) * NS, s(whole) * NS), "{now}");
            assert_eq!(b.hours, (s(whole), s(current)), "{now}");
            assert_eq!(b.recent_ns[3], s(current) * NS, "{now}");
            assert_eq!(b.recent_ns[0], (s(now) - 300) * NS, "{now}");
            assert_eq!(b.recent_ns[2], (s(now) - 3600) * NS, "{now}");
        }
    }
}
