//! The daemon end to end: a real SQLite file, the HTTP server on port 0, the lab on port 0.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{PATIENCE, assert_one_json_style, env_status, spawn_app, write_config};

const LAB_ENVS: &str = r#"
  - name: healthy
    url: ws://${LAB}/ws/healthy
    steps: [ { expect: { json: { /type: system_message } } } ]
  - name: internal-error
    url: ws://${LAB}/ws/internal-error
    steps: [ { expect: { json: { /type: system_message } } } ]
  - name: reject-401
    url: ws://${LAB}/ws/reject-401
  - name: html-close
    url: ws://${LAB}/ws/html-close
    steps: [ { expect: { json: { /type: system_message } } } ]
"#;

#[tokio::test]
async fn first_cycle_fills_the_api_the_runs_and_the_status_page() {
    let mut app = spawn_app(LAB_ENVS, "").await;
    let status = app
        .wait_for("a result for every environment", |s| {
            s["environments"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["last_run"].is_string())
        })
        .await;
    let expected = [
        ("healthy", "up", "ok"),
        ("internal-error", "down", "closed_before_ready"),
        ("reject-401", "down", "upgrade_rejected"),
        ("html-close", "down", "closed_before_ready"),
    ];
    for (name, want_status, want_verdict) in expected {
        let env = env_status(&status, name);
        assert_eq!(env["status"], want_status, "{name}: {env:#}");
        assert_eq!(env["verdict"], want_verdict, "{name}");
        assert!(env["next_run"].is_string(), "{name} has a next run");
        assert!(env["diagnosis"].as_str().unwrap().len() > 20);
    }
    assert_eq!(env_status(&status, "internal-error")["close_code"], 1011);
    for name in ["healthy", "internal-error"] {
        for quantile in ["p50", "p95"] {
            let value = &env_status(&status, name)["latency_ms"][quantile];
            if let Some(ms) = value.as_f64() {
                assert_eq!(
                    (ms * 10.0).round() / 10.0,
                    ms,
                    "{name} {quantile}: {ms} is rounded"
                );
            }
        }
    }
    assert!(status["instance_id"].as_str().unwrap().len() >= 32);
    assert_eq!(status["store"]["ok"], true);

    // The status is the daemon's memory; the runs are written by the store's writer a moment
    // later.
    let started = Instant::now();
    let runs = loop {
        let runs = app
            .get_json("/api/v1/environments/internal-error/runs?limit=1")
            .await;
        if !runs["runs"].as_array().unwrap().is_empty() || started.elapsed() > PATIENCE {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
    let run = &runs["runs"][0];
    assert_eq!(run["close_code"], 1011);
    assert_eq!(run["close_reason"], "Internal error");
    assert!(run["id"].is_i64());
    assert!(run["phases_ms"]["upgrade"].is_number());
    assert_eq!(
        run["replay"],
        format!(
            "websocat -H \"baggage: synthetic_request=true\" \"ws://{}/ws/internal-error\"",
            app.lab.addr()
        ),
        "a command that repeats the probe, baggage too"
    );
    let (_, page) = app.get("/environments/internal-error").await;
    assert!(
        page.contains("Replay by hand")
            && page.contains("websocat -H &quot;baggage: synthetic_request=true&quot; &quot;ws://"),
        "the page shows it, escaped"
    );
    // The diagnosis is said once, at the top, however many runs and incidents repeat it.
    let why = page
        .split("<p class=\"why\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .expect("the page explains the failure");
    assert!(why.contains("1011"), "{why}");
    assert_eq!(page.matches(why).count(), 1, "{page}");

    let (code, _) = app.get("/api/v1/environments/nope/runs").await;
    assert_eq!(code, 404);
    // A malformed query is a JSON error like every other.
    let (code, body) = app
        .get("/api/v1/environments/internal-error/runs?limit=abc")
        .await;
    assert_eq!(code, 400);
    let body: Value = serde_json::from_str(&body).expect("a JSON error");
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    // Failing environments may already have opened incidents (alerts.rs covers them).
    let incidents = app.get_json("/api/v1/incidents?state=open").await;
    assert!(incidents["incidents"].is_array());
    for (what, body) in [
        ("status", &status),
        ("runs", &runs),
        ("incidents", &incidents),
    ] {
        assert_one_json_style(what, body);
    }
    let uptime = &env_status(&status, "healthy")["uptime"]["24h"];
    assert_eq!(
        env_status(&status, "healthy")["uptime_percent"]["24h"].as_f64(),
        uptime
            .as_f64()
            .map(|ratio| (ratio * 10_000.0).round() / 100.0),
        "the same uptime in percent"
    );
    assert_eq!(app.get("/healthz").await.0, 200);
    assert_eq!(app.get("/readyz").await.0, 200);

    let (code, page) = app.get("/").await;
    assert_eq!(code, 200);
    for name in ["healthy", "internal-error", "reject-401", "html-close"] {
        assert!(page.contains(name), "status page lists {name}");
    }
    let (code, env_page) = app.get("/environments/html-close").await;
    assert_eq!(code, 200);
    assert!(
        env_page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "reason shown as text"
    );
    assert!(
        !env_page.contains("<script>alert(1)"),
        "markup from a probed server never runs"
    );
    assert!(!page.contains("<script>alert(1)"));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn on_demand_probe_needs_the_admin_token() {
    let mut app = spawn_app(LAB_ENVS, "").await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/environments/healthy/probe", app.base);
    let refused = client.post(&url).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let wrong = client
        .post(&url)
        .bearer_auth("test-admin-tokeX")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let ok = client
        .post(&url)
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let result: Value = ok.json().await.unwrap();
    assert_eq!(result["environment"], "healthy");
    assert_eq!(result["verdict"], "ok");
    let (_, status_page) = app.get("/").await;
    assert!(
        !status_page.contains("test-admin-token"),
        "the admin token is never shown"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_probe_still_running_at_its_next_slot_is_skipped_not_doubled() {
    // Every second, but the probe waits 4 s for a welcome that never comes.
    let envs = r#"
  - name: stuck
    url: ws://${LAB}/ws/no-welcome
    schedule: "* * * * * *"
    steps: [ { expect: { within: 4s, json: { /type: system_message } } } ]
"#;
    let mut app = spawn_app(envs, "").await;
    let status = app
        .wait_for("two skipped slots", |s| {
            env_status(s, "stuck")["skipped_slots"].as_u64() >= Some(2)
        })
        .await;
    assert_eq!(env_status(&status, "stuck")["running"], true);
    app.shutdown().await.unwrap();
    // Skipped slots were counted instead of starting parallel probes: at most one run per 4 s.
    let store = wsprobe::store::Store::open(&app.db_path).await.unwrap();
    let runs = store
        .read_only()
        .runs("stuck", wsprobe::store::RunsPage::newest(100))
        .await
        .unwrap();
    assert!(runs.len() <= 2, "probes overlapped: {} runs", runs.len());
}

#[tokio::test]
async fn reload_applies_a_valid_config_and_keeps_the_old_one_on_error() {
    let one = r#"
  - name: first
    url: ws://${LAB}/ws/healthy
"#;
    let mut app = spawn_app(one, "").await;
    app.wait_for("first", |s| {
        s["environments"].as_array().unwrap().len() == 1
    })
    .await;

    let broken = format!("{}\n  - name: Bad Name!\n    url: ws://x/ws\n", one);
    write_config(&app.config_path, &app.lab, &broken, "");
    // Give the watcher several polls: the running config must stay.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = app.get_json("/api/v1/status").await;
    assert_eq!(status["environments"].as_array().unwrap().len(), 1);

    let two = format!("{one}  - name: second\n    url: ws://${{LAB}}/ws/reject-401\n");
    write_config(&app.config_path, &app.lab, &two, "");
    let status = app
        .wait_for("second environment probed", |s| {
            s["environments"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["name"] == "second" && e["last_run"].is_string())
        })
        .await;
    assert_eq!(env_status(&status, "second")["verdict"], "upgrade_rejected");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_the_in_flight_probe_finish_and_keeps_its_result() {
    let envs = r#"
  - name: slow
    url: ws://${LAB}/ws/slow-welcome
    schedule: "0 0 1 1 *"
"#;
    let mut app = spawn_app(envs, "").await;
    // The start-up probe is in flight (the welcome takes 2.5 s); stop now.
    app.wait_for("probe running", |s| {
        env_status(s, "slow")["running"] == true
    })
    .await;
    app.shutdown().await.unwrap();
    let store = wsprobe::store::Store::open(&app.db_path).await.unwrap();
    let runs = store
        .read_only()
        .runs("slow", wsprobe::store::RunsPage::newest(10))
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "the in-flight probe was drained and stored");
    // Without a welcome to wait for, the probe closes at once and the lab answers the close
    // only after its 2.5 s: the wait is the `close` phase, not `total`, so not `slow`.
    let phases = &runs[0].result.phases_ms;
    assert_eq!(runs[0].result.verdict.as_str(), "ok", "{phases:?}");
    assert!(phases.close.unwrap() >= 2000.0, "{phases:?}");
    assert!(phases.total.unwrap() < 2000.0, "{phases:?}");
}

#[tokio::test]
async fn a_locked_store_is_reported_and_probing_goes_on() {
    let envs = r#"
  - name: healthy
    url: ws://${LAB}/ws/healthy
    schedule: "* * * * * *"
"#;
    let mut app = spawn_app(envs, "").await;
    app.wait_for("first result", |s| {
        env_status(s, "healthy")["last_run"].is_string()
    })
    .await;
    // Another process holding the write lock: every write of the daemon now fails (busy).
    let mut blocker = rusqlite_like_lock(&app.db_path).await;
    let before = env_status(&app.get_json("/api/v1/status").await, "healthy")["last_run"].clone();
    let status = app
        .wait_for("store failure reported and probing still going", |s| {
            s["store"]["ok"] == false && env_status(s, "healthy")["last_run"] != before
        })
        .await;
    assert!(
        status["store"]["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("lock")
    );
    assert_eq!(app.get("/readyz").await.0, 503);
    assert_eq!(app.get("/").await.0, 200, "the status page still renders");
    blocker.release().await;
    app.wait_for("store recovered", |s| s["store"]["ok"] == true)
        .await;
    app.shutdown().await.unwrap();
}

/// Holds SQLite's write lock from a second connection, as another process would.
struct Lock {
    conn: sqlx::SqliteConnection,
}

impl Lock {
    async fn release(&mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut self.conn)
            .await
            .unwrap();
    }
}

async fn rusqlite_like_lock(path: &std::path::Path) -> Lock {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .unwrap();
    Lock { conn }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_an_atom_feed_that_an_xml_parser_reads() {
    let envs = r#"
  - name: html-close
    url: ws://${LAB}/ws/html-close
    steps: [ { expect: { json: { /type: system_message } } } ]
    alert: { failure_threshold: 1 }
"#;
    let mut app = spawn_app(
        envs,
        "alerts:\n  channels:\n    - { name: console, kind: log }\n",
    )
    .await;
    let started = Instant::now();
    loop {
        let incidents = app.get_json("/api/v1/incidents").await;
        if !incidents["incidents"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no incident opened: {incidents:#} {:#}",
            app.get_json("/api/v1/status").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let response = reqwest::get(format!("{}/feed.atom", app.base))
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let xml = response.text().await.unwrap();
    assert!(
        !xml.contains("<script"),
        "a server's markup never becomes markup: {xml}"
    );
    // An independent parser: Python's ElementTree, reading the Atom namespace.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.xml");
    std::fs::write(&path, &xml).unwrap();
    let script = format!(
        "import xml.etree.ElementTree as ET\n\
         ns = {{'a': 'http://www.w3.org/2005/Atom'}}\n\
         root = ET.parse({:?}).getroot()\n\
         assert root.tag == '{{http://www.w3.org/2005/Atom}}feed', root.tag\n\
         for key in ('id', 'title', 'updated'):\n    assert root.find('a:' + key, ns) is not None, key\n\
         entries = root.findall('a:entry', ns)\n\
         for e in entries:\n    print(e.find('a:category', ns).get('term'), '|', e.find('a:title', ns).text, '|', e.find('a:link', ns).get('href'), '|', e.find('a:summary', ns).text)\n",
        path.display().to_string()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = String::from_utf8_lossy(&out.stdout);
    let opened = entries
        .lines()
        .find(|l| l.starts_with("opened |"))
        .unwrap_or_else(|| panic!("an opened entry: {entries}"));
    assert!(
        opened.contains("html-close is down: closed_before_ready"),
        "{opened}"
    );
    assert!(opened.contains("/environments/html-close"), "{opened}");
    assert!(opened.contains("reason that is only markup"), "{opened}");
    app.shutdown().await.unwrap();
}
