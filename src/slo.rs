//! Service level objectives, pure: the availability of an environment's runs over its window
//! (the store has already left maintenance out), the error budget that leaves, and how the
//! budget burned down day by day.
//!
//! The error budget is the share of runs allowed to fail, `1 - objective`. Over the window
//! there are `runs` runs, so `(1 - objective) × runs` of them may fail; the budget remaining
//! is what the failures so far have not used: `1 - (1 - availability) / (1 - objective)`. It
//! is 1 with no failure, 0 when exactly the allowance failed, and below 0 when it is
//! overspent. The burn-down measures each day's cumulative failures against the same
//! allowance, so it falls from 1 and ends at the window's figure.

pub mod burn;

use std::time::Duration;

use serde::Serialize;

/// One UTC day's runs outside maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    /// Days since the epoch.
    pub day: i64,
    pub runs: u64,
    /// Up or degraded.
    pub serving: u64,
}

/// The budget remaining at the end of one day of the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BudgetPoint {
    /// Days since the epoch.
    pub day: i64,
    pub remaining: f64,
}

/// One environment's SLO over its window, as the page, the API and the metric show it.
#[derive(Debug, Clone, PartialEq)]
pub struct SloReport {
    /// A ratio strictly between 0 and 1.
    pub objective: f64,
    pub window: Duration,
    /// Runs in the window outside maintenance.
    pub runs: u64,
    /// Share of those runs that served; `None` without runs.
    pub availability: Option<f64>,
    /// `None` without runs: nothing measured is not a full budget.
    pub budget_remaining: Option<f64>,
    /// Oldest first, one point per day with runs.
    pub burn_down: Vec<BudgetPoint>,
    /// The burn-rate alerts' state, fast then slow; empty until first measured.
    pub burns: Vec<burn::BurnStatus>,
}

impl SloReport {
    /// The report of `days` (oldest first, the window's only) against `objective`.
    pub fn of(objective: f64, window: Duration, days: &[Day]) -> SloReport {
        let runs: u64 = days.iter().map(|d| d.runs).sum();
        let serving: u64 = days.iter().map(|d| d.serving).sum();
        let availability = (runs > 0).then(|| serving as f64 / runs as f64);
        SloReport {
            objective,
            window,
            runs,
            availability,
            budget_remaining: availability.map(|a| budget_remaining(a, objective)),
            burn_down: burn_down(objective, days),
            burns: Vec::new(),
        }
    }
}

/// `1 - (1 - availability) / (1 - objective)`: 1 untouched, 0 spent, negative overspent.
pub fn budget_remaining(availability: f64, objective: f64) -> f64 {
    1.0 - (1.0 - availability) / (1.0 - objective)
}

/// The budget remaining at the end of each day: that day's cumulative failures against the
/// allowance of the whole window's runs.
pub fn burn_down(objective: f64, days: &[Day]) -> Vec<BudgetPoint> {
    let runs: u64 = days.iter().map(|d| d.runs).sum();
    let allowance = (1.0 - objective) * runs as f64;
    let mut failed = 0u64;
    days.iter()
        .map(|d| {
            failed += d.runs.saturating_sub(d.serving);
            BudgetPoint {
                day: d.day,
                remaining: 1.0 - failed as f64 / allowance,
            }
        })
        .collect()
}

/// The window's hours: whole hours, a part of one counting as one.
pub fn window_hours(window: Duration) -> i64 {
    i64::try_from(window.as_secs().div_ceil(3600))
        .unwrap_or(i64::MAX)
        .max(1)
}

/// The first hour (epoch seconds) of a window ending with the hour of `now` (epoch seconds):
/// the current, partial hour is one of the window's, as for uptime.
pub fn first_hour(now: i64, window: Duration) -> i64 {
    let current = now.div_euclid(3600) * 3600;
    current.saturating_sub((window_hours(window) - 1).saturating_mul(3600))
}

/// `30d`, `36h`: how the API and the page write a window.
pub fn window_text(window: Duration) -> String {
    let hours = window_hours(window);
    if hours % 24 == 0 {
        format!("{}d", hours / 24)
    } else {
        format!("{hours}h")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: i64, runs: u64, serving: u64) -> Day {
        Day { day, runs, serving }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn budget_remaining_is_the_share_of_allowed_failures_not_yet_used() {
        // (availability, objective, remaining)
        let table = [
            (1.0, 0.999, 1.0),
            (0.9995, 0.999, 0.5),
            (0.999, 0.999, 0.0),
            (0.998, 0.999, -1.0),
            (0.0, 0.999, -999.0),
            (0.99, 0.9, 0.9),
            (0.5, 0.5, 0.0),
        ];
        for (availability, objective, remaining) in table {
            let got = budget_remaining(availability, objective);
            assert!(
                close(got, remaining),
                "{availability} against {objective}: {got}, not {remaining}"
            );
        }
    }

    #[test]
    fn a_report_sums_the_days_and_burns_down_to_the_window_figure() {
        // 3000 runs, 3 failed: 99.9% against a 99.9% objective spends the whole budget.
        let days = [
            day(100, 1000, 1000),
            day(101, 1000, 998),
            day(103, 1000, 999),
        ];
        let report = SloReport::of(0.999, Duration::from_secs(30 * 86_400), &days);
        assert_eq!(report.runs, 3000);
        assert!(close(report.availability.unwrap(), 0.999));
        assert!(close(report.budget_remaining.unwrap(), 0.0));
        let points: Vec<(i64, f64)> = report
            .burn_down
            .iter()
            .map(|p| (p.day, p.remaining))
            .collect();
        // The allowance is 3 failures: none, then 2 of 3, then all 3.
        let expected = [(100, 1.0), (101, 1.0 / 3.0), (103, 0.0)];
        assert_eq!(points.len(), expected.len());
        for ((got_day, got), (day, remaining)) in points.iter().zip(expected) {
            assert_eq!(*got_day, day);
            assert!(close(*got, remaining), "day {day}: {got}, not {remaining}");
        }
    }

    #[test]
    fn an_overspent_budget_goes_below_zero_and_no_runs_measure_nothing() {
        let report = SloReport::of(0.99, Duration::from_secs(3600), &[day(5, 10, 5)]);
        assert!(close(report.availability.unwrap(), 0.5));
        assert!(close(report.budget_remaining.unwrap(), -49.0));
        assert!(close(report.burn_down[0].remaining, -49.0));

        let empty = SloReport::of(0.99, Duration::from_secs(3600), &[]);
        assert_eq!(empty.runs, 0);
        assert_eq!(empty.availability, None);
        assert_eq!(empty.budget_remaining, None);
        assert!(empty.burn_down.is_empty());
    }

    #[test]
    fn a_window_counts_whole_hours_back_from_the_current_one() {
        let now = 20_000 * 86_400 + 5 * 3600 + 1234;
        let hour = 3600;
        // (window, hours, first hour, text)
        let table = [
            (hour, 1, now - 1234, "1h"),
            (90 * 60, 2, now - 1234 - hour as i64, "2h"),
            (24 * hour, 24, now - 1234 - 23 * hour as i64, "1d"),
            (30 * 24 * hour, 720, now - 1234 - 719 * hour as i64, "30d"),
            (36 * hour, 36, now - 1234 - 35 * hour as i64, "36h"),
        ];
        for (secs, hours, first, text) in table {
            let window = Duration::from_secs(secs);
            assert_eq!(window_hours(window), hours, "{secs}s");
            assert_eq!(first_hour(now, window), first, "{secs}s");
            assert_eq!(window_text(window), text, "{secs}s");
        }
    }
}
