//! Each SLO environment's burn-rate alerts, evaluated on the SLO loop's timer (never per
//! probe): the windows' counts from the store, the pure step of [`crate::slo::burn`], and a
//! burn that starts or ends handed to the alert engine ([`crate::alert::burn`]).
//!
//! Whether a burn goes on is read from the store on every pass (the open burn records), not
//! kept in memory: a restart, or a fleet instance taking the evaluator over, neither sends a
//! burn twice nor forgets to resolve one. Only the instance that evaluates alerts notifies;
//! every instance shows the rates.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::state::DaemonState;
use crate::alert::burn::{SloBurnInfo, parse_subject};
use crate::config::{Config, Environment, Slo};
use crate::slo::SloReport;
use crate::slo::burn::{self, BurnStatus, Measure, Sentence, Speed, Transition};
use crate::store::{DeliveryState, IncidentFilter, IncidentState, StoreError};

/// Open incidents read at most, burn records among them: far more than are ever open at once.
const OPEN_KEPT: u32 = 1000;

/// A burn going on: its record's id, since when, and whether its start went out (was not
/// held): a burn that started in a maintenance window ends as quietly as it started.
type Burning = (i64, DateTime<Utc>, bool);

/// Evaluate every SLO environment's two speeds at `now` and put their state in `reports`.
pub(super) async fn evaluate(
    state: &DaemonState,
    config: &Arc<Config>,
    reports: &mut HashMap<String, SloReport>,
    now: DateTime<Utc>,
) {
    let burning = match open_burns(state).await {
        Ok(burning) => burning,
        Err(err) => return state.store_health.failed(&err.to_string()),
    };
    let notifies = state.fleet.as_ref().is_none_or(|fleet| fleet.is_leading());
    for env in &config.environments {
        let name = env.name.as_str();
        let (Some(slo), Some(report)) = (env.slo, reports.get_mut(name)) else {
            continue;
        };
        let windows = match state.store.runs().burn_windows(name, now).await {
            Ok(windows) => windows,
            Err(err) => {
                state.store_health.failed(&err.to_string());
                continue;
            }
        };
        let mut statuses = Vec::with_capacity(Speed::ALL.len());
        for speed in Speed::ALL {
            let measure = Measure::of(speed, slo.objective, &windows);
            let mut current = burning.get(&(speed, name.to_owned())).copied();
            if notifies {
                let pass = Pass {
                    state,
                    config,
                    env,
                    slo,
                    budget_remaining: report.budget_remaining,
                    now,
                };
                current = pass.apply(speed, &measure, current).await;
            }
            let shown = current.map(|(id, since, _)| (id, since));
            statuses.push(BurnStatus::new(speed, &measure, shown));
        }
        report.burns = statuses;
    }
    if notifies {
        drop_unmeasured(state, config, &burning, now).await;
    }
}

/// Close the burns of environments that no longer have an `slo`.
async fn drop_unmeasured(
    state: &DaemonState,
    config: &Config,
    burning: &HashMap<(Speed, String), Burning>,
    now: DateTime<Utc>,
) {
    for ((speed, env), (id, _, _)) in burning {
        if config.environment(env).is_some_and(|e| e.slo.is_some()) {
            continue;
        }
        tracing::info!(environment = %env, speed = speed.as_str(), "SLO gone: burn closed");
        if let Err(err) = state.alerts.drop_burn(*speed, env, *id, now).await {
            state
                .store_health
                .failed(&format!("SLO burn not closed: {err}"));
        }
    }
}

/// The open burn records, by speed and environment.
async fn open_burns(state: &DaemonState) -> Result<HashMap<(Speed, String), Burning>, StoreError> {
    let open = state
        .store
        .alerts()
        .incidents(&IncidentFilter {
            state: Some(IncidentState::Open),
            environment: None,
            limit: OPEN_KEPT,
        })
        .await?;
    Ok(open
        .into_iter()
        .filter_map(|i| {
            let (speed, env) = parse_subject(&i.environment)?;
            let announced = i
                .notifications
                .iter()
                .any(|n| n.outcome != DeliveryState::Held);
            Some(((speed, env.to_owned()), (i.id, i.started_at, announced)))
        })
        .collect())
}

/// One environment's evaluation.
struct Pass<'a> {
    state: &'a DaemonState,
    config: &'a Arc<Config>,
    env: &'a Environment,
    slo: Slo,
    budget_remaining: Option<f64>,
    now: DateTime<Utc>,
}

impl Pass<'_> {
    /// Step one speed; a write the store refused leaves the burn as it was, for the next pass
    /// to try again.
    async fn apply(
        &self,
        speed: Speed,
        measure: &Measure,
        current: Option<Burning>,
    ) -> Option<Burning> {
        let since = current.map(|(_, since, _)| since);
        let name = self.env.name.as_str();
        let held = self.held();
        let written = match burn::step(speed, measure, since, self.now) {
            Transition::Quiet => return None,
            Transition::Holds { .. } => return current,
            Transition::Starts { at } => {
                let info = self.info(speed, measure, 0, at, None);
                tracing::warn!(environment = %name, speed = speed.as_str(), held, "{}", info.summary);
                let alerts = &self.state.alerts;
                alerts
                    .start_burn(self.config, self.env, info, held)
                    .await
                    .map(|id| Some((id, at, !held)))
            }
            Transition::Ends { since, at } => {
                let (id, announced) = current.map_or((0, false), |(id, _, a)| (id, a));
                let held = held || !announced;
                let info = self.info(speed, measure, id, since, Some(at));
                tracing::info!(environment = %name, speed = speed.as_str(), held, "{}", info.summary);
                let alerts = &self.state.alerts;
                alerts
                    .end_burn(self.config, self.env, info, held)
                    .await
                    .map(|()| None)
            }
        };
        written.unwrap_or_else(|err| {
            self.state
                .store_health
                .failed(&format!("SLO burn not recorded: {err}"));
            current
        })
    }

    /// A maintenance window or a silence holds the environment's burn notifications back.
    fn held(&self) -> bool {
        let silences = self.state.current_silences(self.now);
        crate::alert::in_maintenance(self.config, &self.env.name, self.now)
            || crate::oncall::silence::covering_burn(&silences, self.env.name.as_str(), self.now)
                .is_some()
    }

    fn info(
        &self,
        speed: Speed,
        measure: &Measure,
        id: i64,
        started_at: DateTime<Utc>,
        resolved_at: Option<DateTime<Utc>>,
    ) -> SloBurnInfo {
        let summary = Sentence {
            environment: self.env.name.as_str(),
            speed,
            measure,
            objective: self.slo.objective,
            slo_window: self.slo.window,
            budget_remaining: self.budget_remaining,
            lasted_s: resolved_at.map(|at| (at - started_at).num_seconds()),
        }
        .text();
        SloBurnInfo {
            id,
            speed,
            severity: speed.severity().to_owned(),
            action: speed.action().to_owned(),
            state: if resolved_at.is_some() {
                "resolved"
            } else {
                "firing"
            }
            .to_owned(),
            objective: self.slo.objective,
            window: crate::slo::window_text(self.slo.window),
            threshold: speed.threshold(),
            long_window: burn::window_text(speed.long()),
            short_window: burn::window_text(speed.short()),
            long_burn_rate: measure.long,
            short_burn_rate: measure.short,
            budget_remaining: self.budget_remaining,
            started_at,
            resolved_at,
            summary,
        }
    }
}
