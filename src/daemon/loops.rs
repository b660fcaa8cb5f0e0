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
/// write even when no result is due, and a file deleted or replaced is noticed.
const STORE_CHECK_EVERY: Duration = Duration::from_secs(10);
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

/// Reopen the store when its file changed under the daemon, then make a real write.
pub(super) async fn check_store(state: Arc<DaemonState>, stop: CancellationToken) {
    loop {
        if let Err(err) = state.store.heal().await {
            state.store_health.failed(&format!(
                "the store file changed and cannot be reopened: {err}"
            ));
        } else {
            match state.store.check_writable().await {
                Ok(()) => state.store_health.succeeded(),
                Err(err) => state.store_health.failed(&err.to_string()),
            }
        }
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
