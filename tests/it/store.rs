//! The store against a real SQLite file in a temporary directory and, for what both backends
//! do alike, against a real PostgreSQL database too (`each_backend`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use wsprobe::probe::result::{
    AddressTried, Family, Headers, HealthInfo, Outcome, Peer, Phases, ProbeResult, Status, TlsInfo,
    Verdict,
};
use wsprobe::store::histogram::{bucket_of, lower_bound, upper_bound};
use wsprobe::store::{ROLLUP_RETENTION, RunsPage, Store, StoreError, StoredRun, Summary};

use crate::helpers::results::minimal;
use crate::helpers::store::{each_backend, insert, insert_held, temp_db, unheld};

fn now() -> DateTime<Utc> {
    at("2026-11-22T22:50:00.123456789Z")
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// One environment's summary, as the status page reads every environment's.
async fn summary_of(store: &Store, env: &str, now: DateTime<Utc>) -> Result<Summary, StoreError> {
    let mut all = store.runs().summaries(now).await?;
    Ok(all.remove(env).unwrap_or_default())
}

/// A separate read-only connection, to look at what the store wrote.
async fn peek(path: &Path) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(path).read_only(true))
        .await
        .unwrap()
}

async fn count(pool: &SqlitePool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Every field set, including floats that do not fit whole microseconds. A literal, not the
/// builder, on purpose: a field added to `ProbeResult` does not compile here until it is set,
/// so the round trip covers it.
fn full(env: &str, started_at: DateTime<Utc>) -> ProbeResult {
    ProbeResult {
        environment: env.to_owned(),
        location: Some("us-central1".to_owned()),
        url: format!("wss://api.{env}.example.com/ws?region=eu"),
        started_at,
        status: Status::Down,
        verdict: Verdict::ClosedBeforeReady,
        close_code: Some(1011),
        close_reason: Some("Internal error".to_owned()),
        close_after_ms: Some(63.417),
        http_status: Some(101),
        body_excerpt: Some("{\"detail\":\"Invalid E2E bypass key\"}".to_owned()),
        subprotocol: Some("jwt-auth".to_owned()),
        attempts: 3,
        failed_step: Some(2),
        version: Some("rev-4812".to_owned()),
        phases_ms: Phases {
            token: Some(0.3),
            login: Some(41.25),
            health: Some(12.0),
            dns: Some(0.4),
            connect: Some(1.1),
            proxy: Some(2.345),
            tls: Some(15.123),
            upgrade: Some(3.2),
            ready: Some(0.1 + 0.2),
            exchange: Some(1.0e-7),
            close: Some(-0.0),
            total: Some(70.3 + 1.0e-9),
        },
        tls: Some(TlsInfo {
            version: "TLSv1.3".to_owned(),
            cert_subject: Some(format!("CN=api.{env}.example.com")),
            cert_issuer: Some("CN=WR3, O=Google Trust Services, C=US".to_owned()),
            cert_not_after: Some(at("2027-01-20T08:00:00Z")),
        }),
        health: Some(HealthInfo {
            http_status: Some(200),
            ok: true,
            error: Some("unexpected body".to_owned()),
        }),
        headers: Headers {
            sent: map(&[
                ("authorization", "Bearer eyJh…[redacted]"),
                ("host", "api.staging.example.com"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("sec-websocket-protocol", "jwt-auth, jwt.eyJh…[redacted]"),
            ]),
            response: map(&[
                ("date", "Sun, 22 Nov 2026 22:50:00 GMT"),
                ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                ("x-revision", "rev-4812"),
            ]),
            echoed: map(&[("authorization", "[MISSING]"), ("x-request-id", "abc-123")]),
            missing: vec!["authorization".to_owned()],
        },
        messages: vec![
            "{\"type\":\"error\",\"detail\":\"unauthorized\"}".to_owned(),
            "ünïcödé ✓ \u{0}".to_owned(),
        ],
        diagnosis: "The server closed with 1011 \"Internal error\" 63 ms after accept.".to_owned(),
        error: Some("closed before ready".to_owned()),
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()),
        timeline: None,
        client_close_code: Some(1009),
        client_close_reason: Some("message too big".to_owned()),
        protocol: Some("socket.io".to_owned()),
        peer: Some(Peer {
            address: "2001:db8::10".to_owned(),
            family: Family::Ipv6,
        }),
        addresses_tried: vec![
            AddressTried {
                address: "203.0.113.10".to_owned(),
                family: Family::Ipv4,
                outcome: Outcome::Cancelled,
                started_ms: 0.0,
                ms: 250.7,
                error: None,
            },
            AddressTried {
                address: "2001:db8::10".to_owned(),
                family: Family::Ipv6,
                outcome: Outcome::Connected,
                started_ms: 250.1,
                ms: 0.9,
                error: Some("odd but kept".to_owned()),
            },
        ],
        confirmation: Some(2),
        requested_by: Some("eu-west".to_owned()),
    }
}

/// A passing result with a given total.
fn ok(env: &str, started_at: DateTime<Utc>, total: f64) -> ProbeResult {
    let mut result = minimal(env, started_at);
    result.status = Status::Up;
    result.verdict = Verdict::Ok;
    result.attempts = 1;
    result.error = None;
    result.phases_ms.total = Some(total);
    result.diagnosis = format!("All steps passed in {total} ms.");
    result
}

fn with_status(mut result: ProbeResult, verdict: Verdict) -> ProbeResult {
    result.verdict = verdict;
    result.status = verdict.status();
    result
}

#[tokio::test]
async fn a_fully_populated_result_reads_back_equal() {
    for backend in each_backend().await {
        fully_populated_result_reads_back_equal(backend.store).await;
    }
}

async fn fully_populated_result_reads_back_equal(store: Store) {
    let result = full("staging", now());
    let id = insert_held(&store, &result, true, Some(7)).await.unwrap();

    let runs = store
        .read_only()
        .runs("staging", RunsPage::newest(10))
        .await
        .unwrap();
    assert_eq!(
        runs,
        vec![StoredRun {
            id,
            in_maintenance: true,
            silenced_by: Some(7),
            result: result.clone()
        }]
    );
    let stored = &runs[0].result;
    // PartialEq on f64 calls -0.0 and 0.0 equal: check the bits where it matters.
    let bits = |p: &Phases| p.named().map(|(_, v)| v.map(f64::to_bits));
    assert_eq!(bits(&stored.phases_ms), bits(&result.phases_ms));
    assert_eq!(stored.started_at, result.started_at, "nanoseconds kept");
    assert_eq!(
        serde_json::to_string(stored).unwrap(),
        serde_json::to_string(&result).unwrap()
    );
    assert_eq!(store.runs().latest().await.unwrap(), runs);
    store.close().await;
}

#[tokio::test]
async fn a_minimal_result_reads_back_equal() {
    for backend in each_backend().await {
        minimal_result_reads_back_equal(backend.store).await;
    }
}

async fn minimal_result_reads_back_equal(store: Store) {
    let result = minimal("bare", now());
    let id = insert(&store, &result, false).await.unwrap();
    let runs = store
        .read_only()
        .runs("bare", RunsPage::newest(10))
        .await
        .unwrap();
    assert_eq!(
        runs,
        vec![StoredRun {
            id,
            in_maintenance: false,
            silenced_by: None,
            result
        }]
    );
    // An empty-but-present body and a health check without status survive too.
    let mut odd = minimal("bare", now() + TimeDelta::seconds(1));
    odd.body_excerpt = Some(String::new());
    odd.health = Some(HealthInfo {
        http_status: None,
        ok: false,
        error: None,
    });
    insert(&store, &odd, false).await.unwrap();
    assert_eq!(
        store
            .read_only()
            .runs("bare", RunsPage::newest(1))
            .await
            .unwrap()[0]
            .result,
        odd
    );
    store.close().await;
}

#[tokio::test]
async fn runs_page_newest_first_with_a_before_cursor() {
    for backend in each_backend().await {
        runs_page_newest_first(backend.store).await;
    }
}

async fn runs_page_newest_first(store: Store) {
    let start = now() - TimeDelta::hours(3);
    let mut ids = Vec::new();
    for i in 0..25 {
        let t = start + TimeDelta::minutes(5 * i);
        ids.push(insert(&store, &ok("a", t, 10.0), false).await.unwrap());
        insert(&store, &ok("b", t, 10.0), false).await.unwrap();
    }
    // Two runs at the same instant come out newest id first.
    let last = start + TimeDelta::minutes(5 * 24);
    ids.push(insert(&store, &ok("a", last, 11.0), false).await.unwrap());
    ids.reverse();

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .read_only()
            .runs(
                "a",
                RunsPage {
                    before,
                    ..RunsPage::newest(10)
                },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        assert!(page.iter().all(|r| r.result.environment == "a"));
        before = page.last().map(|r| r.id);
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, ids, "every run of a, once, newest first");
    // No runs asked for, an environment without runs, a cursor past every run: empty pages.
    let past_every_run = RunsPage {
        before: Some(999_999),
        ..RunsPage::newest(10)
    };
    for (env, page) in [
        ("a", RunsPage::newest(0)),
        ("nope", RunsPage::newest(10)),
        ("a", past_every_run),
    ] {
        let runs = store.read_only().runs(env, page).await.unwrap();
        assert_eq!(runs, vec![], "{env}");
    }

    let statuses = store.runs().recent_statuses("b", 3).await.unwrap();
    assert_eq!(statuses.len(), 3);
    assert_eq!(statuses[0].0, last);
    assert!(statuses.windows(2).all(|w| w[0].0 > w[1].0));
    assert!(
        statuses
            .iter()
            .all(|s| s.1 == Status::Up && s.2 == Verdict::Ok)
    );
    store.close().await;
}

#[tokio::test]
async fn latest_has_the_newest_run_of_each_environment() {
    for backend in each_backend().await {
        latest_has_the_newest_run(backend.store).await;
    }
}

async fn latest_has_the_newest_run(store: Store) {
    let mut newest = BTreeMap::new();
    for (n, env) in ["gamma", "alpha", "beta"].into_iter().enumerate() {
        for i in 0..5 {
            // Inserted out of time order: newest is by started_at, not by id.
            let t = now() - TimeDelta::minutes(((i + 2) % 5) * 5 + n as i64);
            let id = insert(&store, &ok(env, t, 5.0 + i as f64), false)
                .await
                .unwrap();
            let entry = newest.entry(env).or_insert((t, id));
            if t > entry.0 {
                *entry = (t, id);
            }
        }
    }
    let latest = store.runs().latest().await.unwrap();
    let got: Vec<(&str, DateTime<Utc>, i64)> = latest
        .iter()
        .map(|r| (r.result.environment.as_str(), r.result.started_at, r.id))
        .collect();
    let expected: Vec<(&str, DateTime<Utc>, i64)> = newest
        .iter()
        .map(|(env, (t, id))| (*env, *t, *id))
        .collect();
    assert_eq!(got, expected);
    store.close().await;
}

/// A single node has no fleet: no fleet view, and the web lists no instances but itself.
#[tokio::test]
async fn only_a_shared_store_has_a_fleet_view() {
    for backend in each_backend().await {
        let store = backend.store;
        let read_only = store.read_only();
        let Some(fleet) = store.fleet() else {
            assert_eq!(backend.name, "sqlite");
            assert_eq!(read_only.instances("evaluator").await.unwrap(), None);
            store.close().await;
            continue;
        };
        assert!(
            fleet
                .hold_lease("evaluator", Duration::from_secs(15))
                .await
                .unwrap()
        );
        let (instances, holder) = read_only.instances("evaluator").await.unwrap().unwrap();
        let ids: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["test-instance"]);
        assert_eq!(holder.as_deref(), Some("test-instance"));
        assert_eq!(read_only.instance_id(), "test-instance");
        store.close().await;
    }
}

#[tokio::test]
async fn identical_headers_and_messages_are_stored_once() {
    let db = temp_db();
    let store = Store::open(&db.path).await.unwrap();
    let template = full("staging", now());
    let mut first = None;
    for i in 0..1000 {
        let mut result = template.clone();
        result.started_at = now() - TimeDelta::minutes(i);
        // The per-request values differ on every run, as they do on the wire.
        let key = base64::engine::general_purpose::STANDARD.encode((i as u64).to_be_bytes());
        result.headers.sent.insert("sec-websocket-key".into(), key);
        result.phases_ms.total = Some(50.0 + i as f64 / 7.0);
        let id = insert(&store, &result, false).await.unwrap();
        first.get_or_insert((id, result));
    }
    let peek = peek(&db.path).await;
    // context, header set, message list, body excerpt.
    assert_eq!(count(&peek, "SELECT count(*) FROM blobs").await, 4);
    assert_eq!(
        count(&peek, "SELECT min(refs) FROM blobs").await,
        1000,
        "each referenced by every run"
    );
    let (id, result) = first.unwrap();
    let page = store
        .read_only()
        .runs("staging", RunsPage::newest(1))
        .await
        .unwrap();
    assert_eq!(page[0].id, id);
    assert_eq!(page[0].result, result, "its own key came back");
    peek.close().await;
    store.close().await;
}

/// The daemon's writer stores what queued meanwhile in one `insert_runs`: texts shared inside
/// the batch are written once with a reference per run, environments new to the file get their
/// row once, and a batch that fails leaves nothing behind, not even a remembered id.
#[tokio::test]
async fn a_batch_takes_one_reference_per_run_on_shared_texts() {
    use wsprobe::store::NewRun;
    let db = temp_db();
    let store = Store::open(&db.path).await.unwrap();
    let runs: Vec<NewRun> = (0..30)
        .map(|i| {
            let mut result = full(&format!("env-{}", i % 10), now() - TimeDelta::minutes(i));
            result.messages = vec![format!("{{\"n\":{}}}", i % 3)];
            unheld(result)
        })
        .collect();
    let batch: Vec<&NewRun> = runs.iter().collect();
    let ids = store.runs().insert_runs(&batch).await.unwrap();
    assert_eq!(ids.len(), 30);
    // A second batch on environments the first one created.
    let again = store.runs().insert_runs(&batch[..10]).await.unwrap();
    assert!(again.iter().all(|id| !ids.contains(id)));
    let peek = peek(&db.path).await;
    assert_eq!(count(&peek, "SELECT count(*) FROM environments").await, 10);
    assert_eq!(count(&peek, "SELECT count(*) FROM runs").await, 40);
    // A context per environment (its URL); one header set and one body excerpt for all 40
    // runs; three message lists.
    assert_eq!(count(&peek, "SELECT count(*) FROM blobs").await, 10 + 2 + 3);
    assert_eq!(count(&peek, "SELECT sum(refs) FROM blobs").await, 4 * 40);
    assert_eq!(count(&peek, "SELECT max(refs) FROM blobs").await, 40);
    let page = store
        .read_only()
        .runs("env-4", RunsPage::newest(10))
        .await
        .unwrap();
    assert_eq!(page.len(), 4);
    assert_eq!(
        page.last().unwrap().result,
        *runs[24].result,
        "reads back whole"
    );
    peek.close().await;
    store.close().await;
}

/// A batch larger than one multi-row statement takes (64 rows), on more new environments than
/// one statement names (as after a start on a new store): every id returned is its own run's,
/// in order, every run is its own environment's, and every run is counted once in its hour's
/// rollup.
#[tokio::test]
async fn a_large_batch_returns_each_runs_own_id_and_counts_each_once() {
    use wsprobe::store::NewRun;
    let db = temp_db();
    let store = Store::open(&db.path).await.unwrap();
    let start = now() - TimeDelta::hours(3);
    let runs: Vec<NewRun> = (0..100)
        .map(|i| {
            unheld(full(
                &format!("env-{}", i % 90),
                start + TimeDelta::minutes(i * 2),
            ))
        })
        .collect();
    let batch: Vec<&NewRun> = runs.iter().collect();
    let ids = store.runs().insert_runs(&batch).await.unwrap();
    let peek = peek(&db.path).await;
    for (id, run) in ids.iter().zip(&runs) {
        let (name, started): (String, i64) = sqlx::query_as(
            "SELECT e.name, r.started_at_ns FROM runs r JOIN environments e ON e.id = r.env_id
             WHERE r.id = ?1",
        )
        .bind(id)
        .fetch_one(&peek)
        .await
        .unwrap();
        assert_eq!(name, run.result.environment);
        assert_eq!(Some(started), run.result.started_at.timestamp_nanos_opt());
    }
    assert_eq!(count(&peek, "SELECT sum(runs) FROM rollups").await, 100);
    assert_eq!(count(&peek, "SELECT count(*) FROM runs").await, 100);
    assert_eq!(count(&peek, "SELECT count(*) FROM environments").await, 90);
    peek.close().await;
    store.close().await;
}

#[tokio::test]
async fn uptime_and_percentiles_come_from_rollups() {
    for backend in each_backend().await {
        eprintln!("uptime and percentiles on {}", backend.name);
        uptime_and_percentiles(backend.store).await;
    }
}

async fn uptime_and_percentiles(store: Store) {
    let now = now();
    // Last 24 hours: 7 up, 1 degraded, 2 down. Serving totals 10, 20, …, 80 ms.
    let mut totals = Vec::new();
    for i in 0..10i64 {
        let t = now - TimeDelta::minutes(i * 90);
        let total = 10.0 * (i + 1) as f64;
        let result = match i {
            0..=6 => ok("api", t, total),
            7 => with_status(ok("api", t, total), Verdict::Slow),
            _ => with_status(ok("api", t, 1.0), Verdict::ConnectRefused),
        };
        if result.status.is_serving() {
            totals.push(total);
        }
        insert(&store, &result, false).await.unwrap();
    }
    // Three days ago: 2 down. Twenty days ago: 2 up. Forty days ago: outside every window.
    for (days, verdict) in [
        (3, Verdict::DnsFailed),
        (20, Verdict::Ok),
        (40, Verdict::Ok),
    ] {
        for k in 0..2 {
            let t = now - TimeDelta::days(days) - TimeDelta::minutes(k);
            let result = with_status(ok("api", t, 1000.0), verdict);
            insert(&store, &result, false).await.unwrap();
        }
    }
    // Another environment, all up, to check `summaries` keeps them apart.
    insert(&store, &ok("web", now, 5.0), false).await.unwrap();

    let summary = summary_of(&store, "api", now).await.unwrap();
    assert_eq!(summary.uptime_24h, Some(8.0 / 10.0));
    assert_eq!(summary.uptime_7d, Some(8.0 / 12.0));
    assert_eq!(summary.uptime_30d, Some(10.0 / 14.0));
    assert_eq!(summary.skipped_24h, 0);
    let within_a_bucket = |got: Option<f64>, exact: f64| {
        let got = got.expect("a percentile");
        let i = bucket_of(exact);
        let width = upper_bound(i) - lower_bound(i);
        assert!(
            (got - exact).abs() <= width,
            "{got} vs {exact} (width {width})"
        );
    };
    // Nearest rank over the 8 serving totals: p50 is the 4th, p95 the 8th.
    within_a_bucket(summary.p50_ms_24h, 40.0);
    within_a_bucket(summary.p95_ms_24h, 80.0);

    let all = store.runs().summaries(now).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all["api"], summary);
    assert_eq!(all["web"].uptime_24h, Some(1.0));
    within_a_bucket(all["web"].p50_ms_24h, 5.0);

    assert_eq!(
        summary_of(&store, "nope", now).await.unwrap(),
        Summary::default()
    );
    store.close().await;
}

#[tokio::test]
async fn skipped_slots_are_counted_once_each() {
    for backend in each_backend().await {
        skipped_slots_counted_once(backend.store).await;
    }
}

async fn skipped_slots_counted_once(store: Store) {
    let slot = at("2026-11-22T22:45:00Z");
    for minutes in [0, 5, 10, 0] {
        store
            .runs()
            .record_skipped("api", slot - TimeDelta::minutes(minutes))
            .await
            .unwrap();
    }
    store
        .runs()
        .record_skipped("api", slot - TimeDelta::days(2))
        .await
        .unwrap();
    let summary = summary_of(&store, "api", now()).await.unwrap();
    assert_eq!(summary.skipped_24h, 3);
    assert_eq!(summary.uptime_24h, None, "a skipped slot is not a run");
    store.close().await;
}

#[tokio::test]
async fn prune_drops_old_runs_and_orphaned_blobs_and_keeps_rollups() {
    let db = temp_db();
    let store = Store::open(&db.path).await.unwrap();
    let now = now();
    let template = full("api", now);
    let insert = async |age: TimeDelta, n: i64, tag: &str| {
        for i in 0..n {
            let mut result = template.clone();
            result.started_at = now - age - TimeDelta::seconds(i);
            // A message unique to this run: its blob is orphaned when the run goes.
            result.messages = vec![format!("{tag} {i}")];
            insert(&store, &result, false).await.unwrap();
        }
    };
    insert(TimeDelta::days(500), 3, "ancient").await;
    insert(TimeDelta::days(40), 1203, "old").await; // more than one batch
    insert(TimeDelta::days(1), 5, "new").await;
    store
        .runs()
        .record_skipped("api", now - TimeDelta::days(40))
        .await
        .unwrap();
    let peek = peek(&db.path).await;
    // context + headers + body shared, plus one message list per run.
    assert_eq!(count(&peek, "SELECT count(*) FROM blobs").await, 3 + 1211);
    let hours = "SELECT count(*) FROM rollups";
    let rollups_before = count(&peek, hours).await;

    let retention = Duration::from_secs(30 * 24 * 3600);
    assert_eq!(store.prune(retention, now).await.unwrap(), 1206);

    assert_eq!(count(&peek, "SELECT count(*) FROM runs").await, 5);
    assert_eq!(count(&peek, "SELECT count(*) FROM blobs").await, 3 + 5);
    assert_eq!(count(&peek, "SELECT count(*) FROM skipped_slots").await, 0);
    // The 40-day-old hours stay; the 500-day-old one is past ROLLUP_RETENTION.
    assert!(ROLLUP_RETENTION < Duration::from_secs(500 * 24 * 3600));
    let ancient_hours = 1;
    assert_eq!(count(&peek, hours).await, rollups_before - ancient_hours);
    let forty_days_ago = count(&peek, "SELECT count(*) FROM rollups WHERE runs >= 1000").await;
    assert_eq!(forty_days_ago, 1, "{rollups_before} hours before");

    // What is left still reads back whole: shared blobs were not taken with the old runs.
    let left = store
        .read_only()
        .runs("api", RunsPage::newest(10))
        .await
        .unwrap();
    assert_eq!(left.len(), 5);
    assert_eq!(left[0].result.messages, vec!["new 0".to_owned()]);
    assert_eq!(left[0].result.headers, template.headers);
    assert_eq!(store.prune(retention, now).await.unwrap(), 0, "idempotent");
    peek.close().await;
    store.close().await;
}

#[tokio::test]
async fn instance_id_and_schema_survive_a_restart() {
    let db = temp_db();
    let store = Store::open(&db.path).await.unwrap();
    let id = store.instance_id().to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let run = insert(&store, &ok("api", now(), 3.0), false).await.unwrap();
    store.check_writable().await.unwrap();
    store.close().await;

    for _ in 0..2 {
        let store = Store::open(&db.path).await.unwrap();
        assert_eq!(store.instance_id(), id);
        assert_eq!(
            store
                .read_only()
                .runs("api", RunsPage::newest(10))
                .await
                .unwrap()[0]
                .id,
            run
        );
        store.close().await;
    }
    let peek = peek(&db.path).await;
    // The SQLite migrations are the files beside `postgres/` (PostgreSQL's own).
    let migrations = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension() == Some("sql".as_ref()))
        .count() as i64;
    assert_eq!(
        count(&peek, "SELECT count(*) FROM _sqlx_migrations WHERE success").await,
        migrations
    );
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&peek)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    peek.close().await;

    let other = temp_db();
    let store = Store::open(&other.path).await.unwrap();
    assert_ne!(store.instance_id(), id, "a new file is a new instance");
    store.close().await;
}

#[tokio::test]
async fn a_read_only_database_fails_writes_without_panicking() {
    let db = temp_db();
    let store = Store::open(&db.path).await.unwrap();
    let result = ok("api", now(), 3.0);
    insert(&store, &result, false).await.unwrap();
    store.close().await;

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&db.path, std::fs::Permissions::from_mode(0o444)).unwrap();
    // Root writes through file modes: then ask SQLite itself for a read-only open.
    let os_enforces = std::fs::OpenOptions::new()
        .append(true)
        .open(&db.path)
        .is_err();
    let path = if os_enforces {
        db.path.clone()
    } else {
        PathBuf::from(format!("file:{}?mode=ro", db.path.display()))
    };
    eprintln!(
        "read-only by {}",
        if os_enforces {
            "chmod 0444"
        } else {
            "?mode=ro"
        }
    );

    let store = Store::open(&path)
        .await
        .expect("a migrated read-only file opens");
    let err = insert(&store, &result, false).await.unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
    assert!(store.runs().record_skipped("api", now()).await.is_err());
    assert!(store.check_writable().await.is_err());
    // Reads still work: the status page can show the history of a store that cannot grow.
    assert_eq!(
        store
            .read_only()
            .runs("api", RunsPage::newest(10))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.runs().latest().await.unwrap().len(), 1);
    store.close().await;
    std::fs::set_permissions(&db.path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// A small deterministic generator, so the measurement is the same on every machine.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn ms(&mut self, low: f64, high: f64) -> f64 {
        let unit = self.next() as f64 / (1u64 << 31) as f64;
        ((low + (high - low) * unit) * 1000.0).round() / 1000.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// What a probe of a real deployment records: 90 % healthy, 10 % the 1011 outage.
fn realistic(rng: &mut Lcg, env: usize, started_at: DateTime<Utc>) -> ProbeResult {
    let b64 = base64::engine::general_purpose::STANDARD;
    let host = format!("api.env-{env:03}.example.com");
    let up = !rng.next().is_multiple_of(10);
    let mut phases = Phases {
        token: Some(rng.ms(0.1, 0.5)),
        health: Some(rng.ms(8.0, 20.0)),
        dns: Some(rng.ms(0.2, 2.0)),
        connect: Some(rng.ms(0.5, 3.0)),
        tls: Some(rng.ms(5.0, 20.0)),
        upgrade: Some(rng.ms(2.0, 6.0)),
        ..Phases::default()
    };
    if up {
        phases.ready = Some(rng.ms(8.0, 30.0));
        phases.exchange = Some(rng.ms(0.5, 3.0));
        phases.close = Some(rng.ms(0.3, 2.0));
    }
    let network = [
        phases.dns,
        phases.connect,
        phases.tls,
        phases.upgrade,
        phases.ready,
        phases.exchange,
        phases.close,
    ];
    phases.total = Some(network.into_iter().flatten().sum::<f64>() + rng.ms(0.0, 1.0));
    let total = phases.total.unwrap();
    let echoed = map(&[
        ("authorization", "Bearer eyJh…[redacted]"),
        ("origin", "[MISSING]"),
        ("sec-websocket-protocol", "jwt-auth, jwt.eyJh…[redacted]"),
        ("user-agent", "wsprobe/0.1.0"),
        ("x-e2e-test", "true"),
    ]);
    let headers = Headers {
        sent: map(&[
            ("authorization", "Bearer eyJh…[redacted]"),
            ("connection", "Upgrade"),
            ("host", &host),
            ("sec-websocket-key", &b64.encode(rng.bytes(16))),
            ("sec-websocket-protocol", "jwt-auth, jwt.eyJh…[redacted]"),
            ("sec-websocket-version", "13"),
            ("upgrade", "websocket"),
            ("user-agent", "wsprobe/0.1.0"),
            ("x-e2e-test", "true"),
        ]),
        response: map(&[
            ("connection", "Upgrade"),
            (
                "date",
                &started_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            ),
            ("sec-websocket-accept", &b64.encode(rng.bytes(20))),
            ("sec-websocket-protocol", "jwt-auth"),
            ("server", "Google Frontend"),
            ("upgrade", "websocket"),
            ("via", "1.1 google"),
            ("x-revision", "rev-4812"),
        ]),
        echoed: if up { echoed } else { BTreeMap::new() },
        missing: Vec::new(),
    };
    let mut result = ProbeResult::builder(format!("env-{env:03}"), Verdict::Ok)
        .location("us-central1")
        .url(format!("wss://{host}/ws"))
        .started_at(started_at)
        .http_status(101)
        .subprotocol("jwt-auth")
        .attempts(1)
        .version("rev-4812")
        .phases_ms(phases.clone())
        .tls(TlsInfo {
            version: "TLSv1.3".to_owned(),
            cert_subject: Some(format!("CN={host}")),
            cert_issuer: Some("CN=WR3, O=Google Trust Services, C=US".to_owned()),
            cert_not_after: Some(at("2027-01-20T08:00:00Z")),
        })
        .health(HealthInfo {
            http_status: Some(200),
            ok: true,
            error: None,
        })
        .headers(headers)
        .build();
    if up {
        result.messages = vec![
            "{\"type\":\"system_message\",\"data\":{\"event\":\"connection_established\",\"headers_received\":{\"authorization\":\"Bearer [redacted]\",\"sec-websocket-protocol\":\"jwt-auth, jwt.[redacted]\",\"x-e2e-test\":\"true\",\"user-agent\":\"wsprobe/0.1.0\",\"origin\":\"[MISSING]\"}}}".to_owned(),
            "{\"type\":\"pong\"}".to_owned(),
        ];
        result.diagnosis = format!(
            "All steps passed in {total:.0} ms (welcome after {:.0} ms), subprotocol jwt-auth, build rev-4812.",
            phases.ready.unwrap()
        );
    } else {
        let after = rng.ms(55.0, 75.0);
        result = with_status(result, Verdict::ClosedBeforeReady);
        result.close_code = Some(1011);
        result.close_reason = Some("Internal error".to_owned());
        result.close_after_ms = Some(after);
        result.diagnosis = format!(
            "The server closed with 1011 \"Internal error\" {after:.0} ms after accept before the welcome message (health check 200 OK): the failure is inside the backend's WebSocket path, not the service as a whole."
        );
    }
    result
}

async fn bytes_per_run(path: &Path, runs: u64) -> (f64, f64) {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(path))
        .await
        .unwrap();
    let size = async || {
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&pool)
            .await
            .unwrap();
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&pool)
            .await
            .unwrap();
        (pages * page_size) as f64 / runs as f64
    };
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    let as_written = size().await;
    sqlx::query("VACUUM").execute(&pool).await.unwrap();
    let vacuumed = size().await;
    pool.close().await;
    (as_written, vacuumed)
}

/// 100 environments × 100 runs of 5-minute slots. Prints the figure (`--nocapture`) and holds
/// the store to its budget of 400 bytes per run.
#[tokio::test]
async fn a_realistic_run_costs_under_400_bytes() {
    let db = temp_db();
    let store = Store::open(&db.path).await.unwrap();
    let mut rng = Lcg(42);
    let start = now() - TimeDelta::days(1);
    let runs = 10_000u64;
    for i in 0..runs as i64 {
        let slot = start + TimeDelta::minutes(5 * (i / 100));
        let started = slot + TimeDelta::microseconds(rng.next() as i64 % 2_000_000);
        let result = realistic(&mut rng, (i % 100) as usize, started);
        if i == 0 {
            eprintln!(
                "JSON of one run: {} bytes",
                serde_json::to_string(&result).unwrap().len()
            );
        }
        insert(&store, &result, false).await.unwrap();
    }
    store.close().await;
    let (as_written, vacuumed) = bytes_per_run(&db.path, runs).await;
    eprintln!(
        "bytes per run over {runs} runs: {as_written:.0} as written, {vacuumed:.0} after VACUUM"
    );
    assert!(as_written <= 400.0, "{as_written} bytes per run");
}
