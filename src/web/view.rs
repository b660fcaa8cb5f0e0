//! What the web layer reads: a small typed view of the daemon ([`StatusSource`]), filled in by
//! the daemon and rendered here as the status page and the JSON API. The web layer never
//! reaches into the daemon's fields, so the daemon can change how it keeps state.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::alert::ActiveWindow;
use crate::config::Config;
use crate::oncall::{Acknowledgement, NewSilence, Silence};
use crate::probe::{ProbeResult, Status, Verdict};
use crate::store::{
    AckOutcome, ExpireOutcome, FailedNotification, NewNote, NoteRecord, ReadOnlyStore, StoreError,
};

/// One result as the bar of recent results shows it.
pub type RecentRun = (DateTime<Utc>, Status, Verdict);

/// What the status page, the API and the health endpoints need from the running daemon.
pub trait StatusSource: Send + Sync + 'static {
    /// Bumped whenever something the views show changes (a result, a reload): rendered pages
    /// are reused while it stays the same.
    fn generation(&self) -> u64;
    /// The running config: environments, the admin token.
    fn config(&self) -> Arc<Config>;
    /// Every environment in config order, with its latest result and summaries.
    fn status(&self) -> impl Future<Output = StatusBody> + Send;
    /// The newest results of one environment, newest first.
    fn recent(&self, environment: &str) -> Vec<RecentRun>;
    /// Probe the named environment now through the scheduler's own path; `None` when no such
    /// environment is configured.
    fn probe_now(&self, environment: &str) -> impl Future<Output = Option<ProbeResult>> + Send;
    /// Acknowledge incident `id`: kept with the incident (first one wins), and its reminders
    /// stop.
    fn acknowledge(
        &self,
        id: i64,
        ack: Acknowledgement,
    ) -> impl Future<Output = Result<AckOutcome, StoreError>> + Send;
    /// Store a silence and hold the notifications of the results it matches from now on.
    fn add_silence(
        &self,
        silence: NewSilence,
    ) -> impl Future<Output = Result<Silence, StoreError>> + Send;
    /// End silence `id` now (it is kept, expired, for history).
    fn expire_silence(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<ExpireOutcome, StoreError>> + Send;
    /// Store a note on incident `id` and send it to the incident's channels; `Ok(None)` when
    /// there is no such incident.
    fn add_note(
        &self,
        id: i64,
        note: NewNote<'_>,
    ) -> impl Future<Output = Result<Option<NoteRecord>, StoreError>> + Send;
    /// Whether the daemon is doing its job (`/readyz`).
    fn readiness(&self) -> impl Future<Output = Readiness> + Send;
    /// History the pages and the API read directly, and no way to write.
    fn store(&self) -> ReadOnlyStore;
    /// The instruments in the Prometheus text format; `None` when `GET /metrics` is off.
    fn prometheus_text(&self) -> Option<String>;
}

/// One environment as the status API and the status page see it.
#[derive(Debug, Serialize)]
pub struct EnvironmentStatus {
    pub name: String,
    /// `None` before the first probe: `unknown` on the wire.
    #[serde(serialize_with = "status_or_unknown")]
    pub status: Option<Status>,
    pub verdict: Option<Verdict>,
    pub diagnosis: Option<String>,
    pub close_code: Option<u16>,
    #[serde(with = "crate::wire::time_opt")]
    pub last_run: Option<DateTime<Utc>>,
    #[serde(with = "crate::wire::time_opt")]
    pub next_run: Option<DateTime<Utc>>,
    pub running: bool,
    pub skipped_slots: u64,
    /// Ratios from 0 to 1 (the 0.1 release's shape); `uptime_percent` says the same in percent.
    pub uptime: Uptime,
    pub uptime_percent: Uptime,
    pub latency_ms: Latency,
    pub last_result: Option<Arc<ProbeResult>>,
    /// A maintenance window covers the environment now: results are marked, notifications
    /// held back.
    pub in_maintenance: bool,
    pub maintenance: Option<ActiveWindow>,
    /// The id of its open incident, if one is open.
    pub open_incident: Option<i64>,
    /// The active silence that matches its latest result: its notifications are held.
    pub silenced_by: Option<i64>,
    /// Down while an environment it `depends_on` has an incident open: the failure is shown
    /// as caused by that one, and its own pages are held.
    pub caused_by: Option<String>,
    /// A fleet's view from each location (the newest result from there), by location name;
    /// a single node's one location, when it names one.
    pub locations: BTreeMap<String, LocationStatus>,
    /// Its SLO over the window; `None` (null) without an `slo` in the config.
    pub slo: Option<SloStatus>,
}

/// An environment's SLO as the API and the page show it. Ratios from 0 to 1, like `uptime`;
/// runs in maintenance are left out of `runs` and `availability`.
#[derive(Debug, Clone, Serialize)]
pub struct SloStatus {
    pub objective: f64,
    /// `30d`, `36h`.
    pub window: String,
    /// `None` until the window has a run outside maintenance.
    pub availability: Option<f64>,
    /// 1 untouched, 0 spent, negative when overspent; `None` without runs.
    pub budget_remaining: Option<f64>,
    pub runs: u64,
    /// The budget remaining at the end of each day with runs, oldest first: the page's
    /// burn-down (not in the API, which stays one figure per environment).
    #[serde(skip)]
    pub burn_down: Vec<crate::slo::BudgetPoint>,
    /// The burn-rate alerts by speed (`fast`, `slow`): the rates over their two windows and
    /// whether the alert fires. Empty until first measured. A burn is no incident of the
    /// environment: `open_incident` does not name it.
    pub burn: BTreeMap<&'static str, crate::slo::burn::BurnStatus>,
}

impl SloStatus {
    /// `report`'s figures when it was computed for this objective and window; none yet when
    /// the config changed since (the next refresh measures the new one).
    pub fn new(slo: &crate::config::Slo, report: Option<&crate::slo::SloReport>) -> SloStatus {
        let report = report.filter(|r| r.objective == slo.objective && r.window == slo.window);
        SloStatus {
            objective: slo.objective,
            window: crate::slo::window_text(slo.window),
            availability: report.and_then(|r| r.availability),
            budget_remaining: report.and_then(|r| r.budget_remaining),
            runs: report.map_or(0, |r| r.runs),
            burn_down: report.map(|r| r.burn_down.clone()).unwrap_or_default(),
            burn: report
                .map(|r| {
                    r.burns
                        .iter()
                        .map(|b| (b.speed.as_str(), b.clone()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// `up`, `degraded`, `down`, or `unknown` before the first probe: the word the API and the
/// page's pills say.
pub fn status_name(status: Option<Status>) -> &'static str {
    status.map_or("unknown", Status::as_str)
}

fn status_or_unknown<S: serde::Serializer>(
    status: &Option<Status>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(status_name(*status))
}

/// One location's newest result of one environment: a cell of the status page's matrix.
#[derive(Debug, Clone, Serialize)]
pub struct LocationStatus {
    pub status: Status,
    pub verdict: Verdict,
    pub diagnosis: String,
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    pub close_code: Option<u16>,
    /// False when the location has not probed the environment for 3 of its intervals: the
    /// cell is history, and the overall status leaves it out.
    pub reporting: bool,
}

/// A fleet's open incident about itself: a location or an instance that stopped reporting.
#[derive(Debug, Clone, Serialize)]
pub struct FleetNotice {
    /// `location eu-west` or `instance eu-west-2`.
    pub subject: String,
    pub incident: i64,
    pub diagnosis: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Uptime {
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    #[serde(rename = "7d")]
    pub week: Option<f64>,
    #[serde(rename = "30d")]
    pub month: Option<f64>,
}

impl Uptime {
    /// The same windows in percent, to 0.01 %: a ratio without a stated unit was read as a
    /// percentage (0.98 % down instead of 98 % up).
    pub fn percent(&self) -> Uptime {
        let percent = |ratio: Option<f64>| ratio.map(|r| (r * 10_000.0).round() / 100.0);
        Uptime {
            day: percent(self.day),
            week: percent(self.week),
            month: percent(self.month),
        }
    }
}

/// Milliseconds, rounded to 0.1 ms on the wire: the store's histogram is not finer than that,
/// and `4.232679614626739` only looks precise.
#[derive(Debug, Serialize)]
pub struct Latency {
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub p50: Option<f64>,
    #[serde(serialize_with = "crate::wire::ms_opt")]
    pub p95: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct StatusBody {
    #[serde(with = "crate::wire::time")]
    pub generated_at: DateTime<Utc>,
    pub location: Option<String>,
    pub instance_id: Option<String>,
    pub store: StoreStatus,
    pub environments: Vec<EnvironmentStatus>,
    pub notifications: NotificationStatus,
    /// The last refused config reload, until a reload succeeds: the daemon runs on an older
    /// config than the file says.
    pub reload_rejected: Option<ReloadRejected>,
    /// A fleet's locations and instances that stopped reporting (open incidents).
    pub quiet: Vec<FleetNotice>,
    /// The silences not over yet (active, or yet to start), newest first.
    pub silences: Vec<Silence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReloadRejected {
    #[serde(with = "crate::wire::time")]
    pub at: DateTime<Utc>,
    /// The loader's error: file, line and column, and the key.
    pub error: String,
}

/// Notifications that failed for good recently (a 4xx, or given up): someone was not told.
#[derive(Debug, Serialize)]
pub struct NotificationStatus {
    pub failed_24h: Vec<FailedNotification>,
}

#[derive(Debug, Serialize)]
pub struct StoreStatus {
    pub ok: bool,
    pub error: Option<String>,
    /// Runs waiting in memory for the store, and runs dropped since start because the spool
    /// was full.
    pub spool: SpoolStatus,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SpoolStatus {
    pub queued: u64,
    pub dropped: u64,
}

/// `/readyz`'s answer: 200 only when `ready`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// One line saying why not, when not ready: also the heartbeat's `/fail` body.
    pub reason: Option<String>,
    /// A real write succeeded recently and the last one did not fail.
    pub store_writable: bool,
    pub store_error: Option<String>,
    /// `open`, `deleted`, `replaced` or `overwritten`: whether the file at `storage.path` is the one open.
    pub store_file: &'static str,
    pub scheduler_on_time: bool,
    pub late_environments: Vec<String>,
    /// Pending notifications well past their due time.
    pub notifications_overdue: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_rounded_to_a_tenth_of_a_millisecond_on_the_wire() {
        let latency = Latency {
            p50: Some(4.232679614626739),
            p95: None,
        };
        assert_eq!(
            serde_json::to_value(&latency).unwrap(),
            serde_json::json!({ "p50": 4.2, "p95": null })
        );
    }
}
