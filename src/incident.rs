//! The incident state machine of one environment: pure, so every rule is a row in a table test.
//! The caller (the alert engine's `observe`) persists the state and turns events into incident
//! rows and outbox notifications.
//!
//! Rules, in the SPEC's words where it has them:
//! - a result *fails* when it is down, or degraded with `alert_on_degraded`; anything else
//!   (up, or degraded without it) counts as healthy;
//! - `failure_threshold` consecutive failing results open an incident (`triggered`);
//! - while open: a failing result with another verdict than the one last notified sends
//!   `verdict_changed` once; otherwise a `reminder` goes out every `repeat_every`;
//! - `success_threshold` consecutive healthy results resolve it (`resolved` if `send_resolved`).
//!
//! - flapping (Nagios' flap detection): over the last `flapping.window` results, a weighted
//!   share of state changes at or above `flapping.high` opens an incident marked flapping
//!   even though `failure_threshold` failures in a row never came; a flapping incident resolves
//!   only once the share is below `flapping.low` and `success_threshold` results are healthy.
//!
//! Maintenance windows and silences hold notifications back; the state advances exactly as
//! outside one. Every notice produced while held is recorded as held and never sent, with two
//! exceptions that keep on-call's view consistent: an incident opened while held is announced
//! (`triggered`) by the first failing result after the hold if it is still open, and a
//! `resolved` for an incident whose `triggered` did go out is always sent, so that no page
//! stays open. A `resolved` for an incident never announced is not sent at all.
//!
//! Acknowledging an open incident ([`acknowledge`]) says someone holds it: its reminders stop.
//! A change of verdict is still notified once (news for whoever holds it; PagerDuty appends a
//! trigger to an acknowledged incident without paging again), and `resolved` still goes out.
//! An incident acknowledged before it was ever announced (opened while held) is never
//! announced afterwards: the pager never heard of it and someone already has it.

use chrono::{DateTime, Utc};

pub use crate::config::MAX_FLAP_WINDOW;
use crate::config::{AlertPolicy, Flapping};
use crate::probe::{Status, Verdict};

/// What the state machine needs from one probe result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub status: Status,
    pub verdict: Verdict,
    /// A maintenance window covered the environment when the result came in.
    pub in_maintenance: bool,
    /// A silence matched the result.
    pub silenced: bool,
    /// When the probe began: an outage starts when its first failing probe started, not when
    /// that probe gave up (a timeout can be a minute later).
    pub started_at: DateTime<Utc>,
}

/// The state machine's state of one environment; persisted after every change, so it
/// survives restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineState {
    /// Consecutive failing results, saturating at the failure threshold so that a steady
    /// state writes nothing.
    pub failures: u32,
    /// Consecutive healthy results, saturating at the success threshold.
    pub successes: u32,
    /// When the current run of failing results began: the outage's start.
    pub failing_since: Option<DateTime<Utc>>,
    pub open: Option<Open>,
    pub recent: Recent,
}

/// The last results as failing (1) or healthy (0), newest in the lowest bit: what flap
/// detection reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recent {
    pub bits: u32,
    /// How many of the bits are results (at most [`MAX_FLAP_WINDOW`]).
    pub len: u32,
}

impl Recent {
    fn push(self, failing: bool) -> Recent {
        Recent {
            bits: (self.bits << 1) | u32::from(failing),
            len: (self.len + 1).min(MAX_FLAP_WINDOW),
        }
    }

    /// State changes among the last `window` results, unweighted: what a sentence can say.
    pub fn changes(self, window: u32) -> u32 {
        let known = self.len.min(window.clamp(3, MAX_FLAP_WINDOW));
        let mask = if known >= 32 {
            u32::MAX
        } else {
            (1 << known) - 1
        };
        let pairs_mask = mask >> 1;
        ((self.bits ^ (self.bits >> 1)) & pairs_mask).count_ones()
    }

    /// The weighted share of state changes over the last `window` results, in percent, as
    /// Nagios computes it: `window - 1` possible changes, the oldest weighing 0.8 and the
    /// newest 1.2, so that a flap that is calming down counts for less. Results not seen yet
    /// count as no change, so a new environment starts calm.
    pub fn flap_percent(self, window: u32) -> f64 {
        let window = window.clamp(3, MAX_FLAP_WINDOW);
        let known = self.len.min(window);
        let pairs = f64::from(window - 1);
        let mut weighted = 0.0;
        // Change `age` is between the result `age` steps back and the one before it.
        for age in 0..known.saturating_sub(1) {
            let newer = (self.bits >> age) & 1;
            let older = (self.bits >> (age + 1)) & 1;
            if newer != older {
                let position = f64::from(window - 2 - age) / f64::from(window - 2);
                weighted += 0.8 + 0.4 * position;
            }
        }
        weighted / pairs * 100.0
    }
}

/// The open incident, as far as the state machine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The first failing result of the outage.
    pub since: DateTime<Utc>,
    /// The result that crossed `failure_threshold`.
    pub opened_at: DateTime<Utc>,
    /// The verdict of the last notice: a failing result with another one is a change.
    pub verdict: Verdict,
    /// Last notice produced (sent or held): reminders count from here.
    pub last_notice_at: DateTime<Utc>,
    /// A `triggered` notice went out (was not held).
    pub announced: bool,
    /// Someone acknowledged it: no more reminders.
    pub acknowledged: bool,
    /// Opened, or kept open, because the environment keeps changing state.
    pub flapping: bool,
}

/// What a step did: incident lifecycle first, then the notices to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentEvent {
    Opened,
    Resolved,
    /// One notification per channel of the environment; `held`: recorded, never sent.
    Notify {
        notice: Notice,
        held: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Triggered,
    Reminder,
    VerdictChanged {
        from: Verdict,
    },
    Resolved,
    /// Someone acknowledged the incident (not a result's doing: see [`acknowledge`]).
    Acknowledged,
}

/// Whether a result counts against the environment under `policy`.
pub fn is_failing(status: Status, policy: &AlertPolicy) -> bool {
    match status {
        Status::Down => true,
        Status::Degraded => policy.alert_on_degraded,
        Status::Up => false,
    }
}

/// One result's effect on the state. `now` is when the result is observed.
pub fn step(
    state: &MachineState,
    policy: &AlertPolicy,
    observation: &Observation,
    now: DateTime<Utc>,
) -> (MachineState, Vec<IncidentEvent>) {
    let mut next = state.clone();
    let mut events = Vec::new();
    let failing = is_failing(observation.status, policy);
    next.recent = next.recent.push(failing);
    let flap = Flap::judge(next.recent, &policy.flapping);
    if failing {
        step_failing(&mut next, policy, observation, flap, now, &mut events);
    } else {
        step_healthy(&mut next, policy, flap, &mut events);
    }
    (next, events)
}

/// Whether a step changed what must survive a restart: anything but the recent results, or
/// recent results restless enough to matter to flap detection. Writing every result's bit
/// would make every probe a database write; a restart that forgets a calm history loses
/// nothing.
pub fn needs_saving(before: &MachineState, after: &MachineState, policy: &AlertPolicy) -> bool {
    let moved = MachineState {
        recent: before.recent,
        ..after.clone()
    } != *before;
    let flapping = &policy.flapping;
    moved || (flapping.enabled && after.recent.flap_percent(flapping.window) >= flapping.low)
}

/// Where the recent results stand against the flapping thresholds.
#[derive(Debug, Clone, Copy)]
struct Flap {
    /// At or above `high`: flapping starts.
    starts: bool,
    /// At or above `low`: a flapping incident stays open.
    goes_on: bool,
}

impl Flap {
    fn judge(recent: Recent, flapping: &Flapping) -> Flap {
        if !flapping.enabled {
            return Flap {
                starts: false,
                goes_on: false,
            };
        }
        let percent = recent.flap_percent(flapping.window);
        Flap {
            starts: percent >= flapping.high,
            goes_on: percent >= flapping.low,
        }
    }
}

fn step_failing(
    next: &mut MachineState,
    policy: &AlertPolicy,
    observation: &Observation,
    flap: Flap,
    now: DateTime<Utc>,
    events: &mut Vec<IncidentEvent>,
) {
    let held = observation.in_maintenance || observation.silenced;
    let failure_threshold = policy.failure_threshold.max(1);
    next.successes = 0;
    next.failures = next.failures.saturating_add(1).min(failure_threshold);
    let since = *next.failing_since.get_or_insert(observation.started_at);
    match &mut next.open {
        None => {
            let confirmed = next.failures >= failure_threshold;
            if confirmed || flap.starts {
                next.open = Some(Open {
                    since,
                    opened_at: now,
                    verdict: observation.verdict,
                    last_notice_at: now,
                    announced: !held,
                    acknowledged: false,
                    flapping: !confirmed,
                });
                events.push(IncidentEvent::Opened);
                events.push(IncidentEvent::Notify {
                    notice: Notice::Triggered,
                    held,
                });
            }
        }
        Some(open) => {
            open.flapping |= flap.starts;
            if let Some(notice) = while_open(open, policy, observation, now) {
                if notice == Notice::Triggered {
                    open.announced = true;
                }
                open.verdict = observation.verdict;
                open.last_notice_at = now;
                events.push(IncidentEvent::Notify { notice, held });
            }
        }
    }
}

fn step_healthy(
    next: &mut MachineState,
    policy: &AlertPolicy,
    flap: Flap,
    events: &mut Vec<IncidentEvent>,
) {
    let success_threshold = policy.success_threshold.max(1);
    next.failures = 0;
    next.failing_since = None;
    next.successes = next.successes.saturating_add(1).min(success_threshold);
    if next.successes < success_threshold {
        return;
    }
    if let Some(open) = &mut next.open {
        // A flapping environment is healthy every other probe: its incident waits for calm.
        open.flapping |= flap.starts;
        if open.flapping && flap.goes_on {
            return;
        }
    }
    if let Some(open) = next.open.take() {
        events.push(IncidentEvent::Resolved);
        if policy.send_resolved && open.announced {
            // Never held: closing a page that went out is not noise.
            events.push(IncidentEvent::Notify {
                notice: Notice::Resolved,
                held: false,
            });
        }
    }
}

/// The notice a failing result gives an open incident, if any.
fn while_open(
    open: &Open,
    policy: &AlertPolicy,
    observation: &Observation,
    now: DateTime<Utc>,
) -> Option<Notice> {
    let held = observation.in_maintenance || observation.silenced;
    let changed = observation.verdict != open.verdict;
    if open.acknowledged {
        // Someone holds it: no reminders, and no late announcement of one the pager never
        // heard of; a change of cause is still news to them.
        (open.announced && changed).then_some(Notice::VerdictChanged { from: open.verdict })
    } else if !open.announced && !held {
        // Opened while held (a maintenance window, a silence) that has ended: nobody was
        // told yet.
        Some(Notice::Triggered)
    } else if changed {
        Some(Notice::VerdictChanged { from: open.verdict })
    } else if elapsed(open.last_notice_at, now) >= policy.repeat_every {
        Some(Notice::Reminder)
    } else {
        None
    }
}

/// Someone acknowledged the open incident: it is marked so (reminders stop), and an
/// `acknowledged` notice goes out when the incident was announced. A second acknowledgement,
/// or one with no incident open, changes nothing.
pub fn acknowledge(state: &MachineState) -> (MachineState, Vec<IncidentEvent>) {
    let mut next = state.clone();
    let mut events = Vec::new();
    if let Some(open) = next.open.as_mut().filter(|open| !open.acknowledged) {
        open.acknowledged = true;
        if open.announced {
            events.push(IncidentEvent::Notify {
                notice: Notice::Acknowledged,
                held: false,
            });
        }
    }
    (next, events)
}

fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> std::time::Duration {
    (to - from).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::minutes(minute)
    }

    fn policy() -> AlertPolicy {
        AlertPolicy {
            failure_threshold: 2,
            success_threshold: 2,
            repeat_every: Duration::from_secs(60 * 60),
            send_resolved: true,
            alert_on_degraded: false,
            min_locations: 1,
            ..AlertPolicy::default()
        }
    }

    /// What holds the notices of an upper-case result.
    #[derive(Debug, Clone, Copy)]
    enum Hold {
        Maintenance,
        Silence,
    }

    /// Results as letters: `d` down (closed_before_ready), `v` down with another verdict
    /// (connect_refused), `s` degraded (slow), `u` up; upper case inside a maintenance window.
    fn observation(letter: char, started_at: DateTime<Utc>) -> Observation {
        held_observation(letter, started_at, Hold::Maintenance)
    }

    /// [`observation`], upper case held by `hold`.
    fn held_observation(letter: char, started_at: DateTime<Utc>, hold: Hold) -> Observation {
        let (status, verdict) = match letter.to_ascii_lowercase() {
            'd' => (Status::Down, Verdict::ClosedBeforeReady),
            'v' => (Status::Down, Verdict::ConnectRefused),
            's' => (Status::Degraded, Verdict::Slow),
            'u' => (Status::Up, Verdict::Ok),
            other => panic!("unknown result letter {other}"),
        };
        let held = letter.is_ascii_uppercase();
        Observation {
            status,
            verdict,
            in_maintenance: held && matches!(hold, Hold::Maintenance),
            silenced: held && matches!(hold, Hold::Silence),
            started_at,
        }
    }

    /// How long each probe of `run` takes before its result is observed: a timeout-sized gap,
    /// so a start taken from the observation time would show.
    const PROBE_TAKES: chrono::Duration = chrono::Duration::seconds(30);

    /// What each result produced, compactly: `O` opened, `R` resolved, `t`/`m`/`c`/`r`/`k`
    /// triggered/reminder/verdict changed/resolved/acknowledged notices, in upper case when
    /// held; `.` for nothing. One result every `minutes` minutes; `a` is someone acknowledging
    /// instead of a result.
    fn run(policy: &AlertPolicy, results: &str, minutes: i64) -> (String, MachineState) {
        run_held(policy, results, minutes, Hold::Maintenance)
    }

    fn run_held(
        policy: &AlertPolicy,
        results: &str,
        minutes: i64,
        hold: Hold,
    ) -> (String, MachineState) {
        let mut state = MachineState::default();
        let mut trace = String::new();
        for (i, letter) in results.chars().enumerate() {
            let observed = at(i as i64 * minutes);
            let (next, events) = if letter == 'a' {
                acknowledge(&state)
            } else {
                let observation = held_observation(letter, observed - PROBE_TAKES, hold);
                step(&state, policy, &observation, observed)
            };
            if events.is_empty() {
                trace.push('.');
            }
            for event in events {
                let c = match event {
                    IncidentEvent::Opened => 'O',
                    IncidentEvent::Resolved => 'R',
                    IncidentEvent::Notify { notice, held } => {
                        let c = match notice {
                            Notice::Triggered => 't',
                            Notice::Reminder => 'm',
                            Notice::VerdictChanged { .. } => 'c',
                            Notice::Resolved => 'r',
                            Notice::Acknowledged => 'k',
                        };
                        if held { c.to_ascii_uppercase() } else { c }
                    }
                };
                trace.push(c);
            }
            trace.push(' ');
            state = next;
        }
        (trace.trim_end().to_owned(), state)
    }

    #[test]
    fn the_rules_one_row_each() {
        let p = policy();
        let with = |f: &dyn Fn(&mut AlertPolicy)| {
            let mut p = policy();
            f(&mut p);
            p
        };
        let once = with(&|p| p.failure_threshold = 1);
        let quiet = with(&|p| p.send_resolved = false);
        let degraded = with(&|p| p.alert_on_degraded = true);
        let quick = with(&|p| p.success_threshold = 1);
        #[rustfmt::skip]
        let cases: &[(&str, &AlertPolicy, &str, i64, &str)] = &[
            ("one failure is not an incident", &p, "dudu", 5, ". . . ."),
            ("two consecutive failures open it", &p, "dd", 5, ". Ot"),
            ("threshold 1 opens at once", &once, "d", 5, "Ot"),
            ("steady failure is quiet", &p, "dddd", 5, ". Ot . ."),
            ("a reminder every repeat_every", &p, "dddddd", 30, ". Ot . m . m"),
            ("a verdict change is notified once", &p, "ddvvv", 5, ". Ot c . ."),
            ("and back again is a change too", &p, "ddvd", 5, ". Ot c c"),
            ("two successes resolve it", &p, "ddudduu", 5, ". Ot . . . . Rr"),
            ("send_resolved off resolves silently", &quiet, "dduu", 5, ". Ot . R"),
            ("threshold 1 resolves at once", &quick, "ddu", 5, ". Ot Rr"),
            ("degraded never pages by default", &p, "ssss", 5, ". . . ."),
            ("degraded counts as healthy", &p, "ddss", 5, ". Ot . Rr"),
            ("alert_on_degraded pages on it", &degraded, "ss", 5, ". Ot"),
            ("down then slow is a change with alert_on_degraded", &degraded, "dds", 5, ". Ot c"),
            ("failures interrupted by a degraded result restart", &p, "dsd", 5, ". . ."),
            ("a reopened incident is a new one", &quick, "ddudd", 5, ". Ot Rr . Ot"),
            // Acknowledged: someone holds it.
            ("an acknowledgement is told", &p, "dda", 5, ". Ot k"),
            ("and stops the reminders", &p, "ddaddddd", 30, ". Ot k . . . . ."),
            ("nothing open: nothing to acknowledge", &p, "daud", 5, ". . . ."),
            ("acknowledged twice: told once", &p, "ddaad", 5, ". Ot k . ."),
            ("a verdict change is still told once", &p, "ddavvv", 5, ". Ot k c . ."),
            ("resolved is still sent", &p, "ddauu", 5, ". Ot k . Rr"),
            ("a reopened incident is not acknowledged", &quick, "ddaudddd", 30, ". Ot k Rr . Ot . m"),
            // Held while never announced, then acknowledged: the pager never hears of it.
            ("acknowledged before it was announced: not told", &p, "DDa", 5, ". OT ."),
            ("nor announced after the hold", &p, "DDadvu", 30, ". OT . . . ."),
            ("nor its resolve", &p, "DDadduu", 5, ". OT . . . . R"),
        ];
        for (name, policy, results, minutes, expected) in cases {
            let (trace, _) = run(policy, results, *minutes);
            assert_eq!(&trace, expected, "{name}: {results}");
        }
    }

    /// A maintenance window and a silence hold notices alike: the state moves on, notices are
    /// held (upper case in the results: inside the window, or matched by the silence).
    #[test]
    fn a_window_and_a_silence_hold_notices_alike() {
        let p = policy();
        #[rustfmt::skip]
        let cases: &[(&str, &str, i64, &str)] = &[
            ("opened while held: held", "DD", 5, ". OT"),
            ("announced by the first failure after the hold", "DDdd", 5, ". OT t ."),
            ("never announced: resolved is not sent", "DDUU", 5, ". OT . R"),
            ("never announced, resolved after the hold: not sent", "DDuu", 5, ". OT . R"),
            ("a verdict change while held is held", "ddVV", 5, ". Ot C ."),
            ("reminders while held are held", "ddDDD", 30, ". Ot . M ."),
            ("resolving a page that went out is sent while held", "ddUU", 5, ". Ot . Rr"),
            ("a held incident acknowledged: no late announcement", "DDadd", 5, ". OT . . ."),
            ("an acknowledged one's change while held is held", "ddaVd", 5, ". Ot k C c"),
        ];
        for hold in [Hold::Maintenance, Hold::Silence] {
            for (name, results, minutes, expected) in cases {
                let (trace, _) = run_held(&p, results, *minutes, hold);
                assert_eq!(&trace, expected, "{hold:?}: {name}: {results}");
            }
        }
    }

    #[test]
    fn an_acknowledgement_marks_the_open_incident() {
        let (_, state) = run(&policy(), "dda", 5);
        assert!(state.open.as_ref().unwrap().acknowledged);
        let (again, events) = acknowledge(&state);
        assert_eq!(again, state, "a second acknowledgement changes nothing");
        assert!(events.is_empty());
        let (_, state) = run(&policy(), "dd", 5);
        assert!(!state.open.unwrap().acknowledged);
    }

    #[test]
    fn flapping_one_row_each() {
        let p = policy();
        let off = AlertPolicy {
            flapping: Flapping {
                enabled: false,
                ..Flapping::default()
            },
            ..policy()
        };
        let quick = AlertPolicy {
            success_threshold: 1,
            ..policy()
        };
        #[rustfmt::skip]
        let cases: &[(&str, &AlertPolicy, &str, &str)] = &[
            // Ten changes in the window (55 %) cross 50 %: only a failing result opens.
            ("every other probe failing opens it", &p, "dudududududud",
             ". . . . . . . . . . Ot . ."),
            ("off: never", &off, "dudududududud", ". . . . . . . . . . . . ."),
            ("failing now and then is no flapping", &p, "duuuduuuduuuduuud",
             ". . . . . . . . . . . . . . . . ."),
            // With one success enough to resolve, the flap keeps the incident open.
            ("a flapping incident is not resolved by one success", &quick, "dudududududududu",
             ". . . . . . . . . . Ot . . . . ."),
            ("inside a window it is held", &p, "DUDUDUDUDUDUD",
             ". . . . . . . . . . OT . ."),
        ];
        for (name, policy, results, expected) in cases {
            let (trace, _) = run(policy, results, 5);
            assert_eq!(&trace, expected, "{name}: {results}");
        }
    }

    #[test]
    fn a_flapping_incident_resolves_once_calm() {
        let flapping = "dudududududud";
        let (_, state) = run(&policy(), flapping, 5);
        assert!(state.open.as_ref().is_some_and(|open| open.flapping));
        let (trace, state) = run(&policy(), &format!("{flapping}{}", "u".repeat(21)), 5);
        let steps: Vec<&str> = trace.split(' ').collect();
        let resolved = steps.iter().position(|s| *s == "Rr").expect("resolves");
        // Healthy from result 14 on: two successes would do, the flap holds it until the
        // changes weigh less than 25 % of the window.
        assert!(resolved > 16, "resolved at {resolved}: {trace}");
        assert!(state.open.is_none());
        assert_eq!(
            steps.iter().filter(|s| s.contains('O')).count(),
            1,
            "{trace}"
        );
    }

    #[test]
    fn flap_percent_weighs_newer_changes_more() {
        let alternating = Recent {
            bits: 0x5555_5555,
            len: 32,
        };
        assert!((alternating.flap_percent(21) - 100.0).abs() < 1e-9);
        assert_eq!(
            Recent {
                bits: u32::MAX,
                len: 32
            }
            .flap_percent(21),
            0.0
        );
        assert_eq!(Recent::default().flap_percent(21), 0.0);
        // One change: newest weighs 1.2 of 20 possible, oldest 0.8.
        let changed_at = |age: u32| Recent {
            bits: (1 << (age + 1)) - 1,
            len: 32,
        };
        assert!((changed_at(0).flap_percent(21) - 6.0).abs() < 1e-9);
        assert!((changed_at(19).flap_percent(21) - 4.0).abs() < 1e-9);
        // A change older than the window does not count.
        assert_eq!(changed_at(20).flap_percent(21), 0.0);
        assert_eq!(alternating.changes(21), 20);
        assert_eq!(changed_at(19).changes(21), 1);
        assert_eq!(changed_at(20).changes(21), 0);
        assert_eq!(Recent { bits: 0b10, len: 2 }.changes(21), 1);
    }

    #[test]
    fn the_state_records_the_outage() {
        let (_, state) = run(&policy(), "uddv", 5);
        assert_eq!(state.failures, 2, "saturates at the threshold");
        assert_eq!(state.successes, 0);
        // The outage began when the first failing probe started, not when it reported.
        assert_eq!(state.failing_since, Some(at(5) - PROBE_TAKES));
        let open = state.open.unwrap();
        assert_eq!(open.since, at(5) - PROBE_TAKES);
        assert_eq!(open.opened_at, at(10));
        assert_eq!(open.verdict, Verdict::ConnectRefused);
        assert_eq!(open.last_notice_at, at(15));
        assert!(open.announced);
        assert!(!open.acknowledged);

        let (_, state) = run(&policy(), "dduuuuu", 5);
        assert_eq!(
            state,
            MachineState {
                successes: 2,
                recent: Recent {
                    bits: 0b110_0000,
                    len: 7
                },
                ..MachineState::default()
            },
            "steady state is stable"
        );
    }

    #[test]
    fn a_steady_state_does_not_change() {
        let p = policy();
        for letter in ['u', 'd'] {
            // Once the recent results fill their bits, nothing moves.
            let (_, state) = run(&p, &letter.to_string().repeat(40), 5);
            let (next, events) = step(
                &state,
                &p,
                &observation(letter, at(30) - PROBE_TAKES),
                at(30),
            );
            assert_eq!(next, state, "{letter}");
            assert!(events.is_empty());
        }
    }
}
