//! The status page, the HTTP API and the health endpoints. `router` builds the routes; binding
//! is the caller's. Handlers read a [`StatusSource`] (the daemon's typed view) and the store,
//! except `POST …/probe`, which asks the source to run a probe through the scheduler's path,
//! and acknowledging and silencing (`oncall`), which ask the source to store and apply them.

mod api;
mod badge;
mod cache;
mod chart;
mod error;
mod feed;
mod oncall;
mod pages;
pub mod serve;
pub mod view;

#[cfg(test)]
mod tests;

pub use view::{
    EnvironmentStatus, FleetNotice, Latency, LocationStatus, NotificationStatus, Readiness,
    RecentRun, ReloadRejected, StatusBody, StatusSource, StoreStatus, Uptime,
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
    /// When this router was built: a single node's start, as `/api/v1/instances` says.
    started_at: Arc<chrono::DateTime<chrono::Utc>>,
    /// Each environment's chart data, read from the rollups at most every 30 s.
    history: HistoryCache,
}

pub fn router<S: StatusSource>(source: Arc<S>) -> Router {
    let web = Arc::new(Web {
        source,
        rendered: RenderCache::default(),
        started_at: Arc::new(chrono::Utc::now()),
        history: HistoryCache::default(),
    });
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
