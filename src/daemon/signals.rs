//! The process signals the daemon and the lab stop on.

use std::future::Future;

/// Starts listening for SIGTERM or SIGINT (Ctrl-C) now, and resolves when one arrives. The
/// handlers are installed before this returns, not when the future is first polled: a signal
/// sent right after the daemon said it started (a supervisor, a test) would otherwise meet
/// the default action and kill the process without draining.
pub fn listen_for_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, interrupt) {
                (Some(mut term), Some(mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C), listening from the first poll.
pub async fn wait_for_signal() {
    listen_for_signal().await;
}
