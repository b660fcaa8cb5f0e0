//! OTLP metrics end to end: a receiver on 127.0.0.1:0 decodes what the daemon exports (OTLP/HTTP
//! protobuf, possibly gzip, and gRPC) and the values are compared with what the store kept.
//! The `OTEL_*` variables are given to a child `wsprobe run`, never set in this process.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use wsprobe::probe::ProbeResult;
use wsprobe::store::{RunsPage, Store};
use wsprobe::telemetry::Metrics;
use wsprobe::telemetry::metrics::{DURATION_BOUNDARIES, INSTRUMENTS, InstrumentSpec, Kind};

use crate::helpers::child::Daemon;
use crate::helpers::otlp_metrics::{Attrs, Export, MetricsReceiver, attrs};
use crate::helpers::tls::tls_front;
use crate::helpers::{App, PATIENCE, TestLab, spawn_app, spawn_lab, write_config};

// ---------------------------------------------------------------------------------------------
// What every export must look like

/// Name, kind, unit and attribute keys of every instrument present, against the SPEC's table.
fn assert_shapes(export: &Export, location: Option<&str>) {
    let spec = |name: &str| -> InstrumentSpec {
        *INSTRUMENTS
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the SPEC's table"))
    };
    for metric in &export.metrics {
        let spec = spec(&metric.name);
        assert_eq!(metric.unit, spec.unit, "{}: unit", metric.name);
        let points: Vec<Attrs> = match metric.data.as_ref().unwrap() {
            Data::Histogram(h) => {
                assert_eq!(spec.kind, Kind::Histogram, "{}", metric.name);
                assert_eq!(
                    h.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32
                );
                for p in &h.data_points {
                    assert_eq!(p.explicit_bounds, DURATION_BOUNDARIES, "{}", metric.name);
                }
                h.data_points.iter().map(|p| attrs(&p.attributes)).collect()
            }
            Data::Gauge(g) => {
                assert_eq!(spec.kind, Kind::Gauge, "{}", metric.name);
                g.data_points.iter().map(|p| attrs(&p.attributes)).collect()
            }
            Data::Sum(s) => {
                assert_eq!(spec.kind, Kind::Counter, "{}", metric.name);
                assert!(s.is_monotonic, "{}: a counter is monotonic", metric.name);
                assert_eq!(
                    s.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32,
                    "{}",
                    metric.name
                );
                s.data_points.iter().map(|p| attrs(&p.attributes)).collect()
            }
            other => panic!("{}: unexpected data {other:?}", metric.name),
        };
        for attributes in points {
            let mut expected: Vec<&str> = spec.attributes.to_vec();
            if location.is_some() {
                expected.push("location");
            }
            expected.sort();
            let keys: Vec<&str> = attributes.keys().map(String::as_str).collect();
            assert_eq!(keys, expected, "{}: attribute keys", metric.name);
            if let Some(location) = location {
                assert_eq!(attributes["location"], location);
            }
            for value in attributes.values() {
                assert!(
                    !value.contains("://")
                        && !value.contains("127.0.0.1")
                        && !value.contains("localhost"),
                    "{}: an attribute carries a URL: {attributes:?}",
                    metric.name
                );
            }
        }
    }
}

fn assert_resource(export: &Export, service_name: &str, instance_id: &str) {
    let r = &export.resource;
    assert_eq!(
        r.get("service.name").map(String::as_str),
        Some(service_name),
        "{r:?}"
    );
    assert_eq!(
        r.get("service.version").map(String::as_str),
        Some(env!("CARGO_PKG_VERSION")),
        "{r:?}"
    );
    assert_eq!(
        r.get("service.instance.id").map(String::as_str),
        Some(instance_id),
        "{r:?}"
    );
    assert_eq!(
        r.get("telemetry.sdk.language").map(String::as_str),
        Some("rust"),
        "{r:?}"
    );
}

/// Every run the store kept, per environment.
async fn stored_runs(
    db: &Path,
    environments: &[&str],
) -> (Store, BTreeMap<String, Vec<ProbeResult>>) {
    let store = Store::open(db).await.unwrap();
    let mut runs = BTreeMap::new();
    for env in environments {
        let stored = store
            .read_only()
            .runs(env, RunsPage::newest(10_000))
            .await
            .unwrap();
        runs.insert(
            env.to_string(),
            stored.into_iter().map(|r| r.result).collect::<Vec<_>>(),
        );
    }
    (store, runs)
}

/// The final export (after the daemon flushed at shutdown) against every stored run.
fn assert_values_match(export: &Export, runs: &BTreeMap<String, Vec<ProbeResult>>) {
    for (env, results) in runs {
        assert!(!results.is_empty(), "{env}: no runs stored");
        let newest = &results[0];

        // probe.runs: one point per (verdict, status, close code), counting the stored runs.
        let mut expected: BTreeMap<(String, String, String), f64> = BTreeMap::new();
        for r in results {
            let code = r.close_code.map_or("none".to_owned(), |c| c.to_string());
            *expected
                .entry((r.verdict.to_string(), r.status.to_string(), code))
                .or_default() += 1.0;
        }
        let got: BTreeMap<(String, String, String), f64> = export
            .points("wsprobe.probe.runs")
            .into_iter()
            .filter(|(a, _)| a["environment"] == *env)
            .map(|(a, v)| {
                (
                    (
                        a["verdict"].clone(),
                        a["status"].clone(),
                        a["close_code"].clone(),
                    ),
                    v,
                )
            })
            .collect();
        assert_eq!(got, expected, "{env}: wsprobe.probe.runs");

        assert_eq!(
            export.value("wsprobe.probe.up", &[("environment", env)]),
            Some(if newest.status.is_serving() { 1.0 } else { 0.0 }),
            "{env}: wsprobe.probe.up"
        );
        assert_eq!(
            export.value("wsprobe.health.up", &[("environment", env)]),
            newest.health.as_ref().map(|h| if h.ok { 1.0 } else { 0.0 }),
            "{env}: wsprobe.health.up"
        );
        assert_eq!(
            export.value("wsprobe.tls.cert.not_after", &[("environment", env)]),
            newest
                .tls
                .as_ref()
                .and_then(|t| t.cert_not_after)
                .map(|t| t.timestamp() as f64),
            "{env}: wsprobe.tls.cert.not_after"
        );
        // Default policy: 2 consecutive down results open an incident, 1 non-down resolves it
        // (degraded counts as healthy), so it is open iff the newest 2+ results are all down.
        let down_streak = results
            .iter()
            .take_while(|r| r.status == wsprobe::probe::Status::Down)
            .count();
        assert_eq!(
            export.value("wsprobe.incidents.open", &[("environment", env)]),
            Some(if down_streak >= 2 { 1.0 } else { 0.0 }),
            "{env}: wsprobe.incidents.open follows the incident rules"
        );

        // probe.duration: per phase, as many observations as runs that reached it, summing
        // to the stored milliseconds in seconds.
        let histogram = export.histogram("wsprobe.probe.duration");
        for phase in [
            "token", "health", "dns", "connect", "tls", "upgrade", "ready", "exchange", "close",
            "total",
        ] {
            let values: Vec<f64> = results
                .iter()
                .filter_map(|r| {
                    r.phases_ms
                        .named()
                        .into_iter()
                        .find(|(name, _)| *name == phase)
                        .and_then(|(_, ms)| ms)
                })
                .collect();
            let point = histogram
                .iter()
                .find(|(a, _)| a["environment"] == *env && a["phase"] == phase);
            match point {
                None => assert!(
                    values.is_empty(),
                    "{env}/{phase}: {} runs but no histogram",
                    values.len()
                ),
                Some((_, p)) => {
                    assert_eq!(p.count as usize, values.len(), "{env}/{phase}: count");
                    let sum: f64 = values.iter().sum::<f64>() / 1000.0;
                    let got = p.sum.unwrap();
                    assert!(
                        (got - sum).abs() < 1e-3,
                        "{env}/{phase}: sum {got} s, stored {sum} s"
                    );
                    assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
                }
            }
        }
    }
}

fn telemetry_block(receiver: &MetricsReceiver, protocol: &str) -> String {
    format!(
        "location: test-loc\ntelemetry: {{ otlp: {{ endpoint: \"http://{}\", protocol: {protocol}, interval: 1s }} }}\n",
        receiver.addr
    )
}

const WELCOME: &str = "steps: [ { expect: { within: 5s, json: { /type: system_message } } } ]";

fn ok_and_failing_envs() -> String {
    format!(
        r#"
  - name: healthy
    url: ws://${{LAB}}/ws/healthy
    health: {{ url: "http://${{LAB}}/health" }}
    {WELCOME}
  - name: internal-error
    url: ws://${{LAB}}/ws/internal-error
    health: {{ url: "http://${{LAB}}/health" }}
    {WELCOME}
"#
    )
}

async fn stop(app: &mut App) {
    app.shutdown().await.expect("the daemon stops cleanly");
}

// ---------------------------------------------------------------------------------------------
// In-process daemon

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_over_http_agree_with_the_stored_results() {
    let receiver = MetricsReceiver::http().await;
    // A TLS terminator (its own lab behind it) for the certificate gauge.
    let tls_lab = spawn_lab().await;
    let front = tls_front(tls_lab.addr(), time::Duration::days(90)).await;
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_path = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_path, &front.ca_pem).unwrap();
    let envs = format!(
        r#"{}
  - name: slow
    url: ws://${{LAB}}/ws/slow-welcome
    schedule: "* * * * * *"
    slo: {{ objective: 99.9% }}
    {WELCOME}
  - name: secure
    url: wss://localhost:{}/ws/healthy
    tls: {{ ca_file: {} }}
    {WELCOME}
"#,
        ok_and_failing_envs(),
        front.addr.port(),
        ca_path.display()
    );
    let mut app = spawn_app(&envs, &telemetry_block(&receiver, "http/protobuf")).await;
    let all = ["healthy", "internal-error", "slow", "secure"];

    // Until every environment has run twice and the slow one has skipped a slot.
    receiver
        .wait_for("two runs of every environment and a skipped slot", 0, |e| {
            all.iter().all(|env| {
                e.points("wsprobe.probe.runs")
                    .iter()
                    .filter(|(a, _)| a["environment"] == *env)
                    .map(|(_, v)| v)
                    .sum::<f64>()
                    >= 2.0
            }) && e.value("wsprobe.schedule.skipped", &[("environment", "slow")]) >= Some(1.0)
                && e.value("wsprobe.slo.budget_remaining", &[("environment", "slow")])
                    .is_some()
        })
        .await;
    let before_shutdown = receiver.count();
    stop(&mut app).await;
    assert!(
        receiver.count() > before_shutdown,
        "shutdown flushes the metrics"
    );
    let export = receiver.latest().unwrap();

    let (store, runs) = stored_runs(&app.db_path, &all).await;
    assert_resource(&export, "wsprobe", store.instance_id());
    assert_shapes(&export, Some("test-loc"));
    assert_values_match(&export, &runs);
    // Every instrument but notifications (nothing notified yet) is there.
    for spec in INSTRUMENTS {
        if spec.name != "wsprobe.notifications" {
            assert!(export.metric(spec.name).is_some(), "{} missing", spec.name);
        }
    }

    // What the environments did, as the issue describes them.
    assert_eq!(
        export.value("wsprobe.probe.up", &[("environment", "healthy")]),
        Some(1.0)
    );
    assert_eq!(
        export.value("wsprobe.probe.up", &[("environment", "internal-error")]),
        Some(0.0)
    );
    assert_eq!(
        export.value("wsprobe.probe.up", &[("environment", "slow")]),
        Some(1.0),
        "degraded serves"
    );
    // Degraded serves, so the SLO's budget is whole; only the environment with `slo` reports.
    assert_eq!(
        export.value("wsprobe.slo.budget_remaining", &[("environment", "slow")]),
        Some(1.0)
    );
    assert_eq!(
        export.environments("wsprobe.slo.budget_remaining"),
        ["slow"]
    );
    assert!(
        export
            .points("wsprobe.probe.runs")
            .iter()
            .any(|(a, _)| a["environment"] == "internal-error"
                && a["verdict"] == "closed_before_ready"
                && a["close_code"] == "1011"
                && a["status"] == "down")
    );
    assert!(
        export
            .points("wsprobe.probe.runs")
            .iter()
            .any(|(a, _)| a["environment"] == "slow"
                && a["verdict"] == "slow"
                && a["status"] == "degraded")
    );
    assert!(
        export
            .points("wsprobe.probe.runs")
            .iter()
            .any(|(a, _)| a["environment"] == "healthy" && a["close_code"] == "none"),
        "a client-initiated close has no server close code"
    );
    let not_after = export
        .value("wsprobe.tls.cert.not_after", &[("environment", "secure")])
        .unwrap();
    let days = (not_after - chrono::Utc::now().timestamp() as f64) / 86_400.0;
    assert!((89.0..=90.1).contains(&days), "{days} days left");
    assert_eq!(
        export.value("wsprobe.health.up", &[("environment", "internal-error")]),
        Some(1.0)
    );
    assert_eq!(
        export.value("wsprobe.health.up", &[("environment", "slow")]),
        None,
        "no health check"
    );

    // Skipped slots: the store's count of them.
    let summaries = store.runs().summaries(chrono::Utc::now()).await.unwrap();
    assert_eq!(
        export.value("wsprobe.schedule.skipped", &[("environment", "slow")]),
        Some(summaries["slow"].skipped_24h as f64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_over_grpc_agree_with_the_stored_results() {
    let receiver = MetricsReceiver::grpc().await;
    let mut app = spawn_app(&ok_and_failing_envs(), &telemetry_block(&receiver, "grpc")).await;
    let all = ["healthy", "internal-error"];
    receiver
        .wait_for("a run of every environment", 0, |e| {
            e.environments("wsprobe.probe.up") == all
        })
        .await;
    stop(&mut app).await;
    let export = receiver.latest().unwrap();
    let (store, runs) = stored_runs(&app.db_path, &all).await;
    assert_resource(&export, "wsprobe", store.instance_id());
    assert_shapes(&export, Some("test-loc"));
    assert_values_match(&export, &runs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_removed_on_reload_stop_being_reported() {
    let receiver = MetricsReceiver::http().await;
    let telemetry = telemetry_block(&receiver, "http/protobuf");
    let mut app = spawn_app(&ok_and_failing_envs(), &telemetry).await;
    receiver
        .wait_for("both environments", 0, |e| {
            e.environments("wsprobe.probe.up") == ["healthy", "internal-error"]
        })
        .await;
    let only_healthy =
        format!("\n  - name: healthy\n    url: ws://${{LAB}}/ws/healthy\n    {WELCOME}\n");
    write_config(&app.config_path, &app.lab, &only_healthy, &telemetry);
    let seen = receiver.count();
    let export = receiver
        .wait_for("an export without internal-error", seen, |e| {
            e.environments("wsprobe.probe.up") == ["healthy"]
        })
        .await;
    for name in [
        "wsprobe.probe.up",
        "wsprobe.probe.runs",
        "wsprobe.incidents.open",
        "wsprobe.schedule.skipped",
        "wsprobe.health.up",
    ] {
        assert!(
            !export
                .environments(name)
                .contains(&"internal-error".to_owned()),
            "{name} still reports a removed environment"
        );
    }
    // Counters of the environment that stayed go on from where they were.
    assert!(
        export
            .points("wsprobe.probe.runs")
            .iter()
            .any(|(a, v)| a["environment"] == "healthy" && *v >= 1.0)
    );
    stop(&mut app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_open_incidents_are_recorded_through_the_api() {
    let receiver = MetricsReceiver::http().await;
    let lab: TestLab = spawn_lab().await;
    let yaml = format!(
        "environments:\n  - name: a\n    url: ws://${{LAB}}/ws/healthy\n  - name: b\n    url: ws://${{LAB}}/ws/healthy\n{}",
        telemetry_block(&receiver, "http/protobuf")
    );
    let config = crate::helpers::config(&yaml, &lab, &[]);
    let metrics = Metrics::start(&config, "instance-under-test", &|_| None).await;
    assert!(metrics.is_exporting());
    metrics.set_incidents_open("a", 2);
    metrics.set_incidents_open("not-configured", 5);
    metrics.record_notification("oncall", "pagerduty", "delivered");
    metrics.record_notification("oncall", "pagerduty", "delivered");
    metrics.record_notification("team-slack", "slack", "retried");
    metrics.record_notification("team-slack", "slack", "failed");
    metrics.record_skipped("b");
    metrics.shutdown().await;
    metrics.shutdown().await; // a second call does nothing

    let export = receiver.latest().expect("shutdown exported");
    assert_resource(&export, "wsprobe", "instance-under-test");
    assert_shapes(&export, Some("test-loc"));
    assert_eq!(
        export.value("wsprobe.incidents.open", &[("environment", "a")]),
        Some(2.0)
    );
    assert_eq!(
        export.value("wsprobe.incidents.open", &[("environment", "b")]),
        Some(0.0)
    );
    assert_eq!(export.environments("wsprobe.incidents.open"), ["a", "b"]);
    let notifications = |channel: &str, outcome: &str| {
        export.value(
            "wsprobe.notifications",
            &[("channel", channel), ("outcome", outcome)],
        )
    };
    assert_eq!(notifications("oncall", "delivered"), Some(2.0));
    assert_eq!(notifications("team-slack", "retried"), Some(1.0));
    assert_eq!(notifications("team-slack", "failed"), Some(1.0));
    assert_eq!(
        export
            .value("wsprobe.notifications", &[("channel", "oncall")])
            .map(|_| ()),
        Some(())
    );
    assert_eq!(
        export.value("wsprobe.schedule.skipped", &[("environment", "b")]),
        Some(1.0)
    );
    assert_eq!(
        export.value("wsprobe.schedule.skipped", &[("environment", "a")]),
        Some(0.0)
    );

    // A disabled one accepts every call and does nothing.
    let off = Metrics::disabled();
    off.record_notification("x", "log", "delivered");
    off.set_incidents_open("a", 1);
    off.shutdown().await;
    assert!(!off.is_exporting());
}

/// A config for a child daemon: the lab's healthy and internal-error every second.
fn child_config(dir: &Path, lab: &TestLab) -> std::path::PathBuf {
    let path = dir.join("probes.yaml");
    let text = format!(
        "defaults:\n  schedule: \"* * * * * *\"\n  timeout: 5s\nenvironments:\n{}\nstorage: {{ path: {} }}\nserver: {{ listen: \"127.0.0.1:0\" }}\n",
        ok_and_failing_envs().replace("${LAB}", &lab.addr().to_string()),
        dir.join("wsprobe.db").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_put_the_message_and_fields_at_the_top_level() {
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let config = child_config(dir.path(), &lab);
    let daemon = Daemon::spawn_with(&config, &["--log-format", "json"], &[]);
    daemon.wait_for_line("metrics export off").await;
    let line = daemon.lines("metrics export off").remove(0);
    let event: serde_json::Value = serde_json::from_str(&line).expect("one JSON object a line");
    assert!(
        event["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("metrics export off")),
        "{line}"
    );
    assert_eq!(event["level"], "INFO", "{line}");
    assert!(event.get("fields").is_none(), "not nested: {line}");
    assert!(
        event["timestamp"].is_string() && event["target"].is_string(),
        "{line}"
    );
    // An event with fields of its own has them beside the message.
    daemon.wait_for_line("wsprobe daemon started").await;
    let started = daemon.lines("wsprobe daemon started").remove(0);
    let started: serde_json::Value = serde_json::from_str(&started).unwrap();
    assert_eq!(
        started["environments"], "healthy,internal-error",
        "{started}"
    );
    assert!(started["listen"].is_string(), "{started}");
    // The address a person opens, said at start.
    let page = started["status_page"].as_str().unwrap();
    assert_eq!(
        page.trim_start_matches("http://").trim_end_matches('/'),
        started["listen"].as_str().unwrap(),
        "{started}"
    );
    let (status, _) = daemon.terminate(Duration::from_secs(30)).await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_variables_configure_export_from_the_binary() {
    let receiver = MetricsReceiver::http().await;
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let config = child_config(dir.path(), &lab);
    let endpoint = format!("http://{}", receiver.addr);
    let daemon = Daemon::spawn(
        &config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret-key"),
            ("OTEL_SERVICE_NAME", "probe-eu"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=test,service.instance.id=from-env",
            ),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ],
    );
    let export = receiver
        .wait_for("an export with runs of both environments", 0, |e| {
            e.environments("wsprobe.probe.runs") == ["healthy", "internal-error"]
        })
        .await;
    assert!(export.gzip, "OTEL_EXPORTER_OTLP_COMPRESSION=gzip");
    assert_eq!(
        export.headers.get("x-api-key").map(String::as_str),
        Some("s3cret-key")
    );
    assert_eq!(
        export
            .resource
            .get("deployment.environment")
            .map(String::as_str),
        Some("test")
    );
    assert_shapes(&export, None);

    let seen = receiver.count();
    let (status, daemon) = daemon.terminate(PATIENCE).await;
    assert!(status.success(), "{status}:\n{}", daemon.all_stderr());
    assert!(receiver.count() > seen, "SIGTERM flushes the metrics");
    assert_eq!(
        daemon.lines("metrics export on").len(),
        1,
        "{}",
        daemon.all_stderr()
    );
    assert_eq!(
        daemon.lines("metrics flushed").len(),
        1,
        "{}",
        daemon.all_stderr()
    );
    assert!(
        !daemon.all_stderr().contains("s3cret"),
        "a header value was logged"
    );

    // wsprobe's own instance id, kept in the store, wins over the variable.
    let store = Store::open(&dir.path().join("wsprobe.db")).await.unwrap();
    assert_resource(&receiver.latest().unwrap(), "probe-eu", store.instance_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_slows_nothing_grows_nothing_and_logs_once() {
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let config = child_config(dir.path(), &lab);
    // A port nobody listens on: every export is refused.
    let closed = crate::helpers::free_port();
    let endpoint = format!("http://{closed}");
    let interval_ms = 250u64;
    let daemon = Daemon::spawn(
        &config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", &interval_ms.to_string()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            // Each probe is a debug line (info only logs changes of verdict).
            ("RUST_LOG", "info,wsprobe::daemon=debug"),
        ],
    );
    daemon.wait_for_line("metrics export on").await;
    let probes = |d: &Daemon| d.lines("environment=healthy").len();

    // Export cycles take at least an interval each (more with the exporter's retries).
    tokio::time::sleep(Duration::from_millis(3 * interval_ms)).await;
    let (rss_early, probes_early) = (daemon.rss_kib(), probes(&daemon));
    tokio::time::sleep(Duration::from_millis(12 * interval_ms)).await;
    let (rss_late, probes_late) = (daemon.rss_kib(), probes(&daemon));
    tokio::time::sleep(Duration::from_millis(4 * interval_ms)).await;

    // Probing went on at its pace (one a second) while every export failed.
    assert!(
        probes_late >= probes_early + 2,
        "probes {probes_early} -> {probes_late}:\n{}",
        daemon.all_stderr()
    );
    let growth = rss_late.saturating_sub(rss_early);
    assert!(
        growth < 20 * 1024,
        "RSS grew {growth} KiB ({rss_early} -> {rss_late})"
    );

    // One line for the outage, not one per export; no SDK chatter.
    let failures = daemon.lines("metrics export to");
    assert_eq!(failures.len(), 1, "{}", daemon.all_stderr());
    assert!(failures[0].contains("failed"), "{}", failures[0]);
    assert!(
        !daemon.all_stderr().to_lowercase().contains("opentelemetry"),
        "{}",
        daemon.all_stderr()
    );

    // Shutdown does not wait on the dead collector beyond the exporter's timeout.
    let started = Instant::now();
    let (status, daemon) = daemon.terminate(PATIENCE).await;
    assert!(status.success(), "{status}:\n{}", daemon.all_stderr());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        daemon.lines("metrics not flushed").len(),
        1,
        "{}",
        daemon.all_stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_is_off_when_disabled_or_unconfigured_and_check_never_exports() {
    let receiver = MetricsReceiver::http().await;
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let config = child_config(dir.path(), &lab);
    let endpoint = format!("http://{}", receiver.addr);

    let disabled = Daemon::spawn(
        &config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
            ("OTEL_SDK_DISABLED", "true"),
        ],
    );
    disabled.wait_for_line("environment=internal-error").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, disabled) = disabled.terminate(PATIENCE).await;
    assert!(status.success());
    let off = disabled.lines("metrics export off");
    assert_eq!(off.len(), 1, "{}", disabled.all_stderr());
    assert!(off[0].contains("OTEL_SDK_DISABLED"), "{}", off[0]);

    // Neither a telemetry block nor a variable: off, said once.
    let unconfigured = Daemon::spawn(&config, &[]);
    unconfigured.wait_for_line("wsprobe daemon started").await;
    let (_, unconfigured) = unconfigured.terminate(PATIENCE).await;
    let off = unconfigured.lines("metrics export off");
    assert_eq!(off.len(), 1, "{}", unconfigured.all_stderr());
    assert!(off[0].contains("no telemetry.otlp"), "{}", off[0]);

    // `check` probes once and exits: it never exports, even with an endpoint set.
    let out = tokio::task::spawn_blocking({
        let config = config.clone();
        let endpoint = endpoint.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_wsprobe"))
                .args(["check", "--config"])
                .arg(&config)
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
                .env("OTEL_METRIC_EXPORT_INTERVAL", "10")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "internal-error is down");
    assert_eq!(receiver.count(), 0, "nothing was exported");
}
