//! The overview of a large fleet: a page of 100,000 rows helps nobody and takes seconds to
//! render. On-call wants how many are in each state, then everything failing, then, when they
//! look for one, the rest a page at a time.

use maud::{Markup, html};

use super::overview::{PAGE_ROWS, environments_table};
use super::pill;
use crate::web::StatusSource;
use crate::web::snapshot::{ByStatus, Filter, Snapshot};

/// The counts, the failing environments (the first [`PAGE_ROWS`]), and page `page` of the
/// environments not probed yet and up.
pub fn overview(source: &impl StatusSource, snapshot: &Snapshot, page: usize) -> Markup {
    let now = snapshot.status.generated_at;
    let failing = snapshot.select(&Filter::failing());
    let failing_shown = failing.page(0, PAGE_ROWS);
    let more_failing = failing.len() - failing_shown.len();
    let passing = snapshot.select(&Filter::passing());
    let pages = passing.len().div_ceil(PAGE_ROWS).max(1);
    let page = page.clamp(1, pages);
    let passing_shown = passing.page((page - 1) * PAGE_ROWS, PAGE_ROWS);
    html! {
        (counts(snapshot.by_status()))
        (super::matrix::matrix(&failing_shown, now))
        (super::oncall::silences(&snapshot.status.silences, now))
        h2 { "Down or degraded: " (failing.len()) }
        @if failing_shown.is_empty() {
            p class="muted" { "None." }
        } @else {
            (environments_table(source, &failing_shown, now))
        }
        @if more_failing > 0 {
            p {
                b { (more_failing) " more" } " down or degraded, failing first: "
                a href={ "/api/v1/status?status=down,degraded&offset=" (PAGE_ROWS) } { "the rest in the API" }
            }
        }
        h2 { "Not probed yet or up: " (passing.len()) }
        (pager(page, pages))
        @if !passing_shown.is_empty() { (environments_table(source, &passing_shown, now)) }
        (pager(page, pages))
    }
}

/// How many are in each state, each a link to those environments in the API.
fn counts(by: ByStatus) -> Markup {
    let states = [
        ("down", by.down),
        ("degraded", by.degraded),
        ("unknown", by.unknown),
        ("up", by.up),
    ];
    html! {
        p class="counts" {
            @for (status, count) in states {
                a href={ "/api/v1/status?status=" (status) } { (pill(status)) " " b { (count) } }
                " "
            }
        }
    }
}

/// Page `page` of `pages`, with the links either side.
fn pager(page: usize, pages: usize) -> Markup {
    html! {
        p class="pager" {
            @if page > 1 { a href={ "/?page=" (page - 1) } { "← page " (page - 1) } " · " }
            "page " (page) " of " (pages)
            @if page < pages { " · " a href={ "/?page=" (page + 1) } { "page " (page + 1) " →" } }
        }
    }
}
