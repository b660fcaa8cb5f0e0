//! `POST /api/v1/incidents/{id}/notes` (admin token): a written update on an incident, the
//! way Statuspage's incident updates read ("Identified: the database failed over"). The body
//! is checked here, once, into a [`NewNote`]; the source stores it and sends it to the
//! incident's channels.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::api::require_admin;
use super::error::ApiError;
use super::{StatusSource, Web};
use crate::store::{NewNote, NoteRecord, NoteStatus};

/// A status update is a paragraph, not a postmortem: this fits every channel's message
/// (Telegram's 4096, Discord's description) with room for the headline.
pub const MESSAGE_MAX: usize = 2_000;
/// A name or a handle.
pub const AUTHOR_MAX: usize = 100;

/// The request body as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    status: Option<String>,
    message: Option<String>,
    author: Option<String>,
}

/// A note that passed every check: what the store takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidNote {
    pub status: Option<NoteStatus>,
    pub message: String,
    pub author: Option<String>,
}

/// Read and check a note's JSON body. Pure. The message keeps its line breaks (CRLF read as
/// LF) and tabs; any other control character is refused, as is an author with any.
pub fn parse(body: &[u8]) -> Result<ValidNote, String> {
    let body: NoteBody = serde_json::from_slice(body).map_err(|err| {
        format!(
            "the body must be JSON like {{\"status\": \"identified\", \"message\": \"…\", \"author\": \"…\"}}: {err}"
        )
    })?;
    let status = match body.status.as_deref() {
        None => None,
        Some(text) => Some(NoteStatus::parse(text).ok_or_else(|| {
            let known: Vec<&str> = NoteStatus::ALL.iter().map(|s| s.as_str()).collect();
            format!("status {text:?}: expected {} or none", known.join(", "))
        })?),
    };
    let message = body.message.unwrap_or_default().replace("\r\n", "\n");
    let message = message.trim();
    if message.is_empty() {
        return Err("message is required and must not be empty".into());
    }
    if message.chars().count() > MESSAGE_MAX {
        return Err(format!("message is longer than {MESSAGE_MAX} characters"));
    }
    if message
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("message has a control character (only line breaks and tabs are kept)".into());
    }
    let author = match body.author.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(author) if author.chars().count() > AUTHOR_MAX => {
            return Err(format!("author is longer than {AUTHOR_MAX} characters"));
        }
        Some(author) if author.chars().any(char::is_control) => {
            return Err("author has a control character".into());
        }
        Some(author) => Some(author.to_owned()),
    };
    Ok(ValidNote {
        status,
        message: message.to_owned(),
        author,
    })
}

/// `POST /api/v1/incidents/{id}/notes`: 201 with the stored note; 401/403 as the admin API,
/// 400 for a bad body, 404 for an unknown incident, 503 when the store cannot take it.
pub async fn add<S: StatusSource>(
    State(web): State<Arc<Web<S>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<NoteRecord>), ApiError> {
    require_admin(&web.source.config(), &headers)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("incident id {id:?} is not a number")))?;
    let note = parse(&body).map_err(ApiError::BadRequest)?;
    let stored = web
        .source
        .add_note(
            id,
            NewNote {
                status: note.status,
                message: &note.message,
                author: note.author.as_deref(),
                at: chrono::Utc::now(),
            },
        )
        .await
        .map_err(|err| ApiError::Store(err.to_string()))?;
    match stored {
        Some(note) => Ok((StatusCode::CREATED, Json(note))),
        None => Err(ApiError::UnknownIncident(id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_checked_once() {
        let ok = |body: &str| parse(body.as_bytes()).unwrap_or_else(|err| panic!("{body}: {err}"));
        assert_eq!(
            ok(
                r#"{"status": "identified", "message": "  DB failed over\r\nreconnecting\t", "author": " ana "}"#
            ),
            ValidNote {
                status: Some(NoteStatus::Identified),
                message: "DB failed over\nreconnecting".into(),
                author: Some("ana".into()),
            }
        );
        assert_eq!(
            ok(r#"{"message": "Looking into it", "author": "", "status": null}"#),
            ValidNote {
                status: None,
                message: "Looking into it".into(),
                author: None,
            }
        );
        let long = "x".repeat(MESSAGE_MAX + 1);
        let refused = [
            ("", "must be JSON"),
            ("message=hi", "must be JSON"),
            (
                r#"{"message": "hi", "title": "x"}"#,
                "unknown field `title`",
            ),
            (
                r#"{"status": "fixed", "message": "hi"}"#,
                "status \"fixed\": expected investigating, identified, monitoring, resolved or none",
            ),
            (r#"{"status": "identified"}"#, "message is required"),
            (r#"{"message": "  \n "}"#, "message is required"),
            (&format!(r#"{{"message": "{long}"}}"#), "longer than 2000"),
            (r#"{"message": "a\u0000b"}"#, "control character"),
            (r#"{"message": "a\u001b[31mb"}"#, "control character"),
            (
                r#"{"message": "hi", "author": "a\nb"}"#,
                "author has a control character",
            ),
            (
                &format!(r#"{{"message": "hi", "author": "{}"}}"#, "a".repeat(101)),
                "author is longer",
            ),
            (r#"{"message": 5}"#, "must be JSON"),
        ];
        for (body, why) in refused {
            let err = parse(body.as_bytes()).expect_err(body);
            assert!(err.contains(why), "{body}: {err}");
        }
    }
}
