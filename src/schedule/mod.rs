//! Firing probes on time: one loop per environment sleeps until its next slot (`slot`, pure)
//! and hands the probe to the daemon; a probe still running at its next slot is not doubled.

pub mod slot;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Environment;

/// How far past its slot an idle environment may be before `/readyz` calls the scheduler late.
pub const LATE_AFTER: chrono::Duration = chrono::Duration::seconds(60);

/// Per-environment scheduling state, shared with the status page and `/readyz`.
#[derive(Default)]
pub struct Board {
    entries: Mutex<HashMap<String, EnvironmentSchedule>>,
}

#[derive(Debug, Clone, Default)]
pub struct EnvironmentSchedule {
    pub next_run: Option<DateTime<Utc>>,
    pub running: bool,
    pub skipped: u64,
}

impl Board {
    fn with<R>(&self, name: &str, f: impl FnOnce(&mut EnvironmentSchedule) -> R) -> R {
        let mut entries = self.entries.lock();
        f(entries.entry(name.to_owned()).or_default())
    }

    pub fn get(&self, name: &str) -> EnvironmentSchedule {
        let entries = self.entries.lock();
        entries.get(name).cloned().unwrap_or_default()
    }

    /// Mark a probe as started; false when one is still running (the caller skips the slot).
    pub fn try_start(&self, name: &str) -> bool {
        self.with(name, |e| !std::mem::replace(&mut e.running, true))
    }

    pub fn finish(&self, name: &str) {
        self.with(name, |e| e.running = false);
    }

    fn skipped(&self, name: &str) {
        self.with(name, |e| e.skipped += 1);
    }

    fn set_next(&self, name: &str, next: Option<DateTime<Utc>>) {
        self.with(name, |e| e.next_run = next);
    }

    /// Forget environments no longer configured.
    pub fn retain(&self, names: &[&str]) {
        let mut entries = self.entries.lock();
        entries.retain(|name, _| names.contains(&name.as_str()));
    }

    /// Environments whose slot passed more than `LATE_AFTER` ago without a probe starting.
    pub fn late(&self, now: DateTime<Utc>) -> Vec<String> {
        let entries = self.entries.lock();
        entries
            .iter()
            .filter(|(_, e)| !e.running && e.next_run.is_some_and(|next| now - next > LATE_AFTER))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// What the scheduler asks of the daemon, so the loop is testable without a store or network.
pub trait Runner: Send + Sync + 'static {
    /// A slot's claim, made ahead of the slot and decided at its time.
    type Claim: Send + 'static;
    /// Now, on the clock slots are counted on: a fleet's is the database's, so that every
    /// replica names the same slot the same, whatever its host's clock says.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    /// How long before a slot its claim is made.
    fn claim_lead(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    /// Start claiming `slot` of `env`; nothing here may wait.
    fn claim_ahead(&self, env: &Environment, slot: DateTime<Utc>) -> Self::Claim;
    /// At the slot's time: whether this instance probes it.
    fn decide(
        &self,
        env: &Environment,
        slot: DateTime<Utc>,
        claim: Self::Claim,
    ) -> impl Future<Output = bool> + Send;
    /// Probe `env` for the slot it fired for (`None`: the probe made at start) and record
    /// the result.
    fn run(
        &self,
        env: Arc<Environment>,
        slot: Option<DateTime<Utc>>,
    ) -> impl Future<Output = ()> + Send;
    /// A slot was skipped because the previous probe was still running.
    fn skipped(&self, env: &Environment, slot: DateTime<Utc>) -> impl Future<Output = ()> + Send;
}

/// One environment's loop: until `cancel`, sleep to the next slot and start a probe there
/// unless the previous one still runs. Probes are spawned on `probes` so shutdown can drain them.
pub async fn run_environment<R: Runner>(
    env: Arc<Environment>,
    runner: Arc<R>,
    board: Arc<Board>,
    probes: TaskTracker,
    cancel: CancellationToken,
) {
    let name = env.name.to_string();
    let offset = slot::jitter_offset(&name, env.jitter);
    // A first probe right away, so nobody waits a whole period to learn the state — unless the
    // first slot is about to come anyway: then the start-up probe would only collide with it.
    let now = runner.now();
    let first_slot = slot::next_slot(&env.schedule, offset, now);
    let soon = chrono::Duration::from_std(env.timeout).unwrap_or_default();
    if first_slot.is_none_or(|first| first - now > soon) {
        start_or_skip(&env, &runner, &board, &probes, now, None);
    }
    // The wall clock can step back (NTP, a VM resumed): never count from before the last slot
    // fired, or a slot already probed would be probed again.
    let mut fired = now;
    let lead = chrono::Duration::from_std(runner.claim_lead()).unwrap_or_default();
    loop {
        let next = slot::next_slot(&env.schedule, offset, runner.now().max(fired));
        // The board shows this host's time.
        let skew = Utc::now() - runner.now();
        board.set_next(&name, next.map(|next| next + skew));
        let Some(next) = next else {
            tracing::warn!(environment = %name, "schedule has no future slot");
            return;
        };
        if !sleep_until(runner.as_ref(), next - lead, &cancel).await {
            return;
        }
        let claim = runner.claim_ahead(&env, next);
        if !sleep_until(runner.as_ref(), next, &cancel).await {
            return;
        }
        fired = next;
        start_or_skip(&env, &runner, &board, &probes, next, Some(claim));
    }
}

/// Sleep until `at` on the runner's clock; false when cancelled first.
async fn sleep_until<R: Runner>(runner: &R, at: DateTime<Utc>, cancel: &CancellationToken) -> bool {
    let wait = (at - runner.now()).to_std().unwrap_or_default();
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// Probe `slot` (the probe at start without a `claim`) unless the claim says another
/// instance does, or the previous probe still runs. Decided in a task of its own, so that a
/// claim being decided never holds the next slot.
fn start_or_skip<R: Runner>(
    env: &Arc<Environment>,
    runner: &Arc<R>,
    board: &Arc<Board>,
    probes: &TaskTracker,
    slot: DateTime<Utc>,
    claim: Option<R::Claim>,
) {
    let (env, runner, board) = (env.clone(), runner.clone(), board.clone());
    probes.spawn(async move {
        let name = env.name.to_string();
        let scheduled = claim.is_some();
        if let Some(claim) = claim
            && !runner.decide(&env, slot, claim).await
        {
            tracing::debug!(environment = %name, %slot, "slot probed by another replica");
            return;
        }
        if board.try_start(&name) {
            runner.run(env, scheduled.then_some(slot)).await;
            board.finish(&name);
        } else {
            board.skipped(&name);
            tracing::warn!(environment = %name, %slot, "previous probe still running: slot skipped");
            runner.skipped(&env, slot).await;
        }
    });
}
