//! `alert.confirm` as the fleet's evaluator applies it, pure. A single instance steps its
//! alerting only once a confirmation series has ended; in a fleet every run goes through the
//! shared store first, so the evaluator sees the series one run at a time and must hold a
//! failure back until its re-probes say whether it was a blip: the same rule, read from the
//! runs' `confirmation` marks.

use crate::config::AlertPolicy;
use crate::probe::ProbeResult;

/// The failing runs of one location's series still waiting for their re-probes.
#[derive(Debug, Clone, Default)]
pub struct Series {
    held: Vec<ProbeResult>,
}

impl Series {
    /// Take `result` in; returns what counts now, in order, towards the location's thresholds:
    ///
    /// - a failure that starts a series (no `confirmation` mark) is held;
    /// - a failing re-probe joins it, and the last one (`confirmation` = `attempts`) releases
    ///   the whole series, the consecutive failures it is;
    /// - a healthy re-probe ends it as a blip: only the healthy result counts;
    /// - a run of a new series (or a healthy run) drops what was held: a series cut short
    ///   (its instance stopped) stays unconfirmed, as on a single instance;
    /// - a re-probe with nothing held (this evaluator took over mid-series) counts as it is.
    ///
    /// With confirmation off, every result counts at once.
    pub fn admit(&mut self, policy: &AlertPolicy, result: &ProbeResult) -> Vec<ProbeResult> {
        let attempts = policy.confirm.attempts;
        let failing = crate::incident::is_failing(result.status, policy);
        if attempts == 0 {
            self.held.clear();
            return vec![result.clone()];
        }
        match (result.confirmation, failing) {
            (None, true) => {
                self.held = vec![result.clone()];
                Vec::new()
            }
            (Some(attempt), true) if !self.held.is_empty() => {
                self.held.push(result.clone());
                if attempt >= attempts {
                    std::mem::take(&mut self.held)
                } else {
                    Vec::new()
                }
            }
            _ => {
                self.held.clear();
                vec![result.clone()]
            }
        }
    }

    /// Whether a failure is waiting for its re-probes.
    pub fn is_pending(&self) -> bool {
        !self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;

    use super::*;
    use crate::config::Confirm;
    use crate::probe::{Status, Verdict};

    fn policy(attempts: u32) -> AlertPolicy {
        AlertPolicy {
            confirm: Confirm {
                attempts,
                every: Duration::from_secs(1),
            },
            ..AlertPolicy::default()
        }
    }

    fn run(status: Status, confirmation: Option<u32>) -> ProbeResult {
        let verdict = match status {
            Status::Down => Verdict::ConnectRefused,
            _ => Verdict::Ok,
        };
        let mut result = ProbeResult::note("api", Utc::now(), status, verdict, "-".into());
        result.confirmation = confirmation;
        result
    }

    /// The statuses that count after each run, in order.
    fn counted(attempts: u32, runs: &[(Status, Option<u32>)]) -> Vec<Vec<Status>> {
        let mut series = Series::default();
        runs.iter()
            .map(|(status, confirmation)| {
                series
                    .admit(&policy(attempts), &run(*status, *confirmation))
                    .iter()
                    .map(|r| r.status)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_confirmed_failure_counts_whole_once_its_last_reprobe_fails() {
        use Status::{Down, Up};
        let seen = counted(2, &[(Down, None), (Down, Some(1)), (Down, Some(2))]);
        assert_eq!(seen, [vec![], vec![], vec![Down, Down, Down]]);
        // After it, the next failure starts a series of its own.
        let seen = counted(2, &[(Up, None), (Down, None)]);
        assert_eq!(seen, [vec![Up], vec![]]);
    }

    #[test]
    fn a_healthy_reprobe_makes_the_series_a_blip() {
        use Status::{Down, Up};
        let seen = counted(3, &[(Down, None), (Down, Some(1)), (Up, Some(2))]);
        assert_eq!(seen, [vec![], vec![], vec![Up]]);
    }

    #[test]
    fn a_series_cut_short_stays_unconfirmed_and_a_lone_reprobe_counts() {
        use Status::Down;
        // The instance stopped after the first failure; the next slot fails again.
        let seen = counted(1, &[(Down, None), (Down, None), (Down, Some(1))]);
        assert_eq!(seen, [vec![], vec![], vec![Down, Down]]);
        // An evaluator that took over mid-series counts the re-probes it reads.
        let seen = counted(2, &[(Down, Some(2))]);
        assert_eq!(seen, [vec![Down]]);
    }

    #[test]
    fn without_confirmation_every_result_counts_at_once() {
        use Status::{Down, Up};
        let seen = counted(0, &[(Down, None), (Up, None)]);
        assert_eq!(seen, [vec![Down], vec![Up]]);
    }
}
