//! `POST /api/v1/incidents/{id}/ack`, `GET`/`POST /api/v1/silences`,
//! `DELETE /api/v1/silences/{id}`: what on-call does through the API (and `wsprobe silence`).
//! Writes take the admin token, checked before the body is read; every refusal is a JSON
//! error that says what to fix.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::api::require_admin;
use super::error::{ApiError, JsonQuery};
use super::{StatusSource, Web};
use crate::oncall::{AckRequest, Silence, SilenceRequest, SilenceState};
use crate::store::{AckOutcome, ExpireOutcome, IncidentRecord, StoreError};

/// Silences one list answers with at most.
const SILENCES_LISTED: u32 = 1000;

/// A silence as the API shows it: where it stands now beside what was stored.
#[derive(Debug, Serialize)]
pub struct SilenceBody {
    #[serde(flatten)]
    pub silence: Silence,
    pub state: SilenceState,
}

impl SilenceBody {
    pub fn at(silence: Silence, now: DateTime<Utc>) -> SilenceBody {
        SilenceBody {
            state: silence.state(now),
            silence,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SilencesBody {
    pub silences: Vec<SilenceBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilencesQuery {
    /// Expired silences too.
    all: Option<bool>,
}

pub async fn acknowledge<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IncidentRecord>, ApiError> {
    require_admin(&web.source.config(), &headers)?;
    let id = parse_id("incident", &id)?;
    let request: AckRequest = json_body(&body)?;
    let ack = request.check(Utc::now()).map_err(ApiError::BadRequest)?;
    match web.source.acknowledge(id, ack).await.map_err(store_error)? {
        AckOutcome::Acknowledged(incident) => Ok(Json(incident)),
        AckOutcome::NoSuchIncident => Err(ApiError::UnknownIncident(id)),
        AckOutcome::Resolved(incident) => Err(ApiError::Conflict(format!(
            "incident {id} is resolved (at {}): there is nothing to acknowledge",
            incident
                .resolved_at
                .map_or_else(String::new, crate::wire::format)
        ))),
        AckOutcome::AlreadyAcknowledged(incident) => {
            let by = incident.acknowledged.map_or_else(
                || "someone".to_owned(),
                |a| format!("{} at {}", a.by, crate::wire::format(a.at)),
            );
            Err(ApiError::Conflict(format!(
                "incident {id} was already acknowledged by {by}"
            )))
        }
    }
}

pub async fn list_silences<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    JsonQuery(query): JsonQuery<SilencesQuery>,
) -> Result<Json<SilencesBody>, ApiError> {
    let now = Utc::now();
    let silences = web
        .source
        .store()
        .silences(query.all.unwrap_or(false), now, SILENCES_LISTED)
        .await
        .map_err(store_error)?;
    Ok(Json(SilencesBody {
        silences: silences
            .into_iter()
            .map(|s| SilenceBody::at(s, now))
            .collect(),
    }))
}

pub async fn add_silence<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<SilenceBody>), ApiError> {
    let config = web.source.config();
    require_admin(&config, &headers)?;
    let request: SilenceRequest = json_body(&body)?;
    let now = Utc::now();
    let silence = request.check(&config, now).map_err(ApiError::BadRequest)?;
    let stored = web.source.add_silence(silence).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(SilenceBody::at(stored, now))))
}

pub async fn expire_silence<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<SilenceBody>, ApiError> {
    require_admin(&web.source.config(), &headers)?;
    let id = parse_id("silence", &id)?;
    match web.source.expire_silence(id).await.map_err(store_error)? {
        ExpireOutcome::Expired(silence) => Ok(Json(SilenceBody::at(silence, Utc::now()))),
        ExpireOutcome::NoSuchSilence => Err(ApiError::NotFound(format!("no silence {id}"))),
        ExpireOutcome::AlreadyOver(silence) => Err(ApiError::Conflict(format!(
            "silence {id} already ended at {}",
            crate::wire::format(silence.ended_at())
        ))),
    }
}

fn parse_id(what: &str, text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::BadRequest(format!("{what} id {text:?} is not a number")))
}

/// The body as JSON of `T`; an empty body is an empty object, so that `{}`-only requests need
/// none.
fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text)
        .map_err(|err| ApiError::BadRequest(format!("the body is not the JSON expected: {err}")))
}

fn store_error(err: StoreError) -> ApiError {
    ApiError::Store(err.to_string())
}
