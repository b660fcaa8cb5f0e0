//! A fleet for real: one PostgreSQL of the test's own, three `wsprobe run` processes (location
//! a with two replicas, location b with one) on one config file whose `${VAR}`s differ per
//! process, the lab, and a receiver that records the webhooks. Everything asserted is what
//! crossed the sockets (webhooks, the HTTP API) or what the database holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wsprobe::lab::{Lab, LabOptions};

use crate::helpers::fleet::{count, events, get, start, wait_until};
use crate::helpers::free_port;
use crate::helpers::pg::Postgres;
use crate::helpers::receiver::Receiver;

/// The schedule's period: short, so that the test sees many slots; the deadlines below are
/// generous multiples of it.
const INTERVAL_MS: i64 = 2000;

/// The slots each location probed of `env`, from the database: slot time → runs.
async fn slots(pool: &sqlx::PgPool, env: &str) -> BTreeMap<(String, i64), i64> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT location, slot_ms, COUNT(*) FROM runs
         WHERE environment = $1 AND slot_ms IS NOT NULL GROUP BY location, slot_ms",
    )
    .bind(env)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(l, s, n)| ((l, s), n)).collect()
}

/// Every slot of `location` in `[from, to]` (milliseconds) is in `probed`.
fn gaps(probed: &BTreeMap<(String, i64), i64>, location: &str, from: i64, to: i64) -> Vec<i64> {
    let first = (from / INTERVAL_MS + 1) * INTERVAL_MS;
    (0..)
        .map(|i| first + i * INTERVAL_MS)
        .take_while(|slot| *slot <= to)
        .filter(|slot| !probed.contains_key(&(location.to_owned(), *slot)))
        .collect()
}

/// The one config every instance of a test runs, its `${VAR}`s set per process by [`start`]:
/// `steady` (the lab, up everywhere), `one-side` (at `${EDGE}`), `both` (at `${BOTH}`), paging
/// the webhook `hook` when two locations agree.
fn write_config(dir: &Path, hook: &Receiver, storage_url: &str) -> std::path::PathBuf {
    let config = dir.join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            r#"location: ${{LOC}}
defaults: {{ schedule: "*/2 * * * * *", timeout: 1500ms }}
environments:
  - {{ name: steady, url: "ws://${{LAB}}/ws/healthy" }}
  - {{ name: one-side, url: "ws://${{EDGE}}/ws/healthy" }}
  - {{ name: both, url: "ws://${{BOTH}}/ws/healthy" }}
alerts:
  defaults: {{ min_locations: 2, failure_threshold: 2 }}
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

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_splits_slots_confirms_incidents_across_locations_and_survives_kill_9() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let url = postgres.url(&postgres.fresh_database("fleet").await);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let lab = crate::helpers::spawn_lab().await;
    let hook = Receiver::spawn().await;
    // Nothing listens here until the test starts a lab on it: `both` is down from everywhere.
    // The port is held (bound, not listening: connections are refused) so that no other
    // socket takes it meanwhile.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let both_addr = reserved.local_addr().unwrap();
    let refused = free_port();

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &hook, &url);
    let lab_addr = lab.addr().to_string();
    let both = both_addr.to_string();
    // Location b reaches one-side at a port where nothing listens: a failure seen from b only.
    let mut fleet = [
        start(&config, "a1", "a", &lab_addr, &both, &lab_addr),
        start(&config, "a2", "a", &lab_addr, &both, &lab_addr),
        start(&config, "b1", "b", &refused.to_string(), &both, &lab_addr),
    ];

    // `both` is down from a and b: one incident, one page.
    let base = fleet[0].base();
    wait_until(
        "the incident of `both` and its one webhook",
        || async { Some(events(&hook)) },
        |events| count(events, "triggered", "both") >= 1,
    )
    .await;
    let incidents = get(&format!("{base}/api/v1/incidents?environment=both"))
        .await
        .unwrap();
    let incidents = incidents["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let diagnosis = incidents[0]["diagnosis"].as_str().unwrap();
    assert!(
        diagnosis.starts_with("Down from all 2 locations: the service itself."),
        "{incidents:?}"
    );

    // Three more intervals: one-side, down from b only, must not have paged.
    tokio::time::sleep(Duration::from_millis(3 * INTERVAL_MS as u64 + 1000)).await;
    let status = get(&format!("{}/api/v1/status", fleet[2].base()))
        .await
        .unwrap();
    let one_side = status["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "one-side")
        .unwrap()
        .clone();
    assert_eq!(one_side["locations"]["a"]["status"], "up", "{one_side}");
    assert_eq!(one_side["locations"]["b"]["status"], "down", "{one_side}");
    assert_eq!(one_side["locations"]["b"]["verdict"], "connect_refused");
    assert!(
        one_side["diagnosis"]
            .as_str()
            .unwrap()
            .starts_with("Down from b only (a up): the network path or edge serving b."),
        "{one_side}"
    );
    // The status page of any instance shows the location matrix.
    let page = reqwest::get(format!("{}/", fleet[1].base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<h2>Locations</h2>"), "{page}");
    assert!(
        page.contains("<th class=\"nowrap\">a</th><th class=\"nowrap\">b</th>"),
        "{page}"
    );
    let seen = events(&hook);
    assert_eq!(count(&seen, "triggered", "one-side"), 0, "{seen:?}");
    assert_eq!(count(&seen, "triggered", "both"), 1, "{seen:?}");
    let one_side_incidents = get(&format!("{base}/api/v1/incidents?environment=one-side"))
        .await
        .unwrap();
    assert_eq!(one_side_incidents["incidents"], serde_json::json!([]));

    // Runs say where they came from, and filter by it.
    let runs = get(&format!(
        "{base}/api/v1/environments/one-side/runs?location=b&limit=5"
    ))
    .await
    .unwrap();
    let runs = runs["runs"].as_array().unwrap();
    assert!(!runs.is_empty());
    assert!(
        runs.iter()
            .all(|r| r["location"] == "b" && r["verdict"] == "connect_refused")
    );

    // Kill -9 a replica that does not evaluate: its location's slots go on.
    let instances = get(&format!("{base}/api/v1/instances")).await.unwrap();
    assert_eq!(
        instances["instances"].as_array().unwrap().len(),
        3,
        "{instances}"
    );
    let evaluator = instances["evaluator"].as_str().unwrap().to_owned();
    let victim = if evaluator == "a2" { 0 } else { 1 };
    let victim_name = fleet[victim].name.clone();
    fleet[victim].kill_9();
    let killed_at = now_ms();
    let survivor = &fleet[1 - victim];
    tokio::time::sleep(Duration::from_millis(4 * INTERVAL_MS as u64)).await;
    let probed = slots(&pool, "steady").await;
    let missing = gaps(
        &probed,
        "a",
        killed_at + INTERVAL_MS,
        now_ms() - INTERVAL_MS,
    );
    assert!(
        missing.is_empty(),
        "location a skipped slots {missing:?} after {victim_name} died"
    );
    let survivor_runs: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE instance = $1 AND slot_ms > $2")
            .bind(&survivor.name)
            .bind(killed_at + INTERVAL_MS)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(survivor_runs > 0);
    // The dead replica is an incident of its own, paged once.
    let quiet_instance = format!("instance {victim_name}");
    wait_until(
        "the quiet replica's incident",
        || async { Some(events(&hook)) },
        |events| count(events, "triggered", &quiet_instance) == 1,
    )
    .await;

    // Kill -9 the evaluator, then let `both` recover: the next evaluator pages the
    // resolution, once, and never pages `both` again.
    let evaluator_index = fleet
        .iter()
        .position(|i| i.name == evaluator)
        .expect("the evaluator is one of the three");
    assert_ne!(evaluator_index, victim);
    fleet[evaluator_index].kill_9();
    let last = fleet
        .iter()
        .position(|i| i.name != evaluator && i.name != victim_name)
        .unwrap();
    let recovered = reserved.listen(1024).unwrap();
    let stop = CancellationToken::new();
    let _both_lab = Lab::spawn(
        recovered,
        LabOptions {
            startup_duration: Duration::ZERO,
            ..LabOptions::default()
        },
        stop.clone(),
    )
    .unwrap();
    wait_until(
        "the resolution of `both` from the new evaluator",
        || async { Some(events(&hook)) },
        |events| count(events, "resolved", "both") >= 1,
    )
    .await;
    let instances = get(&format!("{}/api/v1/instances", fleet[last].base()))
        .await
        .unwrap();
    assert_eq!(instances["evaluator"], fleet[last].name.as_str());

    // With every instance of one location dead, that location is itself an incident.
    let dead_location = if fleet[last].name.starts_with('a') {
        "b"
    } else {
        "a"
    };
    let quiet_location = format!("location {dead_location}");
    let seen = wait_until(
        "the quiet location's incident",
        || async { Some(events(&hook)) },
        |events| count(events, "triggered", &quiet_location) == 1,
    )
    .await;
    // A little longer: nothing is paged twice.
    tokio::time::sleep(Duration::from_millis(2 * INTERVAL_MS as u64)).await;
    let seen = {
        let later = events(&hook);
        assert!(later.len() >= seen.len());
        later
    };
    assert_eq!(count(&seen, "triggered", "both"), 1, "{seen:?}");
    assert_eq!(count(&seen, "resolved", "both"), 1, "{seen:?}");
    assert_eq!(count(&seen, "triggered", &quiet_location), 1, "{seen:?}");
    // A replica's incident is not resolved by its whole location going quiet.
    assert_eq!(count(&seen, "resolved", &quiet_instance), 0, "{seen:?}");
    // one-side never paged while both locations reported; once one is gone, the other is
    // every location there is (min_locations counts the locations that report).
    let location_paged = seen
        .iter()
        .position(|(e, env)| e == "triggered" && *env == quiet_location)
        .unwrap();
    assert!(
        !seen[..location_paged]
            .iter()
            .any(|(_, env)| env == "one-side"),
        "{seen:?}"
    );
    let incidents_url = format!(
        "{}/api/v1/incidents?environment={}",
        fleet[last].base(),
        quiet_location.replace(' ', "%20")
    );
    let incident = wait_until(
        "the quiet location's incident in the store",
        || get(&incidents_url),
        |body| body["incidents"][0]["diagnosis"].is_string(),
    )
    .await;
    let sentence = incident["incidents"][0]["diagnosis"].as_str().unwrap();
    assert!(
        sentence.starts_with(&format!("{quiet_location} stopped reporting at ")),
        "{sentence}"
    );

    // The page says which location went quiet, and its cells are history.
    let page = wait_until(
        "the quiet location on the status page",
        || async {
            reqwest::get(format!("{}/", fleet[last].base()))
                .await
                .ok()?
                .text()
                .await
                .ok()
        },
        |page: &String| page.contains(&format!("<b>{quiet_location}</b>")),
    )
    .await;
    assert!(page.contains("silent since"), "{page}");

    // What the database holds: no slot of any environment probed twice from one location.
    let twice: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT environment, location, slot_ms FROM runs WHERE slot_ms IS NOT NULL
         GROUP BY environment, location, slot_ms HAVING COUNT(*) > 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(twice, Vec::<(String, String, i64)>::new());
    // Both replicas of a took slots while both lived.
    let takers: BTreeSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT instance FROM runs WHERE location = 'a' AND slot_ms IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(takers, BTreeSet::from(["a1".to_owned(), "a2".to_owned()]));
    stop.cancel();
}

/// Two locations through PgBouncer in session mode: they claim, write, evaluate and page
/// exactly as against PostgreSQL itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_works_through_pgbouncer_in_session_mode() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let pooled = postgres.fresh_database("pooled").await;
    let Some(pooler) = crate::helpers::pg::PgBouncer::start(postgres, "session") else {
        return;
    };
    let lab = crate::helpers::spawn_lab().await;
    let hook = Receiver::spawn().await;
    let refused = free_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &hook, &pooler.url(&pooled));
    let lab_addr = lab.addr().to_string();
    let _fleet = [
        start(&config, "a1", "a", &lab_addr, &refused, &lab_addr),
        start(&config, "b1", "b", &lab_addr, &refused, &lab_addr),
    ];
    wait_until(
        "the page for `both` through the pooler",
        || async { Some(events(&hook)) },
        |events| count(events, "triggered", "both") == 1,
    )
    .await;
    let pool = sqlx::PgPool::connect(&postgres.url(&pooled)).await.unwrap();
    let locations: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT location FROM runs WHERE environment = 'steady' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(locations, ["a", "b"]);
    let diagnosis: String =
        sqlx::query_scalar("SELECT diagnosis FROM incidents WHERE environment = 'both'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        diagnosis.starts_with("Down from all 2 locations"),
        "{diagnosis}"
    );
}

/// Silences and acknowledgements belong to the fleet: one made through any instance holds,
/// or quiets, the incident that the evaluator (whichever instance holds the lease) steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_shares_silences_and_acknowledgements_across_instances() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let Some(postgres) = Postgres::shared() else {
        return;
    };
    let url = postgres.url(&postgres.fresh_database("oncall").await);
    let lab = crate::helpers::spawn_lab().await;
    let hook = Receiver::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            r#"location: ${{LOC}}
defaults: {{ schedule: "*/2 * * * * *", timeout: 1500ms }}
environments:
  - {{ name: api, url: "ws://${{LAB}}/ws/healthy" }}
alerts:
  defaults: {{ min_locations: 2, failure_threshold: 1, repeat_every: 1s }}
  channels:
    - {{ name: audit, kind: webhook, url: "{}" }}
server: {{ listen: "127.0.0.1:${{PORT}}", admin_token: fleet-token }}
storage: {{ url: "{url}" }}
"#,
            hook.url("/hook")
        ),
    )
    .unwrap();
    let lab_addr = lab.addr().to_string();
    let fleet = [
        start(&config, "a1", "a", &lab_addr, &lab_addr, &lab_addr),
        start(&config, "b1", "b", &lab_addr, &lab_addr, &lab_addr),
    ];
    let (a, b) = (fleet[0].base(), fleet[1].base());
    let api_status = |base: String| async move {
        let status = get(&format!("{base}/api/v1/status")).await?;
        Some(status)
    };
    wait_until(
        "api up from both locations",
        || api_status(a.clone()),
        |s| {
            let api = &s["environments"][0];
            api["locations"]["a"]["status"] == "up" && api["locations"]["b"]["status"] == "up"
        },
    )
    .await;

    // Made through b, known to a: in the shared store at once, in a's memory within seconds.
    let client = reqwest::Client::new();
    let ends_at = wsprobe::wire::format(chrono::Utc::now() + chrono::Duration::hours(1));
    let made = client
        .post(format!("{b}/api/v1/silences"))
        .bearer_auth("fleet-token")
        .json(
            &serde_json::json!({ "matchers": { "environment": "api" }, "ends_at": ends_at,
                                  "comment": "failover drill", "created_by": "alice" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 201);
    let id = made.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let listed = get(&format!("{a}/api/v1/silences")).await.unwrap();
    assert_eq!(listed["silences"][0]["id"], id, "{listed}");
    wait_until(
        "a to hold the silence",
        || api_status(a.clone()),
        |s| s["silences"][0]["id"] == id,
    )
    .await;

    // Down from both locations, silenced: recorded and held, never sent.
    lab.shutdown.cancel();
    let runs_url = |base: &str, location: &str| {
        format!("{base}/api/v1/environments/api/runs?location={location}&limit=1")
    };
    for location in ["a", "b"] {
        let url = runs_url(&a, location);
        wait_until(
            "a refused run marked with the silence",
            || get(&url),
            |runs| {
                runs["runs"][0]["verdict"] == "connect_refused"
                    && runs["runs"][0]["silenced_by"] == id
            },
        )
        .await;
    }
    let open_url = format!("{a}/api/v1/incidents?state=open");
    let incidents = wait_until(
        "the held incident",
        || get(&open_url),
        |body| {
            body["incidents"][0]["notifications"]
                .as_array()
                .is_some_and(|n| n.len() >= 2)
        },
    )
    .await;
    let incident = &incidents["incidents"][0];
    assert!(
        incident["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["outcome"] == "held"),
        "{incident:#}"
    );
    assert!(events(&hook).is_empty(), "{:?}", events(&hook));

    // Expired through a: the open incident is announced and reminded.
    let expired = client
        .delete(format!("{a}/api/v1/silences/{id}"))
        .bearer_auth("fleet-token")
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status().as_u16(), 200);
    wait_until(
        "the announcement and a reminder",
        || async { Some(events(&hook)) },
        |e| count(e, "triggered", "api") == 1 && count(e, "reminder", "api") >= 1,
    )
    .await;

    // Acknowledged through the instance that does not evaluate: the evaluator learns it,
    // tells the channel once, and stops reminding.
    let instances = get(&format!("{a}/api/v1/instances")).await.unwrap();
    let evaluator = instances["evaluator"].as_str().unwrap();
    let other = fleet.iter().find(|i| i.name != evaluator).unwrap().base();
    let incident_id = incident["id"].as_i64().unwrap();
    let acked = client
        .post(format!("{other}/api/v1/incidents/{incident_id}/ack"))
        .bearer_auth("fleet-token")
        .json(&serde_json::json!({ "by": "bob", "comment": "failing over" }))
        .send()
        .await
        .unwrap();
    assert_eq!(acked.status().as_u16(), 200);
    let seen = wait_until(
        "the acknowledged notification from the evaluator",
        || async { Some(events(&hook)) },
        |e| count(e, "acknowledged", "api") == 1,
    )
    .await;
    let from = hook
        .requests()
        .iter()
        .map(|r| r.json())
        .find(|e| e["event"] == "acknowledged")
        .unwrap();
    assert_eq!(from["acknowledgement"]["by"], "bob");
    tokio::time::sleep(Duration::from_millis(4 * INTERVAL_MS as u64)).await;
    let later = events(&hook);
    assert_eq!(
        later[seen.len()..],
        [],
        "no reminder once acknowledged: {later:?}"
    );
    let through_a = get(&format!("{a}/api/v1/incidents?state=open"))
        .await
        .unwrap();
    assert_eq!(through_a["incidents"][0]["acknowledged"]["by"], "bob");
}
