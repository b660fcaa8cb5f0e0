//! Confirmation across locations, for real: `wsprobe run` processes in locations a and b on a
//! PostgreSQL of the test's own, an environment whose only slot is weeks away, and a lab that
//! is down from a. a's start-up probe fails; b must hear of it through the shared store and
//! probe at once: when b sees it down too the two confirmed failures page once, when b sees it
//! up nothing pages. And the requests table itself, read by several instances.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wsprobe::lab::{Lab, LabOptions};

use crate::helpers::fleet::{count, events, get, start, wait_until};
use crate::helpers::free_port;
use crate::helpers::pg::Postgres;
use crate::helpers::receiver::Receiver;

/// A run as this test reads it from the shared store: `(status, requested_by, confirmation)`.
type Marks = (String, Option<String>, Option<i64>);

/// The runs of `api` from `location`, oldest first; `None` until the schema exists.
async fn marks(pool: &sqlx::PgPool, location: &str) -> Option<Vec<Marks>> {
    sqlx::query_as(
        "SELECT result->>'status', result->>'requested_by',
                (result->>'confirmation')::bigint
         FROM runs WHERE environment = 'api' AND location = $1 ORDER BY id",
    )
    .bind(location)
    .fetch_all(pool)
    .await
    .ok()
}

/// What [`marks`] reads for one run.
fn run(status: &str, requested_by: Option<&str>, confirmation: Option<i64>) -> Marks {
    (
        status.to_owned(),
        requested_by.map(str::to_owned),
        confirmation,
    )
}

/// Both tests' config, its `${VAR}`s set per process: `api` at `${EDGE}` (what each location
/// reaches), one slot a year (no scheduled probe helps within a test), and a webhook paged
/// when two locations confirm a failure.
fn write_config(dir: &Path, hook: &Receiver, storage_url: &str) -> PathBuf {
    let config = dir.join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            r#"location: ${{LOC}}
defaults: {{ schedule: "0 0 0 1 1 *", timeout: 1500ms }}
environments:
  - {{ name: api, url: "ws://${{EDGE}}/ws/healthy" }}
alerts:
  defaults:
    min_locations: 2
    failure_threshold: 3
    confirm: {{ attempts: 2, every: 1s }}
  channels:
    - {{ name: audit, kind: webhook, url: "{}" }}
server: {{ listen: "127.0.0.1:${{PORT}}" }}
storage: {{ url: "{storage_url}" }}
"#,
            hook.url("/hook")
        ),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_one_location_has_the_other_confirm_it_at_once_and_pages_once() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let url = postgres.url(&postgres.fresh_database("confirm").await);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let hook = Receiver::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lab_addr = listener.local_addr().unwrap();
    let lab_stop = CancellationToken::new();
    let options = LabOptions {
        startup_duration: Duration::ZERO,
        ..LabOptions::default()
    };
    let lab = Lab::spawn(listener, options, lab_stop.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &hook, &url);
    let lab_at = lab_addr.to_string();

    // b (two replicas) starts while api serves: its start-up probes are up, and b has nothing
    // to confirm.
    let b = [
        start(&config, "b1", "b", &lab_at, &lab_at, &lab_at),
        start(&config, "b2", "b", &lab_at, &lab_at, &lab_at),
    ];
    wait_until(
        "b's start-up probe, up",
        || marks(&pool, "b"),
        |runs| !runs.is_empty() && runs.iter().all(|run| run.0 == "up"),
    )
    .await;
    wait_until(
        "both replicas of b",
        || async { get(&format!("{}/api/v1/instances", b[1].base())).await },
        |body| body["instances"].as_array().is_some_and(|i| i.len() == 2),
    )
    .await;
    // The second replica's start-up probe, if it made one (it does not once it knows b1),
    // is over well within its timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Then api goes down (connections refused: the port stays bound, not listening).
    lab_stop.cancel();
    lab.stopped().await;
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.set_reuseaddr(true).unwrap();
    held.bind(lab_addr).unwrap();

    let started = Instant::now();
    let a = start(&config, "a1", "a", &lab_at, &lab_at, &lab_at);
    wait_until(
        "one page for api",
        || async { Some(events(&hook)) },
        |events| count(events, "triggered", "api") >= 1,
    )
    .await;
    let paged_after = started.elapsed();
    // Both series are over by then; a few more evaluator passes page nothing more.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let seen = events(&hook);
    assert_eq!(count(&seen, "triggered", "api"), 1, "{seen:?}");

    // One replica of b answered a's request, with a probe and its own confirmation series,
    // marked so.
    let (answers, own): (Vec<Marks>, Vec<Marks>) = marks(&pool, "b")
        .await
        .unwrap()
        .into_iter()
        .partition(|run| run.1.is_some());
    assert!(own.iter().all(|run| run.0 == "up"), "{own:?}");
    assert_eq!(
        answers,
        [
            run("down", Some("a"), None),
            run("down", Some("a"), Some(1)),
            run("down", Some("a"), Some(2)),
        ]
    );
    // a's own series: its start-up probe and two re-probes.
    assert_eq!(
        marks(&pool, "a").await.unwrap(),
        [
            run("down", None, None),
            run("down", None, Some(1)),
            run("down", None, Some(2)),
        ]
    );
    let answered: Vec<(String, String)> =
        sqlx::query_as("SELECT location, instance FROM probe_answers")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(answered[0].0, "b");
    let answerer: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT instance FROM runs WHERE location = 'b' AND result->>'requested_by' = 'a'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(answerer, [answered[0].1.clone()], "the claimant probed");
    let incidents = get(&format!("{}/api/v1/incidents?environment=api", a.base()))
        .await
        .unwrap();
    let diagnosis = incidents["incidents"][0]["diagnosis"].as_str().unwrap();
    assert!(
        diagnosis.starts_with("Down from all 2 locations: the service itself."),
        "{incidents}"
    );
    // Shown in the API like any run, with their marks.
    let runs = get(&format!(
        "{}/api/v1/environments/api/runs?location=b&limit=10",
        b[0].base()
    ))
    .await
    .unwrap();
    let shown: Vec<(Value, Value)> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["requested_by"].clone(), r["confirmation"].clone()))
        .collect();
    assert!(
        shown.contains(&(Value::from("a"), Value::from(2))),
        "{runs}"
    );
    let answering = if answerer[0] == "b1" { &b[0] } else { &b[1] };
    let page = reqwest::get(format!("{}/environments/api", answering.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("asked by a"), "the page marks the answers");
    // Seconds, not the next slot (weeks away): generous for a loaded machine.
    assert!(paged_after < Duration::from_secs(60), "{paged_after:?}");
}

/// The other side of it: a's path to api is broken (nothing listens where a connects), b's is
/// not. b answers a's request at once with a healthy probe, which it does not re-probe, and a's
/// confirmed failure alone is not `min_locations`: no page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_answer_from_the_other_location_keeps_a_one_sided_failure_from_paging() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let url = postgres.url(&postgres.fresh_database("confirm_healthy").await);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let hook = Receiver::spawn().await;
    let lab = crate::helpers::spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &hook, &url);
    let (lab_at, refused) = (lab.addr().to_string(), free_port().to_string());
    let b = start(&config, "b1", "b", &lab_at, &lab_at, &lab_at);
    wait_until(
        "b's start-up probe",
        || marks(&pool, "b"),
        |runs| !runs.is_empty(),
    )
    .await;
    let _a = start(&config, "a1", "a", &refused, &lab_at, &lab_at);
    let answers = wait_until(
        "a's confirmed failure and b's answer",
        || async {
            let (a, b) = (marks(&pool, "a").await?, marks(&pool, "b").await?);
            Some((a, b))
        },
        |(a, b)| a.len() == 3 && b.iter().any(|run| run.1.is_some()),
    )
    .await;
    assert_eq!(
        answers.0,
        [
            run("down", None, None),
            run("down", None, Some(1)),
            run("down", None, Some(2)),
        ]
    );
    assert_eq!(
        answers.1,
        [run("up", None, None), run("up", Some("a"), None)]
    );
    // Evaluator passes (every 3 s) over both series: nothing pages, the page says why.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(events(&hook), Vec::<(String, String)>::new());
    let status = get(&format!("{}/api/v1/status", b.base())).await.unwrap();
    let api = &status["environments"][0];
    assert_eq!(api["locations"]["b"]["status"], "up", "{api}");
    assert!(
        api["diagnosis"]
            .as_str()
            .unwrap()
            .starts_with("Down from a only (b up)"),
        "{api}"
    );
}

/// The requests as each instance reads them from PostgreSQL: a location's own come back to it
/// (it is confirming itself), each other location answers once whichever replica claims first,
/// and a request is judged expired on the database's clock.
#[tokio::test]
async fn each_location_answers_a_request_once_and_expiry_is_the_databases() {
    use std::collections::BTreeSet;
    use wsprobe::fleet::requests::to_answer;
    use wsprobe::store::Store;

    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let url = postgres.url(&postgres.fresh_database("requests").await);
    let mut stores = Vec::new();
    for (location, instance) in [("a", "a1"), ("b", "b1"), ("b", "b2"), ("c", "c1")] {
        stores.push(Store::connect(&url, location, instance).await.unwrap());
    }
    let fleet: Vec<_> = stores.iter().map(|s| s.fleet().unwrap()).collect();
    let (a, b1, b2, c) = (&fleet[0], &fleet[1], &fleet[2], &fleet[3]);
    a.request_probes("api", Duration::from_secs(60))
        .await
        .unwrap();
    a.request_probes("chat", Duration::ZERO).await.unwrap();

    let (open, now) = b1.open_probe_requests().await.unwrap();
    let chosen = to_answer(&open, "b", now.unwrap(), |_| true, &BTreeSet::new());
    let environments: Vec<&str> = chosen.iter().map(|r| r.environment.as_str()).collect();
    assert_eq!(environments, ["api"], "chat expired as it was written");
    let id = chosen[0].id;
    let (first, second) = tokio::join!(b1.claim_request(id), b2.claim_request(id));
    assert_ne!(
        first.unwrap(),
        second.unwrap(),
        "one replica of b claims it"
    );
    let (left, _) = b2.open_probe_requests().await.unwrap();
    assert!(left.iter().all(|r| r.id != id), "answered for b: {left:?}");
    // c answers for itself; a never answers its own, and skips api while it confirms it.
    assert!(c.claim_request(id).await.unwrap());
    let (own, now) = a.open_probe_requests().await.unwrap();
    assert!(own.iter().any(|r| r.id == id));
    assert!(to_answer(&own, "a", now.unwrap(), |_| true, &BTreeSet::new()).is_empty());
    // Nothing is an hour past its expiry yet.
    assert_eq!(a.prune_probe_requests().await.unwrap(), 0);
    for store in stores {
        store.close().await;
    }
}
