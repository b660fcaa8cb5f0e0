//! What the scheduler, the web layer and the API share while the daemon runs: the running
//! config, the store, the alert engine, and the in-memory views of the latest results.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Semaphore;

use super::store_health::StoreHealth;
use super::store_writer::StoreWriter;
use crate::alert::Alerts;
use crate::config::Config;
use crate::fleet::Fleet;
use crate::probe::{ProbeResult, Prober};
use crate::schedule::Board;
use crate::slo::SloReport;
use crate::store::{LocationRun, Store, Summary};
use crate::telemetry::{Metrics, Traces};
use crate::web::{RecentRun, ReloadRejected};

/// Probes in flight at once across all environments: enough for thousands of environments on
/// a one-minute schedule, few enough that a burst cannot exhaust file descriptors.
pub const MAX_CONCURRENT_PROBES: usize = 512;
/// Results kept in memory per environment for the status page's bar of recent results.
pub const RECENT_KEPT: usize = 40;

/// How long a page or the API waits for a read of the store before showing what memory has:
/// a store that is away must not make the status page hang.
pub(super) const STORE_READ_LIMIT: Duration = Duration::from_secs(2);

pub struct DaemonState {
    config: RwLock<Arc<Config>>,
    prober: RwLock<Arc<Prober>>,
    pub(super) store: Store,
    pub(super) board: Arc<Board>,
    /// OTLP metrics; a disabled one when export is off. Kept across reloads (one provider for
    /// the process: counters stay continuous); reloads only change which environments report.
    pub(super) metrics: Metrics,
    /// One trace per probe over OTLP; a disabled one when export is off.
    pub(super) traces: Traces,
    /// Incidents and notifications: fed by every result, drained by the dispatcher.
    pub(super) alerts: Alerts,
    pub(super) store_health: Arc<StoreHealth>,
    /// The one way results reach the store: queued, never waited for by a scheduled probe.
    pub(super) store_writer: StoreWriter,
    /// The newest result per environment without its bulk (headers and messages), kept in
    /// memory so the status page and the diagnosis still work while the store is failing.
    latest: Mutex<HashMap<String, Arc<ProbeResult>>>,
    /// Newest first, at most `RECENT_KEPT` per environment.
    recent: Mutex<HashMap<String, VecDeque<RecentRun>>>,
    summaries: super::summaries::Summaries,
    /// Each SLO environment's report, refreshed by the SLO loop (`slo.rs`).
    slo_reports: RwLock<Arc<HashMap<String, SloReport>>>,
    /// Bumped whenever something the status views show changes (a result, a reload).
    generation: AtomicU64,
    /// The last config reload that was refused, until one succeeds: shown on the status page,
    /// since the log line alone is easy to miss and the running config is now not the file's.
    reload_rejected: RwLock<Option<ReloadRejected>>,
    pub(super) permits: Semaphore,
    /// This instance's place in a fleet, when the store is a shared PostgreSQL.
    pub(super) fleet: Option<Arc<Fleet>>,
    /// A fleet's newest result per environment and location, refreshed by the membership
    /// loop: the status views read memory, never the shared store.
    pub(super) locations: Mutex<Arc<Vec<LocationRun>>>,
    /// A fleet's open incidents about itself, refreshed with the locations.
    pub(super) quiet: Mutex<Vec<crate::web::FleetNotice>>,
    /// The silences not yet over, newest first: what recording a result matches against,
    /// never reading the store (`oncall.rs`).
    pub(super) silences: RwLock<Arc<Vec<crate::oncall::Silence>>>,
    /// Alerting without the shared store, while it is away (`away.rs`).
    pub(super) away: super::away::Away,
    /// Cancelled at shutdown: what waits between probes (a confirmation's pause) stops.
    pub(super) stopping: tokio_util::sync::CancellationToken,
}

impl DaemonState {
    pub(super) fn new(
        config: Config,
        store: Store,
        metrics: Metrics,
        traces: Traces,
        alerts: Alerts,
        store_writer: StoreWriter,
        store_health: Arc<StoreHealth>,
    ) -> Self {
        let fleet = store.fleet().map(|shared| Arc::new(Fleet::new(shared)));
        crate::telemetry::scrub_logs_of(&config);
        DaemonState {
            prober: RwLock::new(Arc::new(Prober::for_config(&config))),
            config: RwLock::new(Arc::new(config)),
            store,
            board: Arc::new(Board::default()),
            metrics,
            traces,
            alerts,
            store_health,
            store_writer,
            latest: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
            summaries: Default::default(),
            slo_reports: RwLock::new(Arc::new(HashMap::new())),
            generation: AtomicU64::new(0),
            reload_rejected: RwLock::new(None),
            permits: Semaphore::new(MAX_CONCURRENT_PROBES),
            fleet,
            locations: Mutex::new(Arc::new(Vec::new())),
            quiet: Mutex::new(Vec::new()),
            silences: RwLock::new(Arc::new(Vec::new())),
            away: super::away::Away::default(),
            stopping: tokio_util::sync::CancellationToken::new(),
        }
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().clone()
    }

    pub(super) fn prober(&self) -> Arc<Prober> {
        self.prober.read().clone()
    }

    /// Swap in a new config and the prober built for it.
    pub(super) fn replace_config(&self, config: Config) {
        crate::telemetry::scrub_logs_of(&config);
        *self.prober.write() = Arc::new(Prober::for_config(&config));
        *self.config.write() = Arc::new(config);
        self.changed();
    }

    /// Remember a refused reload; `false` when it is the same refusal as the one already
    /// remembered (the file watcher and a SIGHUP both saw the same edit), so it is told once.
    pub(super) fn reload_rejected(&self, error: String) -> bool {
        let mut rejected = self.reload_rejected.write();
        if rejected.as_ref().is_some_and(|r| r.error == error) {
            return false;
        }
        *rejected = Some(ReloadRejected {
            at: Utc::now(),
            error,
        });
        drop(rejected);
        self.changed();
        true
    }

    pub(super) fn reload_accepted(&self) {
        *self.reload_rejected.write() = None;
    }

    pub fn last_rejected_reload(&self) -> Option<ReloadRejected> {
        self.reload_rejected.read().clone()
    }

    pub fn latest(&self, name: &str) -> Option<Arc<ProbeResult>> {
        self.latest.lock().get(name).cloned()
    }

    /// The newest results of an environment, newest first.
    pub fn recent(&self, name: &str) -> Vec<RecentRun> {
        self.recent
            .lock()
            .get(name)
            .map(|runs| runs.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Uptime and latency per environment (`summaries.rs`).
    pub async fn summaries(&self) -> Arc<HashMap<String, Summary>> {
        self.summaries.get(&self.store, &self.store_health).await
    }

    /// The SLO reports as last refreshed.
    pub fn slo_reports(&self) -> Arc<HashMap<String, SloReport>> {
        self.slo_reports.read().clone()
    }

    /// Replace the SLO reports; the views are told only when a figure changed.
    pub(super) fn set_slo_reports(&self, reports: HashMap<String, SloReport>) {
        let mut current = self.slo_reports.write();
        if **current != reports {
            *current = Arc::new(reports);
            drop(current);
            self.changed();
        }
    }

    /// Whether the daemon is doing its job, from what it already knows: memory only, never
    /// the store (a store that is gone or locked must not make `/readyz` hang); the store
    /// check loop keeps the write signals and the outbox's overdue count fresh.
    pub async fn readiness(&self) -> crate::web::Readiness {
        let now = Utc::now();
        let signals = super::readiness::Signals {
            write_error: self.store_health.error(),
            failing_since: self.store_health.failing_since(),
            shared: self.store.target().map(str::to_owned),
            path: Some(self.config().storage.path.display().to_string()),
            last_write_ok: self.store_health.last_ok(),
            file: self.store.file_status(),
            late: self.board.late(now),
            overdue_notifications: self.store_health.overdue(),
        };
        super::readiness::decide(&signals, now)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(super) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn remember(&self, result: Arc<ProbeResult>) {
        self.changed();
        let name = result.environment.clone();
        let run: RecentRun = (result.started_at, result.status, result.verdict);
        self.latest.lock().insert(name.clone(), result);
        let mut recent = self.recent.lock();
        let runs = recent.entry(name.clone()).or_default();
        runs.push_front(run);
        runs.truncate(RECENT_KEPT);
        drop(recent);
        self.summaries.first_result_of(&name);
    }

    /// Fill the in-memory views from the store, so a restart shows history at once. Also
    /// when the store is first reached after start: what was probed since is newer and kept,
    /// the stored history goes behind it.
    pub(super) async fn load_history(&self) {
        match self.store.runs().latest().await {
            Ok(runs) => {
                let mut latest = self.latest.lock();
                for run in runs {
                    latest
                        .entry(run.result.environment.clone())
                        .or_insert_with(|| Arc::new(run.result.without_bulk()));
                }
            }
            Err(err) => self.store_health.failed(&err.to_string()),
        }
        let config = self.config();
        for env in &config.environments {
            let name = env.name.as_str();
            if let Ok(runs) = self
                .store
                .runs()
                .recent_statuses(name, RECENT_KEPT as u32)
                .await
            {
                let mut recent = self.recent.lock();
                let kept = recent.entry(name.to_owned()).or_default();
                append_older(kept, runs);
            }
        }
    }
}

/// Put `stored` (newest first) behind `kept` (newest first): only what is older than all of
/// `kept`, up to [`RECENT_KEPT`] in all.
fn append_older(kept: &mut VecDeque<RecentRun>, stored: Vec<RecentRun>) {
    let oldest = kept.back().map(|run| run.0);
    for run in stored {
        if kept.len() >= RECENT_KEPT {
            break;
        }
        if oldest.is_none_or(|oldest| run.0 < oldest) {
            kept.push_back(run);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike};

    use super::*;
    use crate::probe::{Status, Verdict};

    fn run(second: u32) -> RecentRun {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, second).unwrap();
        (at, Status::Up, Verdict::Ok)
    }

    #[test]
    fn stored_history_goes_behind_what_was_probed_since_start() {
        let mut kept: VecDeque<RecentRun> = [run(50), run(40)].into();
        // The store has the runs made since start too (flushed from the spool).
        append_older(&mut kept, vec![run(50), run(40), run(30), run(20)]);
        let seconds: Vec<u32> = kept.iter().map(|r| r.0.second()).collect();
        assert_eq!(seconds, [50, 40, 30, 20]);

        let mut empty = VecDeque::new();
        append_older(&mut empty, (0..50).rev().map(run).collect());
        assert_eq!(empty.len(), RECENT_KEPT);
        assert_eq!(empty.front().unwrap().0.second(), 49);
    }
}
