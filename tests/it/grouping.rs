//! `alerts.grouping`: failures that start together go out as one notification per channel,
//! and resolve once. A real daemon probes an endpoint the test breaks and heals (nothing
//! listens on its port, then a lab does); recording receivers stand in for a webhook and
//! PagerDuty's Events API and keep what crossed the socket.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wsprobe::alert::{Alerts, DeliveryOutcome, Hold};
use wsprobe::config::Config;
use wsprobe::lab::{Lab, LabOptions};
use wsprobe::probe::{ProbeResult, Verdict};
use wsprobe::store::Store;

use crate::helpers::receiver::{Receiver, Reply};
use crate::helpers::{PATIENCE, free_port, spawn_app};

const ROUTING_KEY: &str = "R0UTING-KEY-group-0123";
const ENVIRONMENTS: [&str; 6] = ["auth", "billing", "chat", "feed", "search", "upload"];

/// The environments a grouped event lists.
fn listed(event: &Value, pointer: &str) -> BTreeSet<String> {
    event
        .pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no {pointer} in {event:#}"))
        .iter()
        .map(|m| m["environment"].as_str().unwrap().to_owned())
        .collect()
}

fn all() -> BTreeSet<String> {
    ENVIRONMENTS.iter().map(|e| e.to_string()).collect()
}

/// Six environments on one endpoint that is down (nothing listens): one webhook event and one
/// PagerDuty trigger list all six under one `dedup_key`. The endpoint comes up (a lab on that
/// port): one grouped resolve each, the same key resolved.
#[tokio::test]
async fn environments_failing_together_page_once_per_channel_and_resolve_once() {
    let hook = Receiver::spawn().await;
    let pd = Receiver::spawn().await;
    pd.always(Reply::status(202).body(r#"{"status":"success"}"#));
    let slack = Receiver::spawn().await;
    slack.always(Reply::ok());
    let endpoint = free_port();
    let envs: String = ENVIRONMENTS
        .iter()
        .map(|name| {
            format!(
                "  - name: {name}\n    url: ws://{endpoint}/ws/healthy\n    steps: [ {{ expect: {{ json: {{ /type: system_message }} }} }} ]\n"
            )
        })
        .collect();
    let alerts = format!(
        "alerts:\n  defaults: {{ failure_threshold: 1, success_threshold: 1 }}\n  grouping: {{ wait: 8s, by: [verdict] }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n    - {{ name: oncall, kind: pagerduty, routing_key: \"{ROUTING_KEY}\", events_url: \"{}\" }}\n    - {{ name: team, kind: slack, webhook_url: \"{}\" }}\n",
        hook.url("/hook"),
        pd.url("/v2/enqueue"),
        slack.url("/services/T0/B0/X"),
    );
    let mut app = spawn_app(&envs, &alerts).await;

    let trigger = hook.wait_for(1).await[0].json();
    assert_eq!(trigger["event"], "triggered", "{trigger:#}");
    assert_eq!(
        listed(&trigger, "/group/environments"),
        all(),
        "{trigger:#}"
    );
    assert!(ENVIRONMENTS.contains(&trigger["environment"].as_str().unwrap()));
    let key = trigger["group"]["key"].as_str().unwrap().to_owned();
    let verdict = trigger["incident"]["verdict"].clone();
    assert_eq!(trigger["group"]["labels"]["verdict"], verdict);
    let page = pd.wait_for(1).await[0].json();
    assert_eq!(page["event_action"], "trigger");
    let dedup_key = page["dedup_key"].as_str().unwrap().to_owned();
    assert_eq!(dedup_key, format!("wsprobe-group-{key}"));
    assert_eq!(
        listed(&page, "/payload/custom_details/group/environments"),
        all()
    );
    let summary = page["payload"]["summary"].as_str().unwrap();
    assert!(summary.starts_with("6 environments ("), "{summary}");
    let open = app.get_json("/api/v1/incidents?state=open").await;
    assert_eq!(open["incidents"].as_array().unwrap().len(), 6, "{open:#}");

    // The endpoint comes up.
    let listener = TcpListener::bind(endpoint).await.unwrap();
    let healed = CancellationToken::new();
    let options = LabOptions {
        startup_duration: Duration::ZERO,
        ..LabOptions::default()
    };
    let _lab = Lab::spawn(listener, options, healed.clone()).unwrap();
    let resolve = hook.wait_for(2).await[1].json();
    assert_eq!(resolve["event"], "resolved", "{resolve:#}");
    assert_eq!(resolve["group"]["key"], key.as_str());
    assert_eq!(listed(&resolve, "/group/environments"), all());
    for member in resolve["group"]["environments"].as_array().unwrap() {
        assert_eq!(member["state"], "resolved", "{member:#}");
    }
    let closing = pd.wait_for(2).await[1].json();
    assert_eq!(closing["event_action"], "resolve");
    assert_eq!(closing["dedup_key"], dedup_key.as_str());
    let started = std::time::Instant::now();
    loop {
        let open = app.get_json("/api/v1/incidents?state=open").await;
        if open["incidents"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "{open:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.shutdown().await.unwrap();
    healed.cancel();
    let events: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["triggered", "resolved"], "one page, one resolve");
    assert_eq!(
        pd.requests().len(),
        2,
        "one PagerDuty incident, opened and closed"
    );
    let messages: Vec<String> = slack
        .requests()
        .iter()
        .map(|r| r.json()["text"].to_string())
        .collect();
    assert_eq!(
        messages.len(),
        2,
        "one Slack message, one resolve: {messages:#?}"
    );
    for env in ENVIRONMENTS {
        assert!(
            messages[0].contains(env) && messages[1].contains(env),
            "{messages:#?}"
        );
    }
    assert!(messages[1].contains("recovered"), "{messages:#?}");
}

/// An unknown `by` label (and a zero wait) is a config error naming the file, line, column and
/// key; `validate` exits 2. A good one is described by `validate`.
#[test]
fn grouping_errors_name_their_position_and_validate_describes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probes.yaml");
    std::fs::write(
        &path,
        "environments:\n  - name: a\n    url: ws://127.0.0.1:1/ws\nalerts:\n  grouping:\n    wait: 30s\n    by: [verdict, region]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["validate", "--config", path.to_str().unwrap()])
        .env_remove("WSPROBE_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "probes.yaml:7:19: alerts.grouping.by[1]: unknown label \"region\": groups split by verdict, location, environment"
        ),
        "{stderr}"
    );
    std::fs::write(
        &path,
        "environments:\n  - name: a\n    url: ws://127.0.0.1:1/ws\nalerts:\n  grouping: { by: [location, verdict] }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["validate", "--config", path.to_str().unwrap()])
        .env_remove("WSPROBE_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("grouping\n  failures starting within 30s of each other: one notification per channel, split by location, verdict"),
        "{stdout}"
    );
    std::fs::write(&path, "environments:\n  - name: a\n    url: ws://127.0.0.1:1/ws\nalerts:\n  grouping: { wait: 0s }\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["validate", "--config", path.to_str().unwrap()])
        .env_remove("WSPROBE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("probes.yaml:5:21: alerts.grouping.wait: must be greater than 0"),
        "{stderr}"
    );
}

fn load(dir: &Path, alerts: &str) -> Config {
    let yaml = format!(
        "environments:\n  - {{ name: staging, url: \"ws://127.0.0.1:9/ws\" }}\n  - {{ name: prod, url: \"ws://127.0.0.1:9/ws\" }}\n  - {{ name: edge, url: \"ws://127.0.0.1:9/ws\" }}\n{alerts}"
    );
    wsprobe::config::load_str(&dir.join("probes.yaml"), &yaml, &|_| None).unwrap()
}

fn result(env: &str, verdict: Verdict, at: DateTime<Utc>) -> ProbeResult {
    ProbeResult::builder(env, verdict)
        .url("ws://127.0.0.1:9/ws")
        .started_at(at)
        .diagnosis(format!("{verdict} at {at}"))
        .build()
}

fn seconds(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// The engine on a clock the test turns: a group's triggers wait in the outbox through a
/// restart and go out once when the wait ends; after the restart the group is still one (its
/// partial resolve is not sent, its last member's is). On SQLite, then PostgreSQL (a fleet's
/// store) when this machine has it.
#[tokio::test]
async fn a_group_waiting_through_a_restart_pages_once_and_resolves_once() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wsprobe.db");
    through_a_restart(&dir, &|| Box::pin(Store::open(&db))).await;
    let Some(postgres) = crate::helpers::pg::Postgres::shared() else {
        return;
    };
    let url = postgres.url(&postgres.fresh_database("grouping").await);
    through_a_restart(&dir, &|| {
        Box::pin(Store::connect(&url, "test-location", "test-instance"))
    })
    .await;
}

type Opened<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<Store, wsprobe::store::StoreError>> + 'a>>;

async fn through_a_restart<'a>(dir: &tempfile::TempDir, open: &dyn Fn() -> Opened<'a>) {
    let hook = Receiver::spawn().await;
    let config = load(
        dir.path(),
        &format!(
            "alerts:\n  defaults: {{ failure_threshold: 1 }}\n  grouping: {{ wait: 30s }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
            hook.url("/hook")
        ),
    );
    let store = open().await.unwrap();
    let alerts = Alerts::new(store.alerts()).await.unwrap();
    // Whole milliseconds, as the store keeps times.
    let t0 = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let observe = |alerts: &Alerts, env: &str, verdict: Verdict, at: DateTime<Utc>| {
        let environment = config.environment(env).unwrap();
        alerts.observe(
            &config,
            environment,
            &result(env, verdict, at),
            Hold::default(),
            at,
        );
    };
    observe(&alerts, "staging", Verdict::ClosedBeforeReady, t0);
    observe(&alerts, "prod", Verdict::UpgradeRejected, t0 + seconds(10));
    let channels = alerts.channels(&config);
    let report = alerts.deliver_due(&channels, t0 + seconds(20)).await;
    assert!(report.attempts.is_empty(), "still waiting: {report:?}");
    assert_eq!(report.next_due, Some(t0 + seconds(30)));
    store.close().await;

    let store = open().await.unwrap();
    let alerts = Alerts::new(store.alerts()).await.unwrap();
    let channels = alerts.channels(&config);
    let report = alerts.deliver_due(&channels, t0 + seconds(31)).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let trigger = hook.wait_for(1).await[0].json();
    assert_eq!(
        listed(&trigger, "/group/environments"),
        ["prod".to_owned(), "staging".to_owned()].into()
    );
    assert!(trigger["group"]["labels"].as_object().unwrap().is_empty());

    observe(&alerts, "staging", Verdict::Ok, t0 + seconds(60));
    let report = alerts.deliver_due(&channels, t0 + seconds(61)).await;
    assert!(report.attempts.is_empty(), "a partial resolve: {report:?}");
    observe(&alerts, "prod", Verdict::Ok, t0 + seconds(70));
    let report = alerts.deliver_due(&channels, t0 + seconds(71)).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let resolve = hook.wait_for(2).await[1].json();
    assert_eq!(resolve["event"], "resolved");
    assert_eq!(resolve["group"]["key"], trigger["group"]["key"]);
    let states: Vec<&str> = resolve["group"]["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["resolved", "resolved"], "{resolve:#}");
    store.close().await;
    assert_eq!(hook.requests().len(), 2);
}

/// A group on a clock the test turns: a silenced environment's trigger is held and joins no
/// group; the group reminds once per `repeat_every` (its lowest open incident speaks); an
/// acknowledgement of any member goes out once under the group's key and quiets every member.
#[tokio::test]
async fn a_group_reminds_once_and_one_acknowledgement_quiets_it() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let hook = Receiver::spawn().await;
    let pd = Receiver::spawn().await;
    pd.always(Reply::status(202).body(r#"{"status":"success"}"#));
    let dir = tempfile::tempdir().unwrap();
    let config = load(
        dir.path(),
        &format!(
            "alerts:\n  defaults: {{ failure_threshold: 1, repeat_every: 10m }}\n  grouping: {{ wait: 30s, by: [verdict] }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n    - {{ name: oncall, kind: pagerduty, routing_key: \"{ROUTING_KEY}\", events_url: \"{}\" }}\n",
            hook.url("/hook"),
            pd.url("/v2/enqueue"),
        ),
    );
    let store = Store::open(&dir.path().join("wsprobe.db")).await.unwrap();
    let alerts = Alerts::new(store.alerts()).await.unwrap();
    let channels = alerts.channels(&config);
    let t0 = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let fail_all = |at: DateTime<Utc>| {
        for (env, silence) in [("staging", None), ("prod", None), ("edge", Some(1))] {
            let hold = Hold {
                silence,
                ..Hold::default()
            };
            let result = result(env, Verdict::ClosedBeforeReady, at);
            alerts.observe(&config, config.environment(env).unwrap(), &result, hold, at);
        }
    };
    fail_all(t0);
    alerts.deliver_due(&channels, t0 + seconds(31)).await;
    let trigger = hook.wait_for(1).await[0].json();
    assert_eq!(
        listed(&trigger, "/group/environments"),
        ["prod".to_owned(), "staging".to_owned()].into(),
        "the silenced one is held, not grouped"
    );
    let dedup_key = pd.wait_for(1).await[0].json()["dedup_key"].clone();

    fail_all(t0 + seconds(11 * 60));
    let report = alerts.deliver_due(&channels, t0 + seconds(11 * 60)).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 2, "{report:?}");
    let reminder = hook.wait_for(2).await[1].json();
    assert_eq!(reminder["event"], "reminder");
    assert_eq!(listed(&reminder, "/group/environments").len(), 2);
    assert_eq!(pd.wait_for(2).await[1].json()["dedup_key"], dedup_key);

    let prod = alerts.open_incidents()["prod"];
    let ack = wsprobe::oncall::Acknowledgement {
        by: "alice".into(),
        at: t0 + seconds(12 * 60),
        comment: None,
    };
    assert!(alerts.acknowledge(&config, prod, &ack, ack.at));
    let report = alerts.deliver_due(&channels, ack.at).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 2, "{report:?}");
    let acked = pd.wait_for(3).await[2].json();
    assert_eq!(acked["event_action"], "acknowledge");
    assert_eq!(acked["dedup_key"], dedup_key);
    assert_eq!(hook.wait_for(3).await[2].json()["event"], "acknowledged");

    fail_all(t0 + seconds(25 * 60));
    let report = alerts.deliver_due(&channels, t0 + seconds(25 * 60)).await;
    assert!(
        report.attempts.is_empty(),
        "acknowledged: no reminder {report:?}"
    );
    store.close().await;
    assert_eq!((hook.requests().len(), pd.requests().len()), (3, 3));
}
