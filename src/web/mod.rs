//! The status page, the HTTP API and the health endpoints. `router` builds the routes; binding
//! is the caller's. Handlers only read (the store, the board, the in-memory latest results),
//! except `POST …/probe`, which runs a probe through the same path the scheduler uses.

mod api;
mod cache;
mod error;
mod pages;

pub use cache::RenderCache;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::app::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(pages::index))
        .route("/environments/{name}", get(pages::environment))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/environments/{name}/runs", get(api::runs))
        .route("/api/v1/environments/{name}/probe", post(api::probe_now))
        .route("/api/v1/incidents", get(api::incidents))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .with_state(shared)
}
