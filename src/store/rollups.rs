//! Hourly counts and latency histograms per environment: what uptime and percentiles are read
//! from, so the status page costs the same at 864,000 runs as at 10.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::codec::hour_start;
use super::histogram::Histogram;
use super::{StoreError, Summary, multi_row};
use crate::probe::result::Status;

/// One run as its hour's rollup counts it.
pub struct RunCount {
    pub env_id: i64,
    pub hour: i64,
    pub status: Status,
    pub total_ms: Option<f64>,
    pub in_maintenance: bool,
}

/// What a batch adds to one environment-hour.
#[derive(Default)]
struct HourAdds {
    runs: i64,
    up: i64,
    degraded: i64,
    down: i64,
    maint_runs: i64,
    maint_serving: i64,
    /// `total_ms` of the serving runs, for the histogram.
    totals: Vec<f64>,
}

/// Count runs in their hours; a serving run's `total_ms` enters the histogram. A run in
/// maintenance is also counted apart, so that an SLO can leave it out. The runs of a batch
/// are summed per environment-hour first, then written in a few statements: one read of the
/// histograms that change and one upsert per chunk of hours.
pub async fn add_runs(conn: &mut SqliteConnection, runs: &[RunCount]) -> Result<(), StoreError> {
    let mut hours: BTreeMap<(i64, i64), HourAdds> = BTreeMap::new();
    for run in runs {
        let adds = hours.entry((run.env_id, run.hour)).or_default();
        adds.runs += 1;
        adds.up += i64::from(run.status == Status::Up);
        adds.degraded += i64::from(run.status == Status::Degraded);
        adds.down += i64::from(run.status == Status::Down);
        adds.maint_runs += i64::from(run.in_maintenance);
        adds.maint_serving += i64::from(run.in_maintenance && run.status.is_serving());
        if let Some(total) = run.total_ms.filter(|_| run.status.is_serving()) {
            adds.totals.push(total);
        }
    }
    let hours: Vec<((i64, i64), HourAdds)> = hours.into_iter().collect();
    for chunk in multi_row::chunks(hours.len()) {
        let hours = &hours[chunk];
        let mut stored = stored_histograms(conn, hours).await?;
        let mut query_sql = String::from(
            "INSERT INTO rollups (env_id, hour, runs, up, degraded, down, histogram, maint_runs,
                                  maint_serving) VALUES ",
        );
        query_sql.push_str(&multi_row::placeholders(hours.len(), 9));
        // A NULL histogram is one no run of the batch changed: the stored one stays.
        query_sql.push_str(
            " ON CONFLICT (env_id, hour) DO UPDATE SET
                 runs = runs + excluded.runs,
                 up = up + excluded.up,
                 degraded = degraded + excluded.degraded,
                 down = down + excluded.down,
                 histogram = COALESCE(excluded.histogram, histogram),
                 maint_runs = maint_runs + excluded.maint_runs,
                 maint_serving = maint_serving + excluded.maint_serving",
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(query_sql));
        for (key, adds) in hours {
            let histogram = if adds.totals.is_empty() {
                None
            } else {
                with_totals(stored.remove(key), &adds.totals)
            };
            query = query
                .bind(key.0)
                .bind(key.1)
                .bind(adds.runs)
                .bind(adds.up)
                .bind(adds.degraded)
                .bind(adds.down)
                .bind(histogram)
                .bind(adds.maint_runs)
                .bind(adds.maint_serving);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The stored histograms of those `hours` whose histogram the batch changes, in one read.
async fn stored_histograms(
    conn: &mut SqliteConnection,
    hours: &[((i64, i64), HourAdds)],
) -> Result<HashMap<(i64, i64), Vec<u8>>, StoreError> {
    let changed: Vec<(i64, i64)> = hours
        .iter()
        .filter(|(_, adds)| !adds.totals.is_empty())
        .map(|(key, _)| *key)
        .collect();
    if changed.is_empty() {
        return Ok(HashMap::new());
    }
    // The keys drive the join, so each is one seek on the primary key.
    let sql = format!(
        "WITH k (env_id, hour) AS (VALUES {})
         SELECT r.env_id, r.hour, r.histogram
         FROM k CROSS JOIN rollups r ON r.env_id = k.env_id AND r.hour = k.hour
         WHERE r.histogram IS NOT NULL",
        multi_row::placeholders(changed.len(), 2)
    );
    let mut query = sqlx::query_as::<_, (i64, i64, Vec<u8>)>(sqlx::AssertSqlSafe(sql));
    for (env_id, hour) in &changed {
        query = query.bind(env_id).bind(hour);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .map(|(env_id, hour, histogram)| ((env_id, hour), histogram))
        .collect())
}

/// An hour's stored histogram with one more run: a serving run's `total_ms` recorded, any
/// other run leaving it as it was. Both backends count runs through this.
pub(super) fn with_run(
    stored: Option<Vec<u8>>,
    status: Status,
    total_ms: Option<f64>,
) -> Option<Vec<u8>> {
    let serving = total_ms.filter(|_| status.is_serving());
    with_totals(stored, serving.as_slice())
}

/// An hour's stored histogram with `totals` recorded (unchanged when there are none).
fn with_totals(stored: Option<Vec<u8>>, totals: &[f64]) -> Option<Vec<u8>> {
    if totals.is_empty() {
        return stored;
    }
    let mut histogram = match stored.as_deref().map(Histogram::decode) {
        Some(Ok(histogram)) => histogram,
        None => Histogram::default(),
        // Refusing the run over one damaged hour of percentiles would lose evidence.
        Some(Err(err)) => {
            tracing::warn!(%err, "starting the hour's histogram afresh");
            Histogram::default()
        }
    };
    for &total in totals {
        histogram.record(total);
    }
    Some(histogram.encode())
}

pub async fn add_skipped(
    conn: &mut SqliteConnection,
    env_id: i64,
    hour: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rollups (env_id, hour, skipped) VALUES (?1, ?2, 1)
         ON CONFLICT (env_id, hour) DO UPDATE SET skipped = skipped + 1",
    )
    .bind(env_id)
    .bind(hour)
    .execute(conn)
    .await?;
    Ok(())
}

/// The windows, as the first hour each includes. A window is its number of most recent hours,
/// the current (partial) one included: uptime has one-hour resolution.
pub(super) struct Windows {
    pub day: i64,
    pub week: i64,
    pub month: i64,
}

impl Windows {
    pub(super) fn ending(now: DateTime<Utc>) -> Windows {
        let current = hour_start(now);
        let back = |hours: i64| current - (hours - 1) * 3600;
        Windows {
            day: back(24),
            week: back(7 * 24),
            month: back(30 * 24),
        }
    }
}

/// Sums over the three windows for one environment.
#[derive(sqlx::FromRow)]
pub(super) struct SummaryRow {
    name: String,
    runs_day: i64,
    serving_day: i64,
    runs_week: i64,
    serving_week: i64,
    runs_month: i64,
    serving_month: i64,
    skipped_day: i64,
}

/// Summaries of every environment, from two queries whatever the number of environments: sums in SQL, then the 24 hourly histograms each merged here.
/// Every known environment gets an entry, empty when it has no rollups in the window.
pub async fn summaries(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Summary>, StoreError> {
    let w = Windows::ending(now);
    // Both queries drive from environments, so each environment seeks its own hours on the
    // primary key; the CROSS JOIN below stops SQLite from preferring a scan of every rollup.
    let rows: Vec<SummaryRow> = sqlx::query_as(
        "SELECT e.name,
             COALESCE(SUM(CASE WHEN r.hour >= ?1 THEN r.runs END), 0) AS runs_day,
             COALESCE(SUM(CASE WHEN r.hour >= ?1 THEN r.up + r.degraded END), 0) AS serving_day,
             COALESCE(SUM(CASE WHEN r.hour >= ?2 THEN r.runs END), 0) AS runs_week,
             COALESCE(SUM(CASE WHEN r.hour >= ?2 THEN r.up + r.degraded END), 0) AS serving_week,
             COALESCE(SUM(r.runs), 0) AS runs_month,
             COALESCE(SUM(r.up + r.degraded), 0) AS serving_month,
             COALESCE(SUM(CASE WHEN r.hour >= ?1 THEN r.skipped END), 0) AS skipped_day
         FROM environments e
         LEFT JOIN rollups r ON r.env_id = e.id AND r.hour >= ?3
         GROUP BY e.id",
    )
    .bind(w.day)
    .bind(w.week)
    .bind(w.month)
    .fetch_all(&mut *conn)
    .await?;
    let histograms: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT e.name, r.histogram
         FROM environments e
         CROSS JOIN rollups r ON r.env_id = e.id AND r.hour >= ?1
         WHERE r.histogram IS NOT NULL",
    )
    .bind(w.day)
    .fetch_all(&mut *conn)
    .await?;

    Ok(summarize(rows, histograms))
}

/// Sums and the window's hourly histograms into one summary per environment.
pub(super) fn summarize(
    rows: Vec<SummaryRow>,
    histograms: Vec<(String, Vec<u8>)>,
) -> HashMap<String, Summary> {
    let mut merged: HashMap<String, Histogram> = HashMap::new();
    for (name, bytes) in histograms {
        match Histogram::decode(&bytes) {
            Ok(h) => merged.entry(name).or_default().merge(&h),
            // One damaged hour should cost its percentiles, not the status page.
            Err(err) => tracing::warn!(environment = %name, %err, "skipping a latency histogram"),
        }
    }
    let share = |serving: i64, runs: i64| (runs > 0).then(|| serving as f64 / runs as f64);
    rows.into_iter()
        .map(|s| {
            let latency = merged.remove(&s.name).unwrap_or_default();
            let summary = Summary {
                uptime_24h: share(s.serving_day, s.runs_day),
                uptime_7d: share(s.serving_week, s.runs_week),
                uptime_30d: share(s.serving_month, s.runs_month),
                p50_ms_24h: latency.percentile(0.50),
                p95_ms_24h: latency.percentile(0.95),
                skipped_24h: u64::try_from(s.skipped_day).unwrap_or_default(),
            };
            (s.name, summary)
        })
        .collect()
}

/// One hour of one environment's latency: what the environment page charts.
#[derive(Debug, Clone, PartialEq)]
pub struct HourLatency {
    /// The hour's start, seconds since the epoch.
    pub hour: i64,
    /// Of `total` over the hour's serving runs, read from its histogram; `None` when the hour
    /// had runs but none serving (an outage, which a chart should not draw across).
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// One UTC day of one environment's runs: what a daily uptime bar is coloured by.
#[derive(Debug, Clone, PartialEq)]
pub struct DayUptime {
    /// Days since the epoch (UTC).
    pub day: i64,
    pub runs: u64,
    /// Up or degraded, as uptime counts them.
    pub serving: u64,
}

/// An environment's history from its rollups: hourly latency from `hours_from` and daily
/// counts from `days_from` (both epoch seconds, rounded down to their hour and day), oldest
/// first, only hours and days that have data. Seeks the environment's own rows on the primary
/// key, so it costs the same however long the store has been running.
pub async fn history(
    conn: &mut SqliteConnection,
    env: &str,
    hours_from: i64,
    days_from: i64,
) -> Result<(Vec<HourLatency>, Vec<DayUptime>), StoreError> {
    let hourly: Vec<(i64, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT r.hour, r.histogram
         FROM environments e
         CROSS JOIN rollups r ON r.env_id = e.id AND r.hour >= ?2
         WHERE e.name = ?1 AND r.runs > 0
         ORDER BY r.hour",
    )
    .bind(env)
    .bind(hours_from.div_euclid(3600) * 3600)
    .fetch_all(&mut *conn)
    .await?;
    let hours = hour_latencies(env, hourly);
    let daily: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT r.hour / 86400 AS day, SUM(r.runs), SUM(r.up + r.degraded)
         FROM environments e
         CROSS JOIN rollups r ON r.env_id = e.id AND r.hour >= ?2
         WHERE e.name = ?1
         GROUP BY day
         HAVING SUM(r.runs) > 0
         ORDER BY day",
    )
    .bind(env)
    .bind(days_from.div_euclid(86_400) * 86_400)
    .fetch_all(&mut *conn)
    .await?;
    Ok((hours, day_uptimes(daily)))
}

/// `env`'s runs per UTC day from `from_hour` (epoch seconds of an hour's start) on, runs in
/// maintenance left out: what an SLO is measured on. Oldest first, only days with runs.
pub async fn days_outside_maintenance(
    conn: &mut SqliteConnection,
    env: &str,
    from_hour: i64,
) -> Result<Vec<DayUptime>, StoreError> {
    let daily: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT r.hour / 86400 AS day, SUM(r.runs - r.maint_runs),
                SUM(r.up + r.degraded - r.maint_serving)
         FROM environments e
         CROSS JOIN rollups r ON r.env_id = e.id AND r.hour >= ?2
         WHERE e.name = ?1
         GROUP BY day
         HAVING SUM(r.runs - r.maint_runs) > 0
         ORDER BY day",
    )
    .bind(env)
    .bind(from_hour)
    .fetch_all(conn)
    .await?;
    Ok(day_uptimes(daily))
}

/// Hours (start, histogram) into their percentiles, skipping damaged histograms.
pub(super) fn hour_latencies(env: &str, hourly: Vec<(i64, Option<Vec<u8>>)>) -> Vec<HourLatency> {
    let mut hours = Vec::with_capacity(hourly.len());
    for (hour, bytes) in hourly {
        let histogram = match bytes.as_deref().map(Histogram::decode) {
            None => Histogram::default(),
            Some(Ok(h)) => h,
            // One damaged hour is a gap in the chart, not a failed page.
            Some(Err(err)) => {
                tracing::warn!(environment = %env, hour, %err, "skipping a latency histogram");
                continue;
            }
        };
        hours.push(HourLatency {
            hour,
            p50_ms: histogram.percentile(0.50),
            p95_ms: histogram.percentile(0.95),
        });
    }
    hours
}

/// (day, runs, serving) rows into daily uptimes.
pub(super) fn day_uptimes(daily: Vec<(i64, i64, i64)>) -> Vec<DayUptime> {
    let count = |n: i64| u64::try_from(n).unwrap_or_default();
    daily
        .into_iter()
        .map(|(day, runs, serving)| DayUptime {
            day,
            runs: count(runs),
            serving: count(serving),
        })
        .collect()
}

pub async fn delete_before(
    conn: &mut SqliteConnection,
    env_id: i64,
    before_hour: i64,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query("DELETE FROM rollups WHERE env_id = ?1 AND hour < ?2")
        .bind(env_id)
        .bind(before_hour)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    async fn migrated() -> SqliteConnection {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        super::super::MIGRATOR.run(&mut conn).await.unwrap();
        conn
    }

    fn count(env_id: i64, hour: i64, status: Status, total_ms: Option<f64>) -> RunCount {
        RunCount {
            env_id,
            hour,
            status,
            total_ms,
            in_maintenance: false,
        }
    }

    /// One run, in a batch of its own.
    async fn add_run(
        conn: &mut SqliteConnection,
        env_id: i64,
        hour: i64,
        status: Status,
        total_ms: Option<f64>,
        in_maintenance: bool,
    ) -> Result<(), StoreError> {
        let run = RunCount {
            in_maintenance,
            ..count(env_id, hour, status, total_ms)
        };
        add_runs(conn, &[run]).await
    }

    async fn rows(
        conn: &mut SqliteConnection,
    ) -> Vec<(i64, i64, i64, i64, i64, i64, i64, Option<Vec<u8>>)> {
        sqlx::query_as(
            "SELECT env_id, hour, runs, up, degraded, down, maint_runs + 10 * maint_serving,
                    histogram
             FROM rollups ORDER BY env_id, hour",
        )
        .fetch_all(conn)
        .await
        .unwrap()
    }

    /// A batch sums its runs per environment-hour (more hours than one statement takes, some
    /// already stored): the rollups come out as if each run had been counted alone.
    #[tokio::test]
    async fn a_batch_counts_as_its_runs_one_by_one() {
        let (mut alone, mut batched) = (migrated().await, migrated().await);
        let statuses = [Status::Up, Status::Degraded, Status::Down];
        let runs: Vec<RunCount> = (0..400)
            .map(|i: i64| RunCount {
                in_maintenance: i % 7 == 0,
                ..count(
                    1 + i % 3,
                    (i % 50) * 3600,
                    statuses[(i % 3) as usize],
                    (i % 11 != 0).then_some(i as f64),
                )
            })
            .collect();
        for conn in [&mut alone, &mut batched] {
            for name in ["a", "b", "c"] {
                super::super::environments::id_for(conn, name)
                    .await
                    .unwrap();
            }
            add_runs(conn, &runs[..5]).await.unwrap();
        }
        for run in &runs[5..] {
            add_runs(&mut alone, std::slice::from_ref(run))
                .await
                .unwrap();
        }
        add_runs(&mut batched, &runs[5..]).await.unwrap();
        let expected = rows(&mut alone).await;
        assert_eq!(expected.len(), 150);
        assert_eq!(rows(&mut batched).await, expected);
    }

    #[tokio::test]
    async fn history_reads_hourly_percentiles_and_daily_counts_of_one_environment() {
        let mut conn = migrated().await;
        let web = super::super::environments::id_for(&mut conn, "web")
            .await
            .unwrap();
        let other = super::super::environments::id_for(&mut conn, "other")
            .await
            .unwrap();
        let day = 20_000 * 86_400;
        // Day 20000, hour 1: ten serving runs of 10..100 ms and two down ones (no latency).
        for ms in 1..=10 {
            add_run(
                &mut conn,
                web,
                day + 3600,
                Status::Up,
                Some(f64::from(ms) * 10.0),
                false,
            )
            .await
            .unwrap();
        }
        for _ in 0..2 {
            add_run(&mut conn, web, day + 3600, Status::Down, Some(1.0), false)
                .await
                .unwrap();
        }
        // Day 20001, hour 5: a degraded run serves, a down one does not. Hour 6: only a
        // failure, so an hour with runs and no latency.
        add_run(
            &mut conn,
            web,
            day + 86_400 + 5 * 3600,
            Status::Down,
            None,
            false,
        )
        .await
        .unwrap();
        add_run(
            &mut conn,
            web,
            day + 86_400 + 6 * 3600,
            Status::Down,
            None,
            false,
        )
        .await
        .unwrap();
        add_run(
            &mut conn,
            web,
            day + 86_400 + 5 * 3600,
            Status::Degraded,
            Some(900.0),
            false,
        )
        .await
        .unwrap();
        // Before the range, and another environment: neither may show.
        add_run(&mut conn, web, day - 3600, Status::Up, Some(5.0), false)
            .await
            .unwrap();
        add_run(&mut conn, other, day + 3600, Status::Up, Some(5.0), false)
            .await
            .unwrap();

        let (hours, days) = history(&mut conn, "web", day + 1800, day + 600)
            .await
            .unwrap();
        assert_eq!(hours.len(), 3, "{hours:?}");
        assert_eq!(hours[0].hour, day + 3600);
        let (p50, p95) = (hours[0].p50_ms.unwrap(), hours[0].p95_ms.unwrap());
        let width = |ms: f64| {
            let i = super::super::histogram::bucket_of(ms);
            super::super::histogram::upper_bound(i) - super::super::histogram::lower_bound(i)
        };
        assert!((p50 - 50.0).abs() <= width(50.0), "{hours:?}");
        assert!((p95 - 100.0).abs() <= width(100.0), "{hours:?}");
        assert!(p50 < p95);
        assert_eq!(hours[1].hour, day + 86_400 + 5 * 3600);
        assert!((hours[1].p50_ms.unwrap() - 900.0).abs() <= width(900.0));
        assert_eq!(hours[2].hour, day + 86_400 + 6 * 3600);
        assert_eq!(
            (hours[2].p50_ms, hours[2].p95_ms),
            (None, None),
            "runs, none serving"
        );
        assert_eq!(
            days,
            vec![
                DayUptime {
                    day: 20_000,
                    runs: 12,
                    serving: 10
                },
                DayUptime {
                    day: 20_001,
                    runs: 3,
                    serving: 1
                },
            ]
        );
        let (hours, days) = history(&mut conn, "nobody", 0, 0).await.unwrap();
        assert!(hours.is_empty() && days.is_empty());
    }

    #[test]
    fn windows_count_whole_hours_back_from_the_current_one() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T22:50:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let w = Windows::ending(now);
        let current = hour_start(now);
        assert_eq!(w.day, current - 23 * 3600);
        assert_eq!(w.week, current - 167 * 3600);
        assert_eq!(w.month, current - 719 * 3600);
    }
}
