//! Each SLO environment's report, recomputed from the store's daily counts every
//! [`SLO_EVERY`]: the status page, the API and `wsprobe.slo.budget_remaining` read memory.
//! The burn-rate alerts are evaluated on the same timer (`slo_burn.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::state::DaemonState;
use crate::slo::{self, Day, SloReport};

/// How often the reports are recomputed: one small query per SLO environment (a window's
/// hourly rows, at most 9,600), and a budget changes slowly.
const SLO_EVERY: Duration = Duration::from_secs(10);

pub(super) async fn refresh_slo(state: Arc<DaemonState>, stop: CancellationToken) {
    loop {
        refresh(&state).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(SLO_EVERY) => {}
        }
    }
}

/// Recompute every report; one the store cannot read keeps its last figures, and the failure
/// is reported through the store health.
async fn refresh(state: &DaemonState) {
    let config = state.config();
    let previous = state.slo_reports();
    let now = Utc::now().timestamp();
    let mut reports = HashMap::new();
    for env in &config.environments {
        let name = env.name.as_str();
        let Some(objective) = env.slo else {
            state.metrics.set_slo_budget(name, None);
            continue;
        };
        let from = slo::first_hour(now, objective.window);
        match state
            .store
            .runs()
            .days_outside_maintenance(name, from)
            .await
        {
            Ok(days) => {
                let days: Vec<Day> = days
                    .into_iter()
                    .map(|d| Day {
                        day: d.day,
                        runs: d.runs,
                        serving: d.serving,
                    })
                    .collect();
                let report = SloReport::of(objective.objective, objective.window, &days);
                reports.insert(name.to_owned(), report);
            }
            Err(err) => {
                state.store_health.failed(&err.to_string());
                if let Some(kept) = previous.get(name) {
                    reports.insert(name.to_owned(), kept.clone());
                }
            }
        }
        let budget = reports.get(name).and_then(|r| r.budget_remaining);
        state.metrics.set_slo_budget(name, budget);
    }
    super::slo_burn::evaluate(state, &config, &mut reports, Utc::now()).await;
    state.set_slo_reports(reports);
}
