//! The status page for on-call: server-rendered, no external assets, readable without
//! JavaScript, light and dark. maud escapes every interpolated string, which matters because
//! close reasons, messages and headers come from the servers being probed.
//!
//! - `overview`: `/`, every environment at a glance, failing ones first.
//! - `environment`: `/environments/{name}`, one environment's pictures, facts and history.
//! - `matrix`: a fleet's location × environment matrix on the overview.
//! - `result_facts`: one result laid out, beside its diagnosis.
//! - `oncall`: silences and acknowledgements as the pages show them.

mod environment;
mod large;
mod matrix;
mod oncall;
mod overview;
mod result_facts;

pub use environment::{UPTIME_DAYS, environment, history};
pub use overview::{index, urgency};

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::store::{FailedNotification, NoteRecord};

const REFRESH_SECONDS: u32 = 30;

/// Both pages' one stylesheet, inline: the Content-Security-Policy allows it by its hash.
pub(super) const STYLE: &str = include_str!("style.css");

pub(in crate::web) fn layout(title: &str, body: Markup) -> Markup {
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

pub(in crate::web) fn pill(status: &str) -> Markup {
    html! { span class={ "pill " (status) } { (status) } }
}

/// A time as on-call reads it ("12 s ago", "in 4 min"), the exact UTC time on hover and in
/// `datetime` for anything that reads the page.
pub(in crate::web) fn ago(time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Markup {
    match time {
        Some(t) => {
            let exact = crate::wire::format(t);
            html! {
                time class="nowrap" datetime=(exact) title=(exact) {
                    (crate::text::relative((t - now).num_seconds()))
                }
            }
        }
        None => html! { "—" },
    }
}

/// An exact time, for timelines where the order matters more than the distance.
pub(in crate::web) fn when(time: Option<DateTime<Utc>>) -> String {
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
    match value {
        Some(v) if v >= 1.0 => "100%".into(),
        Some(v) => format!("{:.2}%", v * 100.0),
        None => "—".into(),
    }
}

/// An incident's written updates, newest first, the way status pages list them:
/// "Identified — the message", when, and (for on-call) who wrote it. A note is a person's
/// text: escaped like everything else, its line breaks kept.
fn notes(notes: &[NoteRecord], with_author: bool) -> Markup {
    html! {
        @if !notes.is_empty() {
            ol class="notes" reversed {
                @for note in notes.iter().rev() {
                    li id={ "note-" (note.id) } {
                        b { (note.heading()) } " — " span class="note-message" { (note.message) }
                        br;
                        span class="muted" {
                            time datetime=(crate::wire::format(note.created_at)) { (when(Some(note.created_at))) }
                            @if with_author { @if let Some(author) = &note.author { " · " (author) } }
                        }
                    }
                }
            }
        }
    }
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
