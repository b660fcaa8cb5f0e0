//! Pages on-call can trust: confirmation before a failure counts, and flap detection. The
//! daemon probes the real lab; a recording receiver stands in for the on-call channel.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::receiver::Receiver;
use crate::helpers::{PATIENCE, spawn_app};

fn webhook(hook: &Receiver) -> String {
    format!(
        "alerts:\n  channels:\n    - {{ name: oncall, kind: webhook, url: \"{}\" }}\n",
        hook.url("/hook")
    )
}

/// Poll `path` until `done` holds for its JSON, or fail after PATIENCE.
async fn wait_json(base: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body: Value = reqwest::get(format!("{base}{path}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "timed out on {path}: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn runs(body: &Value) -> &Vec<Value> {
    body["runs"].as_array().unwrap()
}

/// The lab's `flaky` endpoint alternates healthy and 1011, connection by connection: every
/// scheduled probe that fails is re-probed, and the re-probe is the healthy one. With
/// `failure_threshold: 1` each failure would page at once; confirmed, none does, and the
/// re-probes are stored and marked as what they are.
#[tokio::test]
async fn a_blip_that_a_re_probe_does_not_confirm_never_pages() {
    let hook = Receiver::spawn().await;
    let envs = r#"
  - name: blippy
    url: ws://${LAB}/ws/flaky
    steps: [ { expect: { json: { /type: system_message } } } ]
    schedule: "*/2 * * * * *"
    alert: { failure_threshold: 1, confirm: { attempts: 2, every: 300ms } }
"#;
    let mut app = spawn_app(envs, &webhook(&hook)).await;
    let path = "/api/v1/environments/blippy/runs?limit=50";
    let body = wait_json(&app.base, path, |body| {
        let confirmations = runs(body)
            .iter()
            .filter(|run| run["confirmation"] == 1)
            .count();
        confirmations >= 3
    })
    .await;
    for result in runs(&body) {
        if result["confirmation"] == 1 {
            assert_eq!(result["verdict"], "ok", "the re-probe is the healthy one");
        } else {
            assert!(result["confirmation"].is_null(), "{result:#}");
        }
        assert_ne!(result["confirmation"], 2, "one healthy re-probe ends it");
    }
    let failures = runs(&body)
        .iter()
        .filter(|run| run["verdict"] != "ok")
        .count();
    assert!(failures >= 3, "the scheduled probes failed: {body:#}");
    let incidents = app.get_json("/api/v1/incidents").await;
    assert_eq!(incidents["incidents"], serde_json::json!([]), "no incident");
    let (_, page) = app.get("/environments/blippy").await;
    assert!(page.contains("confirmation 1"), "the page marks re-probes");
    app.shutdown().await.unwrap();
    assert!(hook.requests().is_empty(), "nothing was paged");
}

/// An outage confirmed by its re-probes counts them as the consecutive failures they are: a
/// single scheduled probe (the one at start; the next slot is a year away) with two failing
/// re-probes reaches `failure_threshold: 3` and pages, seconds after the outage was seen.
#[tokio::test]
async fn a_confirmed_failure_pages_right_after_its_re_probes() {
    let hook = Receiver::spawn().await;
    let envs = r#"
  - name: broken
    url: ws://${LAB}/ws/internal-error
    schedule: "0 0 1 1 *"
    steps: [ { expect: { json: { /type: system_message } } } ]
    alert: { failure_threshold: 3, confirm: { attempts: 2, every: 200ms } }
"#;
    let mut app = spawn_app(envs, &webhook(&hook)).await;
    let pages = hook.wait_for(1).await;
    let event = pages[0].json();
    assert_eq!(event["event"], "triggered");
    assert_eq!(event["environment"], "broken");
    let body = wait_json(
        &app.base,
        "/api/v1/environments/broken/runs?limit=10",
        |body| runs(body).len() >= 3,
    )
    .await;
    let mut confirmations: Vec<Value> = runs(&body)
        .iter()
        .map(|run| run["confirmation"].clone())
        .collect();
    confirmations.sort_by_key(|value| value.as_u64());
    assert_eq!(
        confirmations,
        [Value::Null, Value::from(1), Value::from(2)],
        "the scheduled run and its two re-probes, each stored"
    );
    for run in runs(&body) {
        assert_eq!(run["verdict"], "closed_before_ready");
    }
    app.shutdown().await.unwrap();
    assert_eq!(hook.requests().len(), 1, "one page");
}

/// `flaky` fails every other probe: `failure_threshold: 2` in a row never comes, yet half the
/// probes fail. Flap detection opens one incident that says so, and it stays open while the
/// flapping goes on.
#[tokio::test]
async fn an_environment_failing_every_other_probe_pages_once_as_flapping() {
    let hook = Receiver::spawn().await;
    let envs = r#"
  - name: flapper
    url: ws://${LAB}/ws/flaky
    steps: [ { expect: { json: { /type: system_message } } } ]
    schedule: "* * * * * *"
    alert: { failure_threshold: 2 }
"#;
    let mut app = spawn_app(envs, &webhook(&hook)).await;
    let pages = hook.wait_for(1).await;
    let event = pages[0].json();
    assert_eq!(event["event"], "triggered");
    let diagnosis = event["incident"]["diagnosis"].as_str().unwrap();
    assert!(
        diagnosis.starts_with("Flapping: flapper changed state "),
        "{diagnosis}"
    );
    // A few more flaps: still the one incident, no second page.
    let body = wait_json(
        &app.base,
        "/api/v1/environments/flapper/runs?limit=50",
        |body| runs(body).len() >= 16,
    )
    .await;
    assert!(runs(&body).len() >= 16);
    let incidents = app.get_json("/api/v1/incidents?state=open").await;
    let open = incidents["incidents"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{incidents:#}");
    assert!(
        open[0]["diagnosis"]
            .as_str()
            .unwrap()
            .starts_with("Flapping:")
    );
    let (_, page) = app.get("/environments/flapper").await;
    assert!(page.contains("Flapping: flapper changed state"), "{page}");
    app.shutdown().await.unwrap();
    let triggered = hook
        .requests()
        .iter()
        .filter(|request| request.json()["event"] == "triggered")
        .count();
    assert_eq!(triggered, 1, "paged once");
}

/// `depends_on`: while the parent has an incident open, the dependent's failures are shown as
/// caused by it and its pages are held; only the parent pages.
#[tokio::test(flavor = "multi_thread")]
async fn a_dependent_breaking_with_its_parent_does_not_page_even_when_confirmed_first() {
    // One load balancer in front of both: they break together. The dependent's shorter
    // confirmation ends while the parent is still confirming, before its incident opens.
    let hook = Receiver::spawn().await;
    let envs = r#"
  - name: auth-token
    url: ws://${LAB}/ws/internal-error
    steps: [ { expect: { json: { /type: system_message } } } ]
    alert: { failure_threshold: 1, confirm: { attempts: 3, every: 1s } }
  - name: chat
    url: ws://${LAB}/ws/internal-error
    steps: [ { expect: { json: { /type: system_message } } } ]
    depends_on: [auth-token]
    alert: { failure_threshold: 1, confirm: { attempts: 1, every: 1s } }
"#;
    let mut app = spawn_app(envs, &webhook(&hook)).await;
    app.wait_for("both incidents open, chat caused by auth-token", |status| {
        let chat = crate::helpers::env_status(status, "chat");
        let parent = crate::helpers::env_status(status, "auth-token");
        chat["caused_by"] == "auth-token"
            && chat["open_incident"].is_number()
            && parent["open_incident"].is_number()
    })
    .await;
    hook.wait_for(1).await;
    app.shutdown().await.unwrap();
    let paged: Vec<String> = hook
        .requests()
        .iter()
        .map(|request| request.json()["environment"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paged, ["auth-token"], "only the cause pages");
}

#[tokio::test]
async fn a_dependent_failing_with_its_parent_is_shown_as_caused_and_does_not_page() {
    let hook = Receiver::spawn().await;
    let envs = r#"
  - name: auth-token
    url: ws://${LAB}/ws/internal-error
    steps: [ { expect: { json: { /type: system_message } } } ]
    alert: { failure_threshold: 1 }
  - name: chat
    url: ws://${LAB}/ws/clean-close
    steps: [ { expect: { json: { /type: system_message } } } ]
    depends_on: [auth-token]
    alert: { failure_threshold: 3 }
"#;
    let mut app = spawn_app(envs, &webhook(&hook)).await;
    let status = app
        .wait_for(
            "chat caused by auth-token with its own incident held",
            |status| {
                let chat = crate::helpers::env_status(status, "chat");
                chat["caused_by"] == "auth-token" && chat["open_incident"].is_number()
            },
        )
        .await;
    assert!(crate::helpers::env_status(&status, "auth-token")["caused_by"].is_null());
    let chat_stored = |incidents: &Value| {
        incidents["incidents"]
            .as_array()
            .is_some_and(|all| all.iter().any(|incident| incident["environment"] == "chat"))
    };
    let incidents = app
        .wait_for_at(
            "/api/v1/incidents?state=open",
            "chat's incident stored",
            chat_stored,
        )
        .await;
    let chat = incidents["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|incident| incident["environment"] == "chat")
        .unwrap()
        .clone();
    assert!(
        chat["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["outcome"] == "held"),
        "{chat:#}"
    );
    let (_, page) = app.get("/").await;
    assert!(page.contains("caused by"), "the overview says so");
    app.shutdown().await.unwrap();
    let paged: Vec<String> = hook
        .requests()
        .iter()
        .map(|request| request.json()["environment"].as_str().unwrap().to_owned())
        .collect();
    assert!(paged.iter().all(|env| env == "auth-token"), "{paged:?}");
    assert!(!paged.is_empty(), "the parent paged");
}
