//! API errors: one enum the handlers return, one place that maps it to status and JSON.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no environment named {0:?}")]
    UnknownEnvironment(String),
    #[error("missing or wrong admin token")]
    Unauthorized,
    #[error(
        "server.admin_token is not configured: the admin API (on-demand probes, notes, acknowledgements, silences) is disabled"
    )]
    AdminDisabled,
    #[error("no incident {0}")]
    UnknownIncident(i64),
    /// No silence with that id.
    #[error("{0}")]
    NotFound(String),
    /// The request is fine but the thing it acts on has moved on (resolved, already
    /// acknowledged, already over).
    #[error("{0}")]
    Conflict(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("the store is unavailable: {0}")]
    Store(String),
    /// A route turned off in the config.
    #[error("{0}")]
    Off(&'static str),
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::UnknownEnvironment(_)
            | ApiError::UnknownIncident(_)
            | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::AdminDisabled => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Off(_) => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// `Query<T>` whose rejection (`?limit=abc`) is a JSON error like every other one, not axum's
/// plain-text body.
pub struct JsonQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for JsonQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(JsonQuery(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}
