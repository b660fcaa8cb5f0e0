//! Incidents across locations, pure. Each location of each environment keeps its own
//! hysteresis (the incident state machine, `failure_threshold` consecutive failing results to
//! count as down, `success_threshold` healthy ones to count as up again); the environment is
//! down when at least `min_locations` locations are, or all of them when fewer report. What
//! that verdict points at (one path or the service) is said in one sentence.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::across::AcrossLocations;
use super::quiet;
use super::series::Series;
use crate::config::AlertPolicy;
use crate::incident::{self, MachineState, Observation};
use crate::oncall::Silence;
use crate::probe::{ProbeResult, Status, Verdict};

/// One location's view of one environment.
#[derive(Debug, Clone)]
struct LocationView {
    state: MachineState,
    /// Its newest result, without its bulk (headers and messages).
    last: ProbeResult,
    /// A failure waiting for its `alert.confirm` re-probes.
    series: Series,
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

impl Combined {
    /// The silence that holds the environment's notices: one must match it from every
    /// location that counts as down (a silence on one location's path does not quiet an
    /// outage seen from others). When each location needs its own, the one that ends first
    /// is named: notifications start again then. `None` when no location is down.
    pub fn silenced_by(&self, silences: &[Silence], now: DateTime<Utc>) -> Option<i64> {
        let env = self.result.environment.as_str();
        let verdict = self.result.verdict;
        let mut held: Option<&Silence> = None;
        for location in &self.down {
            let silence =
                crate::oncall::silence::covering(silences, env, Some(location), verdict, now)?;
            held = Some(match held {
                Some(other) if other.ended_at() <= silence.ended_at() => other,
                _ => silence,
            });
        }
        held.map(|s| s.id)
    }
}

impl LocationBoard {
    /// Step `location`'s view of the result's environment.
    pub fn observe(&mut self, policy: &AlertPolicy, location: &str, result: &ProbeResult) {
        let result = result.without_bulk();
        let env = self.views.entry(result.environment.clone()).or_default();
        let view = env
            .entry(location.to_owned())
            .or_insert_with(|| LocationView {
                state: MachineState::default(),
                last: result.clone(),
                series: Series::default(),
            });
        for counted in view.series.admit(policy, &result) {
            let observation = Observation {
                status: counted.status,
                verdict: counted.verdict,
                in_maintenance: false,
                silenced: false,
                started_at: counted.started_at,
            };
            let (state, _) = incident::step(&view.state, policy, &observation, counted.started_at);
            view.state = state;
        }
        view.last = result;
    }

    /// `env` across the locations that are not quiet as of `now` (`interval`: the
    /// environment's, see [`quiet::is_quiet`]); `None` before any has reported. `live`: the
    /// locations whose instances are reporting at all, so that one that has not probed `env`
    /// yet (just started) still counts towards `min_locations`, and the first location to
    /// report does not page alone.
    pub fn combine(
        &self,
        env: &str,
        policy: &AlertPolicy,
        now: DateTime<Utc>,
        interval: Duration,
        live: &BTreeSet<String>,
    ) -> Option<Combined> {
        let views = self.views.get(env)?;
        let reporting: Vec<(&String, &LocationView)> = views
            .iter()
            .filter(|(_, view)| !quiet::is_quiet(view.last.started_at, now, interval))
            .collect();
        let newest = |down_only: bool| {
            reporting
                .iter()
                .filter(|(_, view)| !down_only || view.state.open.is_some())
                .max_by_key(|(_, view)| view.last.started_at)
                .map(|(_, view)| view.last.clone())
        };
        let mut result = newest(false)?;
        let expected = reporting
            .iter()
            .map(|(name, _)| name.as_str())
            .chain(live.iter().map(String::as_str))
            .collect::<BTreeSet<&str>>()
            .len();
        // A location counts as down once its own incident is open: it waited for its
        // thresholds.
        let across = AcrossLocations::judge(
            reporting.iter().map(|(name, view)| {
                let status = match view.state.open {
                    Some(_) => Status::Down,
                    None => Status::Up,
                };
                (name.as_str(), status)
            }),
            expected,
            policy.min_locations,
        );
        let failing = across.failing();
        if failing {
            result = newest(true).unwrap_or(result);
            result.status = Status::Down;
            result.diagnosis = format!("{} {}", across.sentence(), result.diagnosis);
        } else {
            // Not enough locations down (or none past its own threshold yet): for the
            // environment's incident this is a healthy result, whatever the newest one said.
            result.status = Status::Up;
            if !across.down.is_empty() {
                result.verdict = Verdict::Ok;
                result.diagnosis = format!(
                    "{} (fewer than the {} locations alerts.defaults.min_locations asks for)",
                    across.sentence().trim_end_matches('.'),
                    policy.min_locations
                );
            }
        }
        Some(Combined {
            down: across.down,
            up: across.up,
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

    /// Quiet after three of them: 15 minutes.
    const INTERVAL: Duration = Duration::from_secs(300);

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
            .combine("api", &p, t0, INTERVAL, &BTreeSet::new())
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
            .combine("api", &policy(1), t0, INTERVAL, &BTreeSet::new())
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
            .combine("api", &p, t0, INTERVAL, &BTreeSet::new())
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
            .combine("api", &p, t0, INTERVAL, &BTreeSet::new())
            .unwrap();
        assert!(!combined.failing, "failure_threshold is 2");
        assert!(combined.down.is_empty());
        // What the environment's incident steps on is healthy until the location counts.
        assert_eq!(combined.result.status, Status::Up);
    }

    /// `alert.confirm` across locations: a's failure and its two re-probes, then b's answer to
    /// a's request (and b's re-probes when it fails too).
    #[test]
    fn the_other_locations_answer_decides_whether_a_confirmed_failure_pages() {
        let t0 = Utc::now();
        let p = AlertPolicy {
            confirm: crate::config::Confirm {
                attempts: 2,
                every: Duration::from_secs(1),
            },
            failure_threshold: 3,
            ..policy(2)
        };
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let marked = |status, s, confirmation, asked: bool| {
            let mut run = result("api", status, at(s));
            run.confirmation = confirmation;
            run.requested_by = asked.then(|| "a".to_owned());
            run
        };
        let live: BTreeSet<String> = ["a".to_owned(), "b".to_owned()].into();
        let mut board = LocationBoard::default();
        board.observe(&p, "b", &result("api", Status::Up, at(-60)));
        for (s, confirmation) in [(0, None), (1, Some(1)), (2, Some(2))] {
            board.observe(&p, "a", &marked(Status::Down, s, confirmation, false));
        }
        let mut healthy = board;
        healthy.observe(&p, "b", &marked(Status::Up, 1, None, true));
        let combined = healthy.combine("api", &p, at(3), INTERVAL, &live).unwrap();
        assert!(!combined.failing, "b sees it up: a's path, not the service");
        assert_eq!(
            (combined.down, combined.up),
            (vec!["a".into()], vec!["b".into()])
        );

        let mut failing = LocationBoard::default();
        failing.observe(&p, "b", &result("api", Status::Up, at(-60)));
        for (s, confirmation) in [(0, None), (1, Some(1)), (2, Some(2))] {
            failing.observe(&p, "a", &marked(Status::Down, s, confirmation, false));
            let still = failing.combine("api", &p, at(s), INTERVAL, &live).unwrap();
            assert!(!still.failing, "b has not answered yet");
            failing.observe(&p, "b", &marked(Status::Down, s + 1, confirmation, true));
        }
        let combined = failing.combine("api", &p, at(3), INTERVAL, &live).unwrap();
        assert!(combined.failing, "{combined:?}");
        assert!(
            combined
                .result
                .diagnosis
                .starts_with("Down from all 2 locations")
        );
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
            .combine("api", &p, late, INTERVAL, &BTreeSet::new())
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
        let combined = board.combine("api", &p, t0, INTERVAL, &live).unwrap();
        assert!(
            !combined.failing,
            "us-east is up and running, only not on api yet"
        );
        // With us-east gone quiet, eu-west is all there is.
        let live: BTreeSet<String> = ["eu-west".to_owned()].into();
        assert!(
            board
                .combine("api", &p, t0, INTERVAL, &live)
                .unwrap()
                .failing
        );
    }

    #[test]
    fn an_outage_is_silenced_only_from_every_location_that_sees_it() {
        use crate::oncall::{Matchers, Silence};
        let t0 = Utc::now();
        let silence = |id: i64, location: Option<&str>, hours: i64| Silence {
            id,
            matchers: Matchers {
                environment: Some("api".into()),
                location: location.map(str::to_owned),
                verdict: None,
            },
            starts_at: t0 - chrono::Duration::hours(1),
            ends_at: t0 + chrono::Duration::hours(hours),
            created_by: "alice".into(),
            comment: "edge work".into(),
            created_at: t0,
            expired_at: None,
        };
        let combined = |down: &[&str]| Combined {
            down: down.iter().map(|l| (*l).to_owned()).collect(),
            up: Vec::new(),
            failing: !down.is_empty(),
            result: result("api", Status::Down, t0),
        };
        // 1 on eu-west for an hour, 2 on us-east for two, 3 everywhere for three.
        let all = [
            silence(1, Some("eu-west"), 1),
            silence(2, Some("us-east"), 2),
            silence(3, None, 3),
        ];
        let only = |ids: &[i64]| -> Vec<Silence> {
            all.iter()
                .filter(|s| ids.contains(&s.id))
                .cloned()
                .collect()
        };
        type Case<'a> = (&'a str, &'a [&'a str], &'a [i64], Option<i64>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("one location, its silence", &["eu-west"], &[1], Some(1)),
            ("two locations, one silenced", &["eu-west", "us-east"], &[1], None),
            ("each its own: the first to end", &["eu-west", "us-east"], &[1, 2], Some(1)),
            ("one for all", &["eu-west", "us-east"], &[3], Some(3)),
            ("nothing down", &[], &[3], None),
        ];
        for (name, down, ids, expected) in cases {
            let silenced = combined(down).silenced_by(&only(ids), t0);
            assert_eq!(silenced, *expected, "{name}");
        }
    }
}
