//! The API's handlers and their OpenAPI annotations.
//!
//! Handlers validate ([`crate::model`]), call one query in `jobs_common::jobs::store` and map the
//! outcome to a status: 201 for a new job (with `Location`), 200 for an idempotent replay (with
//! `Idempotent-Replayed: true`), 409 when the key was used for a different request. The trace
//! context stored with a new job is the one of the current request span, so the worker continues
//! the caller's trace. The OpenAPI document ([`ApiDoc`], served at `/openapi.json`) is generated
//! from these annotations and the model's schemas, never written by hand.

use std::collections::HashMap;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use jobs_common::{
    db,
    jobs::store::{self, Created, Idempotency, NewJob},
    telemetry,
};
use tracing::{Span, info};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::{
    ApiError, AppState,
    model::{self, ErrorBody, JobPage, JobView, ListParams},
};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/jobs", get(list_jobs).post(create_job))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/openapi.json", get(document))
}

/// Create a job.
#[utoipa::path(
    post, path = "/v1/jobs", tag = "jobs",
    request_body = model::CreateJobRequest,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "Same key and body again: the original job (200). Same key, other body: 409.")),
    responses(
        (status = 201, description = "Created", body = JobView),
        (status = 200, description = "Replay of an earlier request with the same Idempotency-Key", body = JobView),
        (status = 400, description = "Validation error", body = ErrorBody),
        (status = 409, description = "Idempotency-Key used with a different body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn create_job(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let key = headers
        .get("idempotency-key")
        .map(|v| model::validate_idempotency_key(v.as_bytes()))
        .transpose()?;
    let valid = model::validate_create(&body)?;
    let new = NewJob {
        idempotency: key.map(|key| Idempotency {
            key,
            request_hash: store::request_hash(valid.kind, &valid.payload, valid.max_attempts),
        }),
        kind: valid.kind,
        payload: valid.payload,
        max_attempts: valid.max_attempts,
        trace_context: telemetry::inject(&Span::current().context()),
    };
    let conn = db::get(&state.pool).await?;
    match store::create(&*conn, &new).await? {
        Created::New(job) => {
            info!(job_id = %job.id, kind = %job.kind, "Job created");
            let location = HeaderValue::from_str(&format!("/v1/jobs/{}", job.id)).ok();
            let mut response = (StatusCode::CREATED, Json(JobView::from(job))).into_response();
            if let Some(location) = location {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Created::Replayed(job) => {
            info!(job_id = %job.id, "Idempotent replay");
            let mut response = (StatusCode::OK, Json(JobView::from(job))).into_response();
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        Created::Conflict { existing } => Err(ApiError::IdempotencyConflict { existing }),
    }
}

/// Read one job.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::invalid("id", "is not a job id (UUID)"))?;
    let conn = db::get(&state.pool).await?;
    let job = store::get(&*conn, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(job.into()))
}

/// List jobs, newest first, one page at a time.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs",
    params(ListParams),
    responses(
        (status = 200, description = "A page of jobs", body = JobPage),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<JobPage>, ApiError> {
    let q = model::validate_list(&query)?;
    let conn = db::get(&state.pool).await?;
    let page = store::list(&*conn, q.status, q.cursor, q.limit).await?;
    Ok(Json(JobPage {
        items: page.items.into_iter().map(JobView::from).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

// === OpenAPI ===

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "jobs-api",
        description = "Create, read and list background jobs (sample workload of the Portcullis platform)."
    ),
    paths(create_job, get_job, list_jobs),
    components(schemas(
        model::CreateJobRequest,
        model::JobView,
        model::JobPage,
        model::ErrorBody,
        model::Kind,
        model::Status
    )),
    tags((name = "jobs", description = "Jobs processed by jobs-worker"))
)]
pub struct ApiDoc;

async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
