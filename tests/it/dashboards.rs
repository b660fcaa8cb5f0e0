//! The Grafana dashboards query only what wsprobe exports, under the names a Prometheus-compatible
//! backend gives OTLP metrics (dots to underscores, unit suffixes, `_total` on monotonic
//! counters, `_bucket`/`_sum`/`_count` on histograms), and docs/metrics.md lists those names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use wsprobe::telemetry::metrics::INSTRUMENTS;

use crate::helpers::series::{exported_series, prometheus_base};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn prometheus_names_follow_the_otlp_translation_rules() {
    let expected = [
        ("wsprobe.probe.duration", "wsprobe_probe_duration_seconds"),
        ("wsprobe.probe.up", "wsprobe_probe_up"),
        ("wsprobe.probe.runs", "wsprobe_probe_runs"),
        ("wsprobe.health.up", "wsprobe_health_up"),
        (
            "wsprobe.tls.cert.not_after",
            "wsprobe_tls_cert_not_after_seconds",
        ),
        ("wsprobe.incidents.open", "wsprobe_incidents_open"),
        ("wsprobe.notifications", "wsprobe_notifications"),
        ("wsprobe.schedule.skipped", "wsprobe_schedule_skipped"),
        (
            "wsprobe.slo.budget_remaining",
            "wsprobe_slo_budget_remaining_ratio",
        ),
        ("wsprobe.store.runs_dropped", "wsprobe_store_runs_dropped"),
    ];
    let got: Vec<(&str, String)> = INSTRUMENTS
        .iter()
        .map(|spec| (spec.name, prometheus_base(spec)))
        .collect();
    let expected: Vec<(&str, String)> = expected.iter().map(|(n, p)| (*n, p.to_string())).collect();
    assert_eq!(got, expected);
    let exported = exported_series();
    let series: Vec<&str> = exported.keys().map(String::as_str).collect();
    for name in [
        "wsprobe_probe_duration_seconds_bucket",
        "wsprobe_probe_runs_total",
        "wsprobe_probe_up",
        "wsprobe_tls_cert_not_after_seconds",
        "wsprobe_notifications_total",
        "wsprobe_schedule_skipped_total",
        "wsprobe_incidents_open",
        "wsprobe_health_up",
        "wsprobe_slo_budget_remaining_ratio",
        "wsprobe_store_runs_dropped_total",
    ] {
        assert!(series.contains(&name), "{name} not in {series:?}");
    }
}

/// Every PromQL string in a dashboard: panel targets and template variable queries.
fn queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "definition", Value::String(q)) => out.push(q.clone()),
                    ("query", Value::String(q)) => out.push(q.clone()),
                    _ => queries(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

/// Identifiers starting with `wsprobe_`: the metric names a query selects.
fn metric_names(query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts_word && query[i..].starts_with("wsprobe_") {
            let end = query[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(query.len(), |n| i + n);
            names.push(query[i..end].to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

/// Label names a query matches on (`name=~"…"`) or groups by (`by (a, b)`).
fn label_names(query: &str) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    for (i, _) in query.match_indices("by (") {
        let rest = &query[i + 4..];
        let inner = &rest[..rest.find(')').expect("a closed by()")];
        labels.extend(inner.split(',').map(|l| l.trim().to_owned()));
    }
    for op in ["=~\"", "!~\"", "!=\"", "=\""] {
        for (i, _) in query.match_indices(op) {
            let before = &query[..i];
            let start = before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |n| n + 1);
            let label = &before[start..];
            if !label.is_empty() {
                labels.insert(label.to_owned());
            }
        }
    }
    labels
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(repo("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            found.push((path, json));
        }
    }
    assert!(!found.is_empty(), "no dashboard in dashboards/");
    found
}

#[test]
fn every_metric_the_dashboard_queries_is_one_wsprobe_exports() {
    let series = exported_series();
    let mut allowed_labels: BTreeSet<String> = INSTRUMENTS
        .iter()
        .flat_map(|spec| spec.attributes.iter().map(|a| a.to_string()))
        .collect();
    allowed_labels.extend(["location".to_owned(), "le".to_owned()]);

    for (path, dashboard) in dashboards() {
        let mut all = Vec::new();
        queries(&dashboard, &mut all);
        assert!(!all.is_empty(), "{}: no queries", path.display());
        let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for query in &all {
            let names = metric_names(query);
            // A Grafana variable query like `prometheus` (the data source type) has none.
            if names.is_empty() {
                continue;
            }
            for name in names {
                let spec = series.get(&name).unwrap_or_else(|| {
                    panic!(
                        "{}: `{name}` (in `{query}`) is not a metric wsprobe exports; it exports {:?}",
                        path.display(),
                        series.keys().collect::<Vec<_>>()
                    )
                });
                used.entry(spec.name).or_default().insert(name);
            }
            for label in label_names(query) {
                assert!(
                    allowed_labels.contains(&label),
                    "{}: label `{label}` (in `{query}`) is not an attribute wsprobe sets",
                    path.display()
                );
            }
        }
        // What the issue asks the dashboard to show.
        for needed in [
            "wsprobe.probe.up",
            "wsprobe.probe.runs",
            "wsprobe.probe.duration",
            "wsprobe.incidents.open",
            "wsprobe.notifications",
        ] {
            assert!(
                used.contains_key(needed),
                "{}: nothing shows {needed}",
                path.display()
            );
        }
        // p50 and p95 of the phase histogram.
        for quantile in ["histogram_quantile(0.5,", "histogram_quantile(0.95,"] {
            assert!(
                all.iter().any(|q| q.contains(quantile)
                    && q.contains("wsprobe_probe_duration_seconds_bucket")
                    && q.contains("phase")),
                "{}: no {quantile} over phases",
                path.display()
            );
        }
        // Variables for environment and location, used by the panels.
        let variables: Vec<&str> = dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        for variable in ["environment", "location"] {
            assert!(
                variables.contains(&variable),
                "{}: no ${variable}",
                path.display()
            );
            assert!(
                all.iter().any(|q| q.contains(&format!("${variable}"))),
                "{}: ${variable} filters nothing",
                path.display()
            );
        }
    }
}

#[test]
fn the_metrics_page_lists_every_exported_metric_and_its_prometheus_name() {
    let readme = std::fs::read_to_string(repo("docs/metrics.md")).unwrap();
    for spec in &INSTRUMENTS {
        assert!(
            readme.contains(&format!("`{}`", spec.name)),
            "docs/metrics.md lacks {}",
            spec.name
        );
    }
    for name in exported_series().keys() {
        if name.ends_with("_sum") || name.ends_with("_count") {
            continue;
        }
        assert!(
            readme.contains(&format!("`{name}`")),
            "docs/metrics.md lacks {name}"
        );
    }
}

#[test]
fn metric_name_extraction() {
    assert_eq!(
        metric_names(
            r#"sum by (le) (rate(wsprobe_probe_duration_seconds_bucket{x="a"}[5m])) / xwsprobe_no"#
        ),
        ["wsprobe_probe_duration_seconds_bucket"]
    );
    assert_eq!(
        label_names(
            r#"sum by (environment, verdict) (wsprobe_probe_runs_total{close_code!="none", location=~"$location"})"#
        ),
        ["close_code", "environment", "location", "verdict"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}
