//! The daemon's background loops besides the schedules: pruning, the alert dispatcher and
//! config reloads. Each returns when `stop` is cancelled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::Daemon;
use super::state::DaemonState;

/// How often raw results past `storage.retention` are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often the store is written to for its own sake, so that readiness reflects a real
/// write even when no result is due, and a file deleted or replaced is noticed: with
/// [`STORE_CHECK_LIMIT`], a store gone quiet shows within ten seconds.
const STORE_CHECK_EVERY: Duration = Duration::from_secs(5);
/// A check the store has not answered by then has failed: a database that accepts
/// connections and says nothing (a partition, a held lock) is as good as gone.
const STORE_CHECK_LIMIT: Duration = Duration::from_secs(4);
/// How long a changed config file must stay unchanged before it is read.
const SETTLE: Duration = Duration::from_millis(200);
/// How often the config file is checked for changes (SIGHUP reloads at once).
const CONFIG_POLL: Duration = Duration::from_secs(2);

pub(super) async fn prune(state: Arc<DaemonState>, stop: CancellationToken) {
    loop {
        let retention = state.config().storage.retention;
        match state.store.prune(retention, Utc::now()).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned raw results past retention"),
            Err(err) => state.store_health.failed(&err.to_string()),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

/// Reopen the store when its file changed under the daemon, then make a real write and read
/// what readiness needs from the store, each within [`STORE_CHECK_LIMIT`].
pub(super) async fn check_store(state: Arc<DaemonState>, stop: CancellationToken) {
    loop {
        let checked =
            tokio::time::timeout(STORE_CHECK_LIMIT, async {
                state.store.heal().await.map_err(|err| {
                    format!("the store file changed and cannot be reopened: {err}")
                })?;
                state
                    .store
                    .check_writable()
                    .await
                    .map_err(|err| err.to_string())
            })
            .await
            .unwrap_or_else(|_| Err(no_answer("a test write")));
        match checked {
            Ok(()) => state.store_health.succeeded(),
            Err(err) => state.store_health.failed(&err),
        }
        let overdue = tokio::time::timeout(
            STORE_CHECK_LIMIT,
            state
                .store
                .alerts()
                .overdue_notifications(Utc::now() - super::readiness::NOTIFICATION_OVERDUE),
        )
        .await
        .map_err(|_| no_answer("the outbox"))
        .and_then(|read| read.map_err(|err| err.to_string()));
        state.store_health.set_overdue(overdue);
        // A fleet's membership loop keeps them fresh; a single node re-reads them here, in
        // case the read at start failed.
        if state.fleet.is_none()
            && let Err(err) = state.refresh_silences().await
        {
            state
                .store_health
                .failed(&format!("silences not read: {err}"));
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(STORE_CHECK_EVERY) => {}
        }
    }
}

fn no_answer(what: &str) -> String {
    format!(
        "the store did not answer {what} within {}s: it is locked, overloaded or unreachable",
        STORE_CHECK_LIMIT.as_secs()
    )
}

/// The notification dispatcher, on the current config; stops after its current delivery.
pub(super) async fn dispatch_alerts(state: Arc<DaemonState>, stop: CancellationToken) {
    state
        .alerts
        .dispatch(
            || state.config(),
            stop,
            |error| state.store_health.failed(&format!("alert outbox: {error}")),
        )
        .await;
}

pub(super) async fn reload_on_change(daemon: Arc<Daemon>, stop: CancellationToken) {
    let Some(path) = daemon.source.clone() else {
        return;
    };
    let modified = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(CONFIG_POLL) => {}
        }
        let mut now = modified(&path);
        if now != seen {
            // An editor or `cp` can be caught between truncating the file and writing it:
            // wait until it stops changing, or a half-written file is rejected (and logged)
            // before the whole one is read.
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(SETTLE) => {}
                }
                let after = modified(&path);
                if after == now {
                    break;
                }
                now = after;
            }
            seen = now;
            tracing::info!(path = %path.display(), "config file changed");
            daemon.reload();
        }
    }
}

pub(super) async fn reload_on_sighup(daemon: Arc<Daemon>, stop: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            return;
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                received = hangup.recv() => {
                    if received.is_none() { return; }
                    tracing::info!("SIGHUP: reloading config");
                    daemon.reload();
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (daemon, stop);
    }
}
