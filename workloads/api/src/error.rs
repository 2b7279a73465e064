//! The API's error responses: `{"error": "...", "field": "..."}` with the right status.
//!
//! Validation errors name the offending field (a JSON body field, a query parameter, the `id`
//! path segment or the `Idempotency-Key` header). Database trouble is a 503 (retryable, and
//! readiness fails at the same time); a broken invariant is a 500. Internal details go to the log,
//! not to the client.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use jobs_common::DbError;
use tokio_postgres::error::SqlState;
use tracing::error;

use crate::model::ErrorBody;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("job not found")]
    NotFound,
    #[error("Idempotency-Key was already used with a different request (job {existing})")]
    IdempotencyConflict { existing: uuid::Uuid },
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Whether the database is down or unreachable (as opposed to rejecting a query).
fn unavailable(e: &DbError) -> bool {
    match e {
        DbError::Postgres(pg) => match pg.code() {
            None => true,
            Some(code) => {
                code.code().starts_with("08")
                    || code == &SqlState::ADMIN_SHUTDOWN
                    || code == &SqlState::CRASH_SHUTDOWN
                    || code == &SqlState::CANNOT_CONNECT_NOW
                    || code == &SqlState::TOO_MANY_CONNECTIONS
                    || code == &SqlState::INVALID_PASSWORD
            }
        },
        DbError::PasswordFile { .. } | DbError::Timeout(_) | DbError::Closed => true,
        DbError::Corrupt { .. } | DbError::PoolHook(_) => false,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, field) = match &self {
            ApiError::Invalid { field, .. } => (StatusCode::BAD_REQUEST, Some(field.clone())),
            ApiError::NotFound => (StatusCode::NOT_FOUND, None),
            ApiError::IdempotencyConflict { .. } => {
                (StatusCode::CONFLICT, Some("Idempotency-Key".to_owned()))
            }
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("Content-Type".to_owned()),
            ),
            ApiError::Db(e) if unavailable(e) => (StatusCode::SERVICE_UNAVAILABLE, None),
            ApiError::Db(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        let message = match &self {
            ApiError::Invalid { field, message } => format!("{field} {message}"),
            ApiError::Db(e) => {
                error!(error = %e, source = ?std::error::Error::source(e), "Database error");
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    "database unavailable, retry later".to_owned()
                } else {
                    "internal error".to_owned()
                }
            }
            other => other.to_string(),
        };
        (
            status,
            Json(ErrorBody {
                error: message,
                field,
            }),
        )
            .into_response()
    }
}
