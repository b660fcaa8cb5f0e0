//! The fleet's loops (`crate::fleet` holds the decisions): membership (alive, who the
//! replicas are, which incidents are open) and the evaluator, which runs only while this
//! instance holds the lease: it reads every location's results from the shared store, steps
//! the incidents across locations and the quiet watch, and delivers the outbox.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::loops;
use super::state::DaemonState;
use crate::alert::{Hold, Subject};
use crate::config::{AlertPolicy, Config, Flapping};
use crate::fleet::evaluate::LocationBoard;
use crate::fleet::quiet;
use crate::fleet::{
    EVALUATOR_LEASE, Fleet, LEASE_EVERY, LEASE_TTL, MEMBERSHIP_EVERY, shortest_interval,
};
use crate::probe::{ProbeResult, Status, Verdict};
use crate::store::{IncidentFilter, IncidentState, StoreError};
use crate::web::FleetNotice;

/// Results read per query while catching up.
const BATCH: u32 = 1000;
/// Results per environment and location a new evaluator replays to learn each location's
/// state: more than any threshold needs.
const REPLAY: u32 = 20;

pub(super) async fn membership(
    state: Arc<DaemonState>,
    fleet: Arc<Fleet>,
    stop: CancellationToken,
) {
    // Rounds start every MEMBERSHIP_EVERY, however long the last took (a round slower than
    // that is followed at once): the others judge this replica alive by the rounds' gaps.
    let mut rounds = tokio::time::interval(MEMBERSHIP_EVERY);
    rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if state.store.is_up() {
        // The start made this round already (`Daemon::new`), before the first slot.
        rounds.tick().await;
    }
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = rounds.tick() => {}
        }
        let started = std::time::Instant::now();
        let reached = learn_clock_and_replicas(&fleet).await;
        if let Err(err) = &reached {
            state.store_health.failed(&format!("shared store: {err}"));
        }
        let took = started.elapsed();
        if took > MEMBERSHIP_EVERY {
            tracing::debug!(took_ms = took.as_millis() as u64, "a slow membership round");
        }
        fleet.store_answered(reached.is_ok(), took);
    }
}

/// What every instance shows of the fleet's shared state, read each [`MEMBERSHIP_EVERY`]:
/// each location's newest results, the open incidents (the quiet banners, and the incidents of
/// an instance that does not evaluate) and the silences. Apart from [`membership`], so that
/// slow reads never delay the rounds that say this replica is alive.
pub(super) async fn shared_views(
    state: Arc<DaemonState>,
    fleet: Arc<Fleet>,
    stop: CancellationToken,
) {
    // Loaded at start when the store answered then; else once it is first reached.
    let mut history_loaded = state.store.is_up();
    loop {
        if !history_loaded && state.store.is_up() {
            state.load_history().await;
            history_loaded = true;
        }
        read_shared_views(&state, &fleet).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(MEMBERSHIP_EVERY) => {}
        }
    }
}

async fn read_shared_views(state: &Arc<DaemonState>, fleet: &Fleet) {
    match fleet.store().latest_by_location().await {
        Ok(cells) => {
            let changed = **state.locations.lock() != cells;
            if changed {
                *state.locations.lock() = Arc::new(cells);
                state.changed();
            }
        }
        Err(err) => state.store_health.failed(&format!("shared store: {err}")),
    }
    // One read of the open incidents: the quiet banners, and (when another instance
    // evaluates) the open incidents this one shows.
    let open = state
        .store
        .alerts()
        .incidents(&IncidentFilter {
            state: Some(IncidentState::Open),
            environment: None,
            limit: 1000,
        })
        .await;
    match open {
        Ok(open) => {
            // Made through another instance: the evaluator applies them here.
            if fleet.is_leading() {
                state.learn_acknowledgements(&open);
            }
            // An SLO burn's record is no environment's incident.
            let (quiet, environments): (Vec<_>, Vec<_>) = open
                .into_iter()
                .filter(|i| crate::alert::burn::parse_subject(&i.environment).is_none())
                .partition(|i| crate::fleet::is_fleet_subject(&i.environment));
            *state.quiet.lock() = quiet
                .into_iter()
                .map(|i| FleetNotice {
                    subject: i.environment,
                    incident: i.id,
                    diagnosis: i.diagnosis,
                })
                .collect();
            if !fleet.is_leading() {
                let open: BTreeMap<String, i64> = environments
                    .into_iter()
                    .map(|i| (i.environment, i.id))
                    .collect();
                state.alerts.set_open_incidents(open);
            }
        }
        Err(err) => state.store_health.failed(&format!("shared store: {err}")),
    }
    if let Err(err) = state.refresh_silences().await {
        state.store_health.failed(&format!("shared store: {err}"));
    }
}

/// One membership round's reads: the database's clock (and this host's skew, recorded), then
/// the live replicas, judged on that clock.
pub(super) async fn learn_clock_and_replicas(fleet: &Fleet) -> Result<(), StoreError> {
    fleet.measure_clock().await?;
    let instances = fleet.store().members().await?;
    fleet.learn_replicas(&instances, fleet.now());
    Ok(())
}

/// What the lease holder keeps between steps.
struct Evaluator {
    board: LocationBoard,
    /// The newest run read.
    cursor: i64,
    dispatch_stop: CancellationToken,
    dispatch: tokio::task::JoinHandle<()>,
}

pub(super) async fn evaluate(state: Arc<DaemonState>, fleet: Arc<Fleet>, stop: CancellationToken) {
    let mut evaluator: Option<Evaluator> = None;
    loop {
        let started = std::time::Instant::now();
        let held = fleet.store().hold_lease(EVALUATOR_LEASE, LEASE_TTL).await;
        fleet.store_answered(held.is_ok(), started.elapsed());
        match held {
            Ok(true) => {
                if evaluator.is_none() {
                    match take_over(&state, &fleet).await {
                        Ok(taken) => {
                            fleet.set_leading(true);
                            tracing::info!(
                                "this instance now evaluates incidents and delivers notifications"
                            );
                            evaluator = Some(taken);
                        }
                        Err(err) => state
                            .store_health
                            .failed(&format!("taking the evaluator over: {err}")),
                    }
                }
                if let Some(running) = evaluator.as_mut()
                    && let Err(err) = step(&state, &fleet, running).await
                {
                    fleet.store_answered(false, std::time::Duration::ZERO);
                    state
                        .store_health
                        .failed(&format!("evaluating incidents: {err}"));
                }
            }
            held => {
                if let Some(lost) = evaluator.take() {
                    fleet.set_leading(false);
                    match held {
                        Err(err) => {
                            tracing::warn!("stopped evaluating: the lease cannot be renewed: {err}")
                        }
                        Ok(_) => {
                            tracing::warn!("stopped evaluating: another instance holds the lease")
                        }
                    }
                    lost.dispatch_stop.cancel();
                    let _ = lost.dispatch.await;
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(LEASE_EVERY) => {}
        }
    }
    if let Some(last) = evaluator.take() {
        last.dispatch_stop.cancel();
        let _ = last.dispatch.await;
        fleet.set_leading(false);
        // Hand over at once instead of after the lease's time-out.
        if let Err(err) = fleet.store().release_lease(EVALUATOR_LEASE).await {
            tracing::warn!("could not release the evaluator lease: {err}");
        }
    }
}

/// Start from what the previous evaluator wrote: alert states and open incidents from the
/// store, each location's state from its latest results, and the dispatcher.
async fn take_over(state: &Arc<DaemonState>, fleet: &Fleet) -> Result<Evaluator, StoreError> {
    state.alerts.reload().await?;
    let (recent, newest) = fleet.store().recent_runs(REPLAY).await?;
    let config = state.config();
    let mut board = LocationBoard::default();
    for run in &recent {
        if let Some(env) = config.environment(&run.result.environment) {
            board.observe(&config.alert_policy(env), &run.location, &run.result);
        }
    }
    let dispatch_stop = CancellationToken::new();
    let dispatch = tokio::spawn(loops::dispatch_alerts(state.clone(), dispatch_stop.clone()));
    Ok(Evaluator {
        board,
        cursor: newest,
        dispatch_stop,
        dispatch,
    })
}

async fn step(
    state: &Arc<DaemonState>,
    fleet: &Fleet,
    evaluator: &mut Evaluator,
) -> Result<(), StoreError> {
    // Pages made while the store was away are taken in first, so none is paged twice.
    if !super::away::reconcile(state, fleet, &mut evaluator.board).await? {
        return Ok(());
    }
    let config = state.config();
    // Reads that hung (a lock, a dead link) are an outage too: nobody could write meanwhile.
    let reading = std::time::Instant::now();
    let touched = read_new_runs(fleet, evaluator, &config).await?;
    let instances = fleet.store().instances().await?;
    fleet.store_answered(true, reading.elapsed());
    let now = fleet.now();
    let interval = shortest_interval(config.environments.iter().map(|e| e.as_ref()), now);
    let watches = quiet::watch(&instances, interval, now, fleet.reachable_since());
    let live: BTreeSet<String> = watches
        .iter()
        .filter(|w| w.quiet.is_none())
        .filter_map(|w| w.name.strip_prefix(quiet::LOCATION))
        .map(str::to_owned)
        .collect();
    // A location gone quiet is paged before what its silence decides: an environment that
    // fails where the others still report is down across "every location reporting" only
    // once that location is not reporting, and the page saying so comes first.
    watch_quiet(state, &watches, now);
    for (name, in_maintenance) in touched {
        step_environment(state, &config, evaluator, &name, in_maintenance, now, &live);
    }
    Ok(())
}

/// The runs stored since the last step, observed per location: which environments they touched
/// (and whether their newest run was in maintenance).
async fn read_new_runs(
    fleet: &Fleet,
    evaluator: &mut Evaluator,
    config: &Config,
) -> Result<BTreeMap<String, bool>, StoreError> {
    let mut touched = BTreeMap::new();
    loop {
        let runs = fleet.store().runs_after(evaluator.cursor, BATCH).await?;
        let full = runs.len() == BATCH as usize;
        for run in runs {
            evaluator.cursor = run.id;
            let Some(env) = config.environment(&run.result.environment) else {
                continue;
            };
            evaluator
                .board
                .observe(&config.alert_policy(env), &run.location, &run.result);
            touched.insert(env.name.as_str().to_owned(), run.in_maintenance);
        }
        if !full {
            return Ok(touched);
        }
    }
}

/// Step `name`'s incident on what its locations say together (`live`: the locations that
/// report).
fn step_environment(
    state: &DaemonState,
    config: &Config,
    evaluator: &mut Evaluator,
    name: &str,
    in_maintenance: bool,
    now: chrono::DateTime<Utc>,
    live: &BTreeSet<String>,
) {
    let Some(env) = config.environment(name) else {
        return;
    };
    let policy = config.alert_policy(env);
    let interval = shortest_interval([env], now);
    let Some(combined) = evaluator.board.combine(name, &policy, now, interval, live) else {
        return;
    };
    // Each location already waited for its own thresholds: the environment follows them.
    // The evaluator steps once per pass, not once per result, so a share of state changes
    // over its steps says nothing about the probes: no flap detection across locations.
    let across = AlertPolicy {
        failure_threshold: 1,
        success_threshold: 1,
        flapping: Flapping {
            enabled: false,
            ..policy.flapping
        },
        ..policy
    };
    let subject = Subject {
        name,
        policy: across,
        channels: config.channels_for(env),
    };
    let hold = Hold {
        maintenance: in_maintenance,
        silence: combined.silenced_by(&state.current_silences(now), now),
        ..Hold::default()
    };
    state
        .alerts
        .observe_subject(config, subject, &combined.result, hold, now);
}

/// A location or an instance that stopped reporting is an incident of its own, on every
/// channel; it resolves when it reports again.
fn watch_quiet(state: &Arc<DaemonState>, watches: &[quiet::Watch], now: chrono::DateTime<Utc>) {
    let config = state.config();
    let policy = AlertPolicy {
        failure_threshold: 1,
        success_threshold: 1,
        min_locations: 1,
        flapping: Flapping {
            enabled: false,
            ..config.alerts.defaults.flapping
        },
        ..config.alerts.defaults.clone()
    };
    for watch in watches {
        let result = match &watch.quiet {
            Some(sentence) => ProbeResult::note(
                &watch.name,
                now,
                Status::Down,
                Verdict::ProbeError,
                sentence.clone(),
            ),
            None => ProbeResult::note(
                &watch.name,
                now,
                Status::Up,
                Verdict::Ok,
                format!("{} reports again.", watch.name),
            ),
        };
        let subject = Subject {
            name: &watch.name,
            policy: policy.clone(),
            channels: config.alerts.channels.iter().collect(),
        };
        state
            .alerts
            .observe_subject(&config, subject, &result, Hold::default(), now);
    }
}
