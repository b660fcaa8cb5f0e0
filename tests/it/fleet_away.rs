//! Alerts go on while a fleet's database is away (SPEC "A fleet that rides out its
//! database"): two replicas of one location on a PostgreSQL of the test's own, which the test
//! stops and starts again; an environment at a lab of its own goes down during the outage and
//! heals after it. Asserted: what crossed the recording webhook receiver, and what the
//! database holds once it is back.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wsprobe::lab::{Lab, LabOptions};

use crate::helpers::free_port;
use crate::helpers::pg::Postgres;
use crate::helpers::receiver::Receiver;

const PATIENCE: Duration = Duration::from_secs(120);

struct Instance(Child);

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &Path, name: &str, location: &str) -> (Instance, u16) {
    let port = free_port().port();
    let child = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("WSPROBE_INSTANCE", name)
        .env("LOC", location)
        .env("PORT", port.to_string())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Instance(child), port)
}

fn write_config(dir: &Path, hook: &Receiver, storage_url: &str, lab: &str) -> std::path::PathBuf {
    let config = dir.join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            r#"location: ${{LOC}}
defaults: {{ schedule: "*/2 * * * * *", timeout: 1500ms }}
environments:
  - {{ name: flaky, url: "ws://{lab}/ws/healthy" }}
alerts:
  defaults: {{ failure_threshold: 2 }}
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

/// A lab on `addr` (the same port each time, so the environment's URL stays).
fn lab_on(addr: std::net::SocketAddr, stop: &CancellationToken) -> Lab {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    let options = LabOptions {
        startup_duration: Duration::ZERO,
        ..LabOptions::default()
    };
    Lab::spawn(socket.listen(1024).unwrap(), options, stop.clone()).unwrap()
}

/// The webhooks received about `flaky`.
fn flaky(hook: &Receiver) -> Vec<Value> {
    hook.requests()
        .iter()
        .map(|r| r.json())
        .filter(|body| body["environment"] == "flaky")
        .collect()
}

fn count(events: &[Value], event: &str) -> usize {
    events.iter().filter(|e| e["event"] == event).count()
}

async fn wait_until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A fleet of two instances at `locations` (the same twice: two replicas) on a PostgreSQL of
/// the test's own, running, with `flaky` up at a lab of its own.
struct Setup {
    postgres: Postgres,
    url: String,
    hook: Receiver,
    lab_addr: std::net::SocketAddr,
    lab: Option<(Lab, CancellationToken)>,
    _fleet: [(Instance, u16); 2],
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start(locations: [&str; 2]) -> Option<Setup> {
        wsprobe::probe::tls::ensure_crypto_provider();
        let postgres = Postgres::start()?;
        let url = postgres.database("away").await;
        let hook = Receiver::spawn().await;
        let lab_addr = free_port();
        let stop = CancellationToken::new();
        let lab = lab_on(lab_addr, &stop);
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), &hook, &url, &lab_addr.to_string());
        let fleet = [
            start(&config, "i1", locations[0]),
            start(&config, "i2", locations[1]),
        ];
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        wait_until("two replicas and an evaluator", async || {
            let count = async |sql: &str| -> Option<i64> {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_one(&pool)
                    .await
                    .ok()
            };
            let instances = count("SELECT COUNT(*) FROM instances").await?;
            let leases = count("SELECT COUNT(*) FROM leases WHERE until > now()").await?;
            let runs = count("SELECT COUNT(*) FROM runs").await?;
            (instances == 2 && leases == 1 && runs >= 4).then_some(())
        })
        .await;
        pool.close().await;
        Some(Setup {
            postgres,
            url,
            hook,
            lab_addr,
            lab: Some((lab, stop)),
            _fleet: fleet,
            _dir: dir,
        })
    }

    fn environment_down(&mut self) {
        if let Some((lab, stop)) = self.lab.take() {
            stop.cancel();
            drop(lab);
        }
    }

    fn environment_up(&mut self) {
        let stop = CancellationToken::new();
        self.lab = Some((lab_on(self.lab_addr, &stop), stop));
    }

    /// The first `event` webhook about `flaky`, waited for.
    async fn first(&self, event: &str) -> Value {
        wait_until(&format!("a {event} webhook"), async || {
            flaky(&self.hook).into_iter().find(|e| e["event"] == event)
        })
        .await
    }

    /// How the evaluator reconciled incident `id`, once it has.
    async fn reconciled(&self, pool: &sqlx::PgPool, id: i64) -> String {
        wait_until("the paged incident reconciled", async || {
            sqlx::query_scalar(
                "SELECT reconciled_as FROM away_incidents
                 WHERE id = $1 AND reconciled_at IS NOT NULL",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            .ok()
            .flatten()
        })
        .await
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some((_, stop)) = &self.lab {
            stop.cancel();
        }
    }
}

/// What every page sent during the outage says (from `eu-west` or `us-east`), and its
/// identity.
fn paged_during_the_outage(trigger: &Value) -> i64 {
    let diagnosis = trigger["incident"]["diagnosis"].as_str().unwrap();
    let from_one = ["eu-west", "us-east"].iter().any(|location| {
        diagnosis.starts_with(&format!(
            "Down from {location}; other locations could not be consulted: shared store unreachable since "
        ))
    });
    assert!(from_one, "{trigger}");
    let id = trigger["incident"]["id"].as_i64().unwrap();
    assert!(wsprobe::fleet::away::is_local_id(id), "{trigger}");
    assert_eq!(
        trigger["delivery_id"],
        wsprobe::fleet::away::delivery_id("flaky", id, "triggered")
    );
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_during_a_database_outage_is_paged_once_then_and_reconciled_after() {
    let Some(mut setup) = Setup::start(["eu-west", "eu-west"]).await else {
        return;
    };
    // The database goes away, then the environment goes down.
    setup.postgres.stop();
    let outage_from = Instant::now();
    setup.environment_down();
    let trigger = setup.first("triggered").await;
    let paged_after = outage_from.elapsed();
    let id = paged_during_the_outage(&trigger);
    // Both replicas see it down; only one pages.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let seen = flaky(&setup.hook);
    assert_eq!(count(&seen, "triggered"), 1, "{seen:?}");

    // The database returns: the page is reconciled, the environment still down is not paged
    // again.
    setup.postgres.start_again();
    let pool = sqlx::PgPool::connect(&setup.url).await.unwrap();
    assert_eq!(setup.reconciled(&pool, id).await, "adopt");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let seen = flaky(&setup.hook);
    assert_eq!(count(&seen, "triggered"), 1, "{seen:?}");
    let open: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM incidents WHERE environment = 'flaky' AND resolved_at_ms IS NULL",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert_eq!(open, Some(id), "the evaluator holds the paged incident");

    // The environment heals: one resolve, under the same identity, from the evaluator.
    setup.environment_up();
    let resolve = setup.first("resolved").await;
    assert_eq!(resolve["incident"]["id"], id, "{resolve}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let seen = flaky(&setup.hook);
    assert_eq!(count(&seen, "triggered"), 1, "{seen:?}");
    assert_eq!(count(&seen, "resolved"), 1, "{seen:?}");
    eprintln!(
        "paged {:.1} s into the database outage",
        paged_after.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_over_before_the_database_returns_is_resolved_then_and_kept_after() {
    let Some(mut setup) = Setup::start(["eu-west", "eu-west"]).await else {
        return;
    };
    setup.postgres.stop();
    setup.environment_down();
    let id = paged_during_the_outage(&setup.first("triggered").await);
    // Healed while the database is still away: the resolve goes out from here, same identity.
    setup.environment_up();
    let resolve = setup.first("resolved").await;
    assert_eq!(resolve["incident"]["id"], id, "{resolve}");
    assert_eq!(resolve["incident"]["state"], "resolved", "{resolve}");
    assert_eq!(
        resolve["delivery_id"],
        wsprobe::fleet::away::delivery_id("flaky", id, "resolved")
    );

    // Back: the incident is in the history as it happened, and nothing is paged again.
    setup.postgres.start_again();
    let pool = sqlx::PgPool::connect(&setup.url).await.unwrap();
    assert_eq!(setup.reconciled(&pool, id).await, "record");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let resolved_at: Option<i64> =
        sqlx::query_scalar("SELECT resolved_at_ms FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(resolved_at.is_some());
    let outbox: Vec<(String, String)> =
        sqlx::query_as("SELECT event, state FROM outbox WHERE incident_id = $1 ORDER BY event")
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        outbox,
        [
            ("resolved".to_owned(), "delivered".to_owned()),
            ("triggered".to_owned(), "delivered".to_owned())
        ]
    );
    let seen = flaky(&setup.hook);
    assert_eq!(count(&seen, "triggered"), 1, "{seen:?}");
    assert_eq!(count(&seen, "resolved"), 1, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_locations_each_page_an_outage_once_and_every_page_is_closed_once() {
    let Some(mut setup) = Setup::start(["eu-west", "us-east"]).await else {
        return;
    };
    setup.postgres.stop();
    setup.environment_down();
    // Each location pages what it sees, under the id derived from the first failing slot: the
    // same one when both saw the same slot fail first.
    let triggers = wait_until("a page from each location", async || {
        let seen = flaky(&setup.hook);
        (count(&seen, "triggered") >= 2).then(|| {
            seen.into_iter()
                .filter(|e| e["event"] == "triggered")
                .collect::<Vec<_>>()
        })
    })
    .await;
    let ids: std::collections::BTreeSet<i64> =
        triggers.iter().map(paged_during_the_outage).collect();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let seen = flaky(&setup.hook);
    assert_eq!(count(&seen, "triggered"), 2, "one per location: {seen:?}");

    // Back: both reports reconciled (one adopted; the other the same incident, or closed as
    // a duplicate), and nothing triggered again while the environment stays down.
    setup.postgres.start_again();
    let pool = sqlx::PgPool::connect(&setup.url).await.unwrap();
    let mut how: Vec<String> = Vec::new();
    for id in &ids {
        how.push(setup.reconciled(&pool, *id).await);
    }
    assert!(how.contains(&"adopt".to_owned()), "{how:?}");
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(count(&flaky(&setup.hook), "triggered"), 2);

    // Healed: every page paged is closed, once, under its own id.
    setup.environment_up();
    let resolves = wait_until("a resolve of every page", async || {
        let resolved: Vec<i64> = flaky(&setup.hook)
            .iter()
            .filter(|e| e["event"] == "resolved")
            .filter_map(|e| e["incident"]["id"].as_i64())
            .collect();
        ids.iter()
            .all(|id| resolved.contains(id))
            .then_some(resolved)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let seen = flaky(&setup.hook);
    assert_eq!(count(&seen, "triggered"), 2, "{seen:?}");
    assert_eq!(count(&seen, "resolved"), ids.len(), "{seen:?}");
    assert_eq!(resolves.len(), ids.len(), "{resolves:?}");
    eprintln!(
        "{} incident id(s) paged from two locations, reconciled as {how:?}",
        ids.len()
    );
}
