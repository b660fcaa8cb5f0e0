//! `/readyz` and the heartbeat tell the truth: ready only when a real write has succeeded
//! recently, the store file is still the one opened, every slot fires on time and no
//! notification is stuck. Pure: the daemon gathers the signals, [`decide`] judges them.

use chrono::{DateTime, Utc};

use crate::store::FileStatus;
use crate::web::Readiness;

/// A real write must have succeeded this recently; the store check writes every 10 s.
pub const WRITE_FRESH: chrono::Duration = chrono::Duration::seconds(60);
/// A pending notification this far past its due time is stuck, not waiting for its retry.
pub const NOTIFICATION_OVERDUE: chrono::Duration = chrono::Duration::seconds(120);

/// What readiness is decided from.
#[derive(Debug, Clone)]
pub struct Signals {
    /// The last failed write and when, if the last write failed.
    pub write_error: Option<(DateTime<Utc>, String)>,
    /// The first failure of the current run of them.
    pub failing_since: Option<DateTime<Utc>>,
    /// Where a shared store is (`host:port/database`); `None` for the SQLite file.
    pub shared: Option<String>,
    /// The SQLite file's path, for the reasons about it.
    pub path: Option<String>,
    pub last_write_ok: Option<DateTime<Utc>>,
    pub file: FileStatus,
    /// Environments whose slot went by without a probe starting.
    pub late: Vec<String>,
    /// Notifications past their due time by more than [`NOTIFICATION_OVERDUE`]; `Err` when
    /// that could not be read.
    pub overdue_notifications: Result<u64, String>,
}

pub fn decide(signals: &Signals, now: DateTime<Utc>) -> Readiness {
    let fresh = signals
        .last_write_ok
        .is_some_and(|at| now - at <= WRITE_FRESH);
    let store_writable = signals.write_error.is_none() && fresh;
    let overdue = signals.overdue_notifications.as_ref().copied().unwrap_or(0);
    let reason = if let Some(reason) = store_reason(signals) {
        Some(reason)
    } else if !fresh {
        Some(match signals.last_write_ok {
            Some(at) => format!(
                "no store write has succeeded since {}",
                at.format("%H:%M:%S UTC")
            ),
            None => "no store write has succeeded yet".to_owned(),
        })
    } else if !signals.late.is_empty() {
        Some(format!(
            "{} environment(s) missed their slot: {}",
            signals.late.len(),
            first_names(&signals.late)
        ))
    } else if overdue > 0 {
        Some(format!(
            "{overdue} notification(s) overdue past their retry"
        ))
    } else if let Err(error) = &signals.overdue_notifications {
        Some(format!("cannot read the notification outbox: {error}"))
    } else {
        None
    };
    Readiness {
        ready: reason.is_none(),
        reason,
        store_writable,
        store_error: signals.write_error.as_ref().map(|(_, e)| e.clone()),
        store_file: match signals.file {
            FileStatus::Same => "open",
            FileStatus::Missing => "deleted",
            FileStatus::Replaced => "replaced",
            FileStatus::NotDatabase => "overwritten",
        },
        scheduler_on_time: signals.late.is_empty(),
        late_environments: signals.late.clone(),
        notifications_overdue: overdue,
    }
}

/// Why the store is not usable, when a write failed or its file is not the one open.
fn store_reason(signals: &Signals) -> Option<String> {
    if let Some((at, error)) = &signals.write_error {
        return Some(match &signals.shared {
            Some(target) => format!(
                "shared store {target} unreachable since {}: {error}",
                signals.failing_since.unwrap_or(*at).format("%H:%M:%S UTC")
            ),
            None => format!(
                "the last store write failed at {}: {error}",
                at.format("%H:%M:%S UTC")
            ),
        });
    }
    let file = match &signals.path {
        Some(path) => format!("the store's database file {path}"),
        None => "the store's database file".to_owned(),
    };
    match signals.file {
        FileStatus::Same => None,
        FileStatus::Missing => Some(format!(
            "{file} was deleted while open: results wait in memory"
        )),
        FileStatus::Replaced => Some(format!("{file} was replaced by another file while open")),
        FileStatus::NotDatabase => Some(format!(
            "{file} was overwritten with something that is not a database"
        )),
    }
}

fn first_names(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = names[..names.len().min(SHOWN)].join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn healthy() -> Signals {
        Signals {
            write_error: None,
            failing_since: None,
            shared: None,
            path: None,
            last_write_ok: Some(at("2026-12-01T12:00:00Z")),
            file: FileStatus::Same,
            late: vec![],
            overdue_notifications: Ok(0),
        }
    }

    #[test]
    fn each_fault_has_its_reason() {
        let now = at("2026-12-01T12:00:30Z");
        let cases: Vec<(&str, Signals, Option<&str>)> = vec![
            ("all well", healthy(), None),
            (
                "write failed",
                Signals {
                    write_error: Some((
                        at("2026-12-01T12:00:20Z"),
                        "database or disk is full".into(),
                    )),
                    ..healthy()
                },
                Some("the last store write failed at 12:00:20 UTC: database or disk is full"),
            ),
            (
                "shared store away",
                Signals {
                    write_error: Some((at("2026-12-01T12:00:20Z"), "connection refused".into())),
                    failing_since: Some(at("2026-12-01T12:00:05Z")),
                    shared: Some("db:5432/fleet".into()),
                    ..healthy()
                },
                Some(
                    "shared store db:5432/fleet unreachable since 12:00:05 UTC: connection refused",
                ),
            ),
            (
                "deleted",
                Signals {
                    file: FileStatus::Missing,
                    path: Some("/var/lib/wsprobe/wsprobe.db".into()),
                    ..healthy()
                },
                Some(
                    "the store's database file /var/lib/wsprobe/wsprobe.db was deleted while open: \
                     results wait in memory",
                ),
            ),
            (
                "replaced",
                Signals {
                    file: FileStatus::Replaced,
                    ..healthy()
                },
                Some("the store's database file was replaced by another file while open"),
            ),
            (
                "stale",
                Signals {
                    last_write_ok: Some(at("2026-12-01T11:58:00Z")),
                    ..healthy()
                },
                Some("no store write has succeeded since 11:58:00 UTC"),
            ),
            (
                "never written",
                Signals {
                    last_write_ok: None,
                    ..healthy()
                },
                Some("no store write has succeeded yet"),
            ),
            (
                "late",
                Signals {
                    late: vec!["staging".into()],
                    ..healthy()
                },
                Some("1 environment(s) missed their slot: staging"),
            ),
            (
                "overdue",
                Signals {
                    overdue_notifications: Ok(2),
                    ..healthy()
                },
                Some("2 notification(s) overdue past their retry"),
            ),
        ];
        for (name, signals, reason) in cases {
            let readiness = decide(&signals, now);
            assert_eq!(readiness.reason.as_deref(), reason, "{name}");
            assert_eq!(readiness.ready, reason.is_none(), "{name}");
        }
    }
}
