//! The daemon as the web layer sees it: [`StatusSource`] over the running state. Everything
//! comes from memory (seeded from the store at start, so it survives a failing store) and the
//! cached summaries — no per-environment query.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;

use super::state::DaemonState;
use crate::config::Config;
use crate::probe::ProbeResult;
use crate::schedule;
use crate::store::{LocationRun, ReadOnlyStore, Summary};
use crate::web::{
    EnvironmentStatus, Latency, LocationStatus, NotificationStatus, Readiness, RecentRun,
    StatusBody, StatusSource, StoreStatus, Uptime,
};

/// Permanent notification failures listed on the status page at most.
const FAILED_SHOWN: u32 = 20;

impl StatusSource for DaemonState {
    fn prometheus_text(&self) -> Option<String> {
        self.metrics.prometheus_text()
    }

    fn generation(&self) -> u64 {
        DaemonState::generation(self)
    }

    fn config(&self) -> Arc<Config> {
        DaemonState::config(self)
    }

    async fn status(&self) -> StatusBody {
        let now = Utc::now();
        let config = self.config();
        let summaries = self.summaries().await;
        let locations = self.locations.lock().clone();
        let environments = config
            .environments
            .iter()
            .map(|env| {
                let name = env.name.as_str();
                let summary = summaries.get(name).cloned().unwrap_or_default();
                let mut status =
                    environment_status(name, self.latest(name), &self.board.get(name), &summary);
                status.maintenance = crate::alert::maintenance::active(&config, &env.name, now);
                status.in_maintenance = status.maintenance.is_some();
                status.open_incident = self.alerts.open_incident(name);
                if self.fleet.is_some() {
                    let stale_after = crate::fleet::shortest_interval([env.as_ref()], now)
                        * crate::fleet::quiet::QUIET_INTERVALS;
                    let stale_after =
                        chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
                    status.locations = locations
                        .iter()
                        .filter(|cell| cell.environment == name)
                        .map(|cell| {
                            let reporting = now - cell.started_at <= stale_after;
                            (cell.location.clone(), location_status(cell, reporting))
                        })
                        .collect();
                    across_locations(&mut status, config.alert_policy(env).min_locations);
                } else if let (Some(location), Some(last)) = (&config.location, &status.last_result)
                {
                    status.locations.insert(
                        location.clone(),
                        LocationStatus {
                            status: last.status.as_str().to_owned(),
                            verdict: last.verdict.as_str().to_owned(),
                            diagnosis: last.diagnosis.clone(),
                            started_at: last.started_at,
                            close_code: last.close_code,
                            reporting: true,
                        },
                    );
                }
                status
            })
            .collect();
        let failed_24h = self
            .store
            .alerts()
            .failed_notifications(now - chrono::Duration::hours(24), FAILED_SHOWN)
            .await
            .unwrap_or_default();
        let error = self
            .store_health
            .error()
            .map(|(at, e)| format!("{e} (since {})", crate::wire::format(at)));
        StatusBody {
            generated_at: now,
            location: config.location.clone(),
            instance_id: Some(self.store.instance_id().to_owned()),
            store: StoreStatus {
                ok: error.is_none(),
                error,
            },
            environments,
            notifications: NotificationStatus { failed_24h },
            reload_rejected: self.last_rejected_reload(),
            quiet: self.quiet.lock().clone(),
        }
    }

    fn recent(&self, environment: &str) -> Vec<RecentRun> {
        DaemonState::recent(self, environment)
    }

    async fn probe_now(&self, environment: &str) -> Option<ProbeResult> {
        let config = self.config();
        let env = config.environment(environment)?;
        Some((*self.probe_and_record(env, true).await).clone())
    }

    async fn readiness(&self) -> Readiness {
        DaemonState::readiness(self).await
    }

    fn store(&self) -> ReadOnlyStore {
        self.store.read_only()
    }
}

fn environment_status(
    name: &str,
    last: Option<Arc<ProbeResult>>,
    board: &schedule::Entry,
    summary: &Summary,
) -> EnvironmentStatus {
    let uptime = Uptime {
        day: summary.uptime_24h,
        week: summary.uptime_7d,
        month: summary.uptime_30d,
    };
    EnvironmentStatus {
        name: name.to_owned(),
        status: last
            .as_ref()
            .map(|r| r.status.as_str().to_owned())
            .unwrap_or_else(|| "unknown".into()),
        verdict: last.as_ref().map(|r| r.verdict.as_str().to_owned()),
        diagnosis: last.as_ref().map(|r| r.diagnosis.clone()),
        close_code: last.as_ref().and_then(|r| r.close_code),
        last_run: last.as_ref().map(|r| r.started_at),
        next_run: board.next_run,
        running: board.running,
        skipped_slots: board.skipped,
        uptime,
        uptime_percent: uptime.percent(),
        latency_ms: Latency {
            p50: summary.p50_ms_24h,
            p95: summary.p95_ms_24h,
        },
        last_result: last,
        in_maintenance: false,
        maintenance: None,
        open_incident: None,
        locations: BTreeMap::new(),
    }
}

fn location_status(cell: &LocationRun, reporting: bool) -> LocationStatus {
    LocationStatus {
        status: cell.status.as_str().to_owned(),
        verdict: cell.verdict.as_str().to_owned(),
        diagnosis: cell.diagnosis.clone(),
        started_at: cell.started_at,
        close_code: cell.close_code,
        reporting,
    }
}

/// A fleet's overall status from its reporting locations: down when `min_locations` of them
/// are (all, when fewer report), degraded when some are down or degraded, and the diagnosis
/// says which. Locations silent for 3 intervals stay in the map but count for nothing.
fn across_locations(status: &mut EnvironmentStatus, min_locations: u32) {
    let reporting: Vec<(&String, &LocationStatus)> = status
        .locations
        .iter()
        .filter(|(_, cell)| cell.reporting)
        .collect();
    if reporting.is_empty() {
        return;
    }
    let (down, up): (Vec<_>, Vec<_>) = reporting
        .iter()
        .copied()
        .partition(|(_, cell)| cell.status == "down");
    let names = |cells: &[(&String, &LocationStatus)]| -> Vec<String> {
        cells.iter().map(|(name, _)| (*name).clone()).collect()
    };
    let newest = |cells: &[(&String, &LocationStatus)]| {
        cells
            .iter()
            .map(|(_, cell)| *cell)
            .max_by_key(|cell| cell.started_at)
            .cloned()
    };
    let overall = if crate::fleet::evaluate::enough_down(down.len(), reporting.len(), min_locations)
    {
        "down"
    } else if !down.is_empty() || up.iter().any(|(_, cell)| cell.status == "degraded") {
        "degraded"
    } else {
        "up"
    };
    let (across, shown) = match newest(&down) {
        Some(cell) => (
            crate::fleet::evaluate::across(&names(&down), &names(&up)),
            cell,
        ),
        None => (String::new(), newest(&up).expect("a reporting location")),
    };
    status.status = overall.to_owned();
    status.verdict = Some(shown.verdict.clone());
    status.close_code = shown.close_code;
    status.diagnosis = Some(if across.is_empty() {
        shown.diagnosis.clone()
    } else {
        format!("{across} {}", shown.diagnosis)
    });
    status.last_run = reporting.iter().map(|(_, cell)| cell.started_at).max();
}
