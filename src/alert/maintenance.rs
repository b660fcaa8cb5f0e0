//! Which maintenance window, if any, covers an environment at a moment: the daemon marks
//! results with it and holds notifications back; the status page and API show it. Pure.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Config, EnvName, MaintenanceTime, MaintenanceWindow};

/// The occurrence of a window that is open now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveWindow {
    #[serde(with = "crate::wire::time")]
    pub from: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub until: DateTime<Utc>,
    /// The cron expression of a recurring window; `None` for a one-off.
    pub schedule: Option<String>,
}

/// Whether a window covers `env` at `now`.
pub fn in_maintenance(config: &Config, env: &EnvName, now: DateTime<Utc>) -> bool {
    config
        .alerts
        .maintenance
        .iter()
        .any(|window| window.covers(env, now))
}

/// The covering window that ends last, when windows overlap: what on-call needs to know is
/// when notifications start again.
pub fn active(config: &Config, env: &EnvName, now: DateTime<Utc>) -> Option<ActiveWindow> {
    config
        .alerts
        .maintenance
        .iter()
        .filter(|window| window.covers(env, now))
        .filter_map(|window| occurrence(window, now))
        .max_by_key(|window| window.until)
}

fn occurrence(window: &MaintenanceWindow, now: DateTime<Utc>) -> Option<ActiveWindow> {
    match &window.when {
        MaintenanceTime::Fixed { from, until } => Some(ActiveWindow {
            from: *from,
            until: *until,
            schedule: None,
        }),
        MaintenanceTime::Recurring { schedule, duration } => {
            let duration = chrono::Duration::from_std(*duration).ok()?;
            // As in `covers`: the one start whose window can still be open at `now`.
            let from = schedule.next_after(now - duration)?;
            Some(ActiveWindow {
                from,
                until: from + duration,
                schedule: Some(schedule.expression().to_owned()),
            })
        }
    }
}
