//! `/api/v1/…`, `/healthz`, `/readyz`. JSON shapes are documented in the README.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::error::{ApiError, JsonQuery};
use super::{StatusSource, Web};
use crate::probe::{ProbeResult, Verdict};
use crate::store::{IncidentFilter, IncidentRecord, IncidentState, InstanceRecord, RunsPage};

const DEFAULT_RUNS: u32 = 50;
const MAX_RUNS: u32 = 1000;
const DEFAULT_INCIDENTS: u32 = 100;
const MAX_INCIDENTS: u32 = 1000;

/// `GET /api/v1/status`'s parameters: none for the whole status as before (the first
/// `MAX_LIMIT` environments of a larger fleet), any of them for a page, failing first.
#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    limit: Option<usize>,
    offset: Option<usize>,
    /// `down`, `degraded`, `unknown`, `up`, comma-separated.
    status: Option<String>,
    /// A name, or a prefix ending in `*`.
    environment: Option<String>,
}

pub async fn status<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    JsonQuery(query): JsonQuery<StatusQuery>,
) -> Result<impl IntoResponse, ApiError> {
    use super::status_json::{self, MAX_LIMIT};
    let paged = query.limit.is_some()
        || query.offset.is_some()
        || query.status.is_some()
        || query.environment.is_some();
    let body = if paged {
        let filter =
            super::snapshot::Filter::parse(query.status.as_deref(), query.environment.as_deref())
                .map_err(ApiError::BadRequest)?;
        let limit = query.limit.unwrap_or(MAX_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1 to {MAX_LIMIT}"
            )));
        }
        let snapshot = web.snapshot().await;
        let offset = query.offset.unwrap_or(0);
        bytes::Bytes::from(status_json::page(&snapshot, &filter, offset, limit))
    } else {
        // The answer most clients ask for, the same for all of them: rendered once.
        web.rendered
            .get_or_render("status", web.source.generation(), async {
                bytes::Bytes::from(status_json::whole(&*web.snapshot().await))
            })
            .await
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

#[derive(Debug, Deserialize)]
pub struct RunsQuery {
    limit: Option<u32>,
    /// A run id: only runs older than it (pagination).
    before: Option<i64>,
    /// Only runs probed from this location.
    location: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RunsBody {
    pub environment: String,
    pub runs: Vec<RunBody>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct RunBody {
    pub id: i64,
    pub in_maintenance: bool,
    /// The silence that matched the run: shown, never notified.
    pub silenced_by: Option<i64>,
    #[serde(flatten)]
    pub result: ProbeResult,
    /// The shell command that repeats this probe by hand, secrets as `$VARIABLES`.
    pub replay: Option<String>,
}

pub async fn runs<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<RunsQuery>,
) -> Result<Json<RunsBody>, ApiError> {
    known_environment(web.source.as_ref(), &name)?;
    let limit = query.limit.unwrap_or(DEFAULT_RUNS);
    if limit == 0 || limit > MAX_RUNS {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_RUNS}"
        )));
    }
    let runs = web
        .source
        .store()
        .runs(
            &name,
            RunsPage {
                limit,
                before: query.before,
                location: query.location.as_deref(),
            },
        )
        .await
        .map_err(|err| ApiError::Store(err.to_string()))?;
    let next_before = (runs.len() == limit as usize)
        .then(|| runs.last().map(|r| r.id))
        .flatten();
    let config = web.source.config();
    let variables = config.secret_variables();
    let replay = |result: &ProbeResult| {
        config.environment(&name).map(|env| {
            crate::probe::replay::command(env, &variables, result.verdict == Verdict::TokenFailed)
        })
    };
    Ok(Json(RunsBody {
        environment: name.clone(),
        runs: runs
            .into_iter()
            .map(|run| RunBody {
                id: run.id,
                in_maintenance: run.in_maintenance,
                silenced_by: run.silenced_by,
                replay: replay(&run.result),
                result: run.result,
            })
            .collect(),
        next_before,
    }))
}

#[derive(Debug, Serialize)]
pub struct InstancesBody {
    /// The instance holding the evaluator lease (it evaluates incidents and delivers
    /// notifications); a single node is always its own.
    pub evaluator: Option<String>,
    pub instances: Vec<InstanceRecord>,
}

/// Every instance writing to the store, by location: a fleet's from the shared store, a
/// single node's itself.
pub async fn instances<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
) -> Result<Json<InstancesBody>, ApiError> {
    let store = web.source.store();
    let store_error = |err: crate::store::StoreError| ApiError::Store(err.to_string());
    let listed = store
        .instances(crate::fleet::EVALUATOR_LEASE)
        .await
        .map_err(store_error)?;
    let body = match listed {
        Some((instances, evaluator)) => InstancesBody {
            evaluator,
            instances,
        },
        None => {
            let now = chrono::Utc::now();
            let id = store.instance_id().to_owned();
            InstancesBody {
                evaluator: Some(id.clone()),
                instances: vec![InstanceRecord {
                    id,
                    location: web.source.config().location.clone().unwrap_or_default(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    started_at: *web.started_at,
                    last_seen: now,
                    last_report: None,
                    stopped_at: None,
                    skew_ms: None,
                    last_probe: None,
                }],
            }
        }
    };
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
pub struct IncidentsQuery {
    state: Option<String>,
    environment: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct IncidentsBody {
    pub incidents: Vec<IncidentRecord>,
}

/// Incidents newest first, each with its notifications (the timeline), from the store.
pub async fn incidents<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    JsonQuery(query): JsonQuery<IncidentsQuery>,
) -> Result<Json<IncidentsBody>, ApiError> {
    let state = match query.state.as_deref() {
        None => None,
        Some("open") => Some(IncidentState::Open),
        Some("resolved") => Some(IncidentState::Resolved),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "state must be open or resolved".into(),
            ));
        }
    };
    // A fleet's quiet locations and instances, and SLO burns, have incidents of their own,
    // under their name.
    if let Some(name) = &query.environment
        && !crate::fleet::is_fleet_subject(name)
        && crate::alert::burn::parse_subject(name).is_none()
    {
        known_environment(web.source.as_ref(), name)?;
    }
    let limit = query.limit.unwrap_or(DEFAULT_INCIDENTS);
    if limit == 0 || limit > MAX_INCIDENTS {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_INCIDENTS}"
        )));
    }
    let incidents = web
        .source
        .store()
        .incidents(&IncidentFilter {
            state,
            environment: query.environment.as_deref(),
            limit,
        })
        .await
        .map_err(|err| ApiError::Store(err.to_string()))?;
    Ok(Json(IncidentsBody { incidents }))
}

/// The admin API's gate: `Authorization: Bearer <server.admin_token>`, compared in constant
/// time; 403 when no token is configured, 401 for a missing or wrong one.
pub(super) fn require_admin(
    config: &crate::config::Config,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(expected) = config.server.admin_token.as_ref() else {
        return Err(ApiError::AdminDisabled);
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Constant time, so response timing does not reveal how much of a guess was right.
    let matches: bool = presented
        .as_bytes()
        .ct_eq(expected.expose().as_bytes())
        .into();
    if !matches || presented.is_empty() {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

pub async fn probe_now<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<ProbeResult>, ApiError> {
    require_admin(&web.source.config(), &headers)?;
    match web.source.probe_now(&name).await {
        Some(result) => Ok(Json(result)),
        None => Err(ApiError::UnknownEnvironment(name)),
    }
}

/// The Prometheus text exposition format, version 0.0.4: what every scraper accepts.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: the same instruments as the OTLP export, for a scraper.
pub async fn metrics<S: StatusSource>(State(web): State<Arc<Web<S>>>) -> Response {
    // Gathering runs the observable callbacks: short, but off the async workers all the same.
    let source = web.source.clone();
    match tokio::task::spawn_blocking(move || source.prometheus_text()).await {
        Ok(Some(text)) => ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response(),
        Ok(None) => {
            ApiError::Off("GET /metrics is off (telemetry.prometheus: false)").into_response()
        }
        Err(err) => ApiError::Internal(format!("cannot gather the metrics: {err}")).into_response(),
    }
}

/// Incidents the feed carries at most (each gives up to a few entries).
const FEED_INCIDENTS: u32 = 50;

/// `GET /feed.atom`: the newest incidents' events as Atom.
pub async fn feed<S: StatusSource>(State(web): State<Arc<Web<S>>>) -> Response {
    let store = web.source.store();
    let incidents = store
        .incidents(&IncidentFilter {
            state: None,
            environment: None,
            limit: FEED_INCIDENTS,
        })
        .await;
    match incidents {
        Ok(incidents) => {
            let config = web.source.config();
            let xml = super::feed::on_call(
                &incidents,
                config.server.public_url.as_ref(),
                store.instance_id(),
            );
            (
                [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
                xml,
            )
                .into_response()
        }
        Err(err) => ApiError::Store(err.to_string()).into_response(),
    }
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 only when the daemon says it is doing its job; 503 with the reasons otherwise.
pub async fn readyz<S: StatusSource>(State(web): State<Arc<Web<S>>>) -> impl IntoResponse {
    let readiness = web.source.readiness().await;
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(readiness))
}

fn known_environment(source: &impl StatusSource, name: &str) -> Result<(), ApiError> {
    match source.config().environment(name) {
        Some(_) => Ok(()),
        None => Err(ApiError::UnknownEnvironment(name.to_owned())),
    }
}

/// A configured environment, and on the public page one it shows.
fn badge_environment<S: StatusSource>(web: &Web<S>, name: &str) -> Result<(), ApiError> {
    known_environment(web.source.as_ref(), name)?;
    let config = web.source.config();
    let shown = config.server.public.as_ref().is_some_and(|p| p.shows(name));
    if web.public && !shown {
        return Err(ApiError::UnknownEnvironment(name.to_owned()));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadgeQuery {
    kind: Option<String>,
    window: Option<String>,
}

/// `GET /badge/{environment}.svg`: a shields-style badge, revalidated by its `ETag` (a 304
/// when it has not changed) and kept a minute by caches.
pub async fn badge<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    Path(file): Path<String>,
    JsonQuery(query): JsonQuery<BadgeQuery>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    use super::badge::{self, BadgeKind, Window};
    let name = file.strip_suffix(".svg").unwrap_or(&file);
    let kind = BadgeKind::parse(query.kind.as_deref()).map_err(ApiError::BadRequest)?;
    let window = Window::parse(query.window.as_deref()).map_err(ApiError::BadRequest)?;
    badge::available(kind, window).map_err(ApiError::BadRequest)?;
    badge_environment(&web, name)?;
    // Rendered from the whole status, so reused like the status page: image proxies fetch a
    // badge for every view of the README it sits in. Keys stay few: configured names only.
    let key = format!("badge/{name}/{kind:?}/{window:?}");
    let svg = web
        .rendered
        .get_or_render(&key, web.source.generation(), async {
            let snapshot = web.snapshot().await;
            let env = snapshot.named(name);
            let (label, value, colour) = env.map_or_else(
                || (name.to_owned(), "unknown".to_owned(), badge::GREY),
                |env| badge::text_of(env, kind, window),
            );
            bytes::Bytes::from(badge::svg(&label, &value, colour))
        })
        .await;
    let etag = badge::etag(&svg);
    let cache = (header::CACHE_CONTROL, "max-age=60, must-revalidate");
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    if unchanged {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [cache, (header::ETAG, etag.as_str())],
        )
            .into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            cache,
            (header::ETAG, etag.as_str()),
        ],
        svg,
    )
        .into_response())
}
