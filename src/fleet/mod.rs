//! A fleet: several instances, in one or more locations, sharing one PostgreSQL.
//!
//! - replicas of a location split its slots: each slot is claimed in the database (one row per
//!   environment, location and slot time), and the replica the slot hashes to ([`owner`])
//!   claims first, ahead of the slot, the others a moment after it, so a dead replica's slots
//!   go on from the next one. Probing never waits on the database: a claim not answered by
//!   the slot's time is decided by the hash over the replicas last known alive, which every
//!   replica computes alike, so while they agree on who is alive each slot is probed once;
//! - slots and quiet are judged on the database's clock ([`clock`]), learned on each
//!   membership round, so a host whose clock drifted neither doubles slots nor pages;
//! - one instance at a time holds the evaluator lease: it reads every location's results,
//!   opens and resolves incidents across locations ([`evaluate`]), watches for locations and
//!   instances that went quiet ([`quiet`]) and delivers the outbox; another takes the lease
//!   over within [`LEASE_TTL`] + [`LEASE_EVERY`] of its death;
//! - with `alert.confirm` on, a location whose probe fails asks the others to probe at once
//!   ([`requests`]), and the evaluator counts each location's confirmation series as a single
//!   instance would ([`series`]);
//! - while the database is away, each instance pages its own location's failures itself, and
//!   the evaluator reconciles those pages when it returns ([`away`]).
//!
//! This module holds the decisions; the daemon's `fleet` loops run them.

pub mod across;
pub mod away;
pub mod clock;
pub mod evaluate;
pub mod owner;
pub mod quiet;
pub mod requests;
pub mod series;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

use crate::store::{FleetStore, InstanceRecord, StoreError};

/// The lease whose holder evaluates incidents and delivers notifications (named by the store,
/// which fences that lease's writes).
pub use crate::store::EVALUATOR_LEASE;
/// How long a lease outlives its holder's last renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often the lease is renewed (or tried for) and the evaluator steps.
pub const LEASE_EVERY: Duration = Duration::from_secs(3);
/// How often an instance says it is alive and learns who its replicas are.
pub const MEMBERSHIP_EVERY: Duration = Duration::from_secs(5);
/// A replica seen within this long takes its share of the slots.
const LIVE_WITHIN: Duration = Duration::from_secs(15);
/// How long a replica waits before claiming a slot that hashes to another live replica:
/// enough for that one's claim to land, short against any schedule.
const BACKUP_DELAY: Duration = Duration::from_millis(1500);
/// How long before its slot the owner sends its claim: the answer is there when the slot
/// comes, even from a database half a second away or a machine under load.
pub const CLAIM_AHEAD: Duration = Duration::from_secs(2);
/// A claim answered later than this says the store is slow: backups then leave slots to
/// their owners, whose claims may not have landed yet.
const CLAIM_SLOW: Duration = Duration::from_secs(1);
/// How long a backup replica waits for its claim's answer; without one it leaves the slot to
/// the owner the hash names.
const CLAIM_DEADLINE: Duration = Duration::from_millis(300);
/// How long an owner whose claim was sent late (its first slot after start or a reload, less
/// than [`CLAIM_AHEAD`] away) waits past the slot for the answer: a replica that does not know
/// the others yet takes itself for every slot's owner, and only the claim tells it otherwise.
const LATE_CLAIM_GRACE: Duration = Duration::from_millis(500);
/// The first pause before an owner's failed claim is sent again.
const CLAIM_RETRY: Duration = Duration::from_millis(100);
/// A round of statements that took longer than this went through an outage.
const STALLED: Duration = MEMBERSHIP_EVERY;

/// This instance's place in the fleet.
#[derive(Debug)]
pub struct Fleet {
    store: FleetStore,
    /// Live replicas of this location, this one included, sorted: who claims which slot first.
    replicas: RwLock<Vec<String>>,
    leading: AtomicBool,
    /// The database's clock: samples, and the offset believed (`database = local + offset`).
    clock: Mutex<clock::Offset>,
    offset_ms: AtomicI64,
    /// Whether the last membership round reached the store.
    reachable: AtomicBool,
    /// Since when (database clock) the store answers without a break: nobody could report
    /// before, so nobody is quiet for it (see [`quiet::watch`]).
    reachable_since: RwLock<DateTime<Utc>>,
    /// Whether the last claim answered failed: its warning is said once per outage.
    claims_failing: AtomicBool,
    /// When this instance last started a probe (database clock, milliseconds; 0: never).
    last_probe_ms: AtomicI64,
    /// When a claim of this replica last failed (refused, timed out, answered late).
    claim_failed_at: Mutex<Option<std::time::Instant>>,
}

/// A slot's claim, sent before the slot: what the schedule holds until the slot's time.
#[derive(Debug)]
pub struct Claim {
    /// Whether the hash names this replica the slot's owner.
    owner: bool,
    /// When the claim was sent (this host's monotonic clock).
    sent: std::time::Instant,
    /// The owner's claim's answer, when it comes.
    answer: Option<oneshot::Receiver<Result<bool, StoreError>>>,
}

impl Fleet {
    pub fn new(store: FleetStore) -> Fleet {
        let me = store.instance_id().to_owned();
        Fleet {
            store,
            replicas: RwLock::new(vec![me]),
            leading: AtomicBool::new(false),
            clock: Mutex::new(clock::Offset::default()),
            offset_ms: AtomicI64::new(0),
            reachable: AtomicBool::new(true),
            reachable_since: RwLock::new(Utc::now()),
            claims_failing: AtomicBool::new(false),
            claim_failed_at: Mutex::new(None),
            last_probe_ms: AtomicI64::new(0),
        }
    }

    /// Now on the database's clock, as last learned.
    pub fn now(&self) -> DateTime<Utc> {
        self.to_database_time(Utc::now())
    }

    /// A time read on this host's clock, on the database's.
    pub fn to_database_time(&self, local: DateTime<Utc>) -> DateTime<Utc> {
        local + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// This host's clock ahead of the database's, in milliseconds; `None` before the first
    /// measure.
    pub fn skew_ms(&self) -> Option<i64> {
        let clock = self.clock.lock();
        clock.measured().then(|| clock::skew_ms(clock.offset_ms()))
    }

    /// Learn the database's clock from one statement sent at `sent`, answered at `received`
    /// (this host's clock), that read `database`; say so when this host's clock is off.
    pub fn learn_clock(
        &self,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
        database: DateTime<Utc>,
    ) {
        let (offset, first) = {
            let mut clock = self.clock.lock();
            let first = !clock.measured();
            (clock.sample(sent, received, database), first)
        };
        let before = self.offset_ms.swap(offset, Ordering::Relaxed);
        if first {
            // Counted on this host's clock until now.
            *self.reachable_since.write() = database;
        }
        let skew = clock::skew_ms(offset);
        if clock::is_off(skew) && (before == 0 || !clock::is_off(clock::skew_ms(before))) {
            tracing::warn!(
                skew_ms = skew,
                "this host's clock is {:.1} s {} the database's: slots and quiet follow the database's clock; fix the host's time (NTP)",
                skew.abs() as f64 / 1000.0,
                if skew > 0 { "ahead of" } else { "behind" }
            );
        } else if !clock::is_off(skew) && clock::is_off(clock::skew_ms(before)) {
            tracing::info!(
                skew_ms = skew,
                "this host's clock agrees with the database's again"
            );
        }
    }

    /// Measure the database's clock once (and record this host's skew): at start, before
    /// the first slot is named, and on each membership round.
    pub async fn measure_clock(&self) -> Result<(), StoreError> {
        let sent = Utc::now();
        let last_probe =
            DateTime::from_timestamp_millis(self.last_probe_ms.load(Ordering::Relaxed))
                .filter(|at| at.timestamp_millis() > 0);
        let database = self.store.report_clock(self.skew_ms(), last_probe).await?;
        self.learn_clock(sent, Utc::now(), database);
        Ok(())
    }

    /// Note that a probe starts now.
    pub fn probing(&self) {
        self.last_probe_ms
            .store(self.now().timestamp_millis(), Ordering::Relaxed);
    }

    /// Record whether a round of statements reached the store, and how long it took: a round
    /// that hung on a dead link for longer than [`STALLED`] saw an outage as surely as one
    /// that failed, and the store counts as back only from its end.
    pub fn store_answered(&self, reached: bool, took: Duration) {
        let was = self.reachable.swap(reached, Ordering::Relaxed);
        if reached && (!was || took > STALLED) {
            *self.reachable_since.write() = self.now();
        }
    }

    /// Whether the store has answered without a break since `at` (database clock).
    fn reachable_throughout(&self, at: DateTime<Utc>) -> bool {
        self.reachable.load(Ordering::Relaxed) && self.reachable_since() <= at
    }

    /// Since when the store answers without a break (database clock).
    pub fn reachable_since(&self) -> DateTime<Utc> {
        *self.reachable_since.read()
    }

    pub fn store(&self) -> &FleetStore {
        &self.store
    }

    pub fn location(&self) -> &str {
        self.store.location()
    }

    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    /// Record whether this instance holds the evaluator lease; returns the previous value.
    pub fn set_leading(&self, leading: bool) -> bool {
        self.leading.swap(leading, Ordering::Relaxed)
    }

    /// Whether this replica makes `env`'s probe at start (no slot, no claim): the one the hash
    /// over the replicas it knows names, so that replicas started together make one, not one
    /// each, and a replica alone makes its own.
    pub fn makes_start_up_probe(&self, env: &str) -> bool {
        let replicas = self.replicas.read();
        owner::rendezvous(&format!("{env}\nstart-up"), &replicas)
            .is_none_or(|owner| owner == self.store.instance_id())
    }

    /// The replicas of this location last known alive, this one included, sorted.
    pub fn replicas(&self) -> Vec<String> {
        self.replicas.read().clone()
    }

    /// Learn the live replicas of this location from the instances table.
    pub fn learn_replicas(&self, instances: &[InstanceRecord], now: DateTime<Utc>) {
        let me = self.store.instance_id();
        let live = chrono::Duration::from_std(LIVE_WITHIN).unwrap_or_default();
        let mut replicas: Vec<String> = instances
            .iter()
            .filter(|i| i.location == self.location() && i.stopped_at.is_none())
            .filter(|i| i.id == me || now - i.last_seen <= live)
            .map(|i| i.id.clone())
            .collect();
        if !replicas.iter().any(|id| id == me) {
            replicas.push(me.to_owned());
        }
        replicas.sort();
        let mut known = self.replicas.write();
        if *known != replicas {
            // Who owns which slot follows this set: a change explains a slot moving.
            tracing::info!(location = self.location(), replicas = %replicas.join(", "), "the live replicas of this location changed");
            *known = replicas;
        }
    }

    /// Claim `slot` of `env` ahead of it (see [`CLAIM_AHEAD`]) when the hash names this
    /// replica its owner; [`Fleet::decide`] reads the answer at the slot's time. The claim
    /// runs on its own: an answer that comes too late is never acted on.
    pub fn claim_ahead(self: &Arc<Self>, env: &str, slot: DateTime<Utc>) -> Claim {
        let owner = self.owns(env, slot);
        let sent = std::time::Instant::now();
        let answer = owner.then(|| {
            let (tell, answer) = oneshot::channel();
            let (fleet, env) = (self.clone(), env.to_owned());
            let until_slot = (slot - self.now()).to_std().unwrap_or_default();
            let retry_until = sent + until_slot + BACKUP_DELAY / 2;
            tokio::spawn(async move {
                let _ = tell.send(fleet.claim_as_owner(&env, slot, retry_until).await);
            });
            answer
        });
        Claim {
            owner,
            sent,
            answer,
        }
    }

    /// The owner's claim, sent again after a failure until `retry_until` (before any backup
    /// claims): the owner probes its slot whether or not the claim landed, and only its claim
    /// landing keeps a backup, whose own claims go through, from probing the slot too (a
    /// connection the database dropped while it restarted fails one claim, not the next).
    async fn claim_as_owner(
        &self,
        env: &str,
        slot: DateTime<Utc>,
        retry_until: std::time::Instant,
    ) -> Result<bool, StoreError> {
        let mut pause = CLAIM_RETRY;
        loop {
            let claimed = self.claim(env, slot).await;
            if claimed.is_ok() || std::time::Instant::now() + pause >= retry_until {
                return claimed;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }

    /// At the slot's time: whether this replica probes it. The owner probes unless its claim
    /// came back lost (another replica, seeing other replicas alive, claimed first); an owner
    /// without an answer yet probes at once (after [`LATE_CLAIM_GRACE`] at most, when its claim
    /// was sent late). The others claim [`BACKUP_DELAY`] later, when
    /// the store answered throughout, and probe only if that claim lands within
    /// [`CLAIM_DEADLINE`]: the owner then is gone.
    pub async fn decide(self: &Arc<Self>, env: &str, slot: DateTime<Utc>, claim: Claim) -> bool {
        if claim.owner {
            return self.decide_as_owner(env, slot, claim).await;
        }
        tokio::time::sleep(BACKUP_DELAY).await;
        // A store away or locked when the owner claimed (ahead of the slot) refused the
        // owner's claim too, and the owner probed without it: a backup's claim landing now
        // proves nothing. This replica's own claims meanwhile say how the store answered.
        let claimed_at = slot - chrono::Duration::from_std(CLAIM_AHEAD).unwrap_or_default();
        let sent = std::time::Instant::now()
            .checked_sub(BACKUP_DELAY + CLAIM_AHEAD * 2)
            .unwrap_or_else(std::time::Instant::now);
        if !self.claims_steady_since(sent, claimed_at) {
            return false;
        }
        let (tell, answer) = oneshot::channel();
        let (fleet, env_name) = (self.clone(), env.to_owned());
        tokio::spawn(async move {
            let _ = tell.send(fleet.claim(&env_name, slot).await);
        });
        match tokio::time::timeout(CLAIM_DEADLINE, answer).await {
            Ok(Ok(Ok(claimed))) => claimed,
            _ => {
                self.claim_failed();
                false
            }
        }
    }

    /// The owner's decision: probe unless its claim came back lost. An answer not there yet
    /// is waited for only when the claim was sent late (see [`LATE_CLAIM_GRACE`]).
    async fn decide_as_owner(&self, env: &str, slot: DateTime<Utc>, claim: Claim) -> bool {
        let answer = match claim.answer {
            None => None,
            Some(mut answer) => {
                let grace = CLAIM_AHEAD
                    .saturating_sub(claim.sent.elapsed())
                    .min(LATE_CLAIM_GRACE);
                tokio::time::timeout(grace, &mut answer).await.ok()
            }
        };
        match answer {
            Some(Ok(Ok(claimed))) => {
                if self.claims_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("slot claims reach the shared store again");
                }
                claimed
            }
            Some(Ok(Err(err))) => {
                // Once per outage: the store's health says the rest.
                if !self.claims_failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(environment = %env, %slot, "a slot claim failed, probing the slots this replica owns without claims: {err}");
                }
                true
            }
            _ => {
                tracing::debug!(environment = %env, %slot, "no answer to the slot claim in time, probing as the slot's owner");
                true
            }
        }
    }

    /// One claim, its failure remembered.
    async fn claim(&self, env: &str, slot: DateTime<Utc>) -> Result<bool, StoreError> {
        let sent = std::time::Instant::now();
        let claimed = self.store.claim_slot(env, slot).await;
        if claimed.is_err() || sent.elapsed() > CLAIM_SLOW {
            self.claim_failed();
        }
        claimed
    }

    fn claim_failed(&self) {
        *self.claim_failed_at.lock() = Some(std::time::Instant::now());
    }

    /// Whether claims answered, and the store all rounds, since `at` (this host's monotonic
    /// clock): only then did the owner's claim, sent at `at`, have a chance to land.
    fn claims_steady_since(&self, at: std::time::Instant, claimed_at: DateTime<Utc>) -> bool {
        let failed = *self.claim_failed_at.lock();
        self.reachable_throughout(claimed_at) && failed.is_none_or(|failed| failed < at)
    }

    /// Whether the hash over the replicas last known alive names this one the slot's owner.
    fn owns(&self, env: &str, slot: DateTime<Utc>) -> bool {
        let replicas = self.replicas.read();
        owner::owner(env, slot.timestamp_millis(), &replicas)
            .is_none_or(|owner| owner == self.store.instance_id())
    }
}

/// Whether an incident is about the fleet itself (a location or an instance that went quiet),
/// not about an environment: [`quiet`] names them so.
pub fn is_fleet_subject(name: &str) -> bool {
    name.starts_with(quiet::LOCATION) || name.starts_with(quiet::INSTANCE)
}

/// This instance's name in a fleet: `WSPROBE_INSTANCE`, else the host name and the web port
/// (unique per host, stable across restarts), else the host name and the process id.
pub fn instance_name(explicit: Option<String>, listen_port: u16) -> String {
    if let Some(name) = explicit.filter(|name| !name.trim().is_empty()) {
        return name.trim().to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    if listen_port == 0 {
        format!("{host}:pid{}", std::process::id())
    } else {
        format!("{host}:{listen_port}")
    }
}

/// The shortest period of the schedules, measured from `now`: the "interval" quiet locations
/// are counted in.
pub fn shortest_interval<'a>(
    envs: impl IntoIterator<Item = &'a crate::config::Environment>,
    now: DateTime<Utc>,
) -> Duration {
    envs.into_iter()
        .filter_map(|env| period(env, now))
        .min()
        .unwrap_or(Duration::from_secs(300))
}

/// The time between an environment's next two slots.
pub fn period(env: &crate::config::Environment, now: DateTime<Utc>) -> Option<Duration> {
    let first = env.schedule.next_after(now)?;
    let second = env.schedule.next_after(first)?;
    (second - first).to_std().ok()
}
