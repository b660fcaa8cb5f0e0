//! Alerts while the shared store is away, pure. A fleet's incidents are made by the evaluator
//! from every location's results in the database; while that database cannot be reached, each
//! instance steps its own location's results through the same incident state machine
//! ([`crate::incident::step`]) and pages a confirmed failure itself, saying that the other
//! locations could not be consulted. Only one replica of a location pages (the one
//! [`fallback_owner`] picks among the replicas last known alive), and the incident's identity
//! is derived from what every instance sees alike (the environment and the slot of its first
//! failing result, [`local_incident_id`]), so that two locations paging the same outage name
//! the same incident, and the evaluator, once the database is back, adopts it under that id
//! instead of opening (and paging) another ([`reconcile`]).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::AlertPolicy;
use crate::incident::{self, IncidentEvent, MachineState, Notice, Observation, Open};
use crate::probe::ProbeResult;

/// Incident ids made without the database lie in `[LOCAL_IDS, 2 * LOCAL_IDS)`: far above any
/// id the store hands out in order, and below 2^53, so a JavaScript number still holds them.
pub const LOCAL_IDS: i64 = 1 << 52;
/// The store counts as away once its calls have failed (or timed out) for this long: one slow
/// answer is not an outage.
pub const AWAY_AFTER: Duration = Duration::from_secs(2);
/// After the store comes back, the evaluator waits this long before stepping incidents, so
/// that the pages sent meanwhile are reported first and adopted, not paged a second time.
pub const SETTLE: Duration = Duration::from_secs(8);
/// Finished local incidents kept until the store takes them.
const FINISHED_KEPT: usize = 1000;

/// The replica that pages `key` while the store is away: highest random weight (rendezvous
/// hashing) over `ids`, so that every replica that knows the same live set picks the same
/// one, and a replica leaving moves only its own keys.
pub fn fallback_owner<'a>(ids: &'a [String], key: &str) -> Option<&'a str> {
    super::owner::rendezvous(key, ids)
}

/// The id of `env`'s incident whose first failing result was probed for `first_slot`.
pub fn local_incident_id(env: &str, first_slot: DateTime<Utc>) -> i64 {
    let key = format!("{env}\n{}", first_slot.timestamp_millis());
    let hash = super::owner::mix(crate::schedule::slot::fnv1a(key.as_bytes()));
    LOCAL_IDS + (hash % LOCAL_IDS as u64) as i64
}

/// Whether `id` was made by [`local_incident_id`].
pub fn is_local_id(id: i64) -> bool {
    (LOCAL_IDS..2 * LOCAL_IDS).contains(&id)
}

/// The `delivery_id` of `event` of incident `id`: every instance paging that notice sends
/// the same one, so a receiver that dedups on it sees one page. A UUID (version 8: custom).
pub fn delivery_id(env: &str, id: i64, event: &str) -> String {
    let digest = Sha256::digest(format!("wsprobe\n{env}\n{id}\n{event}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// What a page sent without the database says first.
pub fn away_sentence(location: &str, since: DateTime<Utc>) -> String {
    format!(
        "Down from {location}; other locations could not be consulted: shared store unreachable since {} UTC.",
        since.format("%H:%M:%S")
    )
}

/// Whether the shared store answers: when its calls began failing, and when it came back.
#[derive(Debug, Default, Clone)]
pub struct StoreReach {
    failing_since: Option<DateTime<Utc>>,
    back_at: Option<DateTime<Utc>>,
}

impl StoreReach {
    pub fn failed(&mut self, at: DateTime<Utc>) {
        self.failing_since.get_or_insert(at);
    }

    /// A call succeeded at `now`; true when that ends an outage.
    pub fn answered(&mut self, now: DateTime<Utc>) -> bool {
        let ended = self
            .failing_since
            .take()
            .is_some_and(|since| now - since >= crate::text::chrono_duration(AWAY_AFTER));
        if ended {
            self.back_at = Some(now);
        }
        ended
    }

    /// Since when the store is away, once it has failed for [`AWAY_AFTER`].
    pub fn away_since(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.failing_since
            .filter(|since| now - *since >= crate::text::chrono_duration(AWAY_AFTER))
    }

    /// Away, or back for less than [`SETTLE`]: the evaluator does not step incidents yet.
    pub fn settling(&self, now: DateTime<Utc>) -> bool {
        self.away_since(now).is_some()
            || self
                .back_at
                .is_some_and(|back| now - back < crate::text::chrono_duration(SETTLE))
    }
}

/// An incident this instance paged while the store was away.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalIncident {
    pub id: i64,
    pub environment: String,
    pub location: String,
    pub open: Open,
    /// [`away_sentence`] and the failing result's diagnosis.
    pub diagnosis: String,
    /// When its resolve was decided, if it was while the store was away.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A notice to send now, without the database.
#[derive(Debug, Clone, PartialEq)]
pub enum Page {
    Triggered(LocalIncident),
    Resolved(LocalIncident),
}

/// One result as this instance saw it.
pub struct Seen<'a> {
    pub result: &'a ProbeResult,
    /// The slot it was probed for (none for the start-up probe).
    pub slot: Option<DateTime<Utc>>,
    pub in_maintenance: bool,
    pub silenced: bool,
}

#[derive(Debug, Default)]
struct EnvWatch {
    state: MachineState,
    /// The slot of the first failing result of the current run of failures.
    first_slot: Option<DateTime<Utc>>,
    /// The incident paged locally and still open; `handed_over` once the store has it.
    local: Option<LocalIncident>,
    handed_over: bool,
}

/// This instance's own location, environment by environment: stepped with every result it
/// makes, paging only while the store is away.
#[derive(Debug, Default)]
pub struct AwayBoard {
    envs: HashMap<String, EnvWatch>,
    /// Resolved while away, not yet reported to the store.
    finished: Vec<LocalIncident>,
}

/// What [`AwayBoard::observe`] needs besides the result.
pub struct Mode<'a> {
    pub location: &'a str,
    /// Since when the store is away; `None` while it answers.
    pub away: Option<DateTime<Utc>>,
    /// This replica is the one that pages this environment.
    pub pages: bool,
}

impl AwayBoard {
    /// Step `seen` under `policy`; the page to send, if any.
    pub fn observe(
        &mut self,
        policy: &AlertPolicy,
        seen: &Seen<'_>,
        mode: &Mode<'_>,
        now: DateTime<Utc>,
    ) -> Option<Page> {
        let result = seen.result;
        let watch = self.envs.entry(result.environment.clone()).or_default();
        let observation = Observation {
            status: result.status,
            verdict: result.verdict,
            in_maintenance: seen.in_maintenance,
            silenced: seen.silenced,
            started_at: result.started_at,
        };
        let (state, events) = incident::step(&watch.state, policy, &observation, now);
        if state.failing_since.is_some() && state.failing_since != watch.state.failing_since {
            watch.first_slot = Some(seen.slot.unwrap_or(result.started_at));
        }
        watch.state = state;
        let mut page = None;
        for event in events {
            match event {
                IncidentEvent::Notify {
                    notice: Notice::Triggered,
                    held: false,
                } => page = page.or_else(|| watch.trigger(result, mode)),
                IncidentEvent::Notify {
                    notice: Notice::Resolved,
                    held: false,
                } if mode.away.is_some() && !watch.handed_over => {
                    if let Some(mut local) = watch.local.take() {
                        local.resolved_at = Some(now);
                        self.finished.push(local.clone());
                        page = Some(Page::Resolved(local));
                    }
                }
                // Handed over, it is the evaluator's to resolve. (The notice follows this event:
                // one not handed over is resolved there, or reported open for the evaluator.)
                IncidentEvent::Resolved if watch.handed_over => {
                    watch.local = None;
                    watch.handed_over = false;
                }
                _ => {}
            }
        }
        if self.finished.len() > FINISHED_KEPT {
            let excess = self.finished.len() - FINISHED_KEPT;
            self.finished.drain(..excess);
        }
        page
    }

    /// Whether this location counts `env` as down (its incident here is open): a dependant
    /// of it holds its notices, as it does while the evaluator has `env` open.
    pub fn is_down(&self, env: &str) -> bool {
        self.envs.get(env).is_some_and(|w| w.state.open.is_some())
    }

    /// What the store has not been told of: open local incidents not handed over, and those
    /// resolved while away.
    pub fn unreported(&self) -> Vec<LocalIncident> {
        self.envs
            .values()
            .filter(|w| !w.handed_over)
            .filter_map(|w| w.local.clone())
            .chain(self.finished.iter().cloned())
            .collect()
    }

    /// The store took `reported`: an open one is the evaluator's from now on.
    pub fn reported(&mut self, reported: &LocalIncident) {
        self.finished
            .retain(|f| !(f.id == reported.id && f.environment == reported.environment));
        if let Some(watch) = self.envs.get_mut(&reported.environment)
            && watch.local.as_ref().is_some_and(|l| l.id == reported.id)
        {
            watch.handed_over = true;
        }
    }
}

impl EnvWatch {
    /// A trigger paged here: only while away, by the replica that pages, once per incident.
    fn trigger(&mut self, result: &ProbeResult, mode: &Mode<'_>) -> Option<Page> {
        let since = mode.away?;
        if !mode.pages || (self.local.is_some() && !self.handed_over) {
            return None;
        }
        let open = self.state.open.clone()?;
        let first = self.first_slot.unwrap_or(open.since);
        let local = LocalIncident {
            id: local_incident_id(&result.environment, first),
            environment: result.environment.clone(),
            location: mode.location.to_owned(),
            diagnosis: format!(
                "{} {}",
                away_sentence(mode.location, since),
                result.diagnosis
            ),
            open,
            resolved_at: None,
        };
        self.local = Some(local.clone());
        self.handed_over = false;
        Some(Page::Triggered(local))
    }
}

/// What the evaluator does with an incident an instance reports it paged while away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconcile {
    /// Nothing open for the environment: the incident is the evaluator's own from now on,
    /// open, its trigger already delivered, its resolve still to come (once).
    Adopt,
    /// Resolved while away: kept in the history as it happened; nothing to send.
    Record,
    /// The evaluator already holds another incident open for the environment (the outage was
    /// paged twice): kept in the history, and resolved now so its page does not stay open.
    Merge,
    /// Already known under this id (another location reported it, or it was adopted before).
    Known,
}

impl Reconcile {
    /// As `away_incidents.reconciled_as` keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reconcile::Adopt => "adopt",
            Reconcile::Record => "record",
            Reconcile::Merge => "merge",
            Reconcile::Known => "known",
        }
    }
}

/// What to do with reported incident `id` (resolved while away or not), given the incident
/// the evaluator holds open for its environment and whether the store already has `id`.
pub fn reconcile(id: i64, resolved: bool, engine_open: Option<i64>, stored: bool) -> Reconcile {
    if stored || engine_open == Some(id) {
        return Reconcile::Known;
    }
    match (resolved, engine_open) {
        (true, _) => Reconcile::Record,
        (false, None) => Reconcile::Adopt,
        (false, Some(_)) => Reconcile::Merge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Status, Verdict};

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn policy() -> AlertPolicy {
        AlertPolicy {
            failure_threshold: 2,
            success_threshold: 1,
            ..AlertPolicy::default()
        }
    }

    fn result(status: Status, s: i64) -> ProbeResult {
        let verdict = match status {
            Status::Down => Verdict::ConnectRefused,
            _ => Verdict::Ok,
        };
        ProbeResult::note("api", at(s), status, verdict, "Nothing listens.".into())
    }

    /// Feed `statuses` two seconds apart from slot `from`; the pages made.
    fn feed(board: &mut AwayBoard, from: i64, statuses: &[Status], mode: &Mode<'_>) -> Vec<Page> {
        let mut pages = Vec::new();
        for (i, status) in statuses.iter().enumerate() {
            let s = from + 2 * i as i64;
            let result = result(*status, s);
            let seen = Seen {
                result: &result,
                slot: Some(at(s)),
                in_maintenance: false,
                silenced: false,
            };
            pages.extend(board.observe(&policy(), &seen, mode, at(s)));
        }
        pages
    }

    const AWAY: Mode<'static> = Mode {
        location: "eu-west",
        away: Some(DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
        pages: true,
    };

    #[test]
    fn one_replica_of_a_location_pages_and_the_same_one_everywhere() {
        let ids: Vec<String> = ["a1", "a2", "a3"].map(String::from).to_vec();
        let mut shares = HashMap::new();
        for n in 0..300 {
            let key = format!("env-{n}");
            let owner = fallback_owner(&ids, &key).unwrap();
            let mut reversed = ids.clone();
            reversed.reverse();
            assert_eq!(fallback_owner(&reversed, &key), Some(owner), "order-free");
            *shares.entry(owner.to_owned()).or_insert(0) += 1;
            // Without a replica that does not own it, the owner stays.
            let fewer: Vec<String> = ids.iter().filter(|i| *i != owner).cloned().collect();
            let other = fewer.iter().find(|i| i.as_str() != owner).unwrap();
            let without_other: Vec<String> = ids.iter().filter(|i| *i != other).cloned().collect();
            assert_eq!(fallback_owner(&without_other, &key), Some(owner));
        }
        assert!(shares.values().all(|n| *n > 60), "spread: {shares:?}");
        assert_eq!(fallback_owner(&[], "api"), None);
    }

    #[test]
    fn identities_are_derived_from_the_environment_and_the_first_slot() {
        let id = local_incident_id("api", at(10));
        assert!(is_local_id(id) && id < (1 << 53), "{id}");
        assert_eq!(id, local_incident_id("api", at(10)));
        assert_ne!(id, local_incident_id("api", at(12)));
        assert_ne!(id, local_incident_id("web", at(10)));
        assert!(!is_local_id(41));
        let delivery = delivery_id("api", id, "triggered");
        assert_eq!(delivery, delivery_id("api", id, "triggered"));
        assert_ne!(delivery, delivery_id("api", id, "resolved"));
        let parsed = uuid::Uuid::parse_str(&delivery).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
    }

    #[test]
    fn a_confirmed_failure_pages_once_while_away_and_its_resolve_keeps_the_identity() {
        let mut board = AwayBoard::default();
        let pages = feed(
            &mut board,
            10,
            &[Status::Up, Status::Down, Status::Down, Status::Down],
            &AWAY,
        );
        assert_eq!(pages.len(), 1, "{pages:?}");
        let Page::Triggered(trigger) = &pages[0] else {
            panic!("{pages:?}")
        };
        // The first failing result was the slot at 12: both locations derive the same id.
        assert_eq!(trigger.id, local_incident_id("api", at(12)));
        assert!(board.is_down("api") && !board.is_down("web"));
        assert_eq!(
            trigger.diagnosis,
            "Down from eu-west; other locations could not be consulted: shared store unreachable since 08:00:00 UTC. Nothing listens."
        );
        let pages = feed(&mut board, 18, &[Status::Up], &AWAY);
        let [Page::Resolved(resolved)] = pages.as_slice() else {
            panic!("{pages:?}")
        };
        assert_eq!(resolved.id, trigger.id);
        assert_eq!(resolved.resolved_at, Some(at(18)));
        assert_eq!(board.unreported(), std::slice::from_ref(resolved));
        board.reported(resolved);
        assert!(board.unreported().is_empty());
    }

    #[test]
    fn nobody_pages_while_the_store_answers_or_for_another_replica() {
        let answering = Mode { away: None, ..AWAY };
        let other = Mode {
            pages: false,
            ..AWAY
        };
        for mode in [answering, other] {
            let mut board = AwayBoard::default();
            let pages = feed(&mut board, 10, &[Status::Down; 3], &mode);
            assert!(pages.is_empty(), "{pages:?}");
            assert!(feed(&mut board, 16, &[Status::Up], &AWAY).is_empty());
        }
    }

    #[test]
    fn an_incident_handed_over_is_resolved_by_the_evaluator_not_here() {
        let mut board = AwayBoard::default();
        let pages = feed(&mut board, 10, &[Status::Down; 2], &AWAY);
        let [Page::Triggered(trigger)] = pages.as_slice() else {
            panic!("{pages:?}")
        };
        assert_eq!(board.unreported(), std::slice::from_ref(trigger));
        board.reported(trigger);
        assert!(board.unreported().is_empty());
        // The store went away again: the resolve is still the evaluator's.
        assert!(feed(&mut board, 14, &[Status::Up], &AWAY).is_empty());
        // A new outage after that is paged again, under a new identity.
        let pages = feed(&mut board, 20, &[Status::Down; 2], &AWAY);
        let [Page::Triggered(next)] = pages.as_slice() else {
            panic!("{pages:?}")
        };
        assert_ne!(next.id, trigger.id);
    }

    #[test]
    fn a_held_failure_is_not_paged() {
        let mut board = AwayBoard::default();
        let down = result(Status::Down, 10);
        for s in [10, 12, 14] {
            let seen = Seen {
                result: &down,
                slot: Some(at(s)),
                in_maintenance: true,
                silenced: false,
            };
            assert_eq!(board.observe(&policy(), &seen, &AWAY, at(s)), None);
        }
    }

    #[test]
    fn the_store_is_away_after_failing_for_a_while_and_settles_after_it_returns() {
        let mut reach = StoreReach::default();
        reach.failed(at(0));
        assert_eq!(reach.away_since(at(1)), None, "one slow answer");
        reach.failed(at(3));
        assert_eq!(reach.away_since(at(3)), Some(at(0)));
        assert!(reach.settling(at(3)));
        assert!(reach.answered(at(60)));
        assert_eq!(reach.away_since(at(61)), None);
        assert!(reach.settling(at(61)));
        assert!(!reach.settling(at(69)));
        // A blip shorter than AWAY_AFTER neither counts as an outage nor holds the evaluator.
        reach.failed(at(100));
        assert!(!reach.answered(at(101)));
        assert!(!reach.settling(at(101)));
    }

    #[test]
    fn reconciling_never_pages_twice() {
        type Case = (&'static str, bool, Option<i64>, bool, Reconcile);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("nothing open: adopted", false, None, false, Reconcile::Adopt),
            ("resolved while away: history", true, None, false, Reconcile::Record),
            ("already stored (another location)", false, None, true, Reconcile::Known),
            ("already open under that id", false, Some(7), false, Reconcile::Known),
            ("another incident open: merged", false, Some(3), false, Reconcile::Merge),
            ("resolved, another open", true, Some(3), false, Reconcile::Record),
        ];
        for (name, resolved, open, stored, expected) in cases {
            assert_eq!(reconcile(7, *resolved, *open, *stored), *expected, "{name}");
        }
    }
}
