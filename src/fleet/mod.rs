//! A fleet: several instances, in one or more locations, sharing one PostgreSQL.
//!
//! - replicas of a location split its slots: each slot is claimed in the database (one row per
//!   environment, location and slot time), and the replica the slot hashes to claims first,
//!   the others a moment later, so a dead replica's slots go on from the next one;
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
pub mod evaluate;
pub mod quiet;
pub mod requests;
pub mod series;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;

use crate::store::{FleetStore, InstanceRecord};

/// The lease whose holder evaluates incidents and delivers notifications.
pub const EVALUATOR_LEASE: &str = "evaluator";
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

/// This instance's place in the fleet.
#[derive(Debug)]
pub struct Fleet {
    store: FleetStore,
    /// Live replicas of this location, this one included, sorted: who claims which slot first.
    replicas: RwLock<Vec<String>>,
    leading: AtomicBool,
}

impl Fleet {
    pub fn new(store: FleetStore) -> Fleet {
        let me = store.instance_id().to_owned();
        Fleet {
            store,
            replicas: RwLock::new(vec![me]),
            leading: AtomicBool::new(false),
        }
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

    /// No other live replica probes this location.
    pub fn alone(&self) -> bool {
        self.replicas.read().len() <= 1
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
        *self.replicas.write() = replicas;
    }

    /// Whether this replica probes `slot` of `env`: the replica the slot hashes to claims at
    /// once, the others after [`BACKUP_DELAY`], and the claim that lands wins. A claim that
    /// cannot be made (the database is away) probes anyway: a slot probed twice is better
    /// than a location that silently stops watching.
    pub async fn claim(&self, env: &str, slot: DateTime<Utc>) -> bool {
        if !self.first_claimant(env, slot) {
            tokio::time::sleep(BACKUP_DELAY).await;
        }
        match self.store.claim_slot(env, slot).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(environment = %env, %slot, "cannot claim the slot in the shared store, probing anyway: {err}");
                true
            }
        }
    }

    fn first_claimant(&self, env: &str, slot: DateTime<Utc>) -> bool {
        let replicas = self.replicas.read();
        if replicas.len() <= 1 {
            return true;
        }
        let key = format!("{env}\n{}", slot.timestamp_millis());
        let rank = (crate::schedule::slot::fnv1a(key.as_bytes()) % replicas.len() as u64) as usize;
        replicas[rank] == self.store.instance_id()
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
