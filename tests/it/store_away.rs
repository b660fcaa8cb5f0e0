//! A fleet instance whose PostgreSQL goes away, for real: a server of the test's own stopped
//! as `pg_ctl stop -m fast` does and started again, or not started yet when the instance is;
//! and a database config the server refuses. What is asserted crossed the sockets (`/readyz`,
//! the API) or is in the database.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::child::Daemon;
use crate::helpers::pg::Postgres;
use crate::helpers::{TestLab, free_port, spawn_lab};

/// Generous: a store retry backs off up to half a minute, and builds share two cores.
const PATIENCE: Duration = Duration::from_secs(120);

/// One instance probing the lab every second on the shared store at `url`.
fn spawn_instance(dir: &Path, lab: &TestLab, url: &str) -> (Daemon, String) {
    let port = free_port().port();
    let config: PathBuf = dir.join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            "location: here\ndefaults: {{ schedule: \"* * * * * *\", timeout: 2s }}\nenvironments:\n  - {{ name: steady, url: \"ws://{}/ws/healthy\" }}\nserver: {{ listen: \"127.0.0.1:{port}\" }}\nstorage: {{ url: \"{url}\" }}\n",
            lab.addr()
        ),
    )
    .unwrap();
    let daemon = Daemon::spawn(
        &config,
        &[("RUST_LOG", "info"), ("WSPROBE_INSTANCE", "one")],
    );
    (daemon, format!("http://127.0.0.1:{port}"))
}

/// `/readyz` as (status, body). The daemon answers from memory in microseconds; the bound here
/// is generous for a loaded CI machine yet well under the 10 s pool timeout a store-bound
/// answer would wait out, so it still tells the two apart.
async fn readyz(base: &str) -> Option<(u16, Value)> {
    let asked = Instant::now();
    let answer = reqwest::Client::new()
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let status = answer.status().as_u16();
    let body = answer.json().await.ok()?;
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "/readyz took {:?}",
        asked.elapsed()
    );
    Some((status, body))
}

async fn status(base: &str) -> Option<Value> {
    reqwest::get(format!("{base}/api/v1/status"))
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Poll `probe` until `done` holds, or fail saying `what` with the daemon's log.
async fn wait_for<T, F, Fut>(
    daemon: &Daemon,
    what: &str,
    mut probe: F,
    done: impl Fn(&T) -> bool,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await
            && done(&value)
        {
            return value;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{what}: never happened\n{}",
            daemon.all_stderr()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn stored_runs(url: &str) -> Option<i64> {
    let pool = sqlx::PgPool::connect(url).await.ok()?;
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM runs")
        .fetch_one(&pool)
        .await
        .ok();
    pool.close().await;
    count
}

fn queued(status: &Value) -> u64 {
    status["store"]["spool"]["queued"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_stopped_and_started_again_is_ridden_out_and_nothing_probed_meanwhile_lost() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let Some(mut postgres) = Postgres::start() else {
        return;
    };
    let url = postgres.database("away").await;
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, base) = spawn_instance(dir.path(), &lab, &url);
    wait_for(&daemon, "ready", || readyz(&base), |(s, _)| *s == 200).await;
    wait_for(&daemon, "runs stored", || stored_runs(&url), |n| *n > 0).await;

    let stopped_at = chrono::Utc::now();
    postgres.stop();
    let stopped = Instant::now();
    let (_, body) = wait_for(
        &daemon,
        "503 with the reason",
        || readyz(&base),
        |(s, _)| *s == 503,
    )
    .await;
    let noticed = stopped.elapsed();
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "shared store 127.0.0.1:{}/away unreachable since",
            postgres.port
        )),
        "{reason}"
    );
    assert!(
        noticed < Duration::from_secs(20),
        "503 only after {noticed:?}"
    );
    // Probing goes on; its runs wait in the spool.
    let spooled = wait_for(
        &daemon,
        "runs in the spool",
        || status(&base),
        |s| queued(s) >= 2,
    )
    .await;
    assert_eq!(spooled["store"]["spool"]["dropped"], 0, "{spooled}");
    postgres.start_again();
    wait_for(&daemon, "ready again", || readyz(&base), |(s, _)| *s == 200).await;
    let drained = wait_for(
        &daemon,
        "the spool written",
        || status(&base),
        |s| queued(s) == 0,
    )
    .await;
    assert_eq!(drained["store"]["spool"]["dropped"], 0, "{drained}");
    // Every run made while the server was stopped is in the database, in order.
    let during: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, started_at_ns FROM runs WHERE started_at_ns > $1 ORDER BY id")
            // A run in flight as the server stopped counts too.
            .bind(
                (stopped_at - chrono::Duration::seconds(5))
                    .timestamp_nanos_opt()
                    .unwrap(),
            )
            .fetch_all(&sqlx::PgPool::connect(&url).await.unwrap())
            .await
            .unwrap();
    assert!(
        during.len() as u64 >= queued(&spooled),
        "{} runs stored from the outage, {} were spooled",
        during.len(),
        queued(&spooled)
    );
    assert!(
        during.windows(2).all(|w| w[0].1 <= w[1].1),
        "written out of order: {during:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_before_its_database_runs_and_connects_when_it_comes() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let Some(mut postgres) = Postgres::start() else {
        return;
    };
    let url = postgres.database("later").await;
    postgres.stop();
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, base) = spawn_instance(dir.path(), &lab, &url);

    let (_, body) = wait_for(
        &daemon,
        "503 at start",
        || readyz(&base),
        |(s, _)| *s == 503,
    )
    .await;
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("unreachable since"), "{reason}");
    let target = format!("127.0.0.1:{}/later", postgres.port);
    daemon
        .wait_for_line("the shared store is not reachable")
        .await;
    let attempts = daemon.lines("the shared store is not reachable");
    assert!(attempts.iter().all(|l| l.contains(&target)), "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|l| l.to_lowercase().contains("refused")),
        "{attempts:?}"
    );
    // It probes meanwhile.
    wait_for(
        &daemon,
        "runs in the spool",
        || status(&base),
        |s| queued(s) >= 1,
    )
    .await;

    postgres.start_again();
    wait_for(
        &daemon,
        "ready once the database is up",
        || readyz(&base),
        |(s, _)| *s == 200,
    )
    .await;
    wait_for(
        &daemon,
        "the spool written",
        || status(&base),
        |s| queued(s) == 0,
    )
    .await;
    let stored = stored_runs(&url).await.unwrap();
    assert!(stored > 0, "no run stored");
    daemon.wait_for_line("connected to the shared store").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_config_the_server_refuses_exits_2_naming_where_but_not_the_password() {
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let lab = spawn_lab().await;
    let port = postgres.port;
    for (url, said) in [
        (
            format!("postgres://wsprobe:hunter2-secret@127.0.0.1:{port}/no_such_database"),
            "does not exist",
        ),
        (
            format!("postgres://nobody:hunter2-secret@127.0.0.1:{port}/postgres"),
            "role \"nobody\" does not exist",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (mut daemon, _) = spawn_instance(dir.path(), &lab, &url);
        let exit = daemon.exits_within(Duration::from_secs(30)).await;
        let log = daemon.all_stderr();
        assert_eq!(exit.code(), Some(2), "{log}");
        let database = url.rsplit('/').next().unwrap();
        assert!(
            log.contains(&format!("127.0.0.1:{port}/{database}")),
            "{log}"
        );
        assert!(log.contains(said), "{log}");
        assert!(
            !log.contains("hunter2-secret"),
            "the password was logged: {log}"
        );
    }
}
