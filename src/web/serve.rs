//! Serving the routes so that nobody who can reach the port can hurt probing: a connection cap
//! (idle sockets cannot eat the descriptors probes need), a deadline for request headers (a
//! half-sent request cannot hold a connection), a lifetime per connection, and a bounded
//! shutdown (open connections get at most [`SHUTDOWN_GRACE`] to finish).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A client has this long to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// One connection lives at most this long, however busy: keep-alive cannot pin it forever.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// How long shutdown waits for open connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// After an accept error (out of descriptors), wait this long before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serve `router` on `listener` with at most `max_connections` open at once, until `stop`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_connections: usize,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let connections = TaskTracker::new();
    loop {
        // Take a slot before accepting: past the cap, new clients wait in the kernel's
        // backlog instead of holding a descriptor each.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = stop.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!("the web server cannot accept a connection: {err}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = tokio::time::sleep(CONNECTION_LIFETIME) => {}
                _ = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
                }
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("closed HTTP connections still open after {SHUTDOWN_GRACE:?}");
    }
}

/// Raise the soft limit on open files to the hard limit, and say how many HTTP connections may
/// be open at once: a quarter of the descriptors, the rest kept for probes, the store and
/// alerts. Returns (descriptor limit, connection cap).
pub fn descriptor_budget() -> (u64, usize) {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let cap = usize::try_from(limit / 4)
        .unwrap_or(usize::MAX)
        .clamp(16, 4096);
    (limit, cap)
}
