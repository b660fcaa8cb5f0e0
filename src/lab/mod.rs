//! The failure lab: endpoints that reproduce each failure wsprobe names.
//!
//! One TCP listener serves plain HTTP (`/health`, `/token`) and the WebSocket scenarios under
//! `/ws/{name}`, all written by hand on raw TCP so each can break the protocol in its own way.
//! Used by `wsprobe lab`, `wsprobe demo` and the integration tests.
//!
//! - `http`: bounded request-head reader and one-shot responses.
//! - `upgrade`: the server half of the opening handshake and close helpers.
//! - `catalogue`: the list of scenarios, for routing and for `wsprobe lab`'s table.
//! - `scenarios`: one function per scenario; `proxy`: the header-stripping proxies.
//!
//! Every request's `traceparent` is logged (debug) and kept, the newest
//! [`TRACEPARENTS_KEPT`], as a traced backend would log it: [`Lab::traceparents`].
//! - `plain`: `/health` and `/token`.
//! - `dialect`: `/oauth/token` (form-encoded client credentials), and the checks of
//!   `/ws/query-token` (a token in the query) and `/ws/origin` (the upgrade's `Origin`).
//! - `codes`: `/ws/close/{code}` and `/ws/status/{status}`, any close code or status.
//! - `keepalive`: backends that close a session whose client does not keep it alive.

mod catalogue;
mod codes;
mod dialect;
mod http;
mod keepalive;
mod plain;
mod proxy;
mod scenarios;
mod upgrade;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use catalogue::{ROWS, Scenario};
use http::HeadError;

/// Where `wsprobe lab` listens unless told otherwise; the reference probes.yaml points here.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8765";

/// How many received `traceparent` headers the lab remembers.
pub const TRACEPARENTS_KEPT: usize = 1024;

/// One `traceparent` as it reached the lab, and on which path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedTrace {
    pub path: String,
    pub traceparent: String,
}

type Received = Arc<Mutex<VecDeque<ReceivedTrace>>>;

/// The bypass key `/token` accepts, as a deployed E2E environment would hold in a secret.
pub const E2E_BYPASS_KEY: &str = "lab-e2e-key";

pub use dialect::{CLIENT_ID as OAUTH_CLIENT_ID, CLIENT_SECRET as OAUTH_CLIENT_SECRET};

/// The timings of the lab's scenarios; the defaults reproduce the production incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabOptions {
    /// How long `/ws/startup` keeps closing 1011 "Service startup incomplete" after spawn.
    pub startup_duration: Duration,
    /// Accept-to-1011 time of `internal-error` (and of failing `flaky` connections).
    pub internal_error_delay: Duration,
    /// Upgrade-to-welcome time of `slow-welcome`.
    pub slow_welcome_delay: Duration,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            startup_duration: Duration::from_secs(30),
            internal_error_delay: Duration::from_millis(63),
            slow_welcome_delay: Duration::from_millis(2500),
        }
    }
}

/// One line of `wsprobe lab`'s table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabEndpoint {
    pub name: &'static str,
    pub url: String,
    /// The verdict wsprobe should give against this endpoint; "-" for plain HTTP ones.
    pub expect: &'static str,
    pub description: &'static str,
}

/// A running lab. Dropping it does not stop it: cancel the token given to [`Lab::spawn`].
#[derive(Debug, Clone)]
pub struct Lab {
    addr: SocketAddr,
    options: LabOptions,
    /// Every task of this lab, so [`Lab::stopped`] can wait for the drain after shutdown.
    tasks: TaskTracker,
    traceparents: Received,
    issued: Arc<dialect::Issued>,
}

/// State the connection tasks share.
struct Shared {
    /// Where `strip-auth` forwards to: this lab, reached over a fresh TCP connection.
    backend: SocketAddr,
    options: LabOptions,
    /// Start of the `startup` window.
    started: Instant,
    /// Connections to `flaky` so far; odd ones succeed.
    flaky_connections: AtomicU64,
    traceparents: Received,
    /// The tokens `/token` and `/oauth/token` handed out: what `/ws/query-token` accepts.
    issued: Arc<dialect::Issued>,
}

impl Lab {
    /// Serve on an already-bound listener until `shutdown` is cancelled (caller owns the port;
    /// tests bind 127.0.0.1:0). Returns at once; the accept loop runs on its own task.
    pub fn spawn(
        listener: TcpListener,
        options: LabOptions,
        shutdown: CancellationToken,
    ) -> std::io::Result<Lab> {
        let addr = listener.local_addr()?;
        let traceparents = Received::default();
        let issued = Arc::new(dialect::Issued::default());
        let shared = Arc::new(Shared {
            traceparents: traceparents.clone(),
            backend: connectable(addr),
            options,
            started: Instant::now(),
            flaky_connections: AtomicU64::new(0),
            issued: issued.clone(),
        });
        let tasks = TaskTracker::new();
        tasks.spawn(accept_loop(listener, shared, shutdown, tasks.clone()));
        Ok(Lab {
            addr,
            options,
            tasks,
            traceparents,
            issued,
        })
    }

    /// The `traceparent` headers received so far, oldest first (the newest
    /// [`TRACEPARENTS_KEPT`]), the proxies' backends included.
    pub fn traceparents(&self) -> Vec<ReceivedTrace> {
        self.traceparents.lock().iter().cloned().collect()
    }

    /// The tokens `/token` and `/oauth/token` handed out so far, oldest first: a test can look
    /// for them where they must not be.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.issued.all()
    }

    /// The address the listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn options(&self) -> LabOptions {
        self.options
    }

    /// `ws://HOST:PORT/ws/{endpoint}`, with a wildcard bind address replaced by loopback.
    pub fn ws_url(&self, endpoint: &str) -> String {
        format!("ws://{}/ws/{endpoint}", connectable(self.addr))
    }

    /// `http://HOST:PORT{path}`; `path` starts with `/`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", connectable(self.addr))
    }

    /// Every endpoint with the verdict wsprobe should give, for `wsprobe lab` to print.
    pub fn endpoints(&self) -> Vec<LabEndpoint> {
        let http = [
            (
                "health",
                "/health",
                "200 {\"status\":\"healthy\"}, even while sockets fail",
            ),
            (
                "token",
                "/token",
                "POST with the E2E bypass key; 401 for a wrong one",
            ),
            (
                "oauth-token",
                "/oauth/token",
                "OAuth2 client credentials, form-encoded (RFC 6749 §4.4); RFC 6749 errors",
            ),
        ];
        let sockets = ROWS.iter().filter_map(|row| {
            Some(LabEndpoint {
                name: row.name,
                url: self.ws_url(row.name),
                expect: row.expect?,
                description: row.description,
            })
        });
        http.into_iter()
            .map(|(name, path, description)| LabEndpoint {
                name,
                url: self.http_url(path),
                expect: "-",
                description,
            })
            .chain(sockets)
            .collect()
    }

    /// Resolves once shutdown has been cancelled and every connection task has ended.
    pub async fn stopped(&self) {
        self.tasks.wait().await;
    }
}

/// A wildcard bind (0.0.0.0, ::) is not a destination; loopback of the same family is.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = Arc::clone(&shared);
                let shutdown = shutdown.clone();
                tasks.spawn(async move {
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = connection(stream, peer, shared) => {}
                    }
                });
            }
            Err(e) => {
                // Usually EMFILE: back off instead of spinning until descriptors free up.
                tracing::warn!(error = %e, "lab accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // No new tasks from here on, so `stopped` can resolve once the open ones end.
    tasks.close();
}

#[tracing::instrument(name = "lab_connection", skip_all, fields(%peer, path))]
async fn connection(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let head = match http::read_head(&mut stream).await {
        Ok(head) => head,
        Err(e) => return bad_head(&mut stream, e).await,
    };
    tracing::Span::current().record("path", head.path());
    tracing::debug!(method = %head.method, "lab request");
    let path = head.path().to_owned();
    if let Some(traceparent) = head.header("traceparent") {
        tracing::debug!(%traceparent, "lab request joins a trace");
        let mut kept = shared.traceparents.lock();
        if kept.len() == TRACEPARENTS_KEPT {
            kept.pop_front();
        }
        kept.push_back(ReceivedTrace {
            path: path.clone(),
            traceparent,
        });
    }
    let result = match path.as_str() {
        "/health" => plain::health(&mut stream, &head).await,
        "/token" => plain::token(&mut stream, head, &shared.issued).await,
        "/oauth/token" => dialect::oauth_token(&mut stream, head, &shared.issued).await,
        // The registries' numbers, any of them: `/ws/close/{code}`, `/ws/status/{status}`.
        _ if let Some(code) = numbered(&path, "/ws/close/") => {
            codes::close(stream, head, code).await
        }
        _ if let Some(status) = numbered(&path, "/ws/status/") => {
            codes::status(stream, status).await
        }
        _ => match path.strip_prefix("/ws/").and_then(Scenario::from_name) {
            Some(scenario) => scenarios::serve(scenario, stream, head, peer, &shared).await,
            None => http::respond_json(&mut stream, 404, &http::detail("not found")).await,
        },
    };
    // Clients leaving mid-scenario is routine in a failure lab, not worth more than debug.
    if let Err(e) = result {
        tracing::debug!(error = %e, "lab connection ended with an error");
    }
}

fn numbered(path: &str, prefix: &str) -> Option<u16> {
    path.strip_prefix(prefix)?.parse().ok()
}

async fn bad_head(stream: &mut TcpStream, error: HeadError) {
    let (status, detail) = match error {
        HeadError::Malformed => (400, "bad request"),
        HeadError::TooLarge => (431, "request head too large"),
        // Nobody left to answer, or a client too slow to deserve one.
        HeadError::Eof | HeadError::Timeout => return,
        HeadError::Io(e) => {
            tracing::debug!(error = %e, "lab could not read a request head");
            return;
        }
    };
    let _ = http::respond_json(stream, status, &http::detail(detail)).await;
}
