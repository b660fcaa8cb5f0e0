//! Incidents across locations, pure. Each location of each environment keeps its own
//! hysteresis (the incident state machine, `failure_threshold` consecutive failing results to
//! count as down, `success_threshold` healthy ones to count as up again); the environment is
//! down when at least `min_locations` locations are, or all of them when fewer report. What
//! that verdict points at (one path or the service) is said in one sentence.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::AlertPolicy;
use crate::incident::{self, MachineState, Observation};
use crate::probe::{ProbeResult, Status, Verdict};

/// One location's view of one environment.
#[derive(Debug, Clone)]
struct LocationView {
    state: MachineState,
    /// Its newest result, without the bulky evidence.
    last: ProbeResult,
}

/// Every (environment, location) the evaluator has seen results from.
#[derive(Debug, Default)]
pub struct LocationBoard {
    views: HashMap<String, BTreeMap<String, LocationView>>,
}

/// The environment across its locations, as of its newest result.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    /// Reporting locations that count as down, and the ones that do not.
    pub down: Vec<String>,
    pub up: Vec<String>,
    /// Whether enough locations are down for an incident.
    pub failing: bool,
    /// What to feed the environment's own incident: the newest failing result when failing,
    /// the newest result otherwise, with the status and diagnosis across locations.
    pub result: ProbeResult,
}

impl LocationBoard {
    /// Step `location`'s view of the result's environment.
    pub fn observe(&mut self, policy: &AlertPolicy, location: &str, result: &ProbeResult) {
        let env = self.views.entry(result.environment.clone()).or_default();
        let view = env
            .entry(location.to_owned())
            .or_insert_with(|| LocationView {
                state: MachineState::default(),
                last: result.without_bulk(),
            });
        let observation = Observation {
            status: result.status,
            verdict: result.verdict,
            in_maintenance: false,
            started_at: result.started_at,
        };
        let (state, _) = incident::step(&view.state, policy, &observation, result.started_at);
        view.state = state;
        view.last = result.without_bulk();
    }

    /// `env` across the locations that reported within `stale_after` of `now`; `None`
    /// before any has. `live`: the locations whose instances are reporting at all, so that
    /// one that has not probed `env` yet (just started) still counts towards
    /// `min_locations`, and the first location to report does not page alone.
    pub fn combine(
        &self,
        env: &str,
        policy: &AlertPolicy,
        now: DateTime<Utc>,
        stale_after: Duration,
        live: &BTreeSet<String>,
    ) -> Option<Combined> {
        let views = self.views.get(env)?;
        let stale_after = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
        let reporting: Vec<(&String, &LocationView)> = views
            .iter()
            .filter(|(_, view)| now - view.last.started_at <= stale_after)
            .collect();
        let newest = reporting
            .iter()
            .max_by_key(|(_, view)| view.last.started_at)?;
        let (down, up): (Vec<_>, Vec<_>) = reporting
            .iter()
            .partition(|(_, view)| view.state.open.is_some());
        let expected = reporting
            .iter()
            .map(|(name, _)| name.as_str())
            .chain(live.iter().map(String::as_str))
            .collect::<BTreeSet<&str>>()
            .len();
        let failing = enough_down(down.len(), expected, policy.min_locations);
        let names = |list: &[&(&String, &LocationView)]| -> Vec<String> {
            list.iter().map(|(name, _)| (*name).clone()).collect()
        };
        let (down_names, up_names) = (names(&down), names(&up));
        let mut result = if failing {
            down.iter()
                .max_by_key(|(_, view)| view.last.started_at)
                .map(|(_, view)| view.last.clone())
                .unwrap_or_else(|| newest.1.last.clone())
        } else {
            newest.1.last.clone()
        };
        if failing {
            result.status = Status::Down;
            result.diagnosis = format!("{} {}", across(&down_names, &up_names), result.diagnosis);
        } else {
            // Not enough locations down (or none past its own threshold yet): for the
            // environment's incident this is a healthy result, whatever the newest one said.
            result.status = Status::Up;
            if !down_names.is_empty() {
                result.verdict = Verdict::Ok;
                result.diagnosis = format!(
                    "{} (fewer than the {} locations alerts.defaults.min_locations asks for)",
                    across(&down_names, &up_names).trim_end_matches('.'),
                    policy.min_locations
                );
            }
        }
        Some(Combined {
            down: down_names,
            up: up_names,
            failing,
            result,
        })
    }

    /// The locations that have reported `env`.
    pub fn locations(&self, env: &str) -> Vec<String> {
        self.views
            .get(env)
            .map(|views| views.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Whether `down` of `locations` locations are enough for the environment to be down: at
/// least `min_locations`, or all of them when fewer report.
pub fn enough_down(down: usize, locations: usize, min_locations: u32) -> bool {
    down > 0 && down >= (min_locations.max(1) as usize).min(locations)
}

/// Which locations see the failure, and what that points at.
pub fn across(down: &[String], up: &[String]) -> String {
    let total = down.len() + up.len();
    match (down.len(), up.len()) {
        (0, _) => String::new(),
        (1, 0) => format!("Down from {}, the only location reporting:", down[0]),
        (n, 0) => format!("Down from all {n} locations: the service itself."),
        (1, _) => format!(
            "Down from {} only ({} up): the network path or edge serving {}.",
            down[0],
            up.join(", "),
            down[0]
        ),
        (n, _) => format!(
            "Down from {n} of {total} locations ({}; {} up): a regional edge or the paths those locations share.",
            down.join(", "),
            up.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(env: &str, status: Status, at: DateTime<Utc>) -> ProbeResult {
        let verdict = if status == Status::Down {
            Verdict::ConnectRefused
        } else {
            Verdict::Ok
        };
        ProbeResult::note(
            env,
            at,
            status,
            verdict,
            "Nothing listens on port 1.".into(),
        )
    }

    fn policy(min_locations: u32) -> AlertPolicy {
        AlertPolicy {
            failure_threshold: 2,
            success_threshold: 1,
            min_locations,
            ..AlertPolicy::default()
        }
    }

    const STALE: Duration = Duration::from_secs(900);

    #[test]
    fn one_location_down_of_two_is_not_enough_for_two() {
        let t0 = Utc::now();
        let mut board = LocationBoard::default();
        let p = policy(2);
        for i in 0..3 {
            let at = t0 + chrono::Duration::seconds(i * 60);
            board.observe(&p, "eu-west", &result("api", Status::Down, at));
            board.observe(&p, "us-east", &result("api", Status::Up, at));
        }
        let combined = board
            .combine("api", &p, t0, STALE, &BTreeSet::new())
            .unwrap();
        assert!(!combined.failing);
        assert_eq!(combined.down, ["eu-west"]);
        assert_eq!(combined.result.status, Status::Up);
        assert!(
            combined.result.diagnosis.starts_with(
                "Down from eu-west only (us-east up): the network path or edge serving eu-west"
            ),
            "{}",
            combined.result.diagnosis
        );
        // The same with min_locations 1 opens.
        let combined = board
            .combine("api", &policy(1), t0, STALE, &BTreeSet::new())
            .unwrap();
        assert!(combined.failing);
    }

    #[test]
    fn all_locations_down_points_at_the_service() {
        let t0 = Utc::now();
        let mut board = LocationBoard::default();
        let p = policy(2);
        for i in 0..2 {
            let at = t0 + chrono::Duration::seconds(i * 60);
            for location in ["ap-south", "eu-west", "us-east"] {
                board.observe(&p, location, &result("api", Status::Down, at));
            }
        }
        let combined = board
            .combine("api", &p, t0, STALE, &BTreeSet::new())
            .unwrap();
        assert!(combined.failing);
        assert_eq!(combined.result.status, Status::Down);
        assert_eq!(
            combined.result.diagnosis,
            "Down from all 3 locations: the service itself. Nothing listens on port 1."
        );
    }

    #[test]
    fn one_failing_result_is_below_the_threshold_of_its_location() {
        let t0 = Utc::now();
        let mut board = LocationBoard::default();
        let p = policy(1);
        board.observe(&p, "eu-west", &result("api", Status::Down, t0));
        let combined = board
            .combine("api", &p, t0, STALE, &BTreeSet::new())
            .unwrap();
        assert!(!combined.failing, "failure_threshold is 2");
        assert!(combined.down.is_empty());
        // What the environment's incident steps on is healthy until the location counts.
        assert_eq!(combined.result.status, Status::Up);
    }

    #[test]
    fn a_location_that_stopped_reporting_no_longer_counts() {
        let t0 = Utc::now();
        let mut board = LocationBoard::default();
        let p = policy(2);
        let late = t0 + chrono::Duration::seconds(3600);
        for i in 0..2 {
            board.observe(
                &p,
                "us-east",
                &result("api", Status::Up, t0 + chrono::Duration::seconds(i)),
            );
            board.observe(
                &p,
                "eu-west",
                &result("api", Status::Down, late + chrono::Duration::seconds(i)),
            );
        }
        // us-east's last word is an hour old: eu-west alone is "all locations reporting".
        let combined = board
            .combine("api", &p, late, STALE, &BTreeSet::new())
            .unwrap();
        assert!(combined.failing);
        assert_eq!(combined.up, Vec::<String>::new());
        assert!(
            combined
                .result
                .diagnosis
                .starts_with("Down from eu-west, the only location reporting:")
        );
    }

    #[test]
    fn the_first_location_to_report_does_not_page_alone() {
        let t0 = Utc::now();
        let mut board = LocationBoard::default();
        let p = policy(2);
        for i in 0..3 {
            let at = t0 + chrono::Duration::seconds(i);
            board.observe(&p, "eu-west", &result("api", Status::Down, at));
        }
        let live: BTreeSet<String> = ["eu-west".to_owned(), "us-east".to_owned()].into();
        let combined = board.combine("api", &p, t0, STALE, &live).unwrap();
        assert!(
            !combined.failing,
            "us-east is up and running, only not on api yet"
        );
        // With us-east gone quiet, eu-west is all there is.
        let live: BTreeSet<String> = ["eu-west".to_owned()].into();
        assert!(board.combine("api", &p, t0, STALE, &live).unwrap().failing);
    }

    #[test]
    fn sentences_across_locations() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(across(&s(&[]), &s(&["a"])), "");
        assert_eq!(
            across(&s(&["a", "b"]), &s(&["c"])),
            "Down from 2 of 3 locations (a, b; c up): a regional edge or the paths those locations share."
        );
    }
}
