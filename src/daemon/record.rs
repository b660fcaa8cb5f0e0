//! Probe and record one result: the one path for scheduled and on-demand probes. The result
//! goes to the metrics, the store, the in-memory views and the alert engine, each failing
//! alone.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::state::DaemonState;
use crate::config::Environment;
use crate::probe::ProbeResult;
use crate::schedule::Runner;

/// How long an on-demand probe waits for its result to be stored before answering anyway.
const STORED_WAIT: Duration = Duration::from_secs(10);

impl DaemonState {
    /// Probe `env` now and record the result. `wait_stored`: answer only once the result is
    /// in the store (or could not be), so that an on-demand probe is in the runs it returns
    /// to; scheduled probes never wait on the disk.
    pub async fn probe_and_record(&self, env: &Environment, wait_stored: bool) -> Arc<ProbeResult> {
        self.probe_slot(env, None, wait_stored).await
    }

    /// [`DaemonState::probe_and_record`] for a scheduled `slot`, which a fleet's runs carry so
    /// that each slot shows once per location.
    async fn probe_slot(
        &self,
        env: &Environment,
        slot: Option<DateTime<Utc>>,
        wait_stored: bool,
    ) -> Arc<ProbeResult> {
        let _permit = self.permits.acquire().await.ok();
        let previous = self.latest(env.name.as_str());
        let history = previous.as_deref().map(std::slice::from_ref).unwrap_or(&[]);
        let result = Arc::new(self.prober().probe_with_history(env, history).await);
        log_result(&result, previous.as_deref());
        self.metrics.record_probe(&result);
        self.traces.record(&result);
        let now = Utc::now();
        let config = self.config();
        let in_maintenance = crate::alert::in_maintenance(&config, &env.name, now);
        let stored = self
            .recorder
            .record(result.clone(), in_maintenance, slot, wait_stored);
        self.remember(Arc::new(result.without_bulk()));
        // Alerting steps in memory; its writes go to the dispatcher, never holding this slot.
        // In a fleet the evaluator steps it from the shared store, across every location.
        if self.fleet.is_none() {
            self.alerts
                .observe(&config, env, &result, in_maintenance, now);
        }
        if let Some(stored) = stored {
            let _ = tokio::time::timeout(STORED_WAIT, stored).await;
        }
        result
    }
}

/// One line per change of verdict, not per probe: thousands of environments on a one-minute
/// schedule would otherwise bury everything else in the log.
fn log_result(result: &ProbeResult, previous: Option<&ProbeResult>) {
    let changed = previous.is_none_or(|previous| previous.verdict != result.verdict);
    if changed {
        tracing::info!(
            environment = %result.environment,
            status = %result.status,
            verdict = %result.verdict,
            total_ms = result.phases_ms.total,
            "{}",
            result.diagnosis
        );
    } else {
        tracing::debug!(environment = %result.environment, verdict = %result.verdict, total_ms = result.phases_ms.total, "probe finished");
    }
}

impl Runner for DaemonState {
    async fn run(&self, env: Arc<Environment>, slot: Option<DateTime<Utc>>) {
        if let Some(fleet) = &self.fleet {
            match slot {
                Some(slot) if !fleet.claim(env.name.as_str(), slot).await => {
                    tracing::debug!(environment = %env.name, %slot, "slot probed by another replica");
                    return;
                }
                // The start-up probe is no slot: only a location's one replica makes it.
                None if !fleet.alone() => return,
                _ => {}
            }
        }
        self.probe_slot(&env, slot, false).await;
    }

    async fn skipped(&self, env: &Environment, slot: DateTime<Utc>) {
        self.metrics.record_skipped(env.name.as_str());
        self.recorder.record_skipped(env.name.as_str(), slot);
    }
}
