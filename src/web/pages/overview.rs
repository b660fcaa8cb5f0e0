//! `/`: which environments are down and why, readable in five seconds at 1400 px and on a
//! phone. An overall banner first, then failing environments before healthy ones, then by
//! name: the eye lands on what needs doing.

use std::sync::Arc;

use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::{REFRESH_SECONDS, ago, failed_notifications, layout, ms, percent, pill};
use crate::probe::Status;
use crate::web::snapshot::Snapshot;
use crate::web::view::{EnvironmentStatus, RecentRun, ReloadRejected, SpoolStatus, status_name};
use crate::web::{StatusSource, Web};

/// Above this many environments the overview shows the counts, every failing environment
/// (up to [`PAGE_ROWS`]) and a page of the others, instead of a row for each.
pub const LARGE: usize = 500;
/// Rows of each section of the large overview.
pub const PAGE_ROWS: usize = 200;

#[derive(Debug, Deserialize)]
pub struct IndexQuery {
    /// The page of the large overview's passing environments; anything else is the first.
    page: Option<String>,
}

pub async fn index<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    Query(query): Query<IndexQuery>,
) -> axum::response::Html<bytes::Bytes> {
    let page = query
        .page
        .and_then(|page| page.parse::<usize>().ok())
        .filter(|page| *page > 1);
    let snapshot = web.snapshot().await;
    let body = match page {
        // Further pages are looked at by few: rendered per view from the sorted status, and
        // not kept (a cache by page would grow with the fleet).
        Some(page) if snapshot.total() > LARGE => {
            bytes::Bytes::from(render_index(web.source.as_ref(), &snapshot, page).into_string())
        }
        _ => {
            web.rendered
                .get_or_render("index", web.source.generation(), async {
                    let snapshot = web.snapshot().await;
                    bytes::Bytes::from(
                        render_index(web.source.as_ref(), &snapshot, 1).into_string(),
                    )
                })
                .await
        }
    };
    axum::response::Html(body)
}

/// Where a status sorts: down first, then degraded, not yet probed (`None`), up.
pub fn urgency(status: Option<Status>) -> u8 {
    match status {
        Some(Status::Down) => 0,
        Some(Status::Degraded) => 1,
        None => 2,
        Some(Status::Up) => 3,
    }
}

/// The counts the overall banner and the title say.
struct Counts {
    total: usize,
    down: usize,
    degraded: usize,
    unknown: usize,
}

impl Counts {
    fn of(snapshot: &Snapshot) -> Counts {
        let by = snapshot.by_status();
        Counts {
            total: snapshot.total(),
            down: by.down,
            degraded: by.degraded,
            unknown: by.unknown,
        }
    }

    /// The banner's class and sentence: red when anything is down, amber when degraded.
    fn overall(&self) -> (&'static str, String) {
        let total = self.total;
        let plural = |n: usize| {
            if n == 1 {
                "environment"
            } else {
                "environments"
            }
        };
        let also = |n: usize, what: &str| {
            if n > 0 {
                format!(", {n} {what}")
            } else {
                String::new()
            }
        };
        if self.down > 0 {
            let rest = also(self.degraded, "degraded") + &also(self.unknown, "not probed yet");
            let verb = if self.down == 1 { "is" } else { "are" };
            let sentence = if self.down == total {
                format!("All {total} {} down", plural(total))
            } else {
                format!(
                    "{} of {total} {} {verb} down{rest}",
                    self.down,
                    plural(total)
                )
            };
            ("down", sentence)
        } else if self.degraded > 0 {
            let rest = also(self.unknown, "not probed yet");
            let sentence = format!(
                "{} of {total} {} degraded{rest}, none down",
                self.degraded,
                plural(total)
            );
            ("degraded", sentence)
        } else if self.unknown > 0 {
            let sentence = format!(
                "{} of {total} {} up, {} not probed yet",
                total - self.unknown,
                plural(total),
                self.unknown
            );
            ("unknown", sentence)
        } else {
            ("up", format!("All {total} {} up", plural(total)))
        }
    }
}

fn render_index(source: &impl StatusSource, snapshot: &Snapshot, page: usize) -> Markup {
    let status = &snapshot.status;
    let now = status.generated_at;
    let counts = Counts::of(snapshot);
    let (class, overall) = counts.overall();
    let title = match counts.down {
        0 => format!("wsprobe — {overall}"),
        n => format!("wsprobe — {n} down"),
    };
    layout(
        &title,
        html! {
            h1 { "wsprobe" @if let Some(location) = &status.location { span class="muted" { " · " (location) } } }
            div class={ "overall " (class) } { (overall) }
            @if let Some(rejected) = &status.reload_rejected { (reload_banner(rejected, now)) }
            @if let Some(error) = &status.store.error {
                div class="banner" { "Store failing — results wait in memory: " (error) }
            }
            (spool_banner(status.store.spool))
            (failed_notifications(&status.notifications.failed_24h))
            @for notice in &status.quiet {
                div class="banner" { b { (notice.subject) } " — " (notice.diagnosis) " (incident #" (notice.incident) ")" }
            }
            @if snapshot.total() > LARGE {
                (super::large::overview(source, snapshot, page))
            } @else {
                @let sorted: Vec<_> = snapshot.sorted().collect();
                (super::matrix::matrix(&sorted, now))
                (super::oncall::silences(&status.silences, now))
                (environments_table(source, &sorted, now))
            }
            p class="muted" {
                "Generated " (ago(Some(now), now)) " · refreshes every " (REFRESH_SECONDS) " s · JSON: "
                a href="/api/v1/status" { "/api/v1/status" } " · incidents: " a href="/feed.atom" { "/feed.atom" }
            }
        },
    )
}

/// The environments' rows under one header.
pub(super) fn environments_table(
    source: &impl StatusSource,
    environments: &[&EnvironmentStatus],
    now: DateTime<Utc>,
) -> Markup {
    html! {
        table class="environments" {
            thead { tr {
                th { "Status" } th { "Environment" } th { "Verdict · diagnosis" }
                th { "Last run" } th { "Uptime 24h · 7d · 30d" } th { "p50 / p95 24h" } th { "Recent" }
            } }
            @for env in environments {
                (environment_row(env, &source.recent(&env.name), now))
            }
        }
    }
}

/// The running config is not the file's: say so until a reload succeeds.
/// Runs waiting for the store, and those it lost for good: shown while either is not zero.
fn spool_banner(spool: SpoolStatus) -> Markup {
    html! {
        @if spool.queued > 0 || spool.dropped > 0 {
            div class="banner" {
                (spool.queued) " run(s) waiting in memory for the store"
                @if spool.dropped > 0 {
                    "; " b { (spool.dropped) " run(s) dropped" } " since start, the spool being full"
                }
            }
        }
    }
}

fn reload_banner(rejected: &ReloadRejected, now: DateTime<Utc>) -> Markup {
    html! {
        div class="banner reload" {
            b { "Config reload rejected " (ago(Some(rejected.at), now)) ": still running the previous config." }
            br;
            span class="mono" { (rejected.error) }
        }
    }
}

/// One environment as a `tbody` of two rows: the figures, then the diagnosis across the width
/// the figures leave, so a long sentence takes one or two lines instead of six. On a phone the
/// `tbody` is the card.
fn environment_row(env: &EnvironmentStatus, bar: &[RecentRun], now: DateTime<Utc>) -> Markup {
    html! {
        tbody class="environment" {
            tr {
                td class="fit lead" rowspan="2" { (pill(status_name(env.status))) }
                td class="fit lead" rowspan="2" {
                    a class="name" href={ "/environments/" (env.name) } { b { (env.name) } }
                    @if let Some(id) = env.open_incident { br; a class="muted nowrap" href={ "/environments/" (env.name) "#incident-" (id) } { "incident #" (id) " open" } }
                    @if let Some(window) = &env.maintenance { br; span class="muted nowrap" { "maintenance until " (ago(Some(window.until), now)) } }
                    @if let Some(parent) = &env.caused_by { br; span class="muted nowrap" { "caused by " a href={ "/environments/" (parent) } { (parent) } } }
                    @if let Some(id) = env.silenced_by { br; a class="muted nowrap" href={ "#silence-" (id) } { "silenced by #" (id) } }
                }
                td class="verdict" {
                    @if let Some(verdict) = &env.verdict {
                        code { (verdict) }
                        @if let Some(code) = env.close_code { " · close " span class="mono" { (code) } }
                    } @else { span class="muted" { "waiting for the first probe" } }
                }
                td class="num fit" data-label="Last run" {
                    (ago(env.last_run, now)) " · "
                    span class="muted" {
                        @if env.running { "running now" } @else { "next " (ago(env.next_run, now)) }
                    }
                }
                td class="num mono fit" data-label="Uptime 24h · 7d · 30d" {
                    (percent(env.uptime.day)) " · " (percent(env.uptime.week)) " · " (percent(env.uptime.month))
                }
                td class="num mono fit" data-label="p50 / p95" { (ms(env.latency_ms.p50)) " / " (ms(env.latency_ms.p95)) }
                td class="fit" { (recent_bar(bar)) }
            }
            tr class="why" {
                td class="diag" colspan="5" {
                    @if let Some(diagnosis) = &env.diagnosis { (diagnosis) }
                }
            }
        }
    }
}

/// Oldest left, newest right, like every uptime bar on-call has seen before. Each mark's
/// title is the time of day (UTC) and verdict only: 40 marks × 100 environments is most of the
/// page's bytes, and the environment page has each run in full.
fn recent_bar(bar: &[RecentRun]) -> Markup {
    html! {
        div class="bar" title="UTC, oldest left" {
            @for (at, status, verdict) in bar.iter().rev() {
                span class=(status.as_str()) title={ (at.format("%H:%M:%S")) " " (verdict) } {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(
        total: usize,
        down: usize,
        degraded: usize,
        unknown: usize,
    ) -> (&'static str, String) {
        Counts {
            total,
            down,
            degraded,
            unknown,
        }
        .overall()
    }

    #[test]
    fn the_banner_says_the_worst_first() {
        let cases = [
            (
                (19, 3, 1, 0),
                ("down", "3 of 19 environments are down, 1 degraded"),
            ),
            (
                (19, 1, 0, 2),
                ("down", "1 of 19 environments is down, 2 not probed yet"),
            ),
            ((2, 2, 0, 0), ("down", "All 2 environments down")),
            (
                (19, 0, 2, 0),
                ("degraded", "2 of 19 environments degraded, none down"),
            ),
            (
                (19, 0, 0, 4),
                ("unknown", "15 of 19 environments up, 4 not probed yet"),
            ),
            ((19, 0, 0, 0), ("up", "All 19 environments up")),
        ];
        for ((total, down, degraded, unknown), (class, sentence)) in cases {
            assert_eq!(
                counts(total, down, degraded, unknown),
                (class, sentence.to_owned())
            );
        }
    }

    #[test]
    fn failing_statuses_sort_first() {
        use Status::{Degraded, Down, Up};
        let mut statuses = [Some(Up), None, Some(Degraded), Some(Down)];
        statuses.sort_by_key(|s| urgency(*s));
        assert_eq!(statuses, [Some(Down), Some(Degraded), None, Some(Up)]);
    }
}
