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

fn start(config: &Path, name: &str) -> (Instance, u16) {
    let port = free_port().port();
    let child = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("WSPROBE_INSTANCE", name)
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
            r#"location: eu-west
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_during_a_database_outage_is_paged_once_then_and_reconciled_after() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let Some(mut postgres) = Postgres::start() else {
        return;
    };
    let url = postgres.database("away").await;
    let hook = Receiver::spawn().await;
    let lab_addr = free_port();
    let lab_stop = CancellationToken::new();
    let lab = lab_on(lab_addr, &lab_stop);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &hook, &url, &lab_addr.to_string());
    let _fleet = [start(&config, "a1"), start(&config, "a2")];

    // Both replicas known and an evaluator: the fleet is running on its database.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    wait_until("two replicas and an evaluator", async || {
        let instances: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances")
            .fetch_one(&pool)
            .await
            .ok()?;
        let leases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leases WHERE until > now()")
            .fetch_one(&pool)
            .await
            .ok()?;
        let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs")
            .fetch_one(&pool)
            .await
            .ok()?;
        (instances == 2 && leases == 1 && runs >= 4).then_some(())
    })
    .await;
    pool.close().await;

    // The database goes away, then the environment goes down.
    postgres.stop();
    let outage_from = Instant::now();
    lab_stop.cancel();
    drop(lab);
    let trigger = wait_until("a page sent during the outage", async || {
        let seen = flaky(&hook);
        seen.into_iter().find(|e| e["event"] == "triggered")
    })
    .await;
    let paged_after = outage_from.elapsed();
    let diagnosis = trigger["incident"]["diagnosis"].as_str().unwrap();
    assert!(
        diagnosis.starts_with(
            "Down from eu-west; other locations could not be consulted: shared store unreachable since "
        ),
        "{trigger}"
    );
    let id = trigger["incident"]["id"].as_i64().unwrap();
    assert!(wsprobe::fleet::away::is_local_id(id), "{trigger}");
    assert_eq!(
        trigger["delivery_id"],
        wsprobe::fleet::away::delivery_id("flaky", id, "triggered")
    );
    // Both replicas see it down; only one pages.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let seen = flaky(&hook);
    assert_eq!(count(&seen, "triggered"), 1, "{seen:?}");

    // The database returns: the page is reconciled, the environment still down is not paged
    // again.
    postgres.start_again();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let how: String = wait_until("the paged incident reconciled", async || {
        sqlx::query_scalar(
            "SELECT reconciled_as FROM away_incidents WHERE id = $1 AND reconciled_at IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(&pool)
        .await
        .ok()
        .flatten()
    })
    .await;
    assert_eq!(how, "adopt");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let seen = flaky(&hook);
    assert_eq!(count(&seen, "triggered"), 1, "{seen:?}");
    let open: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM incidents WHERE environment = 'flaky' AND resolved_at_ms IS NULL",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert_eq!(open, Some(id), "the evaluator holds the paged incident");

    // The environment heals: one resolve, under the same identity, from the evaluator.
    let healed_stop = CancellationToken::new();
    let _healed = lab_on(lab_addr, &healed_stop);
    let resolve = wait_until("the resolve", async || {
        flaky(&hook).into_iter().find(|e| e["event"] == "resolved")
    })
    .await;
    assert_eq!(resolve["incident"]["id"], id, "{resolve}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let seen = flaky(&hook);
    assert_eq!(count(&seen, "triggered"), 1, "{seen:?}");
    assert_eq!(count(&seen, "resolved"), 1, "{seen:?}");
    eprintln!(
        "paged {:.1} s into the database outage",
        paged_after.as_secs_f64()
    );
    healed_stop.cancel();
}
