//! Multi-window, multi-burn-rate alerts, pure (Google SRE workbook, "Alerting on SLOs",
//! recommendation 6): how fast an environment spends its error budget, over a long window that
//! makes the alert significant and a short one that makes it stop as soon as the burn does.
//!
//! The burn rate over a window is its error rate against the error rate the objective allows,
//! `error rate / (1 - objective)`: 1 spends the budget exactly over the SLO window, 14.4 spends
//! 2% of a 30-day budget in one hour. A speed fires when both its windows reach its threshold
//! and ends when either drops below it; the short window, being short, is the one that drops
//! first once the failures stop. Runs in maintenance are left out, as the SLO leaves them out.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A window needs this many runs outside maintenance to speak for the long window's
/// significance: below it, one failed run of a sparse schedule would page.
pub const LONG_MIN_RUNS: u64 = 5;
/// The short window only says whether the burn still goes on: one run says it.
pub const SHORT_MIN_RUNS: u64 = 1;

/// The workbook's two alerts: a page for a fast burn, a ticket for a slow one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speed {
    Fast,
    Slow,
}

impl Speed {
    pub const ALL: [Speed; 2] = [Speed::Fast, Speed::Slow];

    pub fn as_str(self) -> &'static str {
        match self {
            Speed::Fast => "fast",
            Speed::Slow => "slow",
        }
    }

    pub fn parse(text: &str) -> Option<Speed> {
        Speed::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The burn rate both windows must reach: 2% of a 30-day budget in 1 h, 5% in 6 h.
    pub fn threshold(self) -> f64 {
        match self {
            Speed::Fast => 14.4,
            Speed::Slow => 6.0,
        }
    }

    pub fn long(self) -> Duration {
        match self {
            Speed::Fast => Duration::from_secs(3600),
            Speed::Slow => Duration::from_secs(6 * 3600),
        }
    }

    /// A twelfth of the long window, as the workbook has it.
    pub fn short(self) -> Duration {
        self.long() / 12
    }

    /// The notification's `severity`.
    pub fn severity(self) -> &'static str {
        match self {
            Speed::Fast => "critical",
            Speed::Slow => "warning",
        }
    }

    /// What on-call is to do: a fast burn pages, a slow one is a ticket.
    pub fn action(self) -> &'static str {
        match self {
            Speed::Fast => "page",
            Speed::Slow => "ticket",
        }
    }
}

/// `5m`, `30m`, `1h`, `6h`: how a burn window is written.
pub fn window_text(window: Duration) -> String {
    let minutes = window.as_secs() / 60;
    if minutes.is_multiple_of(60) {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

/// One window's runs, maintenance included in `runs` and `serving` and counted apart, as the
/// rollups keep them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub runs: u64,
    /// Up or degraded.
    pub serving: u64,
    pub maint_runs: u64,
    pub maint_serving: u64,
}

impl std::ops::Add for Counts {
    type Output = Counts;

    fn add(self, other: Counts) -> Counts {
        Counts {
            runs: self.runs + other.runs,
            serving: self.serving + other.serving,
            maint_runs: self.maint_runs + other.maint_runs,
            maint_serving: self.maint_serving + other.maint_serving,
        }
    }
}

impl Counts {
    /// Runs outside maintenance.
    pub fn measured(&self) -> u64 {
        self.runs.saturating_sub(self.maint_runs)
    }

    /// Runs outside maintenance that did not serve.
    pub fn failed(&self) -> u64 {
        let serving = self.serving.saturating_sub(self.maint_serving);
        self.measured().saturating_sub(serving)
    }

    /// The window's burn rate against `objective`; `None` with fewer than `min_runs` runs.
    pub fn burn_rate(&self, objective: f64, min_runs: u64) -> Option<f64> {
        let measured = self.measured();
        (measured >= min_runs.max(1))
            .then(|| self.failed() as f64 / measured as f64 / (1.0 - objective))
    }
}

/// The four windows' counts, each ending now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Windows {
    pub m5: Counts,
    pub m30: Counts,
    pub h1: Counts,
    pub h6: Counts,
}

impl Windows {
    fn long(&self, speed: Speed) -> Counts {
        match speed {
            Speed::Fast => self.h1,
            Speed::Slow => self.h6,
        }
    }

    fn short(&self, speed: Speed) -> Counts {
        match speed {
            Speed::Fast => self.m5,
            Speed::Slow => self.m30,
        }
    }
}

/// One speed's burn rates now; `None` where the window has too few runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measure {
    pub long: Option<f64>,
    pub short: Option<f64>,
}

impl Measure {
    pub fn of(speed: Speed, objective: f64, windows: &Windows) -> Measure {
        Measure {
            long: windows.long(speed).burn_rate(objective, LONG_MIN_RUNS),
            short: windows.short(speed).burn_rate(objective, SHORT_MIN_RUNS),
        }
    }
}

/// One speed's alert as the API and the page show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnStatus {
    pub speed: Speed,
    pub severity: &'static str,
    pub threshold: f64,
    pub long_window: String,
    pub short_window: String,
    /// `None` (null) while the window has too few runs outside maintenance.
    pub long_burn_rate: Option<f64>,
    pub short_burn_rate: Option<f64>,
    /// Its `slo_burn` notification went out (or was held) and its resolve has not.
    pub firing: bool,
    #[serde(with = "crate::wire::time_opt")]
    pub since: Option<DateTime<Utc>>,
    /// The burn's own record (`GET /api/v1/incidents/{id}`: its notifications), never an
    /// incident of the environment.
    pub incident_id: Option<i64>,
}

impl BurnStatus {
    pub fn new(speed: Speed, measure: &Measure, burning: Option<(i64, DateTime<Utc>)>) -> Self {
        BurnStatus {
            speed,
            severity: speed.severity(),
            threshold: speed.threshold(),
            long_window: window_text(speed.long()),
            short_window: window_text(speed.short()),
            long_burn_rate: measure.long,
            short_burn_rate: measure.short,
            firing: burning.is_some(),
            since: burning.map(|(_, since)| since),
            incident_id: burning.map(|(id, _)| id),
        }
    }
}

/// What one evaluation of one speed did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Both windows reached the threshold: notify once.
    Starts { at: DateTime<Utc> },
    /// Still burning (or not measurable enough to say it stopped): nothing to send.
    Holds { since: DateTime<Utc> },
    /// A window dropped below the threshold: notify the resolve.
    Ends {
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// Not burning, nothing changed.
    Quiet,
}

/// One speed's step at `now`, from whether it burns (`since`, when it does) and its measure.
/// A window without enough runs neither starts nor ends a burn, except that a burn with no
/// measurable window at all ends: nothing was probed long enough to say it goes on.
pub fn step(
    speed: Speed,
    measure: &Measure,
    burning_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Transition {
    let threshold = speed.threshold();
    let over = |rate: Option<f64>| rate.map(|r| r >= threshold);
    let (long, short) = (over(measure.long), over(measure.short));
    match burning_since {
        None if long == Some(true) && short == Some(true) => Transition::Starts { at: now },
        None => Transition::Quiet,
        Some(since)
            if long == Some(false)
                || short == Some(false)
                || (long.is_none() && short.is_none()) =>
        {
            Transition::Ends { since, at: now }
        }
        Some(since) => Transition::Holds { since },
    }
}

/// `×20.3`, or `—` for a window without enough runs.
fn rate_text(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_owned(), |r| format!("{r:.1}×"))
}

/// What a burn's notification says in one sentence.
pub struct Sentence<'a> {
    pub environment: &'a str,
    pub speed: Speed,
    pub measure: &'a Measure,
    pub objective: f64,
    pub slo_window: Duration,
    pub budget_remaining: Option<f64>,
    /// `Some` once the burn ended: how long it lasted, in seconds.
    pub lasted_s: Option<i64>,
}

impl Sentence<'_> {
    pub fn text(&self) -> String {
        let (speed, env) = (self.speed, self.environment);
        let (long, short) = (window_text(speed.long()), window_text(speed.short()));
        let left = self
            .budget_remaining
            .map(|b| {
                format!(
                    "{:.1}% of the {} error budget is left",
                    b * 100.0,
                    crate::slo::window_text(self.slo_window)
                )
            })
            .unwrap_or_else(|| "the error budget is not measured yet".to_owned());
        match self.lasted_s {
            None => {
                // At burn rate b, a whole window's budget lasts window / b.
                let lasts = self.measure.long.filter(|r| *r > 0.0).map(|r| {
                    let hours = self.slo_window.as_secs_f64() / r / 3600.0;
                    format!("; at this rate the whole budget lasts {}", span_text(hours))
                });
                format!(
                    "{env} is spending its error budget {} as fast as its {} objective allows over {long} ({} over {short}), a {} burn ({}){}; {left}.",
                    rate_text(self.measure.long),
                    objective_text(self.objective),
                    rate_text(self.measure.short),
                    speed.as_str(),
                    speed.action(),
                    lasts.unwrap_or_default(),
                )
            }
            Some(lasted) => format!(
                "{env}'s {} burn is over after {}: {} over {short}, {} over {long} (threshold {}×); {left}.",
                speed.as_str(),
                crate::text::duration_words(lasted),
                rate_text(self.measure.short),
                rate_text(self.measure.long),
                speed.threshold(),
            ),
        }
    }
}

/// `36 hours`, `4.2 days`: how long a budget lasts at a burn rate.
fn span_text(hours: f64) -> String {
    if hours < 48.0 {
        format!("{hours:.0} hours")
    } else {
        format!("{:.1} days", hours / 24.0)
    }
}

/// `99.9%`: the objective as a percentage, no trailing zeros.
fn objective_text(objective: f64) -> String {
    let text = format!("{:.3}", objective * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// `runs` runs of which `failed` failed, none in maintenance.
    fn counts(runs: u64, failed: u64) -> Counts {
        Counts {
            runs,
            serving: runs - failed,
            ..Counts::default()
        }
    }

    #[test]
    fn a_burn_rate_is_the_error_rate_against_the_allowed_one_with_maintenance_left_out() {
        // (counts, objective, min runs, burn rate)
        let table = [
            (counts(100, 0), 0.999, 5, Some(0.0)),
            (counts(1000, 1), 0.999, 5, Some(1.0)),
            (counts(100, 10), 0.99, 5, Some(10.0)),
            (counts(4, 4), 0.999, 5, None),
            (counts(1, 1), 0.9, 1, Some(10.0)),
            (counts(0, 0), 0.9, 0, None),
            // 10 runs, 6 in maintenance all failed: 4 measured, 1 of them failed.
            (
                Counts {
                    runs: 10,
                    serving: 3,
                    maint_runs: 6,
                    maint_serving: 0,
                },
                0.9,
                1,
                Some(2.5),
            ),
        ];
        for (counts, objective, min, expected) in table {
            let got = counts.burn_rate(objective, min);
            match (got, expected) {
                (Some(g), Some(e)) => assert!((g - e).abs() < 1e-9, "{counts:?}: {g}, not {e}"),
                _ => assert_eq!(got, expected, "{counts:?}"),
            }
        }
    }

    /// Windows where the fast pair and the slow pair are given as (runs, failed).
    fn windows(h1: (u64, u64), m5: (u64, u64), h6: (u64, u64), m30: (u64, u64)) -> Windows {
        Windows {
            h1: counts(h1.0, h1.1),
            m5: counts(m5.0, m5.1),
            h6: counts(h6.0, h6.1),
            m30: counts(m30.0, m30.1),
        }
    }

    #[test]
    fn each_speed_starts_holds_and_ends_on_its_two_windows() {
        let now = at("2026-12-07T12:00:00Z");
        let since = at("2026-12-07T11:40:00Z");
        let quiet = windows((60, 0), (5, 0), (360, 0), (30, 0));
        // 99%: fast needs 14.4% failed in both windows, slow 6%.
        type Row = (
            &'static str,
            Speed,
            Windows,
            Option<DateTime<Utc>>,
            Transition,
        );
        let table: [Row; 14] = [
            (
                "fast fires on both windows",
                Speed::Fast,
                windows((60, 10), (5, 1), (360, 10), (30, 1)),
                None,
                Transition::Starts { at: now },
            ),
            (
                "fast: the long window alone is not enough",
                Speed::Fast,
                windows((60, 10), (5, 0), (360, 10), (30, 0)),
                None,
                Transition::Quiet,
            ),
            (
                "fast: the short window alone is not enough",
                Speed::Fast,
                windows((60, 5), (5, 5), (360, 5), (30, 5)),
                None,
                Transition::Quiet,
            ),
            (
                "slow fires on both windows",
                Speed::Slow,
                windows((60, 0), (5, 0), (360, 30), (30, 2)),
                None,
                Transition::Starts { at: now },
            ),
            (
                "slow: the long window alone is not enough",
                Speed::Slow,
                windows((60, 0), (5, 0), (360, 30), (30, 1)),
                None,
                Transition::Quiet,
            ),
            (
                "slow: the short window alone is not enough",
                Speed::Slow,
                windows((60, 30), (5, 5), (360, 20), (30, 30)),
                None,
                Transition::Quiet,
            ),
            (
                "fast does not fire again while it holds",
                Speed::Fast,
                windows((60, 10), (5, 1), (360, 10), (30, 1)),
                Some(since),
                Transition::Holds { since },
            ),
            (
                "fast ends when the short window recovers",
                Speed::Fast,
                windows((60, 10), (5, 0), (360, 10), (30, 1)),
                Some(since),
                Transition::Ends { since, at: now },
            ),
            (
                "slow ends when the short window recovers",
                Speed::Slow,
                windows((60, 0), (5, 0), (360, 30), (30, 1)),
                Some(since),
                Transition::Ends { since, at: now },
            ),
            (
                "too few runs in the long window: no alert",
                Speed::Fast,
                windows((4, 4), (2, 2), (4, 4), (2, 2)),
                None,
                Transition::Quiet,
            ),
            (
                "no run in the short window: no alert",
                Speed::Fast,
                windows((60, 60), (0, 0), (360, 60), (0, 0)),
                None,
                Transition::Quiet,
            ),
            (
                "no run in the short window: a burn holds",
                Speed::Fast,
                windows((60, 60), (0, 0), (360, 60), (0, 0)),
                Some(since),
                Transition::Holds { since },
            ),
            (
                "nothing measured at all: a burn ends",
                Speed::Slow,
                windows((0, 0), (0, 0), (3, 3), (0, 0)),
                Some(since),
                Transition::Ends { since, at: now },
            ),
            (
                "quiet stays quiet",
                Speed::Slow,
                quiet,
                None,
                Transition::Quiet,
            ),
        ];
        for (case, speed, windows, burning, expected) in table {
            let measure = Measure::of(speed, 0.99, &windows);
            assert_eq!(step(speed, &measure, burning, now), expected, "{case}");
        }
    }

    #[test]
    fn maintenance_runs_neither_start_nor_keep_a_burn() {
        let now = at("2026-12-07T12:00:00Z");
        // Every failure fell in a maintenance window: nothing burns.
        let in_maintenance = |runs: u64| Counts {
            runs,
            serving: 0,
            maint_runs: runs,
            maint_serving: 0,
        };
        let mut all = Windows {
            m5: in_maintenance(5),
            m30: in_maintenance(30),
            h1: in_maintenance(60),
            h6: in_maintenance(360),
        };
        let measure = Measure::of(Speed::Fast, 0.99, &all);
        assert_eq!(
            measure,
            Measure {
                long: None,
                short: None
            }
        );
        assert_eq!(step(Speed::Fast, &measure, None, now), Transition::Quiet);
        // The same failures outside maintenance fire.
        all.h1.maint_runs = 0;
        all.m5.maint_runs = 0;
        let measure = Measure::of(Speed::Fast, 0.99, &all);
        assert_eq!(
            step(Speed::Fast, &measure, None, now),
            Transition::Starts { at: now }
        );
    }

    #[test]
    fn windows_and_sentences() {
        assert_eq!(window_text(Speed::Fast.short()), "5m");
        assert_eq!(window_text(Speed::Slow.short()), "30m");
        assert_eq!(window_text(Speed::Fast.long()), "1h");
        assert_eq!(window_text(Speed::Slow.long()), "6h");
        let measure = Measure {
            long: Some(20.0),
            short: Some(40.0),
        };
        let mut sentence = Sentence {
            environment: "chat",
            speed: Speed::Fast,
            measure: &measure,
            objective: 0.999,
            slo_window: Duration::from_secs(30 * 86_400),
            budget_remaining: Some(0.42),
            lasted_s: None,
        };
        assert_eq!(
            sentence.text(),
            "chat is spending its error budget 20.0× as fast as its 99.9% objective allows over 1h \
             (40.0× over 5m), a fast burn (page); at this rate the whole budget lasts 36 hours; \
             42.0% of the 30d error budget is left."
        );
        let recovered = Measure {
            long: Some(15.0),
            short: Some(0.0),
        };
        sentence.measure = &recovered;
        sentence.lasted_s = Some(720);
        assert_eq!(
            sentence.text(),
            "chat's fast burn is over after 12m 0s: 0.0× over 5m, 15.0× over 1h (threshold 14.4×); \
             42.0% of the 30d error budget is left."
        );
    }
}
