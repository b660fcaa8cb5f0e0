//! The public page (`server.public`): a read-only view of the status for people outside
//! on-call, on a listener of its own or under a path prefix of the internal one.
//!
//! - `model`: what it shows, as types with no field for anything a probed server said;
//! - `page`: the HTML.
//!
//! Routes, relative to where it is served: `/` (the page), `/status.json` (the same as
//! JSON), `/feed.atom` (incidents and notes), `/badge/{environment}.svg` (the badges of the
//! environments it shows). Nothing else: no admin API, no runs, no evidence.

mod model;
mod page;

pub use model::{PublicIncident, PublicStatus};

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{StatusSource, Web};
use crate::config::PublicPage;
use crate::store::IncidentFilter;

/// The newest incidents read for the page and the feed, of every environment: the shown
/// ones' open and recent incidents are among them unless hundreds of others came since.
const INCIDENTS_READ: u32 = 200;

/// The page's settings in force (read per request, so a reload's title and environment list
/// apply); `None` once a reload removed `server.public`, when the page answers 404.
fn settings<S: StatusSource>(web: &Web<S>) -> Option<PublicPage> {
    web.source.config().server.public.clone()
}

/// The public view now.
async fn view<S: StatusSource>(web: &Web<S>, page: &PublicPage) -> PublicStatus {
    let status = web.source.status().await;
    let incidents = web
        .source
        .store()
        .incidents(&IncidentFilter {
            state: None,
            environment: None,
            limit: INCIDENTS_READ,
        })
        .await
        .ok();
    model::build(page, &status, incidents.as_deref())
}

fn gone() -> Response {
    super::error::ApiError::Off("the public page is off (no server.public)").into_response()
}

/// `GET /`: the page.
pub async fn index<S: StatusSource>(State(web): State<Arc<Web<S>>>) -> Response {
    let Some(page) = settings(&web) else {
        return gone();
    };
    let body = web
        .rendered
        .get_or_render("public/index", web.source.generation(), async {
            let status = view(&web, &page).await;
            let mut histories = HashMap::new();
            for env in &status.environments {
                let history = super::pages::history(&web, &env.name, status.generated_at).await;
                histories.insert(env.name.clone(), history);
            }
            bytes::Bytes::from(page::render(&status, &histories).into_string())
        })
        .await;
    axum::response::Html(body).into_response()
}

/// `GET /status.json`: [`PublicStatus`].
pub async fn json<S: StatusSource>(State(web): State<Arc<Web<S>>>) -> Response {
    let Some(page) = settings(&web) else {
        return gone();
    };
    let body = web
        .rendered
        .get_or_render("public/json", web.source.generation(), async {
            let status = view(&web, &page).await;
            bytes::Bytes::from(serde_json::to_vec(&status).expect("the public status serializes"))
        })
        .await;
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /feed.atom`: the shown environments' incidents and notes, from the public model.
pub async fn feed<S: StatusSource>(State(web): State<Arc<Web<S>>>) -> Response {
    let Some(page) = settings(&web) else {
        return gone();
    };
    let status = view(&web, &page).await;
    let xml = super::feed::public(&status, web.source.store().instance_id());
    (
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        xml,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
