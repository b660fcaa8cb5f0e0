//! Confirmation across locations (`crate::fleet::requests` holds the decisions): a failing
//! probe here asks the other locations to probe now, and this instance answers what the
//! others ask. Neither ever holds a probe up: the database has [`DATABASE_DEADLINE`] to
//! answer, and a request that cannot be written or read only leaves the other locations to
//! their next slot.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::state::DaemonState;
use crate::config::{Confirm, Environment};
use crate::fleet::Fleet;
use crate::fleet::requests::{self, DATABASE_DEADLINE, POLL_EVERY, ProbeRequest};
use crate::store::StoreError;

/// How often requests expired an hour ago are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Ask the other locations to probe `env` now, in the background.
pub(super) fn ask(fleet: &Arc<Fleet>, env: &Environment, confirm: Confirm) {
    let fleet = fleet.clone();
    let name = env.name.as_str().to_owned();
    tokio::spawn(async move {
        let lifetime = requests::lifetime(confirm);
        match deadline(fleet.store().request_probes(&name, lifetime)).await {
            Ok(()) => {
                tracing::debug!(environment = %name, "asked the other locations to probe now")
            }
            Err(err) => tracing::warn!(environment = %name,
                "could not ask the other locations to probe now; they probe at their next slot: {err}"),
        }
    });
}

/// Answer the other locations' requests, [`POLL_EVERY`]; each answer (a probe and its own
/// confirmation series) runs beside the loop, tracked with the scheduled probes so that a
/// shutdown drains it too.
pub(super) async fn answer_requests(
    state: Arc<DaemonState>,
    fleet: Arc<Fleet>,
    probes: TaskTracker,
    stop: CancellationToken,
) {
    let answering: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut pruned = Instant::now();
    loop {
        if let Err(err) = answer_once(&state, &fleet, &probes, &answering).await {
            state.store_health.failed(&format!(
                "reading the other locations' probe requests: {err}"
            ));
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            if let Err(err) = deadline(fleet.store().prune_probe_requests()).await {
                tracing::debug!("could not prune old probe requests: {err}");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(POLL_EVERY) => {}
        }
    }
}

async fn answer_once(
    state: &Arc<DaemonState>,
    fleet: &Fleet,
    probes: &TaskTracker,
    answering: &Arc<Mutex<BTreeSet<String>>>,
) -> Result<(), String> {
    let (open, db_now) = deadline(fleet.store().open_probe_requests()).await?;
    let Some(db_now) = db_now else {
        return Ok(());
    };
    let config = state.config();
    let chosen: Vec<ProbeRequest> = {
        let busy = answering.lock();
        let probes = |name: &str| config.environment(name).is_some();
        requests::to_answer(&open, fleet.location(), db_now, probes, &busy)
            .into_iter()
            .cloned()
            .collect()
    };
    for request in chosen {
        // Another replica of this location may have answered it meanwhile.
        if !deadline(fleet.store().claim_request(request.id)).await? {
            continue;
        }
        let Some(env) = config
            .environments
            .iter()
            .find(|env| env.name.as_str() == request.environment)
            .cloned()
        else {
            continue;
        };
        tracing::info!(environment = %env.name, requested_by = %request.location,
            "probing now: another location saw it fail");
        answering.lock().insert(request.environment.clone());
        let (state, answering) = (state.clone(), answering.clone());
        probes.spawn(async move {
            state.answer(&env, &request.location).await;
            answering.lock().remove(&request.environment);
        });
    }
    Ok(())
}

/// `query` within [`DATABASE_DEADLINE`], a late answer counting as an error.
async fn deadline<T>(query: impl Future<Output = Result<T, StoreError>>) -> Result<T, String> {
    match tokio::time::timeout(DATABASE_DEADLINE, query).await {
        Ok(answer) => answer.map_err(|err| err.to_string()),
        Err(_) => Err(format!(
            "the shared store did not answer within {} s",
            DATABASE_DEADLINE.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_that_does_not_answer_is_given_up_on_at_the_deadline() {
        let started = Instant::now();
        let answer: Result<(), String> = deadline(std::future::pending()).await;
        assert_eq!(
            answer.unwrap_err(),
            "the shared store did not answer within 2 s"
        );
        let waited = started.elapsed();
        assert!(waited >= DATABASE_DEADLINE, "{waited:?}");
        assert!(waited < DATABASE_DEADLINE * 5, "{waited:?}");
    }
}
