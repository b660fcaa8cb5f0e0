//! `/environments/{name}`: the diagnosis once, with the result's facts laid out beside it; latency
//! and uptime as pictures from the rollups; then incidents and the runs, newest first.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::result_facts::{result_facts, run_details};
use super::{ago, layout, ms, percent, pill, when};
use crate::alert::ActiveWindow;
use crate::probe::{ProbeResult, Verdict};
use crate::store::{
    DeliveryState, HistoryFrom, IncidentFilter, IncidentRecord, IncidentState, NotificationRecord,
    RunsPage,
};
use crate::text::duration_words;
use crate::web::cache::History;
use crate::web::chart;
use crate::web::error::ApiError;
use crate::web::view::status_name;
use crate::web::{SloStatus, StatusSource, Web};

const RUNS_PER_PAGE: u32 = 25;
/// The newest incidents shown on an environment's page; the API has them all.
const INCIDENTS_SHOWN: u32 = 10;
/// The chart's two ranges, in hours, and the uptime bars' days.
const DAY_HOURS: usize = 24;
const WEEK_HOURS: usize = 7 * 24;
pub const UPTIME_DAYS: usize = 90;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    before: Option<i64>,
}

pub async fn environment<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    Path(name): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<axum::response::Html<bytes::Bytes>, ApiError> {
    if web.source.config().environment(&name).is_none() {
        return Err(ApiError::UnknownEnvironment(name));
    }
    let render = async {
        bytes::Bytes::from(
            render_environment(&web, &name, query.before)
                .await
                .into_string(),
        )
    };
    // The first page is what on-call reloads (and what a wall of dashboards shows): reused
    // like the overview. Older pages are rare and rendered each time.
    let body = match query.before {
        None => {
            let key = format!("environment/{name}");
            web.rendered
                .get_or_render(&key, web.source.generation(), render)
                .await
        }
        Some(_) => render.await,
    };
    Ok(axum::response::Html(body))
}

async fn render_environment<S: StatusSource>(
    web: &Web<S>,
    name: &str,
    before: Option<i64>,
) -> Markup {
    let source = &web.source;
    let config = source.config();
    let Some(env) = config.environment(name) else {
        // A reload removed it between the handler's check and this render.
        return html! { "no such environment" };
    };
    // The sorted status finds it by binary search and is shared with the overview's render:
    // with 100,000 environments, building the whole status per page view would dominate.
    let snapshot = web.snapshot().await;
    let status = &snapshot.status;
    let now = status.generated_at;
    let current = snapshot.named(name);
    let store = source.store();
    let runs = store
        .runs(
            name,
            RunsPage {
                before,
                ..RunsPage::newest(RUNS_PER_PAGE)
            },
        )
        .await
        .unwrap_or_default();
    let variables = config.secret_variables();
    let older = (runs.len() == RUNS_PER_PAGE as usize)
        .then(|| runs.last().map(|r| r.id))
        .flatten();
    let incidents = store
        .incidents(&IncidentFilter {
            state: None,
            environment: Some(name),
            limit: INCIDENTS_SHOWN,
        })
        .await
        .unwrap_or_default();
    let history = history(web, name, now).await;
    // The newest stored run has every fact; the in-memory latest is slim but is there
    // while the store cannot be read. Older pages show no "now".
    let newest_stored = runs.first().filter(|_| before.is_none());
    let latest: Option<&ProbeResult> = match newest_stored {
        Some(run) => Some(&run.result),
        None if before.is_none() => current.and_then(|c| c.last_result.as_deref()),
        None => None,
    };
    let shown_diagnosis = latest.map(|r| r.diagnosis.as_str());
    let shown_verdict = latest.map(|r| r.verdict);
    layout(
        &format!("wsprobe — {name}"),
        html! {
            p { a href="/" { "← all environments" } }
            h1 { (name) " " @if let Some(c) = current { (pill(status_name(c.status))) } }
            p class="mono muted diag" { (crate::config::redact_url(&env.url)) " · " (env.schedule.expression()) " · timeout " (humantime::format_duration(env.timeout)) }
            @if let Some(c) = current {
                div class="summary" {
                    div { "Verdict" b { (c.verdict.map_or("—", Verdict::as_str)) } }
                    div { "Uptime 24h" b { (percent(c.uptime.day)) } }
                    div { "7d" b { (percent(c.uptime.week)) } }
                    div { "30d" b { (percent(c.uptime.month)) } }
                    div { "p50 / p95 (24h)" b class="nowrap" { (ms(c.latency_ms.p50)) " / " (ms(c.latency_ms.p95)) } }
                    div { "Last run" b { (ago(c.last_run, now)) } }
                    div { "Next run" b { @if c.running { "running now" } @else { (ago(c.next_run, now)) } } }
                    div { "Skipped slots 24h" b { (c.skipped_slots) } }
                }
                @if let Some(window) = &c.maintenance { (maintenance_note(window)) }
            }
            @if let (Some(slo), Some(objective)) = (current.and_then(|c| c.slo.as_ref()), env.slo) {
                (slo_section(slo, &objective, now))
            }
            (super::oncall::silences_of(&status.silences, name, now))
            @if let Some(result) = latest {
                section class="now" {
                    div {
                        h2 { "Why" }
                        p class="why" { (result.diagnosis) }
                        p class="muted" { code { (result.verdict.as_str()) } " · " (ago(Some(result.started_at), now)) }
                    }
                    div {
                        h2 { "Evidence" }
                        (result_facts(result))
                    }
                }
            }
            (pictures(&history))
            h2 { "Incidents" }
            @if incidents.is_empty() { p class="muted" { "No incidents recorded." } }
            @for incident in &incidents { (incident_details(incident, shown_verdict, shown_diagnosis)) }
            h2 { "Runs" }
            @if runs.is_empty() { p class="muted" { "No stored runs yet." } }
            @for (index, run) in runs.iter().enumerate() {
                @let above = index == 0 && newest_stored.is_some();
                @let diagnosis_shown = above || Some(run.result.diagnosis.as_str()) == shown_diagnosis;
                (run_details(&run.result, (run.in_maintenance, run.silenced_by), above, diagnosis_shown, config.server.trace_url.as_ref(), &crate::probe::replay::command(env, &variables, run.result.verdict == Verdict::TokenFailed)))
            }
            @if let Some(before) = older { p { a href={ "?before=" (before) } { "older runs →" } } }
        },
    )
}

/// `name`'s chart data: from the cache, or read now and kept for the next views.
pub async fn history<S: StatusSource>(
    web: &Web<S>,
    name: &str,
    now: DateTime<Utc>,
) -> Arc<History> {
    if let Some(history) = web.history.get(name) {
        return history;
    }
    let history = Arc::new(load_history(web.source.as_ref(), name, now).await);
    web.history.put(name, history.clone());
    history
}

/// The rollups the pictures are drawn from, as of `now`. A store that cannot be read gives
/// empty pictures rather than a failed page.
async fn load_history(source: &impl StatusSource, name: &str, now: DateTime<Utc>) -> History {
    let last_hour = now.timestamp().div_euclid(3600) * 3600;
    let last_day = now.timestamp().div_euclid(86_400);
    let hours_from = DateTime::from_timestamp(last_hour - (WEEK_HOURS as i64 - 1) * 3600, 0);
    let days_from = DateTime::from_timestamp((last_day - UPTIME_DAYS as i64 + 1) * 86_400, 0);
    let (hours, days) = match (hours_from, days_from) {
        (Some(h), Some(d)) => {
            let from = HistoryFrom { hours: h, days: d };
            source.store().history(name, from).await.unwrap_or_default()
        }
        _ => Default::default(),
    };
    History {
        last_hour,
        last_day,
        hours,
        days,
    }
}

/// Latency per hour over 24 h and 7 d, and one uptime bar per UTC day over 90 days.
fn pictures(history: &History) -> Markup {
    let History {
        last_hour,
        last_day,
        hours,
        days,
    } = history;
    html! {
        section class="history" {
            h2 { "Latency" span class="muted legend" {
                " of serving runs, per hour:" span class="key p50" {} "p50" span class="key p95" {} "p95" } }
            div class="pictures" {
                figure { figcaption { "Last 24 hours" } (chart::latency_chart(hours, *last_hour, DAY_HOURS, "24 h")) }
                figure { figcaption { "Last 7 days" } (chart::latency_chart(hours, *last_hour, WEEK_HOURS, "7 d")) }
            }
            h2 { "Uptime, last " (UPTIME_DAYS) " days" span class="muted legend" {
                " one bar per UTC day: green ≥ 99.9 %, amber ≥ 99 %, red below, grey without runs" } }
            figure { (chart::uptime_bars(days, *last_day, UPTIME_DAYS)) }
        }
    }
}

/// The SLO's figures and its burn-down over the window's UTC days.
fn slo_section(slo: &SloStatus, objective: &crate::config::Slo, now: DateTime<Utc>) -> Markup {
    let first_day = crate::slo::first_hour(now.timestamp(), objective.window).div_euclid(86_400);
    let last_day = now.timestamp().div_euclid(86_400);
    let budget = match slo.budget_remaining {
        Some(left) if left < 0.0 => format!("overspent by {:.1}%", -left * 100.0),
        Some(left) => format!("{:.1}%", left * 100.0),
        None => "—".to_owned(),
    };
    html! {
        section class="slo" {
            h2 { "SLO" span class="muted legend" { " over the last " (slo.window) ", maintenance left out" } }
            div class="summary" {
                div { "Objective" b { (objective_text(slo.objective)) } }
                div { "Availability" b { (percent(slo.availability)) } }
                div { "Error budget left" b { (budget) } }
                div { "Runs counted" b { (slo.runs) } }
                @for burn in slo.burn.values() {
                    (burn_cell(burn))
                }
            }
            figure { figcaption { "Error budget remaining, end of each UTC day" }
                (chart::budget_chart(&slo.burn_down, first_day, last_day)) }
        }
    }
}

/// `Fast burn (1h / 5m)` with both rates, and `firing` while the alert holds.
fn burn_cell(burn: &crate::slo::burn::BurnStatus) -> Markup {
    let rate = |r: Option<f64>| r.map_or_else(|| "—".to_owned(), |r| format!("{r:.1}×"));
    let state = if burn.firing { " firing" } else { "" };
    html! {
        div class={ "burn" (state) } {
            (format!("{} burn ({} / {}, alert at {}×)", capitalised(burn.speed.as_str()),
                burn.long_window, burn.short_window, burn.threshold))
            b { (rate(burn.long_burn_rate)) " / " (rate(burn.short_burn_rate)) (state) }
        }
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `99.9%`, `99.95%`: as many decimals as the objective has (to 0.001 %), none trailing.
fn objective_text(objective: f64) -> String {
    let text = format!("{:.3}", objective * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
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

/// An incident and its timeline: opened, each notification with its outcome, resolved. Its
/// diagnosis only when it is not the failure already explained at the top: an open incident
/// with the verdict shown there is that failure, even if its sentence's milliseconds differ.
fn incident_details(
    incident: &IncidentRecord,
    shown_verdict: Option<Verdict>,
    shown_diagnosis: Option<&str>,
) -> Markup {
    let open = incident.state == IncidentState::Open;
    // A flapping incident is about the pattern, not about the one failure shown above.
    let explained_above = !incident.flapping
        && (Some(incident.diagnosis.as_str()) == shown_diagnosis
            || (open && Some(incident.verdict) == shown_verdict));
    let lasted = incident
        .resolved_at
        .map(|at| duration_words((at - incident.started_at).num_seconds()));
    // The acknowledgement in its place in time among the notifications.
    let split = incident.acknowledged.as_ref().map_or(0, |ack| {
        incident
            .notifications
            .partition_point(|n| n.created_at <= ack.at)
    });
    let (before_ack, after_ack) = incident.notifications.split_at(split);
    html! {
        details id={ "incident-" (incident.id) } open[open] {
            summary {
                // The incident's own state: a resolved outage was still an outage, not "up".
                (pill(if open { "open" } else { "resolved" })) " "
                b { "#" (incident.id) } " · "
                code { (incident.verdict.as_str()) }
                @if incident.flapping { " · " b { "flapping" } }
                " · opened "
                span class="mono" { (when(Some(incident.opened_at))) }
                @if let Some(lasted) = &lasted { " · lasted " (lasted) }
                @if let Some(ack) = &incident.acknowledged { " · " (super::oncall::acknowledgement(ack)) }
            }
            @if explained_above {
                p class="muted" { "The failure explained above." }
            } @else {
                p class="diag" { (incident.diagnosis) }
            }
            (super::notes(&incident.notes, true))
            table class="timeline" {
                tr { th { "When" } th { "What" } th { "Channel" } th { "Outcome" } th { "Attempts" } th { "Error" } }
                tr { td class="mono num" { (when(Some(incident.started_at))) } td { "first failing probe started" } td {} td {} td {} td {} }
                tr { td class="mono num" { (when(Some(incident.opened_at))) } td { "opened" } td {} td {} td {} td {} }
                @for n in before_ack { (notification_row(n)) }
                @if let Some(ack) = &incident.acknowledged {
                    tr { td class="mono num" { (when(Some(ack.at))) } td colspan="5" { (super::oncall::acknowledgement(ack)) } }
                }
                @for n in after_ack { (notification_row(n)) }
                @if let Some(at) = incident.resolved_at {
                    tr { td class="mono num" { (when(Some(at))) } td { "resolved" } td {} td {} td {} td {} }
                }
            }
        }
    }
}

fn notification_row(n: &NotificationRecord) -> Markup {
    html! {
        tr {
            td class="mono num" { (when(Some(n.created_at))) }
            td { (n.event) }
            td { (n.channel) span class="muted" { " " (n.kind) } }
            td {
                span class={ "pill " (outcome_class(n.outcome)) } { (n.outcome.as_str()) }
                @if let Some(at) = n.sent_at { " " span class="mono muted" { (when(Some(at))) } }
                @if let Some(at) = n.next_attempt_at { " " span class="muted" { "next try " (when(Some(at))) } }
            }
            td class="mono" { (n.attempts) }
            td class="mono diag" { (n.last_error.as_deref().unwrap_or("")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(state: IncidentState, resolved: bool) -> IncidentRecord {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        IncidentRecord {
            id: 7,
            environment: "staging".into(),
            state,
            started_at: at,
            opened_at: at,
            resolved_at: resolved.then(|| at + chrono::Duration::minutes(12)),
            verdict: Verdict::ClosedBeforeReady,
            diagnosis: "The server closed with 1011.".into(),
            flapping: false,
            acknowledged: None,
            notifications: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_slo_section_says_the_objective_and_an_overspent_budget_as_such() {
        let now = DateTime::from_timestamp(20_000 * 86_400 + 3600, 0).unwrap();
        let objective = crate::config::Slo {
            objective: 0.9995,
            window: std::time::Duration::from_secs(7 * 86_400),
        };
        let report = crate::slo::SloReport::of(
            objective.objective,
            objective.window,
            &[crate::slo::Day {
                day: 19_999,
                runs: 1000,
                serving: 998,
            }],
        );
        let html =
            slo_section(&SloStatus::new(&objective, Some(&report)), &objective, now).into_string();
        for shown in [
            "99.95%",
            "99.80%",
            "overspent by 300.0%",
            "1000",
            "7d",
            "8 days",
        ] {
            assert!(html.contains(shown), "{shown} not in {html}");
        }
        // A report of another objective (the config changed since) shows no figures.
        let changed = crate::config::Slo {
            objective: 0.99,
            ..objective
        };
        let stale = SloStatus::new(&changed, Some(&report));
        assert_eq!((stale.availability, stale.runs), (None, 0));
        assert_eq!(objective_text(0.999), "99.9%");
        assert_eq!(objective_text(0.5), "50%");
    }

    #[test]
    fn an_incident_shows_its_own_state_and_can_be_linked_to() {
        let resolved =
            incident_details(&incident(IncidentState::Resolved, true), None, None).into_string();
        assert!(resolved.contains("id=\"incident-7\""), "{resolved}");
        assert!(resolved.contains("pill resolved"), "{resolved}");
        assert!(
            !resolved.contains("pill up"),
            "a past outage is not up: {resolved}"
        );
        assert!(resolved.contains("lasted 12m 0s"), "{resolved}");
        let open =
            incident_details(&incident(IncidentState::Open, false), None, None).into_string();
        assert!(open.contains("pill open"), "{open}");
    }
}
