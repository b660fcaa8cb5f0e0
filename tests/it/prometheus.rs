//! `GET /metrics` read by the real thing: Debian's Prometheus scrapes the daemon, `promtool`
//! lints the text and the shipped alerting rules, and the dashboard's bar panels, evaluated by
//! that Prometheus, add up to the counters' real increase.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::otlp_metrics::MetricsReceiver;
use crate::helpers::series::exported_series;
use crate::helpers::{App, spawn_app};

const PATIENCE: Duration = Duration::from_secs(60);

/// `prometheus` and `promtool`, or `None` (and a word) on a machine without them; CI must
/// have them (.ci/run installs Debian's `prometheus`).
fn tools() -> Option<(PathBuf, PathBuf)> {
    let find = |name: &str| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            .then(|| PathBuf::from(name))
    };
    match (find("prometheus"), find("promtool")) {
        (Some(server), Some(tool)) => Some((server, tool)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have prometheus and promtool (.ci/run installs them)"
            );
            eprintln!("skipped: no prometheus/promtool on this machine (apt install prometheus)");
            None
        }
    }
}

/// A Prometheus of our own on a loopback port, scraping `target`'s `/metrics` every second.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(binary: &Path, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
                 scrape_configs:\n  - job_name: wsprobe\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let listen = crate::helpers::free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus {
            child,
            base: format!("http://{listen}"),
            _dir: dir,
        };
        let started = Instant::now();
        while !reqwest::get(format!("{}/-/ready", prometheus.base))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                started.elapsed() < PATIENCE,
                "prometheus never became ready"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        prometheus
    }

    async fn api(&self, path: &str, params: &[(&str, String)]) -> Value {
        let url = url::Url::parse_with_params(
            &format!("{}{path}", self.base),
            params.iter().map(|(k, v)| (*k, v.as_str())),
        )
        .unwrap();
        let response = reqwest::get(url).await.unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "success", "{path} {params:?}: {body}");
        body["data"].clone()
    }

    /// An instant query: each series' labels and value.
    async fn query(&self, query: &str, at: Option<f64>) -> Vec<(Value, f64)> {
        let mut params = vec![("query", query.to_owned())];
        if let Some(at) = at {
            params.push(("time", format!("{at:.3}")));
        }
        let data = self.api("/api/v1/query", &params).await;
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|series| (series["metric"].clone(), number(&series["value"][1])))
            .collect()
    }

    /// The sum of every point of every series of a range query.
    async fn range_sum(&self, query: &str, start: f64, end: f64, step: Duration) -> f64 {
        let data = self
            .api(
                "/api/v1/query_range",
                &[
                    ("query", query.to_owned()),
                    ("start", format!("{start:.3}")),
                    ("end", format!("{end:.3}")),
                    ("step", format!("{}s", step.as_secs())),
                ],
            )
            .await;
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|series| series["values"].as_array().unwrap().iter())
            .map(|point| number(&point[1]))
            .sum()
    }

    /// Wait until `query` returns at least one series.
    async fn wait_for_series(&self, query: &str) {
        let started = Instant::now();
        while self.query(query, None).await.is_empty() {
            assert!(started.elapsed() < PATIENCE, "prometheus never had {query}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn number(value: &Value) -> f64 {
    value.as_str().unwrap().parse().unwrap()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn probe_now(app: &App, environment: &str) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/environments/{environment}/probe",
            app.base
        ))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn stored_runs(app: &App, environment: &str) -> usize {
    let runs = app
        .get_json(&format!(
            "/api/v1/environments/{environment}/runs?limit=1000"
        ))
        .await;
    runs["runs"].as_array().unwrap().len()
}

fn by_environment(series: &[(Value, f64)]) -> BTreeMap<String, f64> {
    series
        .iter()
        .map(|(labels, value)| (labels["environment"].as_str().unwrap().to_owned(), *value))
        .collect()
}

/// Environments probed only when asked (the schedule fires once a year), so the counts can be
/// compared exactly with what the store holds.
const ON_DEMAND: &str = r#"
  - name: healthy
    url: ws://${LAB}/ws/healthy
    schedule: "0 0 1 1 *"
    health: { url: "http://${LAB}/health" }
    steps: [ { expect: { within: 5s, json: { /type: system_message } } } ]
  - name: internal-error
    url: ws://${LAB}/ws/internal-error
    schedule: "0 0 1 1 *"
    steps: [ { expect: { within: 5s, json: { /type: system_message } } } ]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_same_numbers_the_store_and_the_otlp_export_hold() {
    let Some((server, promtool)) = tools() else {
        return;
    };
    let receiver = MetricsReceiver::http().await;
    let telemetry = format!(
        "location: test-loc\ntelemetry: {{ otlp: {{ endpoint: \"http://{}\", interval: 1s }} }}\n",
        receiver.addr
    );
    let mut app = spawn_app(ON_DEMAND, &telemetry).await;
    for _ in 0..3 {
        probe_now(&app, "healthy").await;
    }
    for _ in 0..2 {
        probe_now(&app, "internal-error").await;
    }
    let stored = BTreeMap::from([
        (
            "healthy".to_owned(),
            stored_runs(&app, "healthy").await as f64,
        ),
        (
            "internal-error".to_owned(),
            stored_runs(&app, "internal-error").await as f64,
        ),
    ]);
    assert!(stored["healthy"] >= 3.0 && stored["internal-error"] >= 2.0);

    // The text itself: the exposition format's content type, and promtool's lint is clean.
    let response = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let mut lint = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    lint.stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let prometheus = Prometheus::start(&server, app.base.trim_start_matches("http://")).await;
    prometheus.wait_for_series("wsprobe_probe_runs_total").await;

    // Names: every wsprobe series Prometheus holds is one the dashboards test derives from the
    // SPEC's instruments; every instrument with data is there.
    let names = prometheus.api("/api/v1/label/__name__/values", &[]).await;
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| n.starts_with("wsprobe_"))
        .collect();
    let expected = exported_series();
    for name in &names {
        assert!(expected.contains_key(*name), "{name} is not a SPEC name");
    }
    for name in [
        "wsprobe_probe_up",
        "wsprobe_probe_runs_total",
        "wsprobe_probe_duration_seconds_bucket",
        "wsprobe_probe_duration_seconds_count",
        "wsprobe_health_up",
        "wsprobe_incidents_open",
        "wsprobe_schedule_skipped_total",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    // Values: what was probed, as the store has it.
    let runs = by_environment(
        &prometheus
            .query("sum by (environment) (wsprobe_probe_runs_total)", None)
            .await,
    );
    assert_eq!(runs, stored, "runs per environment");
    let totals = by_environment(
        &prometheus
            .query(
                "sum by (environment) (wsprobe_probe_duration_seconds_count{phase=\"total\"})",
                None,
            )
            .await,
    );
    assert_eq!(totals, stored, "one total-phase observation per run");
    let up = by_environment(&prometheus.query("wsprobe_probe_up", None).await);
    assert_eq!(up["healthy"], 1.0);
    assert_eq!(up["internal-error"], 0.0);
    let closed = prometheus
        .query(
            "wsprobe_probe_runs_total{verdict=\"closed_before_ready\", close_code=\"1011\", status=\"down\", location=\"test-loc\"}",
            None,
        )
        .await;
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].1, stored["internal-error"]);
    let target_info = prometheus.query("target_info", None).await;
    assert_eq!(target_info.len(), 1, "{target_info:?}");
    assert_eq!(target_info[0].0["service_name"], "wsprobe");

    // The OTLP export says the same: one set of instruments behind both.
    let export = receiver
        .wait_for("an export with every run", 0, |e| {
            ["healthy", "internal-error"].iter().all(|env| {
                e.points("wsprobe.probe.runs")
                    .iter()
                    .filter(|(a, _)| a["environment"] == *env)
                    .map(|(_, v)| v)
                    .sum::<f64>()
                    == stored[*env]
            })
        })
        .await;
    assert_eq!(
        export.value("wsprobe.probe.up", &[("environment", "internal-error")]),
        Some(0.0)
    );
    drop(prometheus);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_bar_panels_add_up_to_the_counters_real_increase() {
    let Some((server, _)) = tools() else {
        return;
    };
    let envs = r#"
  - name: healthy
    url: ws://${LAB}/ws/healthy
    schedule: "* * * * * *"
  - name: internal-error
    url: ws://${LAB}/ws/internal-error
    schedule: "* * * * * *"
    steps: [ { expect: { within: 5s, json: { /type: system_message } } } ]
"#;
    let mut app = spawn_app(envs, "").await;
    let prometheus = Prometheus::start(&server, app.base.trim_start_matches("http://")).await;
    prometheus.wait_for_series("wsprobe_probe_runs_total").await;
    // A window well inside what was scraped, then time for its last scrapes to land.
    let start = now().floor() + 2.0;
    let end = start + 30.0;
    while now() < end + 3.0 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/wsprobe.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // Grafana's step for a 30 s range on a narrow panel, and its $__rate_interval for a 1 s
    // scrape (max(step + scrape, 4 × scrape)).
    let step = Duration::from_secs(2);
    let rate_interval = "4s";
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["fieldConfig"]["defaults"]["custom"]["drawStyle"] != "bars" {
            continue;
        }
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$environment", ".*")
                .replace("$location", ".*");
            assert!(
                expr.contains("[$__interval]"),
                "{}: a bar counts its own step, not an overlapping window: {expr}",
                panel["title"]
            );
            let inner = expr
                .split("increase(")
                .nth(1)
                .and_then(|rest| rest.split("[$__interval]").next())
                .expect("a bar panel shows an increase");
            let real = prometheus.query(&format!("sum({inner})"), Some(end)).await;
            let before = prometheus
                .query(&format!("sum({inner})"), Some(start))
                .await;
            let real = match (real.first(), before.first()) {
                (Some((_, after)), Some((_, before))) => after - before,
                _ => 0.0,
            };
            if real < 5.0 {
                // Nothing (or too little) happened on this panel in the window.
                continue;
            }
            let bars = prometheus
                .range_sum(
                    &expr.replace("$__interval", &format!("{}s", step.as_secs())),
                    start + step.as_secs_f64(),
                    end,
                    step,
                )
                .await;
            let overlapping = prometheus
                .range_sum(
                    &expr.replace("$__interval", rate_interval),
                    start + step.as_secs_f64(),
                    end,
                    step,
                )
                .await;
            eprintln!(
                "{}: bars sum to {bars:.1}, the counter rose by {real}; with $__rate_interval they would sum to {overlapping:.1}",
                panel["title"]
            );
            assert!(
                (bars - real).abs() <= real * 0.25,
                "{}: bars sum to {bars:.1}, the counter rose by {real}",
                panel["title"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "verdicts and close codes had data");
    drop(prometheus);
    app.shutdown().await.unwrap();
}

#[test]
fn the_shipped_alerting_rules_pass_promtool() {
    let Some((_, promtool)) = tools() else {
        return;
    };
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus-rules.yml");
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every metric the rules read is one wsprobe exports.
    let text = std::fs::read_to_string(&rules).unwrap();
    let expected = exported_series();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("wsprobe_") {
            assert!(expected.contains_key(word), "{word} is not exported");
        }
    }
}
