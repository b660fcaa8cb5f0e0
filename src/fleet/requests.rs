//! Confirmation across locations, pure. When a location's scheduled probe fails and
//! `alert.confirm` is on, it writes a probe request to the shared store; every other location
//! probes that environment at once, with a confirmation series of its own, so that
//! `min_locations` is met in seconds instead of at the next slot. Here: how long a request is
//! worth answering, and which requests this instance answers.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Confirm;
pub use crate::store::ProbeRequest;

/// How often an instance looks for requests. A poll, not LISTEN/NOTIFY: a notification needs a
/// connection of its own held open (which PgBouncer's transaction mode does not carry, and
/// which is lost silently with the database), while one indexed query a second per instance
/// costs nothing and picks up again by itself; a second is small against `confirm.every`.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long writing a request, or looking for requests, may take: probing never waits on it.
pub const DATABASE_DEADLINE: Duration = Duration::from_secs(2);
/// What a request outlives the asking series by: time for the other locations to notice it.
const GRACE: Duration = Duration::from_secs(30);

/// How long a request stays worth answering: the asking location's own series (`attempts`
/// re-probes `every` apart) and [`GRACE`]. An answer later than that would land beside the
/// next slot's result, which says more.
pub fn lifetime(confirm: Confirm) -> Duration {
    confirm.every.saturating_mul(confirm.attempts) + GRACE
}

/// The requests this instance answers now (`location`: its own; `db_now`: the database's
/// clock; `probes`: whether it knows the environment; `answering`: the environments whose
/// answer it is probing now), at most one per environment, oldest first. A request is left
/// alone when it expired, comes from this location (which confirms itself), names an
/// environment this instance does not probe, or is about an environment this location asked
/// about itself (its own confirmation series already counts) or is answering already.
pub fn to_answer<'a>(
    requests: &'a [ProbeRequest],
    location: &str,
    db_now: DateTime<Utc>,
    probes: impl Fn(&str) -> bool,
    answering: &BTreeSet<String>,
) -> Vec<&'a ProbeRequest> {
    let live = |r: &&ProbeRequest| r.expires_at > db_now;
    let confirming_itself: BTreeSet<&str> = requests
        .iter()
        .filter(live)
        .filter(|r| r.location == location)
        .map(|r| r.environment.as_str())
        .collect();
    let mut ordered: Vec<&ProbeRequest> = requests.iter().filter(live).collect();
    ordered.sort_by_key(|r| r.id);
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    ordered
        .into_iter()
        .filter(|r| r.location != location)
        .filter(|r| !confirming_itself.contains(r.environment.as_str()))
        .filter(|r| !answering.contains(&r.environment))
        .filter(|r| probes(&r.environment))
        .filter(|r| taken.insert(r.environment.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: i64, environment: &str, location: &str, expires_in: i64) -> ProbeRequest {
        ProbeRequest {
            id,
            environment: environment.to_owned(),
            location: location.to_owned(),
            expires_at: now() + chrono::Duration::seconds(expires_in),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn answered(requests: &[ProbeRequest], answering: &[&str]) -> Vec<i64> {
        let answering = answering.iter().map(|e| (*e).to_owned()).collect();
        to_answer(requests, "b", now(), |env| env != "elsewhere", &answering)
            .iter()
            .map(|r| r.id)
            .collect()
    }

    #[test]
    fn a_request_lives_through_the_asking_series_and_a_grace() {
        let confirm = Confirm {
            attempts: 3,
            every: Duration::from_secs(10),
        };
        assert_eq!(lifetime(confirm), Duration::from_secs(60));
        let off = Confirm {
            attempts: 0,
            ..confirm
        };
        assert_eq!(lifetime(off), GRACE);
    }

    #[test]
    fn which_requests_this_location_answers() {
        type Case<'a> = (&'a str, Vec<ProbeRequest>, &'a [&'a str], Vec<i64>);
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("another location's", vec![request(1, "api", "a", 30)], &[], vec![1]),
            ("expired on the database's clock", vec![request(1, "api", "a", -1)], &[], vec![]),
            ("expiring this very instant", vec![request(1, "api", "a", 0)], &[], vec![]),
            ("its own location's", vec![request(1, "api", "b", 30)], &[], vec![]),
            ("an environment it does not probe", vec![request(1, "elsewhere", "a", 30)], &[], vec![]),
            ("already answering it", vec![request(1, "api", "a", 30)], &["api"], vec![]),
            ("one answer for two askers, the oldest",
             vec![request(7, "api", "c", 30), request(3, "api", "a", 30)], &[], vec![3]),
            ("each environment its own",
             vec![request(2, "chat", "a", 30), request(1, "api", "a", 30)], &[], vec![1, 2]),
            ("confirming it itself",
             vec![request(1, "api", "a", 30), request(2, "api", "b", 30)], &[], vec![]),
            ("its own request expired: answers again",
             vec![request(1, "api", "a", 30), request(2, "api", "b", -5)], &[], vec![1]),
        ];
        for (name, requests, answering, expected) in cases {
            assert_eq!(answered(&requests, answering), expected, "{name}");
        }
    }
}
