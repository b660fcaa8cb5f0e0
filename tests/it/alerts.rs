//! Alerting end to end: the engine over a real SQLite file, channels against recording
//! receivers on 127.0.0.1, the daemon and the binary. Steps are called with explicit times
//! where the test is about time (backoff, give-up, pacing); real waits are polled with
//! generous deadlines, never slept out.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use wsprobe::alert::{Alerts, Channels, DeliveryOutcome};
use wsprobe::config::Config;
use wsprobe::incident::IncidentEvent;
use wsprobe::probe::result::Phases;
use wsprobe::probe::{ProbeResult, Verdict};
use wsprobe::store::{DeliveryState, IncidentFilter, IncidentState, Store};

use crate::helpers::receiver::{Receiver, Reply};
use crate::helpers::smtp::{SmtpOptions, SmtpServer, header, part};
use crate::helpers::{PATIENCE, env_status, free_port, spawn_app};

const ROUTING_KEY: &str = "R0UTING-KEY-0123456789";
const HOOK_SECRET: &str = "hook-secret-4f9a";

fn result(env: &str, verdict: Verdict, at: DateTime<Utc>) -> ProbeResult {
    let mut result = ProbeResult::builder(env, verdict)
        .location("test-region")
        .url("ws://api.staging.test/ws?token=[redacted]")
        .started_at(at)
        .http_status(101)
        .attempts(1)
        .version("rev-1")
        .phases_ms(Phases {
            connect: Some(1.5),
            upgrade: Some(3.0),
            total: Some(70.0),
            ..Phases::default()
        })
        .diagnosis(format!("{verdict} in the test at {at}"))
        .build();
    if verdict == Verdict::ClosedBeforeReady {
        result.close_code = Some(1011);
        result.close_reason = Some("Internal error".into());
    }
    result
}

fn load(dir: &Path, yaml: &str) -> Config {
    wsprobe::config::load_str(&dir.join("probes.yaml"), yaml, &|_| None)
        .unwrap_or_else(|err| panic!("test config does not load: {err}"))
}

/// The engine over a store in a temporary directory; `alerts` is the config's `alerts:` block.
struct Bench {
    dir: tempfile::TempDir,
    config: Config,
    store: Store,
    alerts: Alerts,
}

impl Bench {
    async fn new(alerts: &str) -> Bench {
        wsprobe::probe::tls::ensure_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let config = load(dir.path(), &bench_yaml(alerts));
        let store = Store::open(&dir.path().join("wsprobe.db")).await.unwrap();
        let alerts = Alerts::new(store.alerts()).await.unwrap();
        Bench {
            dir,
            config,
            store,
            alerts,
        }
    }

    /// Close the store and open it again: what a restart sees.
    async fn restart(self) -> Bench {
        let Bench {
            dir, config, store, ..
        } = self;
        store.close().await;
        let store = Store::open(&dir.path().join("wsprobe.db")).await.unwrap();
        let alerts = Alerts::new(store.alerts()).await.unwrap();
        Bench {
            dir,
            config,
            store,
            alerts,
        }
    }

    async fn observe(&self, env: &str, verdict: Verdict, at: DateTime<Utc>) -> Vec<IncidentEvent> {
        let environment = self.config.environment(env).unwrap();
        let hold = wsprobe::alert::Hold {
            maintenance: wsprobe::alert::in_maintenance(&self.config, &environment.name, at),
            ..wsprobe::alert::Hold::default()
        };
        let events = self.alerts.observe(
            &self.config,
            environment,
            &result(env, verdict, at),
            hold,
            at,
        );
        // What the dispatcher does first on every step.
        self.alerts.flush().await.unwrap();
        events
    }

    fn channels(&self) -> Channels {
        self.alerts.channels(&self.config)
    }

    /// One dispatcher step on the real clock.
    async fn deliver_now(&self) -> wsprobe::alert::DeliveryReport {
        self.alerts.deliver_due(&self.channels(), Utc::now()).await
    }

    async fn incidents(&self) -> Vec<wsprobe::store::IncidentRecord> {
        self.store
            .alerts()
            .incidents(&IncidentFilter {
                limit: 100,
                ..IncidentFilter::default()
            })
            .await
            .unwrap()
    }
}

fn bench_yaml(alerts: &str) -> String {
    format!(
        "environments:\n  - {{ name: staging, url: \"ws://127.0.0.1:9/ws\" }}\n  - {{ name: prod, url: \"ws://127.0.0.1:9/ws\" }}\nserver: {{ public_url: \"http://status.test/\" }}\n{alerts}"
    )
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// HMAC-SHA256 written out from RFC 2104 over sha2, independent of the product's `hmac` use.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn pagerduty_trigger_then_resolve_share_one_dedup_key() {
    let pd = Receiver::spawn().await;
    pd.always(Reply::status(202).body(r#"{"status":"success"}"#));
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 2, success_threshold: 1 }}\n  channels:\n    - {{ name: oncall, kind: pagerduty, routing_key: \"{ROUTING_KEY}\", severity: error, events_url: \"{}\" }}\n",
        pd.url("/v2/enqueue")
    ))
    .await;
    let t0 = Utc::now();
    assert!(
        bench
            .observe("staging", Verdict::ClosedBeforeReady, t0)
            .await
            .is_empty()
    );
    let events = bench
        .observe("staging", Verdict::ClosedBeforeReady, t0 + minutes(5))
        .await;
    assert_eq!(events.first(), Some(&IncidentEvent::Opened));
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), t0 + minutes(5))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    assert_eq!(report.attempts[0].channel, "oncall");
    assert_eq!(report.attempts[0].kind, "pagerduty");
    assert_eq!(bench.alerts.open_incidents().len(), 1);

    bench
        .observe("staging", Verdict::Ok, t0 + minutes(10))
        .await;
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), t0 + minutes(10))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    assert!(bench.alerts.open_incidents().is_empty());

    let requests = pd.wait_for(2).await;
    assert_eq!(requests.len(), 2);
    let incident = &bench.incidents().await[0];
    let key = format!("wsprobe-staging-{}", incident.id);
    let (trigger, resolve) = (requests[0].json(), requests[1].json());
    crate::helpers::assert_one_json_style("PagerDuty trigger", &trigger);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/v2/enqueue");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(trigger["routing_key"], ROUTING_KEY);
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], key.as_str());
    assert_eq!(trigger["payload"]["severity"], "error");
    assert_eq!(trigger["payload"]["source"], "api.staging.test");
    assert_eq!(trigger["payload"]["component"], "staging");
    assert_eq!(
        trigger["payload"]["custom_details"]["result"]["close_code"],
        1011
    );
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("staging is down: closed_before_ready — ")
    );
    assert_eq!(
        trigger["links"][0]["href"],
        "http://status.test/environments/staging"
    );
    assert_eq!(
        resolve,
        serde_json::json!({ "routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": key })
    );

    assert_eq!(incident.state, IncidentState::Resolved);
    assert_eq!(
        incident.started_at.timestamp_millis(),
        t0.timestamp_millis()
    );
    assert_eq!(
        incident.resolved_at.map(|t| t.timestamp_millis()),
        Some((t0 + minutes(10)).timestamp_millis())
    );
    let timeline: Vec<(&str, DeliveryState, u32)> = incident
        .notifications
        .iter()
        .map(|n| (n.event.as_str(), n.outcome, n.attempts))
        .collect();
    assert_eq!(
        timeline,
        [
            ("triggered", DeliveryState::Delivered, 1),
            ("resolved", DeliveryState::Delivered, 1)
        ]
    );
    assert!(incident.notifications.iter().all(|n| n.sent_at.is_some()));
}

#[tokio::test]
async fn slack_answering_429_retry_after_is_delivered_once_after_the_wait() {
    let slack = Receiver::spawn().await;
    slack.script([Reply::status(429)
        .header("Retry-After", "1")
        .body("rate_limited")]);
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 1 }}\n  channels:\n    - {{ name: team-slack, kind: slack, webhook_url: \"{}\" }}\n",
        slack.url("/services/T000/B000/XXXXSECRET")
    ))
    .await;
    bench
        .observe("staging", Verdict::ClosedBeforeReady, Utc::now())
        .await;

    let first = bench
        .alerts
        .deliver_due(&bench.channels(), Utc::now())
        .await;
    assert_eq!(first.count(DeliveryOutcome::Retried), 1, "{first:?}");
    let retried = &first.attempts[0];
    assert_eq!(retried.error.as_deref(), Some("HTTP 429: rate_limited"));
    let next = retried.next_attempt_at.unwrap();
    assert!(
        next - Utc::now() > chrono::Duration::milliseconds(500),
        "Retry-After: 1 is honoured, not the backoff: {next}"
    );
    assert_eq!(first.next_due, Some(next));
    let early = bench
        .alerts
        .deliver_due(&bench.channels(), Utc::now())
        .await;
    assert!(early.attempts.is_empty(), "not before it is due: {early:?}");

    // The dispatcher's job, done here by polling the step with the real clock.
    let started = Instant::now();
    loop {
        let report = bench
            .alerts
            .deliver_due(&bench.channels(), Utc::now())
            .await;
        if report.count(DeliveryOutcome::Delivered) == 1 {
            break;
        }
        assert!(report.attempts.is_empty(), "{report:?}");
        assert!(started.elapsed() < PATIENCE, "never delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let requests = slack.requests();
    assert_eq!(requests.len(), 2, "one 429, one delivery");
    assert!(
        requests[1].at - requests[0].at >= Duration::from_millis(900),
        "the second attempt waited for Retry-After: {:?}",
        requests[1].at - requests[0].at
    );
    assert_eq!(requests[1].path, "/services/T000/B000/XXXXSECRET");
    let body = requests[1].json();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("🔴 staging is down: closed_before_ready")
    );
    assert_eq!(body["blocks"][0]["type"], "header");
    let later = bench
        .alerts
        .deliver_due(&bench.channels(), Utc::now() + chrono::Duration::hours(1))
        .await;
    assert!(later.attempts.is_empty(), "delivered exactly once");
    let notification = &bench.incidents().await[0].notifications[0];
    assert_eq!(notification.outcome, DeliveryState::Delivered);
    assert_eq!(notification.attempts, 2);
    assert_eq!(
        notification.last_error.as_deref(),
        Some("HTTP 429: rate_limited")
    );
}

#[tokio::test]
async fn a_webhook_receiver_tells_a_retry_from_a_reminder_by_delivery_id() {
    let hook = Receiver::spawn().await;
    hook.script([Reply::status(503)]);
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 1, repeat_every: 10m }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
        hook.url("/hooks/wsprobe")
    ))
    .await;
    let t0 = Utc::now();
    bench.observe("staging", Verdict::HeadersStripped, t0).await;
    let first = bench.alerts.deliver_due(&bench.channels(), t0).await;
    assert_eq!(first.count(DeliveryOutcome::Delivered), 0, "{first:?}");
    // Past any backoff: the retry goes out.
    let later = t0 + chrono::Duration::minutes(5);
    let retried = bench.alerts.deliver_due(&bench.channels(), later).await;
    assert_eq!(retried.count(DeliveryOutcome::Delivered), 1, "{retried:?}");
    // Still failing after repeat_every: a reminder, a new notification.
    let reminder_at = t0 + chrono::Duration::minutes(11);
    bench
        .observe("staging", Verdict::HeadersStripped, reminder_at)
        .await;
    let reminded = bench
        .alerts
        .deliver_due(&bench.channels(), reminder_at)
        .await;
    assert_eq!(
        reminded.count(DeliveryOutcome::Delivered),
        1,
        "{reminded:?}"
    );

    let requests = hook.wait_for(3).await;
    let id = |i: usize| requests[i].header("x-wsprobe-delivery").unwrap().to_owned();
    for (i, request) in requests.iter().enumerate() {
        let body = request.json();
        assert_eq!(body["version"], 1);
        assert_eq!(body["delivery_id"], id(i), "header and body agree");
        assert_eq!(id(i).len(), 36, "a UUID: {}", id(i));
    }
    assert_eq!(requests[0].json()["event"], "triggered");
    assert_eq!(id(0), id(1), "a retry carries the same delivery id");
    assert_eq!(requests[2].json()["event"], "reminder");
    assert_ne!(id(2), id(0), "a reminder is a new delivery");
}

#[tokio::test]
async fn webhook_signature_verifies_with_an_independent_hmac() {
    let hook = Receiver::spawn().await;
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 1 }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\", secret: \"{HOOK_SECRET}\" }}\n",
        hook.url("/hooks/wsprobe")
    ))
    .await;
    let at = Utc::now();
    bench.observe("staging", Verdict::HeadersStripped, at).await;
    let report = bench.alerts.deliver_due(&bench.channels(), at).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");

    let request = &hook.wait_for(1).await[0];
    let expected = format!(
        "sha256={}",
        hmac_sha256_hex(HOOK_SECRET.as_bytes(), &request.body)
    );
    assert_eq!(
        request.header("x-wsprobe-signature"),
        Some(expected.as_str())
    );
    assert_eq!(
        request.header("x-wsprobe-timestamp"),
        Some(at.timestamp().to_string().as_str())
    );
    assert_eq!(request.header("x-wsprobe-event"), Some("triggered"));
    let body = request.json();
    assert_eq!(body["event"], "triggered");
    assert_eq!(body["environment"], "staging");
    assert_eq!(body["incident"]["state"], "open");
    assert_eq!(body["incident"]["verdict"], "headers_stripped");
    assert!(body["incident"]["id"].is_i64());
    assert_eq!(body["result"]["verdict"], "headers_stripped");
    assert_eq!(body["result"]["url"], "ws://api.staging.test/ws?…");
    assert_eq!(body["link"], "http://status.test/environments/staging");
    assert!(body["sent_at"].is_string());
    crate::helpers::assert_one_json_style("webhook", &body);
    let text = String::from_utf8_lossy(&request.body);
    assert!(!text.contains(HOOK_SECRET), "the secret is not in the body");
}

#[tokio::test]
async fn a_notification_queued_while_the_receiver_is_down_goes_out_once_after_a_restart() {
    let addr = free_port();
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 2 }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"http://{addr}/hook\" }}\n"
    ))
    .await;
    let t0 = Utc::now();
    bench.observe("staging", Verdict::ConnectRefused, t0).await;
    bench
        .observe("staging", Verdict::ConnectRefused, t0 + minutes(1))
        .await;
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), t0 + minutes(1))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Retried), 1, "{report:?}");
    let error = report.attempts[0].error.clone().unwrap();
    assert!(error.starts_with("cannot connect"), "{error}");
    assert!(
        !error.contains(&addr.to_string()),
        "no URL in errors: {error}"
    );

    // Restart: the store is closed and opened again; then the receiver comes up.
    let bench = bench.restart().await;
    let incident_id = bench.alerts.open_incident("staging");
    assert!(incident_id.is_some(), "the incident is still open");
    assert!(
        bench
            .observe("staging", Verdict::ConnectRefused, t0 + minutes(2))
            .await
            .is_empty(),
        "an incident open before a restart is not triggered again"
    );
    let hook = Receiver::spawn_on(addr).await;
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), t0 + minutes(3))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let again = bench
        .alerts
        .deliver_due(&bench.channels(), t0 + minutes(30))
        .await;
    assert!(again.attempts.is_empty(), "{again:?}");
    let requests = hook.requests();
    assert_eq!(requests.len(), 1, "delivered exactly once");
    assert_eq!(requests[0].json()["incident"]["id"], incident_id.unwrap());
    let notification = &bench.incidents().await[0].notifications[0];
    assert_eq!(notification.outcome, DeliveryState::Delivered);
    assert_eq!(notification.attempts, 2);
}

#[tokio::test]
async fn pacing_holds_a_second_slack_message_for_a_second() {
    let slack = Receiver::spawn().await;
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 1 }}\n  channels:\n    - {{ name: team-slack, kind: slack, webhook_url: \"{}\" }}\n",
        slack.url("/services/x")
    ))
    .await;
    let t0 = Utc::now();
    bench.observe("staging", Verdict::DnsFailed, t0).await;
    bench.observe("prod", Verdict::DnsFailed, t0).await;
    let channels = bench.channels();
    let first = bench.alerts.deliver_due(&channels, t0).await;
    assert_eq!(first.count(DeliveryOutcome::Delivered), 1, "{first:?}");
    assert_eq!(first.attempts.len(), 1, "the second waits: {first:?}");
    assert_eq!(
        first.next_due.map(|t| t.timestamp_millis()),
        Some((t0 + chrono::Duration::seconds(1)).timestamp_millis())
    );
    let half = bench
        .alerts
        .deliver_due(&channels, t0 + chrono::Duration::milliseconds(500))
        .await;
    assert!(half.attempts.is_empty(), "{half:?}");
    let second = bench
        .alerts
        .deliver_due(&channels, t0 + chrono::Duration::seconds(1))
        .await;
    assert_eq!(second.count(DeliveryOutcome::Delivered), 1, "{second:?}");
    assert_eq!(slack.requests().len(), 2);
}

#[tokio::test]
async fn permanent_failures_and_giving_up_are_recorded() {
    let hook = Receiver::spawn().await;
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 1 }}\n  give_up_after: 1h\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
        hook.url("/hook")
    ))
    .await;
    let t0 = Utc::now();
    // A 4xx is permanent: recorded at once, never retried.
    hook.script([Reply::status(400).body("bad payload")]);
    bench.observe("staging", Verdict::DnsFailed, t0).await;
    let report = bench.alerts.deliver_due(&bench.channels(), t0).await;
    assert_eq!(report.count(DeliveryOutcome::Failed), 1, "{report:?}");
    assert_eq!(
        report.attempts[0].error.as_deref(),
        Some("HTTP 400: bad payload")
    );

    // 5xx is retried until alerts.give_up_after, then recorded as given up.
    hook.always(Reply::status(503));
    bench.observe("prod", Verdict::DnsFailed, t0).await;
    let report = bench.alerts.deliver_due(&bench.channels(), t0).await;
    assert_eq!(report.count(DeliveryOutcome::Retried), 1, "{report:?}");
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), t0 + minutes(61))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Failed), 1, "{report:?}");
    let error = report.attempts[0].error.clone().unwrap();
    assert_eq!(
        error,
        "gave up: not delivered within 1h (alerts.give_up_after), 1 attempts; last error: HTTP 503"
    );
    assert_eq!(hook.requests().len(), 2, "no attempt after giving up");

    let failed = bench
        .store
        .alerts()
        .failed_notifications(t0 - minutes(1), 10)
        .await
        .unwrap();
    let mut seen: Vec<(&str, &str)> = failed
        .iter()
        .map(|f| (f.environment.as_str(), f.last_error.as_deref().unwrap()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("prod", error.as_str()),
            ("staging", "HTTP 400: bad payload")
        ]
    );
}

#[tokio::test]
async fn maintenance_holds_notifications_and_announces_an_open_incident_after_it() {
    let hook = Receiver::spawn().await;
    let t0: DateTime<Utc> = "2026-12-01T22:00:00Z".parse().unwrap();
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 2 }}\n  maintenance:\n    - {{ environments: [staging], from: \"2026-12-01T22:00:00Z\", until: \"2026-12-01T23:00:00Z\" }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
        hook.url("/hook")
    ))
    .await;
    bench
        .observe("staging", Verdict::ClosedBeforeReady, t0 + minutes(10))
        .await;
    bench
        .observe("staging", Verdict::ClosedBeforeReady, t0 + minutes(20))
        .await;
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), t0 + minutes(20))
        .await;
    assert!(report.attempts.is_empty(), "held: {report:?}");
    let incident = &bench.incidents().await[0];
    assert_eq!(incident.state, IncidentState::Open, "the state advances");
    assert_eq!(incident.notifications[0].outcome, DeliveryState::Held);

    // prod is not in the window: its incident pages as usual.
    bench
        .observe("prod", Verdict::ClosedBeforeReady, t0 + minutes(10))
        .await;
    bench
        .observe("prod", Verdict::ClosedBeforeReady, t0 + minutes(20))
        .await;

    // The window ends with staging's incident still open: nobody was told, so now they are.
    bench
        .observe("staging", Verdict::ClosedBeforeReady, t0 + minutes(61))
        .await;
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), t0 + minutes(61))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 2, "{report:?}");
    let events: Vec<(String, String)> = hook
        .requests()
        .iter()
        .map(|r| {
            let body = r.json();
            (
                body["environment"].as_str().unwrap().to_owned(),
                body["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut events = events;
    events.sort();
    assert_eq!(
        events,
        [
            ("prod".to_owned(), "triggered".to_owned()),
            ("staging".to_owned(), "triggered".to_owned())
        ]
    );
}

#[tokio::test]
async fn queued_notifications_use_the_channel_settings_in_force_when_sent() {
    let old = Receiver::spawn().await;
    let new = Receiver::spawn().await;
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 1 }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
        old.url("/hook")
    ))
    .await;
    let at = Utc::now();
    bench.observe("staging", Verdict::DnsFailed, at).await;
    // A reload moved the channel before the dispatcher ran.
    let reloaded = load(
        bench.dir.path(),
        &bench_yaml(&format!(
            "alerts:\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
            new.url("/moved")
        )),
    );
    let report = bench
        .alerts
        .deliver_due(&bench.alerts.channels(&reloaded), at)
        .await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    assert!(old.requests().is_empty());
    assert_eq!(new.requests()[0].path, "/moved");
}

#[tokio::test]
async fn secrets_never_reach_error_texts() {
    let addr = free_port();
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 1 }}\n  channels:\n    - {{ name: team-slack, kind: slack, webhook_url: \"http://{addr}/services/T0/B0/SLACKSECRET\" }}\n    - {{ name: oncall, kind: pagerduty, routing_key: \"{ROUTING_KEY}\", events_url: \"http://{addr}/v2/enqueue\" }}\n"
    ))
    .await;
    let at = Utc::now();
    bench.observe("staging", Verdict::DnsFailed, at).await;
    let report = bench.alerts.deliver_due(&bench.channels(), at).await;
    assert_eq!(report.count(DeliveryOutcome::Retried), 2, "{report:?}");
    // An echoing receiver: its error body repeats what it was sent.
    let echo = Receiver::spawn_on(addr).await;
    echo.always(Reply::status(400).body(&format!(
        "bad routing key {ROUTING_KEY} for /services/T0/B0/SLACKSECRET"
    )));
    let later = at + minutes(10);
    let report = bench.alerts.deliver_due(&bench.channels(), later).await;
    assert_eq!(report.count(DeliveryOutcome::Failed), 2, "{report:?}");
    let stored = serde_json::to_string(&bench.incidents().await).unwrap();
    let reported = format!("{report:?}");
    for text in [stored.as_str(), reported.as_str()] {
        assert!(!text.contains("SLACKSECRET"), "{text}");
        assert!(!text.contains(ROUTING_KEY), "{text}");
    }
    assert!(stored.contains("bad routing key [redacted]"), "{stored}");
}

#[test]
fn give_up_after_is_a_positive_duration_defaulting_to_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let config = load(dir.path(), &bench_yaml(""));
    assert_eq!(config.alerts.give_up_after, Duration::from_secs(24 * 3600));
    let config = load(dir.path(), &bench_yaml("alerts: { give_up_after: 90m }\n"));
    assert_eq!(config.alerts.give_up_after, Duration::from_secs(90 * 60));
    let path = dir.path().join("probes.yaml");
    for (value, message) in [
        (
            "soon",
            "5:26: alerts.give_up_after: \"soon\" is not a duration: ",
        ),
        ("0s", "5:26: alerts.give_up_after: must be greater than 0"),
    ] {
        let yaml = bench_yaml(&format!("alerts: {{ give_up_after: {value} }}\n"));
        let err = wsprobe::config::load_str(&path, &yaml, &|_| None)
            .unwrap_err()
            .to_string();
        let expected = format!("{}:{message}", path.display());
        assert!(err.starts_with(&expected), "{err}\nexpected {expected}");
    }
}

/// The daemon: a failing environment opens an incident; the API and pages show it with its
/// timeline; a channel answering 404 is a permanent failure on the status page.
#[tokio::test]
async fn the_daemon_records_incidents_and_shows_their_timeline() {
    let slack = Receiver::spawn().await;
    slack.always(Reply::status(404).body("no_service"));
    let envs = r#"
  - name: broken
    url: ws://${LAB}/ws/internal-error
    steps: [ { expect: { json: { /type: system_message } } } ]
    alert: { failure_threshold: 1 }
  - name: healthy
    url: ws://${LAB}/ws/healthy
"#;
    let alerts = format!(
        "alerts:\n  channels:\n    - {{ name: team-slack, kind: slack, webhook_url: \"{}\" }}\n    - {{ name: console, kind: log }}\n",
        slack.url("/services/T0/B0/SLACKSECRET")
    );
    let mut app = spawn_app(envs, &alerts).await;
    let incidents = wait_for_incidents(&app.base, "open", |incidents| {
        incidents.iter().any(|i| {
            let outcomes: Vec<&str> = i["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["outcome"].as_str().unwrap())
                .collect();
            outcomes == ["failed", "delivered"]
        })
    })
    .await;
    let list = incidents.as_array().unwrap();
    assert_eq!(list.len(), 1, "one open incident: {incidents:#}");
    let incident = &list[0];
    assert_eq!(incident["environment"], "broken");
    assert_eq!(incident["state"], "open");
    assert_eq!(incident["verdict"], "closed_before_ready");
    assert!(incident["opened_at"].is_string());
    assert!(incident["resolved_at"].is_null());
    assert!(incident["diagnosis"].as_str().unwrap().contains("1011"));
    let slack_row = &incident["notifications"][0];
    for key in [
        "channel",
        "kind",
        "event",
        "outcome",
        "attempts",
        "last_error",
        "sent_at",
    ] {
        assert!(slack_row.get(key).is_some(), "notification lacks {key}");
    }
    assert_eq!(slack_row["channel"], "team-slack");
    assert_eq!(slack_row["kind"], "slack");
    assert_eq!(slack_row["event"], "triggered");
    assert_eq!(slack_row["attempts"], 1);
    assert_eq!(slack_row["last_error"], "HTTP 404: no_service");
    assert!(slack_row["sent_at"].is_null());
    assert!(incident["notifications"][1]["sent_at"].is_string());
    assert_eq!(slack.requests().len(), 1, "a 404 is not retried");

    let resolved = app.get_json("/api/v1/incidents?state=resolved").await;
    assert!(resolved["incidents"].as_array().unwrap().is_empty());
    assert_eq!(app.get("/api/v1/incidents?state=closed").await.0, 400);
    let status = app.get_json("/api/v1/status").await;
    assert_eq!(
        env_status(&status, "broken")["open_incident"],
        incident["id"]
    );
    assert!(env_status(&status, "healthy")["open_incident"].is_null());
    assert_eq!(env_status(&status, "healthy")["in_maintenance"], false);
    let failed = &status["notifications"]["failed_24h"][0];
    assert_eq!(failed["channel"], "team-slack");
    assert_eq!(failed["environment"], "broken");

    let (_, page) = app.get("/").await;
    assert!(page.contains("failed for good"), "{page}");
    assert!(page.contains("HTTP 404: no_service"));
    let (_, env_page) = app.get("/environments/broken").await;
    let id = incident["id"].as_i64().unwrap();
    assert!(env_page.contains(&format!("#{id}")), "{env_page}");
    // The overview's "incident #N open" leads to that incident on the environment's page.
    assert!(
        page.contains(&format!("href=\"/environments/broken#incident-{id}\"")),
        "{page}"
    );
    assert!(
        env_page.contains(&format!("id=\"incident-{id}\"")),
        "{env_page}"
    );
    assert!(env_page.contains("first failing probe started"));
    assert!(env_page.contains("team-slack"));
    let (status, incidents) = (status.to_string(), incidents.to_string());
    for text in [
        page.as_str(),
        env_page.as_str(),
        status.as_str(),
        incidents.as_str(),
    ] {
        assert!(!text.contains("SLACKSECRET"), "the webhook URL leaked");
    }
    app.shutdown().await.unwrap();
}

/// The daemon inside a maintenance window: probes run and are marked, the incident opens, its
/// notification is held, and the status API and page show the window.
#[tokio::test]
async fn the_daemon_holds_notifications_inside_a_maintenance_window() {
    let hook = Receiver::spawn().await;
    let now = Utc::now();
    let (from, until) = (
        now - chrono::Duration::hours(1),
        now + chrono::Duration::hours(1),
    );
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let envs = r#"
  - name: broken
    url: ws://${LAB}/ws/internal-error
    steps: [ { expect: { json: { /type: system_message } } } ]
    alert: { failure_threshold: 1 }
"#;
    let alerts = format!(
        "alerts:\n  maintenance:\n    - {{ from: \"{}\", until: \"{}\" }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
        fmt(from),
        fmt(until),
        hook.url("/hook")
    );
    let mut app = spawn_app(envs, &alerts).await;
    let incidents = wait_for_incidents(&app.base, "open", |incidents| {
        incidents
            .iter()
            .any(|i| !i["notifications"].as_array().unwrap().is_empty())
    })
    .await;
    assert_eq!(incidents[0]["notifications"][0]["outcome"], "held");
    assert_eq!(incidents[0]["notifications"][0]["attempts"], 0);
    let status = app.get_json("/api/v1/status").await;
    let broken = env_status(&status, "broken");
    assert_eq!(broken["in_maintenance"], true);
    // The config's whole second, written as every time on the wire: with milliseconds.
    let until_wire = fmt(until).replace('Z', ".000Z");
    assert_eq!(broken["maintenance"]["until"], until_wire);
    assert!(broken["maintenance"]["schedule"].is_null());
    // The incident can be stored before the run that opened it (the writer gathers a batch).
    let runs = app
        .wait_for_at(
            "/api/v1/environments/broken/runs?limit=1",
            "the failing run stored",
            |runs| !runs["runs"][0].is_null(),
        )
        .await;
    assert_eq!(runs["runs"][0]["in_maintenance"], true);
    let (_, page) = app.get("/environments/broken").await;
    assert!(page.contains("In a maintenance window"), "{page}");
    assert!(page.contains("held"));
    let (_, index) = app.get("/").await;
    assert!(index.contains("maintenance until"));
    app.shutdown().await.unwrap();
    assert!(hook.requests().is_empty(), "nothing was sent");
}

/// `kill -9` the daemon with a notification queued for a receiver that is down; start the
/// receiver and the daemon again: the notification is delivered, exactly once.
#[tokio::test]
async fn a_pending_notification_survives_kill_9_and_is_delivered_once() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let lab = crate::helpers::spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let hook_addr = free_port();
    let port = free_port().port();
    let config = dir.path().join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            "defaults: {{ schedule: \"* * * * * *\" }}\nenvironments:\n  - {{ name: broken, url: \"ws://{}/ws/internal-error\", steps: [ {{ expect: {{ json: {{ /type: system_message }} }} }} ], alert: {{ failure_threshold: 1 }} }}\nalerts:\n  channels:\n    - {{ name: audit, kind: webhook, url: \"http://{hook_addr}/hook\" }}\nserver: {{ listen: \"127.0.0.1:{port}\" }}\nstorage: {{ path: {} }}\n",
            lab.addr(),
            dir.path().join("wsprobe.db").display()
        ),
    )
    .unwrap();
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_wsprobe"))
            .args(["run", "--config", config.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let base = format!("http://127.0.0.1:{port}");

    let mut daemon = start();
    let incidents = wait_for_incidents(&base, "open", |incidents| {
        incidents.iter().any(|i| {
            i["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["outcome"] == "pending" && n["attempts"].as_u64() >= Some(1))
        })
    })
    .await;
    let incident_id = incidents[0]["id"].as_i64().unwrap();
    daemon.kill().unwrap(); // SIGKILL: no shutdown path runs
    daemon.wait().unwrap();

    let hook = Receiver::spawn_on(hook_addr).await;
    let mut restarted = start();
    let delivered = wait_for_incidents(&base, "open", |incidents| {
        incidents
            .iter()
            .any(|i| i["notifications"][0]["outcome"] == "delivered")
    })
    .await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();
    assert_eq!(delivered.as_array().unwrap().len(), 1);
    assert_eq!(
        delivered[0]["id"], incident_id,
        "the same incident, not a new one"
    );
    assert_eq!(
        delivered[0]["notifications"].as_array().unwrap().len(),
        1,
        "not triggered again after the restart"
    );
    let requests = hook.requests();
    assert_eq!(requests.len(), 1, "delivered exactly once");
    let body = requests[0].json();
    assert_eq!(body["event"], "triggered");
    assert_eq!(body["incident"]["id"], incident_id);
}

/// `wsprobe alert test`: through the real channel code, exit 0 delivered, 1 failed, 2 usage.
#[tokio::test]
async fn alert_test_sends_a_marked_test_and_exits_by_outcome() {
    let hook = Receiver::spawn().await;
    let pd = Receiver::spawn().await;
    pd.always(Reply::status(202));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("probes.yaml");
    std::fs::write(
        &config,
        bench_yaml(&format!(
            "alerts:\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\", secret: \"{HOOK_SECRET}\" }}\n    - {{ name: oncall, kind: pagerduty, routing_key: \"{ROUTING_KEY}\", events_url: \"{}\" }}\n",
            hook.url("/hook"),
            pd.url("/v2/enqueue")
        )),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap().to_owned();
    let run = |channel: &'static str| {
        let config_arg = config_arg.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_wsprobe"))
                .args([
                    "alert",
                    "test",
                    "--channel",
                    channel,
                    "--config",
                    &config_arg,
                ])
                .env_remove("WSPROBE_CONFIG")
                .output()
                .unwrap()
        })
    };

    let out = run("audit").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("test notification to audit (webhook): delivered in "),
        "{stdout}"
    );
    let request = &hook.requests()[0];
    assert_eq!(request.json()["event"], "test");
    let expected = format!(
        "sha256={}",
        hmac_sha256_hex(HOOK_SECRET.as_bytes(), &request.body)
    );
    assert_eq!(
        request.header("x-wsprobe-signature"),
        Some(expected.as_str())
    );

    let out = run("oncall").await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let sent: Vec<Value> = pd.requests().iter().map(|r| r.json()).collect();
    assert_eq!(sent.len(), 2, "a trigger, then its resolve");
    assert_eq!(sent[0]["event_action"], "trigger");
    assert_eq!(sent[0]["payload"]["severity"], "info");
    assert!(
        sent[0]["payload"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("[TEST]")
    );
    assert_eq!(sent[1]["event_action"], "resolve");
    assert_eq!(sent[0]["dedup_key"], sent[1]["dedup_key"]);

    hook.always(Reply::status(500).body("boom"));
    let out = run("audit").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("failed after"), "{stdout}");
    assert!(stdout.contains("HTTP 500: boom"), "{stdout}");

    let out = run("nope").await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no channel named \"nope\" (alerts.channels defines: audit, oncall)"),
        "{stderr}"
    );
    for output in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(output);
        assert!(!text.contains(ROUTING_KEY) && !text.contains(HOOK_SECRET));
    }
}

/// Poll `/api/v1/incidents?state=…` until `done` holds for the list, or fail after PATIENCE.
async fn wait_for_incidents(base: &str, state: &str, done: impl Fn(&[Value]) -> bool) -> Value {
    let url = format!("{base}/api/v1/incidents?state={state}");
    let started = Instant::now();
    let mut last = Value::Null;
    loop {
        if let Ok(response) = reqwest::get(&url).await
            && response.status().is_success()
            && let Ok(body) = response.json::<Value>().await
        {
            if done(body["incidents"].as_array().unwrap()) {
                return body["incidents"].clone();
            }
            last = body;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting for incidents: {last:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_incident_opens_and_pages_while_the_store_takes_no_writes() {
    let hook = Receiver::spawn().await;
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 2 }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
        hook.url("/hooks/wsprobe")
    ))
    .await;
    let lock = crate::helpers::hold_write_lock(&bench.dir.path().join("wsprobe.db")).await;
    let t0 = Utc::now() - chrono::Duration::seconds(10);
    let step = |verdict, at| {
        let environment = bench.config.environment("staging").unwrap();
        bench.alerts.observe(
            &bench.config,
            environment,
            &result("staging", verdict, at),
            wsprobe::alert::Hold::default(),
            at,
        )
    };
    assert!(step(Verdict::ConnectRefused, t0).is_empty());
    let events = step(Verdict::ConnectRefused, t0 + chrono::Duration::seconds(1));
    assert!(
        events.contains(&IncidentEvent::Opened),
        "the state advanced in memory: {events:?}"
    );
    assert!(bench.alerts.open_incident("staging").is_some());

    let report = bench.deliver_now().await;
    assert!(report.store_error.is_some(), "{report:?}");
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let sent = hook.wait_for(1).await;
    assert_eq!(sent[0].json()["event"], "triggered");
    assert!(bench.alerts.has_unwritten());

    let again = bench.deliver_now().await;
    assert!(again.attempts.is_empty(), "sent once only: {again:?}");
    assert!(
        bench.incidents().await.is_empty(),
        "nothing could be written yet"
    );

    drop(lock);
    let report = bench.deliver_now().await;
    assert!(report.store_error.is_none(), "{report:?}");
    assert!(report.attempts.is_empty(), "{report:?}");
    assert!(!bench.alerts.has_unwritten());
    let incidents = bench.incidents().await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].state, IncidentState::Open);
    assert_eq!(Some(incidents[0].id), bench.alerts.open_incident("staging"));
    let notification = &incidents[0].notifications[0];
    assert_eq!(notification.outcome, DeliveryState::Delivered);
    assert_eq!(notification.attempts, 1);
    assert_eq!(hook.requests().len(), 1);

    // What was written is what a restart reads: the next failure changes nothing.
    let bench = bench.restart().await;
    let later = bench
        .observe("staging", Verdict::ConnectRefused, t0 + minutes(1))
        .await;
    assert!(later.is_empty(), "{later:?}");
    let resolved = bench.observe("staging", Verdict::Ok, t0 + minutes(2)).await;
    assert!(resolved.contains(&IncidentEvent::Resolved), "{resolved:?}");
}

#[tokio::test]
async fn a_delivery_whose_outcome_cannot_be_written_is_not_sent_again() {
    let hook = Receiver::spawn().await;
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 1 }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
        hook.url("/hooks/wsprobe")
    ))
    .await;
    bench
        .observe("staging", Verdict::ConnectRefused, Utc::now())
        .await;
    let lock = crate::helpers::hold_write_lock(&bench.dir.path().join("wsprobe.db")).await;

    let report = bench.deliver_now().await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    assert!(report.store_error.is_some(), "{report:?}");
    hook.wait_for(1).await;
    for _ in 0..2 {
        let again = bench.deliver_now().await;
        assert!(again.attempts.is_empty(), "{again:?}");
        assert!(again.store_error.is_some(), "{again:?}");
    }
    assert_eq!(
        hook.requests().len(),
        1,
        "no resend while the outcome waits"
    );

    drop(lock);
    let report = bench.deliver_now().await;
    assert!(report.store_error.is_none(), "{report:?}");
    assert!(report.attempts.is_empty(), "{report:?}");
    let notification = &bench.incidents().await[0].notifications[0];
    assert_eq!(notification.outcome, DeliveryState::Delivered);
    assert_eq!(hook.requests().len(), 1);
}

/// `wsprobe alert test --channel name` through the library, with `channels` as the config's
/// `alerts.channels` entries: the one attempt's outcome.
async fn send_test_via(channels: &str, name: &str) -> Vec<wsprobe::alert::TestSend> {
    wsprobe::probe::tls::ensure_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let config = load(
        dir.path(),
        &bench_yaml(&format!("alerts:\n  channels:\n{channels}")),
    );
    let (_, sends) = wsprobe::alert::send_test(&config, name, Utc::now())
        .await
        .unwrap();
    sends
}

/// A bench whose `channels` are paged on the first failure: `staging` fails now and the
/// outbox is delivered once; what it did.
async fn fail_once(channels: &str) -> (Bench, DateTime<Utc>, wsprobe::alert::DeliveryReport) {
    let bench = Bench::new(&format!(
        "alerts:\n  defaults: {{ failure_threshold: 1 }}\n  channels:\n{channels}"
    ))
    .await;
    let now = Utc::now();
    bench
        .observe("staging", Verdict::ClosedBeforeReady, now)
        .await;
    let report = bench.alerts.deliver_due(&bench.channels(), now).await;
    (bench, now, report)
}

#[tokio::test]
async fn discord_test_and_trigger_are_embeds_posted_to_the_webhook() {
    let discord = Receiver::spawn().await;
    discord.always(Reply::status(204));
    let channels = format!(
        "    - {{ name: chat, kind: discord, webhook_url: \"{}\" }}\n",
        discord.url("/api/webhooks/123/D1SCORDT0KEN")
    );
    let sends = send_test_via(&channels, "chat").await;
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].attempt, wsprobe::alert::Attempt::Delivered);
    let request = &discord.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/api/webhooks/123/D1SCORDT0KEN");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json();
    assert_eq!(body["allowed_mentions"], serde_json::json!({ "parse": [] }));
    assert!(
        body["embeds"][0]["title"]
            .as_str()
            .unwrap()
            .starts_with("🧪 Test notification from wsprobe")
    );

    // A 429 that says how long to wait only in its body: the outbox waits that long.
    discord.script([Reply::status(429)
        .body(r#"{"message":"You are being rate limited.","retry_after":30.0,"global":false}"#)]);
    let (bench, now, first) = fail_once(&channels).await;
    assert_eq!(first.count(DeliveryOutcome::Retried), 1, "{first:?}");
    let next = first.attempts[0].next_attempt_at.unwrap();
    assert!(
        next - now >= chrono::Duration::seconds(29),
        "the body's retry_after is honoured, not the backoff: {next}"
    );
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), next + chrono::Duration::seconds(1))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let requests = discord.requests();
    assert_eq!(requests.len(), 3);
    let embed = &requests[2].json()["embeds"][0];
    assert_eq!(embed["title"], "🔴 staging is down: closed_before_ready");
    assert_eq!(embed["url"], "http://status.test/environments/staging");
    assert_eq!(embed["fields"][3]["value"], "1011 Internal error");
    assert!(embed["timestamp"].as_str().unwrap().ends_with('Z'));
}

/// What `body` breaks of the Adaptive Card 1.4 schema (adaptivecards.io), for the elements
/// wsprobe sends, inside Teams' `message` envelope: names and enums as published, and
/// nothing unknown.
fn adaptive_card_errors(body: &Value) -> Vec<String> {
    let schema = serde_json::json!({
        "type": "object",
        "required": ["type", "attachments"],
        "additionalProperties": false,
        "properties": {
            "type": { "const": "message" },
            "attachments": { "type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "object",
                "required": ["contentType", "content"],
                "additionalProperties": false,
                "properties": {
                    "contentType": { "const": "application/vnd.microsoft.card.adaptive" },
                    "contentUrl": { "type": ["string", "null"] },
                    "content": { "$ref": "#/$defs/AdaptiveCard" }
                }
            } }
        },
        "$defs": {
            "AdaptiveCard": {
                "type": "object",
                "required": ["type", "version", "body"],
                "additionalProperties": false,
                "properties": {
                    "$schema": { "const": "http://adaptivecards.io/schemas/adaptive-card.json" },
                    "type": { "const": "AdaptiveCard" },
                    "version": { "const": "1.4" },
                    "body": { "type": "array", "items": { "oneOf": [
                        { "$ref": "#/$defs/TextBlock" }, { "$ref": "#/$defs/FactSet" }
                    ] } },
                    "actions": { "type": "array", "items": { "$ref": "#/$defs/OpenUrl" } },
                    "msteams": { "type": "object", "properties": { "width": { "enum": ["Full"] } } }
                }
            },
            "TextBlock": {
                "type": "object",
                "required": ["type", "text"],
                "additionalProperties": false,
                "properties": {
                    "type": { "const": "TextBlock" },
                    "text": { "type": "string", "minLength": 1 },
                    "size": { "enum": ["Default", "Small", "Medium", "Large", "ExtraLarge"] },
                    "weight": { "enum": ["Default", "Lighter", "Bolder"] },
                    "color": { "enum": ["Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"] },
                    "wrap": { "type": "boolean" },
                    "isSubtle": { "type": "boolean" }
                }
            },
            "FactSet": {
                "type": "object",
                "required": ["type", "facts"],
                "additionalProperties": false,
                "properties": {
                    "type": { "const": "FactSet" },
                    "facts": { "type": "array", "items": {
                        "type": "object",
                        "required": ["title", "value"],
                        "additionalProperties": false,
                        "properties": { "title": { "type": "string" }, "value": { "type": "string" } }
                    } }
                }
            },
            "OpenUrl": {
                "type": "object",
                "required": ["type", "url"],
                "additionalProperties": false,
                "properties": {
                    "type": { "const": "Action.OpenUrl" },
                    "title": { "type": "string" },
                    "url": { "type": "string", "pattern": "^https?://" }
                }
            }
        }
    });
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    validator
        .iter_errors(body)
        .map(|err| format!("{}: {err}", err.instance_path))
        .collect()
}

#[tokio::test]
async fn teams_test_and_trigger_are_adaptive_cards_posted_to_the_workflow() {
    let teams = Receiver::spawn().await;
    teams.always(Reply::status(202));
    let path = "/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=T3AMSSIG";
    let channels = format!(
        "    - {{ name: ops, kind: teams, webhook_url: \"{}\" }}\n",
        teams.url(path)
    );
    let sends = send_test_via(&channels, "ops").await;
    assert_eq!(sends[0].attempt, wsprobe::alert::Attempt::Delivered);
    let request = &teams.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, path);
    assert_eq!(request.header("content-type"), Some("application/json"));
    let test = request.json();
    assert_eq!(adaptive_card_errors(&test), Vec::<String>::new(), "{test}");
    let mut broken = test.clone();
    broken["attachments"][0]["content"]["body"][0]["color"] = "Red".into();
    assert_eq!(adaptive_card_errors(&broken).len(), 1, "the check can fail");
    let card = &test["attachments"][0]["content"];
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["actions"][0]["url"], "http://status.test/");

    let (_bench, _now, report) = fail_once(&channels).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let trigger = teams.requests()[1].json();
    assert_eq!(
        adaptive_card_errors(&trigger),
        Vec::<String>::new(),
        "{trigger}"
    );
    let card = &trigger["attachments"][0]["content"];
    assert_eq!(card["body"][0]["color"], "Attention");
    let facts = card["body"][2]["facts"].as_array().unwrap();
    assert_eq!(
        facts[0],
        serde_json::json!({ "title": "Environment", "value": "staging" })
    );
    assert_eq!(
        facts[3],
        serde_json::json!({ "title": "Close", "value": "1011 Internal error" })
    );
    assert_eq!(
        card["actions"][0]["url"],
        "http://status.test/environments/staging"
    );
}

#[tokio::test]
async fn google_chat_test_and_trigger_are_cards_posted_to_the_space() {
    let chat = Receiver::spawn().await;
    chat.always(Reply::status(200).body("{}"));
    let path = "/v1/spaces/AAAA/messages?key=GK3Y&token=GT0KEN";
    let channels = format!(
        "    - {{ name: space, kind: google_chat, webhook_url: \"{}\" }}\n",
        chat.url(path)
    );
    let sends = send_test_via(&channels, "space").await;
    assert_eq!(sends[0].attempt, wsprobe::alert::Attempt::Delivered);
    let request = &chat.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, path);
    assert_eq!(
        request.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    let test = request.json();
    assert!(
        test["fallbackText"]
            .as_str()
            .unwrap()
            .starts_with("🧪 Test notification from wsprobe")
    );
    assert_eq!(test["cardsV2"][0]["cardId"], "wsprobe");

    let (_bench, _now, report) = fail_once(&channels).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let trigger = chat.requests()[1].json();
    let card = &trigger["cardsV2"][0]["card"];
    assert_eq!(
        card["header"]["title"],
        "🔴 staging is down: closed_before_ready"
    );
    assert_eq!(
        card["sections"][1]["widgets"][3]["decoratedText"],
        serde_json::json!({ "topLabel": "Close", "text": "1011 Internal error" })
    );
    assert_eq!(
        card["sections"][3]["widgets"][0]["buttonList"]["buttons"][0]["onClick"]["openLink"]["url"],
        "http://status.test/environments/staging"
    );
}

#[tokio::test]
async fn mattermost_test_and_trigger_are_slack_style_posts_with_overrides() {
    let mm = Receiver::spawn().await;
    let channels = format!(
        "    - {{ name: mm, kind: mattermost, webhook_url: \"{}\", channel: ops-alerts, username: wsprobe }}\n",
        mm.url("/hooks/MMK3Y")
    );
    let sends = send_test_via(&channels, "mm").await;
    assert_eq!(sends[0].attempt, wsprobe::alert::Attempt::Delivered);
    let request = &mm.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/MMK3Y");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let test = request.json();
    assert_eq!(test["channel"], "ops-alerts");
    assert_eq!(test["username"], "wsprobe");
    assert!(
        test["text"]
            .as_str()
            .unwrap()
            .starts_with("#### 🧪 Test notification from wsprobe")
    );

    let (_bench, _now, report) = fail_once(&channels).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let trigger = mm.requests()[1].json();
    let attachment = &trigger["attachments"][0];
    assert_eq!(attachment["color"], "#E5484D");
    assert_eq!(
        attachment["title_link"],
        "http://status.test/environments/staging"
    );
    assert_eq!(
        attachment["fields"][3],
        serde_json::json!({ "short": true, "title": "Close", "value": "1011 Internal error" })
    );
    assert_eq!(trigger["channel"], "ops-alerts");
}

#[tokio::test]
async fn ntfy_test_and_trigger_are_text_with_title_priority_tags_and_a_bearer_token() {
    const TOKEN: &str = "tk_NTFYS3CRET";
    let ntfy = Receiver::spawn().await;
    let channels = format!(
        "    - {{ name: phone, kind: ntfy, url: \"{}\", token: \"{TOKEN}\" }}\n",
        ntfy.url("/wsprobe-alerts")
    );
    let sends = send_test_via(&channels, "phone").await;
    assert_eq!(sends[0].attempt, wsprobe::alert::Attempt::Delivered);
    let request = &ntfy.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/wsprobe-alerts");
    assert_eq!(
        request.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        request.header("title"),
        Some("Test notification from wsprobe: this channel is wired correctly, no action needed")
    );
    assert_eq!(request.header("priority"), Some("low"));
    assert_eq!(request.header("tags"), Some("test_tube,wsprobe"));
    assert_eq!(request.header("click"), Some("http://status.test/"));
    assert_eq!(
        String::from_utf8_lossy(&request.body),
        "This is a test sent by `wsprobe alert test` to channel phone: no action needed.\nhttp://status.test/"
    );

    let (_bench, _now, report) = fail_once(&channels).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let trigger = &ntfy.requests()[1];
    assert_eq!(
        trigger.header("title"),
        Some("staging is down: closed_before_ready")
    );
    assert_eq!(trigger.header("priority"), Some("urgent"));
    assert_eq!(trigger.header("tags"), Some("rotating_light,wsprobe"));
    assert_eq!(
        trigger.header("click"),
        Some("http://status.test/environments/staging")
    );
    let body = String::from_utf8_lossy(&trigger.body);
    assert!(body.contains("\nClose: 1011 Internal error\n"), "{body}");

    // A server that echoes the token: the error says so without it.
    ntfy.always(Reply::status(403).body(&format!("token {TOKEN} is not allowed")));
    let sends = send_test_via(&channels, "phone").await;
    let error = sends[0].attempt.error().unwrap();
    assert!(error.starts_with("HTTP 403: token "), "{error}");
    assert!(!error.contains(TOKEN), "{error}");
}

#[tokio::test]
async fn telegram_sends_html_to_the_bot_api_and_keeps_its_token_out_of_errors() {
    const TOKEN: &str = "123456:TGS3CRET";
    let tg = Receiver::spawn().await;
    tg.always(Reply::status(200).body(r#"{"ok":true,"result":{}}"#));
    let channels = format!(
        "    - {{ name: tg, kind: telegram, bot_token: \"{TOKEN}\", chat_id: \"-1001234567890\", api_url: \"{}\" }}\n",
        tg.url("")
    );
    let sends = send_test_via(&channels, "tg").await;
    assert_eq!(sends[0].attempt, wsprobe::alert::Attempt::Delivered);
    let request = &tg.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/bot{TOKEN}/sendMessage"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let test = request.json();
    assert_eq!(test["chat_id"], -1001234567890_i64);
    assert_eq!(test["parse_mode"], "HTML");
    let text = test["text"].as_str().unwrap();
    assert!(text.chars().count() <= 4096);
    assert!(
        text.starts_with("<b>🧪 Test notification from wsprobe"),
        "{text}"
    );

    // A 429 that says how long to wait in `parameters.retry_after`.
    tg.script([Reply::status(429).body(
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 30","parameters":{"retry_after":30}}"#,
    )]);
    let (bench, now, first) = fail_once(&channels).await;
    assert_eq!(first.count(DeliveryOutcome::Retried), 1, "{first:?}");
    let next = first.attempts[0].next_attempt_at.unwrap();
    assert!(next - now >= chrono::Duration::seconds(29), "{next}");
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), next + chrono::Duration::seconds(1))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let text = tg.requests()[2].json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("<b>Close:</b> 1011 Internal error\n"),
        "{text}"
    );
    assert!(
        text.contains("<a href=\"http://status.test/environments/staging\">"),
        "{text}"
    );

    // An answer that echoes the path: the error keeps the token out.
    tg.always(Reply::status(401).body(&format!(
        "{{\"ok\":false,\"description\":\"Unauthorized /bot{TOKEN}/sendMessage\"}}"
    )));
    let sends = send_test_via(&channels, "tg").await;
    let error = sends[0].attempt.error().unwrap();
    assert!(error.starts_with("HTTP 401: "), "{error}");
    assert!(!error.contains("TGS3CRET"), "{error}");
}

#[tokio::test]
async fn opsgenie_creates_and_closes_by_alias_with_a_genie_key() {
    const KEY: &str = "0PSG3NIE-KEY-1234";
    let og = Receiver::spawn().await;
    og.always(
        Reply::status(202)
            .body(r#"{"result":"Request will be processed","took":0.1,"requestId":"r"}"#),
    );
    // A path in api_url, as Jira Service Management's endpoint has one.
    let channels = format!(
        "    - {{ name: og, kind: opsgenie, api_key: \"{KEY}\", priority: P2, api_url: \"{}\" }}\n",
        og.url("/jsm/ops/integration")
    );
    let sends = send_test_via(&channels, "og").await;
    let outcomes: Vec<(&str, &wsprobe::alert::Attempt)> =
        sends.iter().map(|s| (s.what, &s.attempt)).collect();
    assert_eq!(
        outcomes,
        [
            ("test", &wsprobe::alert::Attempt::Delivered),
            ("resolve", &wsprobe::alert::Attempt::Delivered)
        ]
    );
    let requests = og.requests();
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(
            request.header("authorization"),
            Some(format!("GenieKey {KEY}").as_str())
        );
    }
    assert_eq!(requests[0].path, "/jsm/ops/integration/v2/alerts");
    let create = requests[0].json();
    assert_eq!(create["alias"], "wsprobe-test-og");
    assert_eq!(create["priority"], "P5");
    assert!(create["message"].as_str().unwrap().chars().count() <= 130);
    assert_eq!(
        requests[1].path,
        "/jsm/ops/integration/v2/alerts/wsprobe-test-og/close?identifierType=alias"
    );

    let (bench, now, report) = fail_once(&channels).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    bench
        .observe("staging", Verdict::Ok, now + minutes(1))
        .await;
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), now + minutes(1))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let requests = og.requests();
    assert_eq!(requests.len(), 4);
    let id = bench.incidents().await[0].id;
    let alias = format!("wsprobe-staging-{id}");
    let create = requests[2].json();
    assert_eq!(requests[2].path, "/jsm/ops/integration/v2/alerts");
    assert_eq!(create["alias"], alias.as_str());
    assert_eq!(create["priority"], "P2");
    assert_eq!(create["entity"], "staging");
    assert_eq!(create["details"]["Close"], "1011 Internal error");
    assert_eq!(
        requests[3].path,
        format!("/jsm/ops/integration/v2/alerts/{alias}/close?identifierType=alias")
    );
    assert_eq!(requests[3].json()["source"], "wsprobe");
}

const SMTP_USER: &str = "alerts@example.test";
const SMTP_PASSWORD: &str = "SMTP-PASSW0RD-7f3a";

/// An `email` channel entry named `mail` for `server`, with `more` keys.
fn email_channel(server: &SmtpServer, more: &str) -> String {
    format!(
        "    - {{ name: mail, kind: email, host: 127.0.0.1, port: {}, from: \"wsprobe <{SMTP_USER}>\", to: [oncall@example.test, \"Ops <ops@example.test>\"]{more} }}\n",
        server.addr.port()
    )
}

#[tokio::test]
async fn email_over_starttls_with_auth_sends_text_and_html_and_threads_the_resolve() {
    let Some(server) = SmtpServer::spawn(SmtpOptions {
        user: Some((SMTP_USER, SMTP_PASSWORD)),
        ..SmtpOptions::default()
    })
    .await
    else {
        return;
    };
    let channels = email_channel(
        &server,
        &format!(
            ", username: {SMTP_USER}, password: \"{SMTP_PASSWORD}\", ca_file: \"{}\", subject_prefix: \"[wsprobe]\"",
            server.ca_file.display()
        ),
    );
    let sends = send_test_via(&channels, "mail").await;
    assert_eq!(sends[0].attempt, wsprobe::alert::Attempt::Delivered);
    let test = &server.messages(1).await[0];
    assert_eq!(test["tls"], true, "STARTTLS before anything else");
    assert_eq!(test["user"], SMTP_USER);
    assert_eq!(test["mail_from"], SMTP_USER);
    assert_eq!(
        test["rcpt_tos"],
        serde_json::json!(["oncall@example.test", "ops@example.test"])
    );
    assert_eq!(
        header(test, "Subject"),
        "[wsprobe] [TEST] Test notification from wsprobe: this channel is wired correctly, no action needed"
    );
    assert_eq!(header(test, "From"), "wsprobe <alerts@example.test>");
    assert_eq!(
        header(test, "To"),
        "oncall@example.test, Ops <ops@example.test>"
    );
    assert_eq!(header(test, "Auto-Submitted"), "auto-generated");
    assert!(header(test, "Content-Type").starts_with("multipart/alternative"));
    assert!(part(test, "text/plain").contains(
        "This is a test sent by `wsprobe alert test` to channel mail: no action needed."
    ));
    assert!(part(test, "text/html").contains("<h2"));

    let (bench, now, report) = fail_once(&channels).await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    bench
        .observe("staging", Verdict::Ok, now + minutes(1))
        .await;
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), now + minutes(1))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    let messages = server.messages(3).await;
    let (trigger, resolve) = (&messages[1], &messages[2]);
    assert_eq!(
        header(trigger, "Subject"),
        "[wsprobe] [FIRING] staging is down: closed_before_ready"
    );
    let text = part(trigger, "text/plain");
    assert!(
        text.starts_with("🔴 staging is down: closed_before_ready\n\n"),
        "{text:?}"
    );
    for line in [
        "Environment: staging",
        "Verdict: closed_before_ready",
        "Close: 1011 Internal error",
        "Phases: connect 1.5 ms · upgrade 3.0 ms · total 70 ms",
        "Open staging on the status page: http://status.test/environments/staging",
    ] {
        assert!(text.contains(&format!("{line}\n")), "{line:?} in {text}");
    }
    let html = part(trigger, "text/html");
    assert!(html.contains("<code>closed_before_ready</code>"), "{html}");
    assert!(html.contains("1011 Internal error"), "{html}");
    assert!(
        html.contains("<a href=\"http://status.test/environments/staging\">"),
        "{html}"
    );
    assert!(
        header(resolve, "Subject").starts_with("[wsprobe] [RESOLVED] staging recovered after 1m"),
        "{}",
        header(resolve, "Subject")
    );
    let first = header(trigger, "Message-ID");
    assert_eq!(header(resolve, "In-Reply-To"), first);
    assert_eq!(header(resolve, "References"), first);
    assert_ne!(header(resolve, "Message-ID"), first);

    let stored = serde_json::to_string(&bench.incidents().await).unwrap();
    for text in [stored, format!("{report:?}"), format!("{messages:?}")] {
        assert!(!text.contains(SMTP_PASSWORD), "{text}");
    }
}

#[tokio::test]
async fn email_alert_test_over_implicit_tls_and_a_wrong_password_is_an_auth_failure() {
    let Some(server) = SmtpServer::spawn(SmtpOptions {
        tls: "tls",
        user: Some((SMTP_USER, SMTP_PASSWORD)),
        ..SmtpOptions::default()
    })
    .await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("probes.yaml");
    let channel = email_channel(
        &server,
        &format!(
            ", tls: tls, username: {SMTP_USER}, password: \"${{SMTP_PASSWORD}}\", ca_file: \"{}\"",
            server.ca_file.display()
        ),
    );
    std::fs::write(
        &config,
        bench_yaml(&format!("alerts:\n  channels:\n{channel}")),
    )
    .unwrap();
    let alert_test = |password: &'static str| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_wsprobe"))
                .args(["alert", "test", "--channel", "mail", "--config"])
                .arg(&config)
                .env_remove("WSPROBE_CONFIG")
                .env("SMTP_PASSWORD", password)
                .output()
                .unwrap()
        })
    };

    let out = alert_test(SMTP_PASSWORD).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("test notification to mail (email): delivered in "),
        "{stdout}"
    );
    let message = &server.messages(1).await[0];
    assert_eq!(message["tls"], true, "TLS from the first byte");
    assert_eq!(message["user"], SMTP_USER);
    assert!(header(message, "Subject").starts_with("[TEST] "));

    const WRONG: &str = "not-the-Passw0rd-91c2";
    let out = alert_test(WRONG).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("test notification to mail (email): failed after "),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "127.0.0.1:{} refused authentication as {SMTP_USER}: 535 5.7.8 Authentication credentials invalid",
            server.addr.port()
        )),
        "{stdout}"
    );
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains(WRONG) && !text.contains(SMTP_PASSWORD),
            "{text}"
        );
    }
    assert_eq!(server.taken(), 1, "nothing sent without AUTH");
}

#[tokio::test]
async fn email_4xx_is_retried_through_the_outbox_and_5xx_fails_with_the_reply() {
    let Some(server) = SmtpServer::spawn(SmtpOptions {
        data_replies: vec!["451 4.3.0 Try again later"],
        refuse_rcpt: vec!["nobody@example.test"],
        ..SmtpOptions::default()
    })
    .await
    else {
        return;
    };
    let ca_file = format!(", ca_file: \"{}\"", server.ca_file.display());
    let (bench, _, first) = fail_once(&email_channel(&server, &ca_file)).await;
    assert_eq!(first.count(DeliveryOutcome::Retried), 1, "{first:?}");
    let error = first.attempts[0].error.as_deref().unwrap();
    assert_eq!(
        error,
        format!(
            "127.0.0.1:{} refused the message: 451 4.3.0 Try again later",
            server.addr.port()
        )
    );
    assert_eq!(server.refusals(1).await.len(), 1);
    assert_eq!(server.taken(), 0);
    let next = first.attempts[0].next_attempt_at.unwrap();
    let report = bench
        .alerts
        .deliver_due(&bench.channels(), next + chrono::Duration::seconds(1))
        .await;
    assert_eq!(report.count(DeliveryOutcome::Delivered), 1, "{report:?}");
    server.messages(1).await;
    let notification = &bench.incidents().await[0].notifications[0];
    assert_eq!(notification.outcome, DeliveryState::Delivered);
    assert_eq!(notification.attempts, 2);

    let refused = format!(
        "    - {{ name: mail, kind: email, host: 127.0.0.1, port: {}, from: {SMTP_USER}, to: nobody@example.test{ca_file} }}\n",
        server.addr.port()
    );
    let (bench, _, report) = fail_once(&refused).await;
    assert_eq!(report.count(DeliveryOutcome::Failed), 1, "{report:?}");
    let notification = &bench.incidents().await[0].notifications[0];
    assert_eq!(notification.outcome, DeliveryState::Failed);
    assert_eq!(
        notification.last_error.as_deref(),
        Some(
            format!(
                "127.0.0.1:{} refused the message: 550 5.1.1 <nobody@example.test>: Recipient address rejected: no such user",
                server.addr.port()
            )
            .as_str()
        )
    );
    assert_eq!(server.taken(), 1, "refused at RCPT: no DATA");

    // A server that echoes the credentials in its reply: the error keeps them out, in the
    // clear and as AUTH PLAIN sent them.
    const PLAIN: &str = "AGFsZXJ0c0BleGFtcGxlLnRlc3QAU01UUC1QQVNTVzBSRC03ZjNh";
    let Some(echo) = SmtpServer::spawn(SmtpOptions {
        user: Some((SMTP_USER, SMTP_PASSWORD)),
        data_replies: vec![concat!(
            "554 5.7.1 not from you: AUTH PLAIN AGFsZXJ0c0BleGFtcGxlLnRlc3QAU01UUC1QQVNTVzBSRC03ZjNh",
            " (password SMTP-PASSW0RD-7f3a)"
        )],
        ..SmtpOptions::default()
    })
    .await
    else {
        return;
    };
    let channel = email_channel(
        &echo,
        &format!(
            ", username: {SMTP_USER}, password: \"{SMTP_PASSWORD}\", ca_file: \"{}\"",
            echo.ca_file.display()
        ),
    );
    let sends = send_test_via(&channel, "mail").await;
    let error = sends[0].attempt.error().unwrap();
    assert_eq!(
        error,
        format!(
            "127.0.0.1:{} refused the message: 554 5.7.1 not from you: AUTH PLAIN [redacted] (password [redacted])",
            echo.addr.port()
        )
    );
    assert!(!error.contains(PLAIN) && !error.contains(SMTP_PASSWORD));
}

#[tokio::test]
async fn email_sends_nothing_without_the_tls_it_was_told_to_use() {
    let Some(plain) = SmtpServer::spawn(SmtpOptions {
        tls: "none",
        ..SmtpOptions::default()
    })
    .await
    else {
        return;
    };
    let sends = send_test_via(&email_channel(&plain, ""), "mail").await;
    assert_eq!(
        sends[0].attempt,
        wsprobe::alert::Attempt::Failed {
            error: format!(
                "127.0.0.1:{} does not offer STARTTLS (tls: starttls), so nothing was sent; tls: tls for a server with implicit TLS (port 465)",
                plain.addr.port()
            )
        }
    );
    let sends = send_test_via(&email_channel(&plain, ", tls: none"), "mail").await;
    assert_eq!(sends[0].attempt, wsprobe::alert::Attempt::Delivered);
    assert_eq!(plain.messages(1).await[0]["tls"], false);

    // A certificate from a CA nobody trusts: retried (like any TLS failure), never sent.
    let Some(server) = SmtpServer::spawn(SmtpOptions::default()).await else {
        return;
    };
    let sends = send_test_via(&email_channel(&server, ""), "mail").await;
    let wsprobe::alert::Attempt::Retry { error, .. } = &sends[0].attempt else {
        panic!("{:?}", sends[0].attempt);
    };
    assert!(
        error.starts_with(&format!(
            "TLS after STARTTLS with 127.0.0.1:{} failed: ",
            server.addr.port()
        )) && error.contains("UnknownIssuer"),
        "{error}"
    );
    assert_eq!(server.taken(), 0);
    let sends = send_test_via(
        &email_channel(&server, ", insecure_skip_verify: true"),
        "mail",
    )
    .await;
    assert_eq!(sends[0].attempt, wsprobe::alert::Attempt::Delivered);
    assert_eq!(server.messages(1).await[0]["tls"], true);
}
