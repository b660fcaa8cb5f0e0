//! `GET /api/v1/status`'s body: the daemon's status with some of its environments (all of a
//! small fleet, in config order, as before paging existed; a page of a large one, failing
//! first) and a `summary` that says how many there are and where the next page starts.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::snapshot::{ByStatus, Filter, Snapshot};
use super::view::{
    EnvironmentStatus, FleetNotice, NotificationStatus, ReloadRejected, StoreStatus,
};
use crate::oncall::Silence;

/// Environments one answer carries at most: 1,000 are about 1.2 MB of JSON.
pub const MAX_LIMIT: usize = 1000;

/// The fields of [`super::StatusBody`] in the same order, with `environments` a page of
/// them, then the summary.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(with = "crate::wire::time")]
    generated_at: DateTime<Utc>,
    location: &'a Option<String>,
    instance_id: &'a Option<String>,
    store: &'a StoreStatus,
    environments: Vec<&'a EnvironmentStatus>,
    notifications: &'a NotificationStatus,
    reload_rejected: &'a Option<ReloadRejected>,
    quiet: &'a [FleetNotice],
    silences: &'a [Silence],
    summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    /// Every environment configured, whatever the filter.
    pub total: usize,
    pub by_status: ByStatus,
    /// `config` (the whole list) or `urgency` (down, degraded, unknown, up; then by name).
    pub order: &'static str,
    /// Environments the filter takes, on every page.
    pub matched: usize,
    pub offset: usize,
    pub returned: usize,
    /// Pass as `offset` for the next page; null on the last one.
    pub next_offset: Option<usize>,
}

/// The answer without parameters: every environment in config order, as before paging; a
/// fleet larger than [`MAX_LIMIT`] gets its first page, failing first.
pub fn whole(snapshot: &Snapshot) -> Vec<u8> {
    if snapshot.total() > MAX_LIMIT {
        return page(snapshot, &Filter::default(), 0, MAX_LIMIT);
    }
    let environments = snapshot.status.environments.iter().collect();
    let total = snapshot.total();
    let summary = Summary {
        total,
        by_status: snapshot.by_status(),
        order: "config",
        matched: total,
        offset: 0,
        returned: total,
        next_offset: None,
    };
    encode(snapshot, environments, summary)
}

/// `limit` environments from the `offset`th of those `filter` takes, failing first.
pub fn page(snapshot: &Snapshot, filter: &Filter, offset: usize, limit: usize) -> Vec<u8> {
    let selection = snapshot.select(filter);
    let matched = selection.len();
    let environments = selection.page(offset, limit);
    let returned = environments.len();
    let end = offset.saturating_add(returned);
    let summary = Summary {
        total: snapshot.total(),
        by_status: snapshot.by_status(),
        order: "urgency",
        matched,
        offset,
        returned,
        next_offset: (end < matched).then_some(end),
    };
    encode(snapshot, environments, summary)
}

fn encode(snapshot: &Snapshot, environments: Vec<&EnvironmentStatus>, summary: Summary) -> Vec<u8> {
    let status = &snapshot.status;
    let body = Body {
        generated_at: status.generated_at,
        location: &status.location,
        instance_id: &status.instance_id,
        store: &status.store,
        environments,
        notifications: &status.notifications,
        reload_rejected: &status.reload_rejected,
        quiet: &status.quiet,
        silences: &status.silences,
        summary,
    };
    serde_json::to_vec(&body).expect("status serializes")
}
