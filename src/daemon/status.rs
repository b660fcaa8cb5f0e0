//! The daemon as the web layer sees it: [`StatusSource`] over the running state. Everything
//! comes from memory (seeded from the store at start, so it survives a failing store) and the
//! cached summaries — no per-environment query.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::Utc;

use super::state::DaemonState;
use crate::config::Config;
use crate::fleet::across::AcrossLocations;
use crate::fleet::quiet;
use crate::oncall::{Acknowledgement, NewSilence, Silence};
use crate::probe::{ProbeResult, Status};
use crate::schedule;
use crate::store::{
    AckOutcome, ExpireOutcome, LocationRun, NewNote, NoteRecord, ReadOnlyStore, StoreError, Summary,
};
use crate::web::{
    EnvironmentStatus, Latency, LocationStatus, NotificationStatus, Readiness, RecentRun,
    SloStatus, StatusBody, StatusSource, StoreStatus, Uptime,
};

/// A fleet's cells by environment: a status of 100,000 environments must not scan every
/// location's cells once per environment.
fn cells_by_environment(cells: &[LocationRun]) -> HashMap<&str, Vec<&LocationRun>> {
    let mut by_environment: HashMap<&str, Vec<&LocationRun>> = HashMap::new();
    for cell in cells {
        by_environment
            .entry(cell.environment.as_str())
            .or_default()
            .push(cell);
    }
    by_environment
}

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
        let slo_reports = self.slo_reports();
        let locations = self.locations.lock().clone();
        let cells = cells_by_environment(&locations);
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
                status.silenced_by = status
                    .last_result
                    .as_ref()
                    .and_then(|last| self.hold(&config, &env.name, last, now).silence);
                status.slo = env
                    .slo
                    .map(|slo| SloStatus::new(&slo, slo_reports.get(name)));
                if status.status == Some(crate::probe::Status::Down) {
                    status.caused_by = self.failing_parent(env).map(str::to_owned);
                }
                if self.fleet.is_some() {
                    let interval = crate::fleet::shortest_interval([env.as_ref()], now);
                    status.locations = cells
                        .get(name)
                        .into_iter()
                        .flatten()
                        .map(|cell| {
                            let reporting = !quiet::is_quiet(cell.started_at, now, interval);
                            (cell.location.clone(), location_status(cell, reporting))
                        })
                        .collect();
                    across_locations(&mut status, config.alert_policy(env).min_locations);
                } else if let (Some(location), Some(last)) = (&config.location, &status.last_result)
                {
                    let own = own_cell(location, last);
                    status
                        .locations
                        .insert(own.location.clone(), location_status(&own, true));
                }
                status
            })
            .collect();
        // A store that does not answer leaves the list empty rather than the page waiting.
        let failed_24h = tokio::time::timeout(
            super::state::STORE_READ_LIMIT,
            self.store
                .alerts()
                .failed_notifications(now - chrono::Duration::hours(24), FAILED_SHOWN),
        )
        .await
        .ok()
        .and_then(Result::ok)
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
                spool: self.store_writer.spool(),
            },
            environments,
            notifications: NotificationStatus { failed_24h },
            reload_rejected: self.last_rejected_reload(),
            quiet: self.quiet.lock().clone(),
            silences: self.current_silences(now),
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

    async fn add_note(&self, id: i64, note: NewNote<'_>) -> Result<Option<NoteRecord>, StoreError> {
        let added = self.alerts.add_note(&self.config(), id, &note).await?;
        if added.is_some() {
            // The pages show notes: a render from before this one is stale.
            self.changed();
        }
        Ok(added)
    }

    async fn readiness(&self) -> Readiness {
        DaemonState::readiness(self).await
    }

    async fn acknowledge(&self, id: i64, ack: Acknowledgement) -> Result<AckOutcome, StoreError> {
        DaemonState::acknowledge(self, id, &ack).await
    }

    async fn add_silence(&self, silence: NewSilence) -> Result<Silence, StoreError> {
        DaemonState::add_silence(self, &silence).await
    }

    async fn expire_silence(&self, id: i64) -> Result<ExpireOutcome, StoreError> {
        DaemonState::expire_silence(self, id).await
    }

    fn store(&self) -> ReadOnlyStore {
        self.store.read_only()
    }
}

fn environment_status(
    name: &str,
    last: Option<Arc<ProbeResult>>,
    board: &schedule::EnvironmentSchedule,
    summary: &Summary,
) -> EnvironmentStatus {
    let uptime = Uptime {
        day: summary.uptime_24h,
        week: summary.uptime_7d,
        month: summary.uptime_30d,
    };
    EnvironmentStatus {
        name: name.to_owned(),
        status: last.as_ref().map(|r| r.status),
        verdict: last.as_ref().map(|r| r.verdict),
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
        silenced_by: None,
        caused_by: None,
        locations: BTreeMap::new(),
        slo: None,
    }
}

/// A single node's own location, as the one cell of its matrix.
fn own_cell(location: &str, last: &ProbeResult) -> LocationRun {
    LocationRun {
        environment: last.environment.clone(),
        location: location.to_owned(),
        started_at: last.started_at,
        status: last.status,
        verdict: last.verdict,
        diagnosis: last.diagnosis.clone(),
        close_code: last.close_code,
    }
}

fn location_status(cell: &LocationRun, reporting: bool) -> LocationStatus {
    LocationStatus {
        status: cell.status,
        verdict: cell.verdict,
        diagnosis: cell.diagnosis.clone(),
        started_at: cell.started_at,
        close_code: cell.close_code,
        reporting,
    }
}

/// A fleet's overall status from its reporting locations ([`AcrossLocations`]), and the
/// diagnosis says which. Locations silent for 3 intervals stay in the map but count for
/// nothing.
fn across_locations(status: &mut EnvironmentStatus, min_locations: u32) {
    let reporting: Vec<(&String, &LocationStatus)> = status
        .locations
        .iter()
        .filter(|(_, cell)| cell.reporting)
        .collect();
    let newest = |down_only: bool| {
        reporting
            .iter()
            .filter(|(_, cell)| !down_only || cell.status == Status::Down)
            .map(|(_, cell)| *cell)
            .max_by_key(|cell| cell.started_at)
            .cloned()
    };
    // The newest down location's result speaks for the environment, else the newest one.
    let Some(shown) = newest(true).or_else(|| newest(false)) else {
        return;
    };
    let across = AcrossLocations::judge(
        reporting
            .iter()
            .map(|(name, cell)| (name.as_str(), cell.status)),
        reporting.len(),
        min_locations,
    );
    let sentence = across.sentence();
    status.status = Some(across.status);
    status.verdict = Some(shown.verdict);
    status.close_code = shown.close_code;
    status.diagnosis = Some(if sentence.is_empty() {
        shown.diagnosis.clone()
    } else {
        format!("{sentence} {}", shown.diagnosis)
    });
    status.last_run = reporting.iter().map(|(_, cell)| cell.started_at).max();
}
