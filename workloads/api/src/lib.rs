//! The jobs API: an axum service that creates, reads and lists jobs stored in PostgreSQL.
//!
//! `POST /v1/jobs` (validated body, optional `Idempotency-Key`), `GET /v1/jobs/{id}`,
//! `GET /v1/jobs?status=&limit=&cursor=` (keyset pagination) and `/openapi.json`, generated from
//! the handlers with utoipa. Every request gets a span with a request id and the W3C trace
//! context of its caller, and is counted in `http_requests_total` and
//! `http_request_duration_seconds` ([`middleware`]); the creating request's trace context is
//! stored with the job so the worker's processing span joins the same trace. The API never
//! processes jobs — that is `jobs-worker` — and owns no SQL: queries are in `jobs_common::jobs`.
//! [`run`] is the whole service lifecycle (admin listener, readiness, graceful drain), shared by
//! the binary and the integration tests ([`local`] runs it on loopback ports for them).

pub mod cli;
mod error;
pub mod local;
pub mod middleware;
pub mod model;
mod routes;

use std::{future::IntoFuture, sync::Arc};

use axum::{Router, extract::DefaultBodyLimit};
use jobs_common::{Metrics, Pool, config::ShutdownArgs, service};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use error::ApiError;
pub use routes::ApiDoc;

/// Largest request body read; payloads are limited to 64 KiB, JSON escaping may grow them.
const BODY_LIMIT: usize = 512 * 1024;

/// What handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: Pool,
    pub metrics: Arc<Metrics>,
}

/// The API's routes with their middleware.
pub fn app(state: AppState) -> Router {
    routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves the API on `api` and the admin routes on `admin` until `requested` is cancelled, then
/// shuts down in order: readiness fails, `shutdown_grace` later the listener stops accepting,
/// in-flight requests get `drain_timeout`, and the admin listener closes last.
pub async fn run(
    api: TcpListener,
    admin_listener: TcpListener,
    state: AppState,
    requested: CancellationToken,
    timing: &ShutdownArgs,
) -> anyhow::Result<()> {
    let (admin, phases) = service::start_admin(
        admin_listener,
        state.pool.clone(),
        state.metrics.clone(),
        requested,
        timing,
    );
    info!(listen = %api.local_addr()?, "Serving the API");
    let server =
        axum::serve(api, app(state)).with_graceful_shutdown(phases.stop.clone().cancelled_owned());
    let result = tokio::select! {
        r = server.into_future() => r.map_err(anyhow::Error::from),
        _ = phases.abort.cancelled() => {
            warn!("Drain timeout: closing connections that still have requests in flight");
            Ok(())
        }
    };
    admin.stop().await?;
    info!("API stopped");
    result
}
