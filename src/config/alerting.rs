//! The alerting part of the configuration: per-environment overrides, the policy in force,
//! confirmation, flap detection, channels, maintenance windows and the heartbeat.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::channels::ChannelKind;
use super::model::{EnvName, Schedule, Secret};

/// An environment's `alert:` block: anything left `None` falls back to `alerts.defaults`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertPolicyOverride {
    pub channels: Option<Vec<String>>,
    pub failure_threshold: Option<u32>,
    pub success_threshold: Option<u32>,
    pub repeat_every: Option<Duration>,
    pub send_resolved: Option<bool>,
    pub alert_on_degraded: Option<bool>,
    pub confirm: Option<Confirm>,
    pub flapping: Option<Flapping>,
}

#[derive(Debug, Clone)]
pub struct AlertPolicy {
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub repeat_every: Duration,
    pub send_resolved: bool,
    pub alert_on_degraded: bool,
    /// Locations that must see the environment down before an incident opens (shared store).
    pub min_locations: u32,
    pub confirm: Confirm,
    pub flapping: Flapping,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 2,
            success_threshold: 1,
            repeat_every: Duration::from_secs(3600),
            send_resolved: true,
            alert_on_degraded: false,
            min_locations: 1,
            confirm: Confirm::default(),
            flapping: Flapping::default(),
        }
    }
}

/// `confirm`: a failing scheduled result is probed again `attempts` times, `every` apart,
/// before it counts; one healthy re-probe makes the whole series a blip that counts for
/// nothing. `attempts: 0` (the default) counts every result as it comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirm {
    pub attempts: u32,
    pub every: Duration,
}

impl Default for Confirm {
    fn default() -> Self {
        Self {
            attempts: 0,
            every: Duration::from_secs(10),
        }
    }
}

/// The longest flapping window: the incident state machine keeps the recent results as one
/// bit each in a `u32`.
pub const MAX_FLAP_WINDOW: u32 = 32;

/// `flapping`: Nagios' flap detection. Over the last `window` results, the share of state
/// changes (failing ↔ healthy, newer changes weighing more) opens a "flapping" incident at
/// `high` percent, which resolves only once the share is below `low`: an environment that
/// fails every other probe never reaches `failure_threshold` in a row, yet is half down.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flapping {
    pub enabled: bool,
    pub window: u32,
    pub high: f64,
    pub low: f64,
}

impl Default for Flapping {
    fn default() -> Self {
        // Nagios' defaults: 21 states, 50 % to start flapping, 25 % to stop.
        Self {
            enabled: true,
            window: 21,
            high: 50.0,
            low: 25.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub defaults: AlertPolicy,
    pub channels: Vec<ChannelConfig>,
    pub maintenance: Vec<MaintenanceWindow>,
    /// A notification not delivered this long after it was queued is given up, and the
    /// failure recorded: a page that arrives a day late helps nobody.
    pub give_up_after: Duration,
    /// The outbound heartbeat (a dead man's switch such as Healthchecks.io), if configured.
    pub heartbeat: Option<Heartbeat>,
    /// `alerts.grouping`: failures that start together go out as one notification. `None`:
    /// one notification per environment.
    pub grouping: Option<Grouping>,
}

/// `alerts.grouping`: Alertmanager's `group_wait` and `group_by`. A trigger starts a group
/// and waits `wait` for others with the same `by` label values to join; the group then goes
/// out as one notification per channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub wait: Duration,
    /// The labels whose values split groups; empty: every failure in the wait is one group.
    pub by: Vec<GroupLabel>,
}

/// A label a group can be split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupLabel {
    Verdict,
    Location,
    /// Each environment its own group: grouping only delays.
    Environment,
}

impl GroupLabel {
    pub const ALL: [GroupLabel; 3] = [
        GroupLabel::Verdict,
        GroupLabel::Location,
        GroupLabel::Environment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupLabel::Verdict => "verdict",
            GroupLabel::Location => "location",
            GroupLabel::Environment => "environment",
        }
    }

    pub fn parse(text: &str) -> Option<GroupLabel> {
        GroupLabel::ALL.into_iter().find(|l| l.as_str() == text)
    }
}

/// `alerts.grouping.wait` when the file does not set it (Alertmanager's `group_wait`).
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);

/// Every `every`, `GET url` while the daemon is ready; otherwise `POST url/fail` with the
/// reason. The URL is a secret: whoever has it can report for this daemon.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub url: Secret,
    pub every: Duration,
}

/// `alerts.heartbeat.every` when the file does not set it.
pub const DEFAULT_HEARTBEAT_EVERY: Duration = Duration::from_secs(60);

/// `alerts.give_up_after` when the file does not set it.
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            defaults: AlertPolicy::default(),
            channels: Vec::new(),
            maintenance: Vec::new(),
            give_up_after: DEFAULT_GIVE_UP_AFTER,
            heartbeat: None,
            grouping: None,
        }
    }
}

/// One `alerts.channels` entry.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
}

#[derive(Debug, Clone)]
pub struct MaintenanceWindow {
    /// Empty: all environments.
    pub environments: Vec<EnvName>,
    pub when: MaintenanceTime,
}

impl MaintenanceWindow {
    /// Whether this window holds back `env`'s notifications at `now`. Windows are half-open:
    /// `[start, start + duration)` and `[from, until)`.
    pub fn covers(&self, env: &EnvName, now: DateTime<Utc>) -> bool {
        if !self.environments.is_empty() && !self.environments.contains(env) {
            return false;
        }
        match &self.when {
            MaintenanceTime::Recurring { schedule, duration } => {
                let Ok(duration) = chrono::Duration::from_std(*duration) else {
                    return false;
                };
                // The first start strictly after `now - duration` is the only one whose window
                // can still be open at `now`.
                schedule
                    .next_after(now - duration)
                    .is_some_and(|start| start <= now)
            }
            MaintenanceTime::Fixed { from, until } => *from <= now && now < *until,
        }
    }
}

#[derive(Debug, Clone)]
pub enum MaintenanceTime {
    Recurring {
        schedule: Schedule,
        duration: Duration,
    },
    Fixed {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}
