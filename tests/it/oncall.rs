//! Acknowledge and silence on the real daemon: the lab breaks on cue (it stops, and the
//! environment's connections are refused), a webhook and a PagerDuty-shaped receiver record
//! what was sent, `wsprobe silence` talks to the daemon's API, and a restart keeps it all.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::receiver::{Receiver, Reply};
use crate::helpers::{App, PATIENCE, env_status, spawn_app};

const TOKEN: &str = "test-admin-token";
const ROUTING_KEY: &str = "R0UTING-KEY-oncall";

/// `wsprobe silence …` against the daemon at `base`, `token` as `$WSPROBE_ADMIN_TOKEN`:
/// exit code, stdout, stderr. Asynchronous: the daemon answering it runs on this runtime.
/// `silence add` of one environment for an hour, by alice.
fn add_for_an_hour<'a>(env: &'a str, comment: &'a str) -> [&'a str; 9] {
    [
        "add",
        "--env",
        env,
        "--duration",
        "1h",
        "-m",
        comment,
        "--by",
        "alice",
    ]
}

async fn silence_cli(base: &str, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wsprobe"));
    command
        .arg("silence")
        .args(args)
        .args(["--url", base])
        .env_remove("WSPROBE_ADMIN_TOKEN")
        // No config: the flags and the variable are all it has.
        .env("WSPROBE_CONFIG", "/nonexistent/probes.yaml");
    if let Some(token) = token {
        command.env("WSPROBE_ADMIN_TOKEN", token);
    }
    let output = tokio::time::timeout(PATIENCE, command.output())
        .await
        .expect("wsprobe silence answers in time")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The events the webhook received, in order.
fn events(hook: &Receiver) -> Vec<String> {
    hook.requests()
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Poll `what` until `done` holds, or fail after PATIENCE.
async fn wait_until<T: std::fmt::Debug>(
    what: &str,
    mut fetch: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let started = Instant::now();
    loop {
        let value = fetch().await;
        if done(&value) {
            return value;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting for {what}: {value:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The newest runs of `api`, newest first.
async fn runs(app: &App) -> Vec<Value> {
    let body = app.get_json("/api/v1/environments/api/runs?limit=50").await;
    body["runs"].as_array().unwrap().clone()
}

/// Wait for `n` more runs of `api` than there are now: time passing, counted in probes.
async fn wait_for_more_runs(app: &App, n: usize) {
    let newest = runs(app).await.first().map(|r| r["id"].as_i64().unwrap());
    wait_until(
        &format!("{n} more runs"),
        async || runs(app).await,
        |runs| {
            runs.iter()
                .take_while(|r| Some(r["id"].as_i64().unwrap()) != newest)
                .count()
                >= n
        },
    )
    .await;
}

async fn open_incident(app: &App) -> Value {
    let incidents = app.get_json("/api/v1/incidents?state=open").await;
    incidents["incidents"][0].clone()
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn acknowledge(app: &App, id: i64, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = client()
        .post(format!("{}/api/v1/incidents/{id}/ack", app.base))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A silenced failure is recorded and shown, never notified; once the silence is expired the
/// open incident is announced; an acknowledgement goes to PagerDuty as `acknowledge` and stops
/// the reminders; the silences and the acknowledgement outlive a restart.
#[tokio::test]
async fn silence_then_acknowledge_on_the_daemon_through_the_api_and_the_cli() {
    let hook = Receiver::spawn().await;
    let pd = Receiver::spawn().await;
    pd.always(Reply::status(202).body(r#"{"status":"success"}"#));
    let envs = "  - name: api\n    url: ws://${LAB}/ws/healthy\n";
    let alerts = format!(
        "alerts:\n  defaults: {{ failure_threshold: 1, success_threshold: 1, repeat_every: 1s }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n    - {{ name: oncall, kind: pagerduty, routing_key: \"{ROUTING_KEY}\", events_url: \"{}\" }}\n",
        hook.url("/hook"),
        pd.url("/v2/enqueue")
    );
    let app = spawn_app(envs, &alerts).await;
    app.wait_for("api up", |s| env_status(s, "api")["status"] == "up")
        .await;

    // The CLI needs the token to silence, and says where to put it.
    let (code, _, stderr) = silence_cli(&app.base, None, &add_for_an_hour("api", "deploy")).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("WSPROBE_ADMIN_TOKEN"), "{stderr}");
    let (code, _, stderr) =
        silence_cli(&app.base, Some("guess"), &add_for_an_hour("api", "deploy")).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    let (code, _, stderr) =
        silence_cli(&app.base, Some(TOKEN), &add_for_an_hour("nope", "x")).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no environment named \"nope\""), "{stderr}");
    let (code, stdout, stderr) = silence_cli(
        &app.base,
        Some(TOKEN),
        &add_for_an_hour("api", "deploy <b>v2</b>"),
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let id: i64 = stdout
        .strip_prefix("silence ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the new silence's id: {stdout}"));
    assert!(stdout.contains("environment=api until"), "{stdout}");
    let (code, listed, _) = silence_cli(&app.base, None, &["list"]).await;
    assert_eq!(code, 0, "reading needs no token");
    assert!(
        listed
            .lines()
            .nth(1)
            .unwrap()
            .starts_with(&format!("{id} ")),
        "{listed}"
    );
    assert!(
        listed.contains("active") && listed.contains("alice"),
        "{listed}"
    );

    // The lab goes away: every probe is refused from now on.
    app.lab.shutdown.cancel();
    let status = app
        .wait_for("api down and silenced", |s| {
            env_status(s, "api")["status"] == "down"
        })
        .await;
    assert_eq!(env_status(&status, "api")["silenced_by"], id);
    assert_eq!(status["silences"][0]["comment"], "deploy <b>v2</b>");
    wait_for_more_runs(&app, 4).await;
    let incident = open_incident(&app).await;
    let outcomes: Vec<&str> = incident["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["outcome"].as_str().unwrap())
        .collect();
    assert!(
        !outcomes.is_empty() && outcomes.iter().all(|o| *o == "held"),
        "recorded, held: {incident:#}"
    );
    let newest = &runs(&app).await[0];
    assert_eq!(newest["verdict"], "connect_refused");
    assert_eq!(
        newest["silenced_by"], id,
        "the run says which silence held it"
    );
    let (_, page) = app.get("/environments/api").await;
    assert!(page.contains(&format!("silenced by #{id}")), "{page}");
    assert!(page.contains("deploy &lt;b&gt;v2"), "escaped: {page}");
    let (_, index) = app.get("/").await;
    assert!(index.contains(&format!("id=\"silence-{id}\"")), "{index}");
    assert!(
        hook.requests().is_empty(),
        "never notified: {:?}",
        events(&hook)
    );
    assert!(pd.requests().is_empty(), "never paged");

    // Expired: the incident still open is announced, then reminded every second.
    let (code, stdout, stderr) =
        silence_cli(&app.base, Some(TOKEN), &["expire", &id.to_string()]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(&format!("silence {id} expired")),
        "{stdout}"
    );
    let (code, _, stderr) = silence_cli(&app.base, Some(TOKEN), &["expire", &id.to_string()]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("already ended"), "{stderr}");
    wait_until(
        "the late announcement and a reminder",
        async || events(&hook),
        |e| e.first().map(String::as_str) == Some("triggered") && e.contains(&"reminder".into()),
    )
    .await;
    let trigger = pd.wait_for(1).await[0].json();
    assert_eq!(trigger["event_action"], "trigger");

    // Acknowledged: PagerDuty hears it for the same incident, and the reminders stop.
    let incident_id = open_incident(&app).await["id"].as_i64().unwrap();
    let by = json!({ "by": "bob", "comment": "on it" });
    assert_eq!(
        acknowledge(&app, incident_id, None, by.clone()).await.0,
        401
    );
    let (code, acked) = acknowledge(&app, incident_id, Some(TOKEN), by.clone()).await;
    assert_eq!(code, 200, "{acked}");
    assert_eq!(acked["acknowledged"]["by"], "bob");
    let acked_event = wait_until(
        "the acknowledged notification",
        async || hook.requests(),
        |r| r.iter().any(|r| r.json()["event"] == "acknowledged"),
    )
    .await;
    let acked_event = acked_event
        .iter()
        .map(|r| r.json())
        .find(|e| e["event"] == "acknowledged")
        .unwrap();
    assert_eq!(acked_event["acknowledgement"]["by"], "bob");
    assert_eq!(acked_event["acknowledgement"]["comment"], "on it");
    let pd_ack = wait_until(
        "PagerDuty's acknowledge",
        async || pd.requests(),
        |r| r.iter().any(|r| r.json()["event_action"] == "acknowledge"),
    )
    .await;
    let pd_ack = pd_ack
        .iter()
        .map(|r| r.json())
        .find(|e| e["event_action"] == "acknowledge")
        .unwrap();
    assert_eq!(
        pd_ack,
        json!({ "routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": trigger["dedup_key"] })
    );
    let (code, again) = acknowledge(&app, incident_id, Some(TOKEN), by).await;
    assert_eq!(code, 409, "{again}");
    let told = events(&hook).len();
    wait_for_more_runs(&app, 4).await;
    let after: Vec<String> = events(&hook).split_off(told);
    assert!(after.is_empty(), "no reminder once acknowledged: {after:?}");

    // A silence kept across the restart, and the acknowledgement too: still no reminders.
    let (code, _, stderr) = silence_cli(
        &app.base,
        Some(TOKEN),
        &[
            "add",
            "--verdict",
            "dns_*",
            "--duration",
            "2h",
            "-m",
            "resolver work",
            "--by",
            "carol",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let mut app = app.restart().await;
    let silences = app.get_json("/api/v1/silences").await;
    let kept = silences["silences"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{silences}");
    assert_eq!(kept[0]["matchers"]["verdict"], "dns_*");
    assert_eq!(kept[0]["state"], "active");
    let all = app.get_json("/api/v1/silences?all=true").await;
    let expired = all["silences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap();
    assert_eq!(expired["state"], "expired");
    assert!(expired["expired_at"].is_string());
    let incident = open_incident(&app).await;
    assert_eq!(incident["id"], incident_id, "the same incident");
    assert_eq!(incident["acknowledged"]["by"], "bob");
    wait_for_more_runs(&app, 4).await;
    let after: Vec<String> = events(&hook).split_off(told);
    assert!(
        after.is_empty(),
        "still no reminder after a restart: {after:?}"
    );
    let (_, page) = app.get("/environments/api").await;
    assert!(page.contains("acknowledged by <b>bob</b>"), "{page}");
    assert!(page.contains("resolver work"), "{page}");
    let status = app.get_json("/api/v1/status").await;
    assert!(
        env_status(&status, "api")["silenced_by"].is_null(),
        "connect_refused is no dns_* verdict"
    );
    app.shutdown().await.unwrap();
}
