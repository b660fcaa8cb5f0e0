//! The status page, the HTTP API and the health endpoints. `router` builds the routes (and the
//! public page under its prefix, when `server.public.path` is set), `public_router` the public
//! page alone for a listener of its own; binding is the caller's. Handlers read a
//! [`StatusSource`] (the daemon's typed view) and the store, except `POST …/probe` and
//! `POST …/notes`, which ask the source to act (a probe through the scheduler's path, a note
//! through the alert engine), and acknowledging and silencing (`oncall`), which ask the source
//! to store and apply them.

mod api;
mod badge;
mod cache;
mod chart;
mod error;
mod feed;
mod notes;
mod oncall;
mod pages;
mod public;
mod security;
pub mod serve;
mod snapshot;
mod status_json;
pub mod view;

#[cfg(test)]
mod tests;

pub use view::{
    EnvironmentStatus, FleetNotice, Latency, LocationStatus, NotificationStatus, Readiness,
    RecentRun, ReloadRejected, SloStatus, SpoolStatus, StatusBody, StatusSource, StoreStatus,
    Uptime,
};

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

use cache::{HistoryCache, RenderCache};

/// Request bodies are refused past this size.
const BODY_LIMIT: usize = 64 * 1024;

/// What every handler holds: the source it reads and the renders it reuses.
struct Web<S> {
    source: Arc<S>,
    rendered: RenderCache,
    /// The status sorted and counted once per render, for the pages cut from it.
    snapshots: RenderCache<Arc<snapshot::Snapshot>>,
    /// When this router was built: a single node's start, as `/api/v1/instances` says.
    started_at: Arc<chrono::DateTime<chrono::Utc>>,
    /// Each environment's chart data, read from the rollups at most every 30 s.
    history: HistoryCache,
    /// Serving the public page: badges only for the environments it shows.
    public: bool,
}

impl<S> Web<S> {
    fn new(source: Arc<S>, public: bool) -> Arc<Web<S>> {
        Arc::new(Web {
            source,
            rendered: RenderCache::default(),
            snapshots: RenderCache::default(),
            started_at: Arc::new(chrono::Utc::now()),
            history: HistoryCache::default(),
            public,
        })
    }
}

impl<S: StatusSource> Web<S> {
    /// The daemon's status, sorted: reused as long as a rendered page would be.
    async fn snapshot(&self) -> Arc<snapshot::Snapshot> {
        self.snapshots
            .get_or_render("status", self.source.generation(), async {
                Arc::new(snapshot::Snapshot::new(self.source.status().await))
            })
            .await
    }
}

/// The on-call page and the API; the public page under `server.public.path` when set (read
/// once: a new prefix takes a restart).
pub fn router<S: StatusSource>(source: Arc<S>) -> Router {
    let prefix = match source.config().server.public.as_ref().map(|p| &p.at) {
        Some(crate::config::PublicAt::Path(path)) => Some(path.clone()),
        _ => None,
    };
    let internal = internal_routes(source.clone());
    let internal = match prefix {
        // `/public` itself redirects to `/public/`: the page's links are relative to it.
        Some(prefix) => internal
            .route(
                &prefix,
                get({
                    let to = format!("{prefix}/");
                    move || async move { axum::response::Redirect::permanent(&to) }
                }),
            )
            .nest(&format!("{prefix}/"), public_routes(source)),
        None => internal,
    };
    internal.layer(axum::middleware::map_response(security::headers))
}

/// The public page alone, for `server.public.listen`: nothing else is served there.
pub fn public_router<S: StatusSource>(source: Arc<S>) -> Router {
    public_routes(source).layer(axum::middleware::map_response(security::headers))
}

fn public_routes<S: StatusSource>(source: Arc<S>) -> Router {
    Router::new()
        .route("/", get(public::index::<S>))
        .route("/status.json", get(public::json::<S>))
        .route("/feed.atom", get(public::feed::<S>))
        .route("/badge/{file}", get(api::badge::<S>))
        .with_state(Web::new(source, true))
}

fn internal_routes<S: StatusSource>(source: Arc<S>) -> Router {
    let web = Web::new(source, false);
    Router::new()
        .route("/", get(pages::index::<S>))
        .route("/environments/{name}", get(pages::environment::<S>))
        .route("/api/v1/status", get(api::status::<S>))
        .route("/api/v1/environments/{name}/runs", get(api::runs::<S>))
        .route(
            "/api/v1/environments/{name}/probe",
            post(api::probe_now::<S>),
        )
        .route("/api/v1/incidents", get(api::incidents::<S>))
        .route("/api/v1/incidents/{id}/notes", post(notes::add::<S>))
        .route("/api/v1/incidents/{id}/ack", post(oncall::acknowledge::<S>))
        .route(
            "/api/v1/silences",
            get(oncall::list_silences::<S>).post(oncall::add_silence::<S>),
        )
        .route("/api/v1/silences/{id}", delete(oncall::expire_silence::<S>))
        .route("/api/v1/instances", get(api::instances::<S>))
        .route("/metrics", get(api::metrics::<S>))
        .route("/feed.atom", get(api::feed::<S>))
        .route("/badge/{file}", get(api::badge::<S>))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz::<S>))
        // No route takes a body beyond a few bytes: a large one is refused, not buffered.
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(web)
}
