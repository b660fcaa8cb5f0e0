//! `/api/v1/…`, `/healthz`, `/readyz`. JSON shapes are documented in the README.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::alert::ActiveWindow;
use crate::app::Shared;
use crate::probe::ProbeResult;
use crate::store::{FailedNotification, IncidentFilter, IncidentRecord, IncidentState, Summary};

const DEFAULT_RUNS: u32 = 50;
const MAX_RUNS: u32 = 1000;
const DEFAULT_INCIDENTS: u32 = 100;
const MAX_INCIDENTS: u32 = 1000;
/// Permanent notification failures listed on the status page at most.
const FAILED_SHOWN: u32 = 20;

/// One environment as the status API and the status page see it.
#[derive(Debug, Serialize)]
pub struct EnvironmentStatus {
    pub name: String,
    /// `up`, `degraded`, `down`, or `unknown` before the first probe.
    pub status: String,
    pub verdict: Option<String>,
    pub diagnosis: Option<String>,
    pub close_code: Option<u16>,
    pub last_run: Option<DateTime<Utc>>,
    pub next_run: Option<DateTime<Utc>>,
    pub running: bool,
    pub skipped_slots: u64,
    pub uptime: Uptime,
    pub latency_ms: Latency,
    pub last_result: Option<ProbeResult>,
    /// A maintenance window covers the environment now: results are marked, notifications
    /// held back.
    pub in_maintenance: bool,
    pub maintenance: Option<ActiveWindow>,
    /// The id of its open incident, if one is open.
    pub open_incident: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Uptime {
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    #[serde(rename = "7d")]
    pub week: Option<f64>,
    #[serde(rename = "30d")]
    pub month: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct StatusBody {
    pub generated_at: DateTime<Utc>,
    pub location: Option<String>,
    pub instance_id: Option<String>,
    pub store: StoreStatus,
    pub environments: Vec<EnvironmentStatus>,
    pub notifications: NotificationStatus,
}

/// Notifications that failed for good recently (a 4xx, or given up): someone was not told.
#[derive(Debug, Serialize)]
pub struct NotificationStatus {
    pub failed_24h: Vec<FailedNotification>,
}

#[derive(Debug, Serialize)]
pub struct StoreStatus {
    pub ok: bool,
    pub error: Option<String>,
}

/// Gathers what both the status page and `/api/v1/status` show, in config order: the latest
/// results from memory (seeded from the store at start, so they survive a failing store) and
/// the cached summaries — no per-environment query.
pub async fn gather_status(shared: &Shared) -> StatusBody {
    let now = Utc::now();
    let config = shared.config();
    let summaries = shared.summaries().await;
    let environments = config
        .environments
        .iter()
        .map(|env| {
            let name = env.name.as_str();
            let last = shared.latest(name);
            let board = shared.board.get(name);
            let summary = summaries.get(name).cloned().unwrap_or_default();
            let mut status = environment_status(name, last, &board, &summary);
            status.maintenance = crate::alert::maintenance::active(&config, &env.name, now);
            status.in_maintenance = status.maintenance.is_some();
            status.open_incident = shared.alerts.open_incident(name);
            status
        })
        .collect();
    let failed_24h = shared
        .store
        .failed_notifications(now - chrono::Duration::hours(24), FAILED_SHOWN)
        .await
        .unwrap_or_default();
    let error = shared
        .store_health
        .error()
        .map(|(at, e)| format!("{e} (since {})", at.to_rfc3339()));
    StatusBody {
        generated_at: now,
        location: config.location.clone(),
        instance_id: Some(shared.store.instance_id().to_owned()),
        store: StoreStatus {
            ok: error.is_none(),
            error,
        },
        environments,
        notifications: NotificationStatus { failed_24h },
    }
}

fn environment_status(
    name: &str,
    last: Option<ProbeResult>,
    board: &crate::schedule::Entry,
    summary: &Summary,
) -> EnvironmentStatus {
    EnvironmentStatus {
        name: name.to_owned(),
        status: last
            .as_ref()
            .map(|r| r.status.as_str().to_owned())
            .unwrap_or_else(|| "unknown".into()),
        verdict: last.as_ref().map(|r| r.verdict.as_str().to_owned()),
        diagnosis: last.as_ref().map(|r| r.diagnosis.clone()),
        close_code: last.as_ref().and_then(|r| r.close_code),
        last_run: last.as_ref().map(|r| r.started_at),
        next_run: board.next_run,
        running: board.running,
        skipped_slots: board.skipped,
        uptime: Uptime {
            day: summary.uptime_24h,
            week: summary.uptime_7d,
            month: summary.uptime_30d,
        },
        latency_ms: Latency {
            p50: summary.p50_ms_24h,
            p95: summary.p95_ms_24h,
        },
        last_result: last,
        in_maintenance: false,
        maintenance: None,
        open_incident: None,
    }
}

pub async fn status(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let body = shared
        .rendered
        .get_or_render("status", shared.generation(), async {
            bytes::Bytes::from(
                serde_json::to_vec(&gather_status(&shared).await).expect("status serializes"),
            )
        })
        .await;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
}

#[derive(Debug, Deserialize)]
pub struct RunsQuery {
    limit: Option<u32>,
    /// A run id: only runs older than it (pagination).
    before: Option<i64>,
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
    #[serde(flatten)]
    pub result: ProbeResult,
}

pub async fn runs(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<RunsBody>, ApiError> {
    known_environment(&shared, &name)?;
    let limit = query.limit.unwrap_or(DEFAULT_RUNS);
    if limit == 0 || limit > MAX_RUNS {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_RUNS}"
        )));
    }
    let runs = shared
        .store
        .runs(&name, limit, query.before)
        .await
        .map_err(|err| ApiError::Store(err.to_string()))?;
    let next_before = (runs.len() == limit as usize)
        .then(|| runs.last().map(|r| r.id))
        .flatten();
    Ok(Json(RunsBody {
        environment: name,
        runs: runs
            .into_iter()
            .map(|run| RunBody {
                id: run.id,
                in_maintenance: run.in_maintenance,
                result: run.result,
            })
            .collect(),
        next_before,
    }))
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
pub async fn incidents(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<IncidentsQuery>,
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
    if let Some(name) = &query.environment {
        known_environment(&shared, name)?;
    }
    let limit = query.limit.unwrap_or(DEFAULT_INCIDENTS);
    if limit == 0 || limit > MAX_INCIDENTS {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_INCIDENTS}"
        )));
    }
    let incidents = shared
        .store
        .incidents(&IncidentFilter {
            state,
            environment: query.environment.as_deref(),
            limit,
        })
        .await
        .map_err(|err| ApiError::Store(err.to_string()))?;
    Ok(Json(IncidentsBody { incidents }))
}

pub async fn probe_now(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<ProbeResult>, ApiError> {
    let config = shared.config();
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
    let env = config
        .environment(&name)
        .ok_or_else(|| ApiError::UnknownEnvironment(name.clone()))?;
    Ok(Json(shared.probe_and_record(env).await))
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the store takes a write and no environment's slot went by without a probe.
pub async fn readyz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let store = shared.store.check_writable().await;
    let late = shared.board.late(Utc::now());
    let ready = store.is_ok() && late.is_empty();
    let body = serde_json::json!({
        "ready": ready,
        "store_writable": store.is_ok(),
        "store_error": store.err().map(|e| e.to_string()),
        "scheduler_on_time": late.is_empty(),
        "late_environments": late,
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

fn known_environment(shared: &Shared, name: &str) -> Result<(), ApiError> {
    match shared.config().environment(name) {
        Some(_) => Ok(()),
        None => Err(ApiError::UnknownEnvironment(name.to_owned())),
    }
}
