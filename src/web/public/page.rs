//! The public page's HTML, from [`PublicStatus`] alone: an overall banner, incidents in
//! progress with their notes, every shown environment with its uptime and 90 daily bars, then
//! the past fortnight's incidents. Same stylesheet, light and dark, no script, no external
//! asset as the on-call page; links are relative, so the page works under any prefix.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::model::{PAST_DAYS, PublicEnvironment, PublicIncident, PublicNote, PublicStatus};
use crate::store::IncidentState;
use crate::text::duration_words;
use crate::web::cache::History;
use crate::web::chart;
use crate::web::pages::{UPTIME_DAYS, ago, layout, pill, when};

/// The banner's class and sentence, in the words public status pages use.
fn overall(status: &PublicStatus) -> (&'static str, String) {
    let total = status.environments.len();
    let down = status
        .environments
        .iter()
        .filter(|e| e.status == "down")
        .count();
    let sentence = match status.status {
        "down" if down == total => "Major outage".to_owned(),
        "down" => format!("Partial outage: {down} of {total} down"),
        "degraded" => "Degraded performance".to_owned(),
        "unknown" => "Waiting for the first checks".to_owned(),
        _ => "All systems operational".to_owned(),
    };
    (status.status, sentence)
}

pub fn render(status: &PublicStatus, histories: &HashMap<String, Arc<History>>) -> Markup {
    let now = status.generated_at;
    let (class, sentence) = overall(status);
    let (open, past): (Vec<&PublicIncident>, Vec<&PublicIncident>) = status
        .incidents
        .iter()
        .partition(|i| i.state == IncidentState::Open);
    let title = match open.len() {
        0 => status.title.clone(),
        1 => format!("{} — 1 incident", status.title),
        n => format!("{} — {n} incidents", status.title),
    };
    layout(
        &title,
        html! {
            h1 { (status.title) }
            div class={ "overall " (class) } { (sentence) }
            @if !open.is_empty() {
                section class="incidents" {
                    h2 { "Current incidents" }
                    @for incident in &open { (incident_card(incident)) }
                }
            }
            section {
                h2 { "Uptime" span class="muted legend" { " last " (UPTIME_DAYS) " days, one bar per UTC day" } }
                @for env in &status.environments { (environment(env, histories.get(&env.name), now)) }
            }
            section class="incidents" {
                h2 { "Past incidents" span class="muted legend" { " last " (PAST_DAYS) " days" } }
                @if !status.incidents_known {
                    p class="muted" { "The incident history cannot be read right now." }
                } @else if past.is_empty() {
                    p class="muted" { "No incidents resolved in the last " (PAST_DAYS) " days." }
                }
                @for incident in &past { (incident_card(incident)) }
            }
            p class="muted" {
                "Updated " (ago(Some(now), now)) " · JSON: " a href="status.json" { "status.json" }
                " · incidents: " a href="feed.atom" { "feed.atom" } " · wsprobe"
            }
        },
    )
}

/// One environment: its name and status, uptime over 24 h, 7 d and 30 d, and its daily bars.
fn environment(
    env: &PublicEnvironment,
    history: Option<&Arc<History>>,
    now: DateTime<Utc>,
) -> Markup {
    let uptime = &env.uptime_percent;
    html! {
        div class="public-env" id={ "environment-" (env.name) } {
            div class="public-env-head" {
                b class="name" { (env.name) } " " (pill(env.status))
                @if let Some(id) = env.open_incident {
                    " " a class="muted nowrap" href={ "#incident-" (id) } { "incident #" (id) }
                }
                @if let Some(until) = env.maintenance_until {
                    " " span class="muted nowrap" { "maintenance until " (ago(Some(until), now)) }
                }
                span class="muted num public-uptime" {
                    (percent(uptime.day)) " 24h · " (percent(uptime.week)) " 7d · " (percent(uptime.month)) " 30d"
                }
            }
            @if let Some(history) = history {
                (chart::uptime_bars(&history.days, history.last_day, UPTIME_DAYS))
            }
        }
    }
}

fn incident_card(incident: &PublicIncident) -> Markup {
    let open = incident.state == IncidentState::Open;
    html! {
        article class="incident" id={ "incident-" (incident.id) } {
            h3 {
                (incident.environment) " " (pill(if open { "open" } else { "resolved" }))
            }
            p class="muted" {
                "Started " (when(Some(incident.started_at)))
                @if let (Some(at), Some(lasted)) = (incident.resolved_at, incident.duration_s) {
                    " · resolved " (when(Some(at))) " after " (duration_words(lasted))
                }
            }
            @if incident.notes.is_empty() {
                @if open { p { "We are aware of the problem; updates will follow here." } }
            } @else {
                (notes(&incident.notes))
            }
        }
    }
}

/// Newest first, as the model keeps them.
fn notes(notes: &[PublicNote]) -> Markup {
    html! {
        ol class="notes" {
            @for note in notes {
                li {
                    b { (note.heading()) } " — " span class="note-message" { (note.message) }
                    br;
                    span class="muted" {
                        time datetime=(crate::wire::format(note.created_at)) { (when(Some(note.created_at))) }
                    }
                }
            }
        }
    }
}

/// `99.95%` of a percentage already rounded to 0.01; `—` without runs.
fn percent(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 100.0 => "100%".into(),
        Some(v) => format!("{v:.2}%"),
        None => "—".into(),
    }
}
