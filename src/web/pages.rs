//! The status page for on-call: server-rendered, no external assets, readable without
//! JavaScript, light and dark. maud escapes every interpolated string, which matters because
//! close reasons, messages and headers come from the servers being probed.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;

use super::error::ApiError;
use super::view::{EnvironmentStatus, RecentRun};
use super::{StatusSource, Web};
use crate::alert::ActiveWindow;
use crate::probe::ProbeResult;
use crate::store::{
    DeliveryState, FailedNotification, IncidentFilter, IncidentRecord, IncidentState,
};
use crate::text::duration_words;

const REFRESH_SECONDS: u32 = 30;
const RUNS_PER_PAGE: u32 = 25;
/// The newest incidents shown on an environment's page; the API has them all.
const INCIDENTS_SHOWN: u32 = 10;

const STYLE: &str = r#"
:root { color-scheme: light dark; --bg:#fff; --fg:#1b1f24; --muted:#5b6470; --line:#d8dde3;
  --up:#1a7f37; --degraded:#9a6700; --down:#cf222e; --unknown:#8c959f; --card:#f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --fg:#e6edf3; --muted:#9198a1;
  --line:#30363d; --up:#3fb950; --degraded:#d29922; --down:#f85149; --card:#161b22; } }
body { margin:0 auto; max-width:1200px; padding:1rem 1.25rem 3rem; background:var(--bg);
  color:var(--fg); font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif; }
a { color:inherit; } h1 { font-size:1.4rem; margin:.2rem 0 .8rem; } h2 { font-size:1.1rem; margin-top:1.6rem; }
.muted { color:var(--muted); } .mono, code, pre { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12.5px; }
table { border-collapse:collapse; width:100%; } th, td { text-align:left; padding:.45rem .5rem;
  border-bottom:1px solid var(--line); vertical-align:top; } th { font-weight:600; color:var(--muted); font-size:12px; }
.pill { display:inline-block; padding:0 .5rem; border-radius:1rem; color:#fff; font-weight:600; font-size:12px; }
.up { background:var(--up); } .degraded { background:var(--degraded); } .down { background:var(--down); } .unknown { background:var(--unknown); }
.bar { display:flex; gap:2px; } .bar span { width:6px; height:18px; border-radius:2px; }
.banner { background:var(--down); color:#fff; padding:.6rem .8rem; border-radius:6px; margin:.6rem 0; }
.summary { display:flex; gap:1.5rem; flex-wrap:wrap; background:var(--card); padding:.8rem 1rem; border-radius:8px; }
.summary div b { display:block; font-size:1.1rem; } details { margin:.2rem 0; }
pre { white-space:pre-wrap; word-break:break-all; background:var(--card); padding:.5rem; border-radius:6px; margin:.3rem 0; }
.diag { max-width:44rem; }
"#;

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

fn pill(status: &str) -> Markup {
    html! { span class={ "pill " (status) } { (status) } }
}

fn when(time: Option<DateTime<Utc>>) -> String {
    time.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

fn ms(value: Option<f64>) -> String {
    match value {
        Some(_) => crate::text::ms(value),
        None => "—".into(),
    }
}

fn percent(value: Option<f64>) -> String {
    value
        .map(|v| format!("{:.2}%", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

pub async fn index<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
) -> axum::response::Html<bytes::Bytes> {
    let body = web
        .rendered
        .get_or_render("index", web.source.generation(), async {
            bytes::Bytes::from(render_index(web.source.as_ref()).await.into_string())
        })
        .await;
    axum::response::Html(body)
}

async fn render_index(source: &impl StatusSource) -> Markup {
    let status = source.status().await;
    let bars: Vec<_> = status
        .environments
        .iter()
        .map(|env| source.recent(&env.name))
        .collect();
    let count = |s: &str| status.environments.iter().filter(|e| e.status == s).count();
    let title = match count("down") {
        0 => "wsprobe — all up".to_owned(),
        n => format!("wsprobe — {n} down"),
    };
    layout(
        &title,
        html! {
            h1 { "wsprobe" @if let Some(location) = &status.location { span class="muted" { " · " (location) } } }
            p class="muted" {
                (count("up")) " up · " (count("degraded")) " degraded · " (count("down")) " down · "
                (count("unknown")) " not probed yet · generated " (when(Some(status.generated_at)))
                " · refreshes every " (REFRESH_SECONDS) " s"
            }
            @if let Some(error) = &status.store.error {
                div class="banner" { "Store failing — results are not being kept: " (error) }
            }
            (failed_notifications(&status.notifications.failed_24h))
            table {
                thead { tr {
                    th { "Status" } th { "Environment" } th { "Verdict · diagnosis" } th { "Close" }
                    th { "Last run" } th { "Next run" } th { "Uptime 24h / 7d / 30d" } th { "p50 / p95" } th { "Recent" }
                } }
                tbody {
                    @for (env, bar) in status.environments.iter().zip(&bars) {
                        (environment_row(env, bar))
                    }
                }
            }
            p class="muted" { "JSON: " a href="/api/v1/status" { "/api/v1/status" } }
        },
    )
}

fn environment_row(env: &EnvironmentStatus, bar: &[RecentRun]) -> Markup {
    html! {
        tr {
            td { (pill(&env.status)) }
            td {
                a href={ "/environments/" (env.name) } { b { (env.name) } }
                @if let Some(id) = env.open_incident { br; span class="muted" { "incident #" (id) " open" } }
                @if let Some(window) = &env.maintenance { br; span class="muted" { "maintenance until " (when(Some(window.until))) } }
            }
            td class="diag" {
                @if let Some(verdict) = &env.verdict { code { (verdict) } br; }
                span class="muted" { (env.diagnosis.as_deref().unwrap_or("waiting for the first probe")) }
            }
            td class="mono" { (env.close_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into())) }
            td class="mono" { (when(env.last_run)) }
            td class="mono" { @if env.running { "running" } @else { (when(env.next_run)) } }
            td class="mono" { (percent(env.uptime.day)) " / " (percent(env.uptime.week)) " / " (percent(env.uptime.month)) }
            td class="mono" { (ms(env.latency_ms.p50)) " / " (ms(env.latency_ms.p95)) }
            td { (recent_bar(bar)) }
        }
    }
}

/// Oldest left, newest right, like every uptime bar on-call has seen before.
fn recent_bar(bar: &[RecentRun]) -> Markup {
    html! {
        div class="bar" {
            @for (at, status, verdict) in bar.iter().rev() {
                span class=(status.as_str()) title={ (when(Some(*at))) " " (verdict) } {}
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    before: Option<i64>,
}

pub async fn environment<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    Path(name): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Markup, ApiError> {
    let source = &web.source;
    let config = source.config();
    let env = config
        .environment(&name)
        .ok_or_else(|| ApiError::UnknownEnvironment(name.clone()))?;
    let status = source.status().await;
    let current = status.environments.iter().find(|e| e.name == name);
    let runs = source
        .store()
        .runs(&name, RUNS_PER_PAGE, query.before)
        .await
        .unwrap_or_default();
    let variables = config.secret_variables();
    let older = (runs.len() == RUNS_PER_PAGE as usize)
        .then(|| runs.last().map(|r| r.id))
        .flatten();
    let incidents = source
        .store()
        .incidents(&IncidentFilter {
            state: None,
            environment: Some(&name),
            limit: INCIDENTS_SHOWN,
        })
        .await
        .unwrap_or_default();
    Ok(layout(
        &format!("wsprobe — {name}"),
        html! {
            p { a href="/" { "← all environments" } }
            h1 { (name) " " @if let Some(c) = current { (pill(&c.status)) } }
            p class="mono muted" { (crate::config::redact_url(&env.url)) " · " (env.schedule.expression()) " · timeout " (humantime::format_duration(env.timeout)) }
            @if let Some(c) = current {
                div class="summary" {
                    div { "Verdict" b { (c.verdict.as_deref().unwrap_or("—")) } }
                    div { "Uptime 24h" b { (percent(c.uptime.day)) } }
                    div { "7d" b { (percent(c.uptime.week)) } }
                    div { "30d" b { (percent(c.uptime.month)) } }
                    div { "p50 / p95 (24h)" b { (ms(c.latency_ms.p50)) " / " (ms(c.latency_ms.p95)) } }
                    div { "Build" b { (c.last_result.as_ref().and_then(|r| r.version.as_deref()).unwrap_or("—")) } }
                    div { "Next run" b { (when(c.next_run)) } }
                    div { "Skipped slots" b { (c.skipped_slots) } }
                }
                @if let Some(d) = &c.diagnosis { p class="diag" { (d) } }
                @if let Some(window) = &c.maintenance { (maintenance_note(window)) }
            }
            h2 { "Incidents" }
            @if incidents.is_empty() { p class="muted" { "No incidents recorded." } }
            @for incident in &incidents { (incident_details(incident)) }
            h2 { "Runs" }
            @if runs.is_empty() { p class="muted" { "No stored runs yet." } }
            @for (index, run) in runs.iter().enumerate() {
                (run_details(&run.result, run.in_maintenance, index == 0, config.server.trace_url.as_ref(), &crate::probe::replay::command(env, &variables, run.result.verdict == crate::probe::Verdict::TokenFailed)))
            }
            @if let Some(before) = older { p { a href={ "?before=" (before) } { "older runs →" } } }
        },
    ))
}

/// Someone was not told: the status page says so, with the receiver's answer.
fn failed_notifications(failed: &[FailedNotification]) -> Markup {
    html! {
        @if !failed.is_empty() {
            div class="banner" {
                b { (failed.len()) " notification" @if failed.len() != 1 { "s" } " failed for good in the last 24 h" }
                @for f in failed {
                    br;
                    (when(Some(f.failed_at))) " · " (f.channel) " (" (f.kind) ") · " (f.event) " for "
                    a href={ "/environments/" (f.environment) } { (f.environment) } " incident #" (f.incident_id)
                    " · " (f.last_error.as_deref().unwrap_or("no error recorded"))
                }
            }
        }
    }
}

fn maintenance_note(window: &ActiveWindow) -> Markup {
    html! {
        p class="summary" {
            "In a maintenance window from " (when(Some(window.from))) " until " (when(Some(window.until)))
            @if let Some(schedule) = &window.schedule { " (" code { (schedule) } ")" }
            ": probes run and results are marked, notifications are held back."
        }
    }
}

fn outcome_class(outcome: DeliveryState) -> &'static str {
    match outcome {
        DeliveryState::Delivered => "up",
        DeliveryState::Pending => "degraded",
        DeliveryState::Failed => "down",
        DeliveryState::Held => "unknown",
    }
}

/// An incident and its timeline: opened, each notification with its outcome, resolved.
fn incident_details(incident: &IncidentRecord) -> Markup {
    let open = incident.state == IncidentState::Open;
    let lasted = incident
        .resolved_at
        .map(|at| duration_words((at - incident.started_at).num_seconds()));
    html! {
        details open[open] {
            summary {
                (pill(if open { "down" } else { "up" })) " "
                b { "#" (incident.id) } " " (incident.state.as_str()) " · "
                code { (incident.verdict.as_str()) } " · opened "
                span class="mono" { (when(Some(incident.opened_at))) }
                @if let Some(lasted) = &lasted { " · lasted " (lasted) }
            }
            p class="diag" { (incident.diagnosis) }
            table {
                tr { th { "When" } th { "What" } th { "Channel" } th { "Outcome" } th { "Attempts" } th { "Error" } }
                tr { td class="mono" { (when(Some(incident.started_at))) } td { "first failing result" } td {} td {} td {} td {} }
                tr { td class="mono" { (when(Some(incident.opened_at))) } td { "opened" } td {} td {} td {} td {} }
                @for n in &incident.notifications {
                    tr {
                        td class="mono" { (when(Some(n.created_at))) }
                        td { (n.event) }
                        td { (n.channel) span class="muted" { " " (n.kind) } }
                        td {
                            span class={ "pill " (outcome_class(n.outcome)) } { (n.outcome.as_str()) }
                            @if let Some(at) = n.sent_at { " " span class="mono muted" { (when(Some(at))) } }
                            @if let Some(at) = n.next_attempt_at { " " span class="muted" { "next try " (when(Some(at))) } }
                        }
                        td class="mono" { (n.attempts) }
                        td class="mono" { (n.last_error.as_deref().unwrap_or("")) }
                    }
                }
                @if let Some(at) = incident.resolved_at {
                    tr { td class="mono" { (when(Some(at))) } td { "resolved" } td {} td {} td {} td {} }
                }
            }
        }
    }
}

/// The newest run starts open: its evidence is what on-call came for.
fn run_details(
    result: &ProbeResult,
    in_maintenance: bool,
    open: bool,
    trace_url: Option<&crate::config::TraceUrl>,
    replay: &str,
) -> Markup {
    let close = match (result.close_code, result.close_reason.as_deref()) {
        (Some(code), Some(reason)) if !reason.is_empty() => format!("{code} {reason:?}"),
        (Some(code), _) => code.to_string(),
        _ => "—".into(),
    };
    html! {
        details open[open] {
            summary {
                (pill(result.status.as_str())) " "
                span class="mono" { (when(Some(result.started_at))) } " · "
                code { (result.verdict.as_str()) } " · close " span class="mono" { (close) }
                " · total " span class="mono" { (ms(result.phases_ms.total)) }
                @if in_maintenance { " · maintenance" }
            }
            p class="diag" { (result.diagnosis) }
            table {
                tr { @for (name, _) in result.phases_ms.named() { th { (name) } } }
                tr { @for (_, value) in result.phases_ms.named() { td class="mono" { (ms(value)) } } }
            }
            p class="mono muted" {
                "HTTP " (result.http_status.map(|s| s.to_string()).unwrap_or_else(|| "—".into()))
                " · subprotocol " (result.subprotocol.as_deref().unwrap_or("none"))
                " · attempts " (result.attempts)
                " · build " (result.version.as_deref().unwrap_or("—"))
                @if let Some(tls) = &result.tls { " · " (tls.version) " · cert until " (when(tls.cert_not_after)) }
            }
            @if let Some(trace_id) = &result.trace_id {
                p class="mono muted" {
                    "trace "
                    @match trace_url {
                        Some(url) => a class="trace" href=(url.link(trace_id)) { (trace_id) },
                        None => span class="trace" { (trace_id) },
                    }
                }
            }
            @if let Some(error) = &result.error { pre { (error) } }
            p { b { "Replay by hand" } " (secrets as variables: set them first)" }
            pre class="replay" { (replay) }
            @if let Some(body) = &result.body_excerpt { pre { (body) } }
            @for (label, headers) in [("Headers sent", &result.headers.sent), ("Headers returned", &result.headers.response), ("Headers echoed by the backend", &result.headers.echoed)] {
                @if !headers.is_empty() {
                    b { (label) }
                    pre { @for (name, value) in headers { (name) ": " (value) "\n" } }
                }
            }
            @if !result.headers.missing.is_empty() {
                p { b { "Missing at the backend: " } (result.headers.missing.join(", ")) }
            }
            @if !result.messages.is_empty() {
                b { "Messages received" }
                @for message in &result.messages { pre { (message) } }
            }
        }
    }
}
