//! Probe and record one result: the one path for scheduled and on-demand probes. The result
//! goes to the metrics, the store, the in-memory views and the alert engine, each failing
//! alone.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::state::DaemonState;
use crate::alert::Hold;
use crate::config::{Config, Confirm, Environment};
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
        let mark = Mark {
            // Outside any slot and waited for by nobody: the probe made at start.
            paced: slot.is_none() && !wait_stored,
            ..Mark::default()
        };
        let first = self.probe_and_store(env, slot, mark, wait_stored).await;
        // Alerting steps in memory; its writes go to the dispatcher, never holding this slot.
        // In a fleet the evaluator steps it from the shared store, across every location.
        let config = self.config();
        let policy = config.alert_policy(env);
        let failing = crate::incident::is_failing(first.result.status, &policy);
        if !failing || policy.confirm.attempts == 0 {
            match &self.fleet {
                None => self.observe(&config, env, &first),
                // This location's own view, which pages while the shared store is away.
                Some(fleet) => self.observe_away(fleet, env, slot, &first.result, first.hold),
            }
        } else if !wait_stored {
            // An incident already open paged: the locations' own slots keep it current.
            if let Some(fleet) = &self.fleet
                && self.alerts.open_incident(env.name.as_str()).is_none()
            {
                super::requests::ask(fleet, env, policy.confirm);
            }
            let counted = self.confirm(env, first.clone(), policy.confirm, None).await;
            let config = self.config();
            for run in &counted {
                match &self.fleet {
                    None => self.observe(&config, env, run),
                    Some(fleet) => self.observe_away(fleet, env, slot, &run.result, run.hold),
                }
            }
        }
        // An on-demand failure is shown, and counts only once a scheduled one confirms it:
        // re-probing would keep the caller waiting for `every` times `attempts`.
        first.result
    }

    /// Answer another location's request (see `crate::fleet::requests`): probe `env` now and,
    /// when it fails, confirm it as a scheduled failure here would be. The runs carry
    /// `requested_by`; the evaluator counts them from the shared store like any other.
    pub(super) async fn answer(&self, env: &Environment, requested_by: &str) {
        let mark = Mark {
            requested_by: Some(requested_by),
            ..Mark::default()
        };
        let first = self.probe_and_store(env, None, mark, false).await;
        let policy = self.config().alert_policy(env);
        if crate::incident::is_failing(first.result.status, &policy) && policy.confirm.attempts > 0
        {
            self.confirm(env, first, policy.confirm, Some(requested_by))
                .await;
        }
    }

    /// Probe `env` now, and record the result everywhere but in alerting.
    async fn probe_and_store(
        &self,
        env: &Environment,
        slot: Option<DateTime<Utc>>,
        mark: Mark<'_>,
        wait_stored: bool,
    ) -> Recorded {
        // The probes made at start come all at once: each waits for a place in the writer's
        // queue before it starts, so that they go at the pace the store takes them.
        let reserved = if mark.paced {
            self.store_writer.reserve().await
        } else {
            None
        };
        let _permit = self.permits.acquire().await.ok();
        let previous = self.latest(env.name.as_str());
        let history = previous.as_deref().map(std::slice::from_ref).unwrap_or(&[]);
        // Boxed, so that a task waiting for its turn is small: the probe's own state is large,
        // and 100,000 environments started at once are 100,000 tasks waiting.
        let prober = self.prober();
        let mut result = Box::pin(prober.probe_with_history(env, history)).await;
        result.confirmation = mark.confirmation;
        result.requested_by = mark.requested_by.map(str::to_owned);
        // A fleet's results are compared across hosts: on the database's clock.
        if let Some(fleet) = &self.fleet {
            result.started_at = fleet.to_database_time(result.started_at);
        }
        let result = Arc::new(result);
        log_result(&result, previous.as_deref());
        self.metrics.record_probe(&result);
        self.traces.record(&result);
        let now = Utc::now();
        let hold = self.hold(&self.config(), &env.name, &result, now);
        let stored = self
            .store_writer
            .record(result.clone(), hold, slot, wait_stored, reserved);
        self.remember(Arc::new(result.without_bulk()));
        if let Some(stored) = stored {
            let _ = tokio::time::timeout(STORED_WAIT, stored).await;
        }
        Recorded {
            result,
            hold,
            at: now,
        }
    }

    /// Step alerting with `run`. While an environment it `depends_on` has an incident open,
    /// its notices are held as in a maintenance window: the parent's page already says it,
    /// and a failure that outlasts the parent's is announced by its next failing result.
    fn observe(&self, config: &Config, env: &Environment, run: &Recorded) {
        let hold = Hold {
            dependency: self.failing_parent(env).is_some(),
            ..run.hold
        };
        self.alerts.observe(config, env, &run.result, hold, run.at);
    }

    /// The first environment of `env`'s `depends_on` that is down: an incident open, or its
    /// latest result down. The latter matters when parent and dependent break together (one
    /// load balancer in front of both): the dependent's confirmation may finish before the
    /// parent's incident opens, and it must not page beside its cause.
    pub(super) fn failing_parent<'a>(&self, env: &'a Environment) -> Option<&'a str> {
        env.depends_on.iter().map(String::as_str).find(|parent| {
            self.alerts.open_incident(parent).is_some()
                || self
                    .latest(parent)
                    .is_some_and(|latest| latest.status == crate::probe::Status::Down)
        })
    }

    /// `alert.confirm`: probe a failing environment again, `every` apart; returns the runs that
    /// count. One healthy re-probe makes the series a blip: only that healthy result counts.
    /// When every re-probe fails, the whole series counts, in order, as the consecutive
    /// failures it is. Shutting down leaves it unconfirmed: nothing counts (the probe at start
    /// re-checks).
    async fn confirm(
        &self,
        env: &Environment,
        first: Recorded,
        confirm: Confirm,
        requested_by: Option<&str>,
    ) -> Vec<Recorded> {
        let mut series = vec![first];
        for attempt in 1..=confirm.attempts {
            tokio::select! {
                _ = self.stopping.cancelled() => return Vec::new(),
                _ = tokio::time::sleep(confirm.every) => {}
            }
            let mark = Mark {
                confirmation: Some(attempt),
                requested_by,
                paced: false,
            };
            let run = self.probe_and_store(env, None, mark, false).await;
            let policy = self.config().alert_policy(env);
            if !crate::incident::is_failing(run.result.status, &policy) {
                tracing::info!(environment = %env.name, attempt, "failure not confirmed: a blip");
                return vec![run];
            }
            series.push(run);
        }
        series
    }
}

/// What a run is, beside a probe of the schedule's or of a caller's.
#[derive(Clone, Copy, Default)]
struct Mark<'a> {
    /// Which re-probe of `alert.confirm` it is.
    confirmation: Option<u32>,
    /// The location whose request it answers.
    requested_by: Option<&'a str>,
    /// Waits for a place in the store writer's queue before it starts.
    paced: bool,
}

/// A result as recorded, with what alerting needs to step it later.
#[derive(Clone)]
struct Recorded {
    result: Arc<ProbeResult>,
    /// A maintenance window or a silence held its notifications when it was recorded.
    hold: crate::alert::Hold,
    at: DateTime<Utc>,
}

/// One line per change of verdict, not per probe: thousands of environments on a one-minute
/// schedule would otherwise bury everything else in the log. Milliseconds as the API gives
/// them (to 0.1 ms), not `6.8919999999999995`.
fn log_result(result: &ProbeResult, previous: Option<&ProbeResult>) {
    let changed = previous.is_none_or(|previous| previous.verdict != result.verdict);
    let total_ms = result.phases_ms.total.map(crate::wire::round_ms);
    if changed {
        tracing::info!(
            environment = %result.environment,
            status = %result.status,
            verdict = %result.verdict,
            total_ms,
            "{}",
            result.diagnosis
        );
    } else {
        tracing::debug!(environment = %result.environment, verdict = %result.verdict, total_ms, "probe finished");
    }
}

impl Runner for DaemonState {
    type Claim = Option<crate::fleet::Claim>;

    fn now(&self) -> DateTime<Utc> {
        self.fleet
            .as_ref()
            .map_or_else(Utc::now, |fleet| fleet.now())
    }

    fn claim_lead(&self) -> Duration {
        match self.fleet {
            Some(_) => crate::fleet::CLAIM_AHEAD,
            None => Duration::ZERO,
        }
    }

    fn claim_ahead(&self, env: &Environment, slot: DateTime<Utc>) -> Self::Claim {
        let fleet = self.fleet.as_ref()?;
        Some(fleet.claim_ahead(env.name.as_str(), slot))
    }

    async fn decide(&self, env: &Environment, slot: DateTime<Utc>, claim: Self::Claim) -> bool {
        match (&self.fleet, claim) {
            (Some(fleet), Some(claim)) => fleet.decide(env.name.as_str(), slot, claim).await,
            _ => true,
        }
    }

    async fn run(&self, env: Arc<Environment>, slot: Option<DateTime<Utc>>) {
        // The start-up probe is no slot: only a location's one replica makes it.
        if let Some(fleet) = &self.fleet {
            if slot.is_none() && !fleet.makes_start_up_probe(env.name.as_str()) {
                return;
            }
            fleet.probing();
        }
        self.probe_slot(&env, slot, false).await;
    }

    async fn skipped(&self, env: &Environment, slot: DateTime<Utc>) {
        self.metrics.record_skipped(env.name.as_str());
        self.store_writer.record_skipped(env.name.as_str(), slot);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::probe::{Status, Verdict};

    /// What `log_result` writes, as text.
    fn logged(result: &ProbeResult, previous: Option<&ProbeResult>) -> String {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || log_result(result, previous));
        String::from_utf8(buffer.lock().unwrap().clone()).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_give_milliseconds_to_a_tenth() {
        let mut result =
            ProbeResult::note("api", Utc::now(), Status::Up, Verdict::Ok, "fine".into());
        result.phases_ms.total = Some(6.8919999999999995);
        let changed = logged(&result, None);
        assert!(changed.contains("total_ms=6.9"), "{changed}");
        let same = logged(&result, Some(&result));
        assert!(
            same.contains("probe finished") && same.contains("total_ms=6.9"),
            "{same}"
        );
    }
}
