//! The dead man's switch: wsprobe says it is alive only while `/readyz` would answer 200, so a
//! monitor that stopped watching is noticed by something outside it. Two outlets, the same
//! condition: the configured heartbeat URL (Healthchecks.io, Cronitor, Dead Man's Snitch
//! conventions: `GET url` for alive, `POST url/fail` with a reason), and systemd's watchdog
//! under `Type=notify` (`READY=1` at start, `WATCHDOG=1` keep-alives).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use url::Url;

use super::state::DaemonState;
use crate::config::Heartbeat;
use crate::web::Readiness;

/// How long one heartbeat request may take: less than any sensible `every`.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// With no heartbeat configured, how often the loop looks again (a reload may add one).
const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// `READY=1` to systemd, when run under it (`NOTIFY_SOCKET` set); a no-op otherwise.
pub fn notify_ready() {
    if let Err(err) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!("cannot tell systemd the daemon is ready: {err}");
    }
}

/// `STOPPING=1` to systemd, so a slow drain is not taken for a hang.
pub fn notify_stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}

/// Keep-alives to systemd's watchdog at half its interval, only while ready: a daemon that
/// cannot store or schedule is restarted by systemd rather than left running blind.
pub(super) async fn watchdog(state: Arc<DaemonState>, stop: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (interval / 2).max(Duration::from_millis(100));
    loop {
        let readiness = state.readiness().await;
        if readiness.ready {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        } else if let Some(reason) = &readiness.reason {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(reason)]);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// The outbound heartbeat, on the running config's `alerts.heartbeat`.
pub(super) async fn heartbeat(state: Arc<DaemonState>, stop: CancellationToken) {
    // Built at the first ping, not at start: building it parses the system's CA bundle
    // (~200 KiB kept), which a daemon without a heartbeat would hold for nothing (issue 28).
    let mut http: Option<reqwest::Client> = None;
    // Logged on change only: a receiver that is down for an hour is one line, not sixty.
    let mut last_outcome: Option<Result<bool, ()>> = None;
    loop {
        let config = state.config();
        let wait = match &config.alerts.heartbeat {
            None => IDLE_RECHECK,
            Some(heartbeat) => {
                if http.is_none() {
                    match build_client() {
                        Ok(built) => http = Some(built),
                        Err(err) => {
                            tracing::error!("the heartbeat cannot start, no HTTP client: {err}");
                            return;
                        }
                    }
                }
                let Some(client) = &http else { return };
                let readiness = state.readiness().await;
                let outcome = ping(client, heartbeat, &readiness).await;
                let summary = outcome.as_ref().map(|_| readiness.ready).map_err(|_| ());
                if last_outcome != Some(summary) {
                    match &outcome {
                        Ok(()) if readiness.ready => tracing::info!("heartbeat: alive"),
                        Ok(()) => tracing::warn!(
                            reason = readiness.reason.as_deref().unwrap_or_default(),
                            "heartbeat: reported failing"
                        ),
                        Err(err) => tracing::error!("heartbeat not delivered: {err}"),
                    }
                    last_outcome = Some(summary);
                }
                heartbeat.every
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn build_client() -> reqwest::Result<reqwest::Client> {
    crate::probe::tls::ensure_crypto_provider();
    reqwest::Client::builder()
        .timeout(PING_TIMEOUT)
        .user_agent(concat!("wsprobe/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One ping. Errors never hold the URL: it is the secret that lets anyone report for us.
async fn ping(
    client: &reqwest::Client,
    heartbeat: &Heartbeat,
    readiness: &Readiness,
) -> Result<(), String> {
    let url = Url::parse(heartbeat.url.expose()).map_err(|_| "invalid URL".to_owned())?;
    let request = if readiness.ready {
        client.get(url)
    } else {
        let reason = readiness.reason.clone().unwrap_or_default();
        client.post(fail_url(&url)).body(reason)
    };
    let response = request
        .send()
        .await
        .map_err(|err| crate::text::error_chain(&err.without_url()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {}", response.status()))
    }
}

/// `…/<uuid>` → `…/<uuid>/fail`, keeping any query.
pub fn fail_url(url: &Url) -> Url {
    let mut fail = url.clone();
    if let Ok(mut segments) = fail.path_segments_mut() {
        segments.pop_if_empty().push("fail");
    }
    fail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fail_address_is_one_segment_deeper() {
        let cases = [
            ("https://hc-ping.com/5f1c", "https://hc-ping.com/5f1c/fail"),
            ("https://hc-ping.com/5f1c/", "https://hc-ping.com/5f1c/fail"),
            (
                "http://127.0.0.1:9/ping?rid=1",
                "http://127.0.0.1:9/ping/fail?rid=1",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(fail_url(&Url::parse(url).unwrap()).as_str(), expected);
        }
    }
}
