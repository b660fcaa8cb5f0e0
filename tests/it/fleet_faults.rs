//! A fleet through its database's faults, for real: `wsprobe run` replicas of one location on
//! a PostgreSQL of the tests' own reached through a proxy that blackholes or delays it, or
//! with a host clock set off by libfaketime; a slot recorder (the environments' server) says
//! from outside which replica probed which slot. The longer versions (75 s down, locks,
//! three replicas) are `bench/fleet_faults.py`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::helpers::child::Daemon;
use crate::helpers::faults::{FaultProxy, Mode, SlotRecorder, faketime, tally};
use crate::helpers::free_port;
use crate::helpers::pg::Postgres;
use crate::helpers::receiver::Receiver;

/// The schedules' period: short, so that a fault of 20 s spans many slots.
const PERIOD_MS: i64 = 2000;
const ENVIRONMENTS: [&str; 3] = ["e1", "e2", "e3"];
const PATIENCE: Duration = Duration::from_secs(60);

/// One config for every replica, its `${VAR}`s set per process: three environments on the
/// recorder, each probe saying which replica made it.
fn write_config(dir: &Path, recorder: &SlotRecorder, hook: &Receiver) -> PathBuf {
    let environments: String = ENVIRONMENTS
        .iter()
        .map(|name| {
            format!(
                "  - {{ name: {name}, url: \"ws://{}/{name}\", headers: {{ X-Instance: \"${{INST}}\" }} }}\n",
                recorder.addr
            )
        })
        .collect();
    let config = dir.join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            r#"location: a
defaults: {{ schedule: "*/2 * * * * *", timeout: 1500ms, jitter: 0s }}
environments:
{environments}alerts:
  channels:
    - {{ name: audit, kind: webhook, url: "{}" }}
server: {{ listen: "127.0.0.1:${{PORT}}" }}
storage: {{ url: "${{DB}}" }}
"#,
            hook.url("/hook")
        ),
    )
    .unwrap();
    config
}

struct Replica {
    name: String,
    port: u16,
    daemon: Daemon,
}

fn start(config: &Path, name: &str, db: &str, clock: &[(&'static str, String)]) -> Replica {
    let port = free_port().port();
    let port_text = port.to_string();
    let mut vars: Vec<(&str, &str)> = vec![
        ("WSPROBE_INSTANCE", name),
        ("INST", name),
        ("PORT", &port_text),
        ("DB", db),
    ];
    vars.extend(clock.iter().map(|(k, v)| (*k, v.as_str())));
    Replica {
        name: name.to_owned(),
        port,
        daemon: Daemon::spawn(config, &vars),
    }
}

async fn instances(replica: &Replica) -> Option<Vec<Value>> {
    wsprobe::probe::tls::ensure_crypto_provider();
    let url = format!("http://127.0.0.1:{}/api/v1/instances", replica.port);
    let body: Value = reqwest::get(url).await.ok()?.json().await.ok()?;
    body["instances"].as_array().cloned()
}

/// Until every replica lists them all, and one membership round more so that each knows the
/// others alive.
async fn wait_for_fleet(replicas: &[&Replica]) {
    let started = Instant::now();
    for replica in replicas {
        loop {
            let listed = instances(replica).await.unwrap_or_default();
            if listed.len() == replicas.len() {
                break;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{} never listed the fleet: {listed:?}\n{}",
                replica.name,
                replica.daemon.all_stderr()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
}

/// Every slot of every environment in `[from, to]` probed exactly once, and the start lag.
fn assert_each_slot_once(
    recorder: &SlotRecorder,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    replicas: &[&Replica],
) {
    let probes = recorder.probes();
    let mut lags = Vec::new();
    for env in ENVIRONMENTS {
        let judged = tally(&probes, &format!("/{env}"), PERIOD_MS, from, to);
        assert!(
            judged.missed.is_empty() && judged.twice.is_empty(),
            "{env}: {} once, missed {:?}, twice {:?}\n{}",
            judged.once,
            judged.missed,
            judged.twice,
            replicas
                .iter()
                .map(|r| format!("{}:\n{}", r.name, r.daemon.all_stderr()))
                .collect::<Vec<_>>()
                .join("\n")
        );
        lags.extend(judged.lags_ms);
    }
    lags.sort_unstable();
    let p95 = lags[(lags.len() * 95).div_ceil(100) - 1];
    eprintln!(
        "{} slots probed once; start lag p50 {} ms, p95 {p95} ms",
        lags.len(),
        lags[lags.len() / 2]
    );
}

async fn fleet_database(postgres: &Postgres, purpose: &str) -> (String, FaultProxy) {
    let name = postgres.fresh_database(purpose).await;
    let proxy = FaultProxy::spawn(([127, 0, 0, 1], postgres.port).into()).await;
    (name, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_blackholed_database_every_slot_is_probed_once() {
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let (database, proxy) = fleet_database(postgres, "blackhole").await;
    let (recorder, hook) = (SlotRecorder::spawn().await, Receiver::spawn().await);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &recorder, &hook);
    let db = proxy.url(&database);
    let a1 = start(&config, "a1", &db, &[]);
    let a2 = start(&config, "a2", &db, &[]);
    wait_for_fleet(&[&a1, &a2]).await;

    let from = Utc::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.set(Mode::Blackhole);
    tokio::time::sleep(Duration::from_secs(20)).await;
    proxy.set(Mode::Pass);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let to = Utc::now() - chrono::Duration::seconds(2);
    assert_each_slot_once(&recorder, from, to, &[&a1, &a2]);
    let who: std::collections::BTreeSet<String> =
        recorder.probes().into_iter().map(|p| p.instance).collect();
    assert_eq!(who.len(), 2, "both replicas probe their share: {who:?}");
    // Both went on probing: neither is "stopped reporting" once the database is back.
    let pages: Vec<Value> = hook.requests().iter().map(|r| r.json()).collect();
    assert!(pages.is_empty(), "nobody is quiet: {pages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_slow_database_every_slot_is_probed_once_on_time() {
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let (database, proxy) = fleet_database(postgres, "slow").await;
    let (recorder, hook) = (SlotRecorder::spawn().await, Receiver::spawn().await);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &recorder, &hook);
    let db = proxy.url(&database);
    let a1 = start(&config, "a1", &db, &[]);
    let a2 = start(&config, "a2", &db, &[]);
    wait_for_fleet(&[&a1, &a2]).await;

    proxy.set(Mode::Delay(Duration::from_millis(500)));
    let from = Utc::now();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let to = Utc::now() - chrono::Duration::seconds(2);
    proxy.set(Mode::Pass);
    // The lag is printed, not asserted: a loaded machine must not turn it into a flake.
    assert_each_slot_once(&recorder, from, to, &[&a1, &a2]);
}

/// One replica's clock 90 s ahead, the others' 5 s either side: slots follow the database's
/// clock (none twice), each skew is shown, and nobody is paged as quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_clocks_probe_no_slot_twice_show_their_skew_and_page_nobody() {
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let (Some(ahead), Some(behind), Some(far)) =
        (faketime("+5s"), faketime("-5s"), faketime("+90s"))
    else {
        return;
    };
    let database = postgres.fresh_database("skew").await;
    let db = postgres.url(&database);
    let (recorder, hook) = (SlotRecorder::spawn().await, Receiver::spawn().await);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &recorder, &hook);
    let a1 = start(&config, "a1", &db, &ahead);
    let a2 = start(&config, "a2", &db, &behind);
    let a3 = start(&config, "a3", &db, &far);
    wait_for_fleet(&[&a1, &a2, &a3]).await;

    let from = Utc::now();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let to = Utc::now() - chrono::Duration::seconds(2);
    assert_each_slot_once(&recorder, from, to, &[&a1, &a2, &a3]);

    let listed = instances(&a1).await.unwrap();
    let skew = |id: &str| {
        listed
            .iter()
            .find(|i| i["id"] == id)
            .and_then(|i| i["skew_ms"].as_i64())
            .unwrap_or_else(|| panic!("no skew_ms for {id}: {listed:?}"))
    };
    for (id, want) in [("a1", 5000), ("a2", -5000), ("a3", 90_000)] {
        assert!((skew(id) - want).abs() < 1000, "{id}: {listed:?}");
    }
    a3.daemon.wait_for_line("clock is 90").await;
    let pages: Vec<Value> = hook.requests().iter().map(|r| r.json()).collect();
    assert!(pages.is_empty(), "nobody is quiet: {pages:?}");
}

/// Two evaluators on one store: once the second took the lease over, the first one's writes
/// (an alert step, an outbox mark, a send) carry a stale token and are refused, though it
/// has not noticed it lost the lease.
#[tokio::test]
async fn a_stalled_evaluator_that_lost_its_lease_cannot_write_or_deliver() {
    use wsprobe::store::{Store, StoreError};
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let url = postgres.url(&postgres.fresh_database("fence").await);
    let old = Store::connect(&url, "a", "a1").await.unwrap();
    let new = Store::connect(&url, "a", "a2").await.unwrap();
    let lease = |store: &Store, ttl: u64| {
        let fleet = store.fleet().unwrap();
        async move {
            fleet
                .hold_lease("evaluator", Duration::from_secs(ttl))
                .await
                .unwrap()
        }
    };
    assert!(lease(&old, 1).await);
    old.alerts().save_alert_states(&[]).await.unwrap();
    old.alerts().check_fence().await.unwrap();
    assert!(!lease(&new, 15).await, "held by the first one");
    // The first one stalls past its lease; the second takes it over.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(lease(&new, 15).await);

    let fenced = |result: Result<(), StoreError>| matches!(result, Err(StoreError::Fenced(1)));
    assert!(fenced(old.alerts().save_alert_states(&[]).await));
    assert!(fenced(old.alerts().check_fence().await));
    assert!(fenced(
        old.alerts().notification_postponed(1, Utc::now()).await
    ));
    assert!(fenced(old.alerts().begin_alerts("api").await.map(|_| ())));
    // The new holder writes; the old one cannot take the lease back while it is held.
    new.alerts().save_alert_states(&[]).await.unwrap();
    new.alerts().check_fence().await.unwrap();
    assert!(!lease(&old, 15).await);
    old.close().await;
    new.close().await;
}

/// Replicas started together, each taking itself for the only one until it learns the
/// others: their first slots, claimed late (less than the claim's lead after start), are
/// still probed once each, as the database's runs show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_started_together_probe_their_first_slots_once() {
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let database = postgres.fresh_database("together").await;
    let db = postgres.url(&database);
    let (recorder, hook) = (SlotRecorder::spawn().await, Receiver::spawn().await);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &recorder, &hook);
    let replicas = [
        start(&config, "a1", &db, &[]),
        start(&config, "a2", &db, &[]),
        start(&config, "a3", &db, &[]),
    ];
    wait_for_fleet(&replicas.iter().collect::<Vec<_>>()).await;

    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let twice: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT environment, slot_ms, COUNT(*) FROM runs WHERE slot_ms IS NOT NULL
         GROUP BY environment, slot_ms HAVING COUNT(*) > 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let slots: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT (environment, slot_ms)) FROM runs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(slots >= 9, "slots were probed and stored: {slots}");
    assert!(
        twice.is_empty(),
        "slots probed twice from one location: {twice:?}\n{}",
        replicas
            .iter()
            .map(|r| format!("{}:\n{}", r.name, r.daemon.all_stderr()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    pool.close().await;
}

/// A claim sent again after a failure whose first try may have landed unseen is still its
/// sender's slot, and never another replica's.
#[tokio::test]
async fn a_slot_claim_sent_again_stays_its_senders() {
    use wsprobe::store::Store;
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let url = postgres.url(&postgres.fresh_database("claim_again").await);
    let a1 = Store::connect(&url, "a", "a1").await.unwrap();
    let a2 = Store::connect(&url, "a", "a2").await.unwrap();
    let b1 = Store::connect(&url, "b", "b1").await.unwrap();
    let slot = DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
    let claim = |store: &Store| {
        let fleet = store.fleet().unwrap();
        async move { fleet.claim_slot("api", slot).await.unwrap() }
    };
    assert!(claim(&a1).await, "the first claim lands");
    assert!(claim(&a1).await, "sent again, it is still a1's");
    assert!(
        !claim(&a2).await,
        "another replica of the location loses it"
    );
    assert!(claim(&b1).await, "another location has slots of its own");
    assert!(claim(&a1).await);
    for store in [a1, a2, b1] {
        store.close().await;
    }
}
