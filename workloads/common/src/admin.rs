//! The admin listener: `/livez`, `/readyz` and `/metrics`, plaintext, on `APP_ADMIN_LISTEN`.
//!
//! Liveness says only that the process answers; it never checks the database, so a database
//! outage makes pods unready, not restarted. Readiness is false while shutting down (set first on
//! SIGTERM, so endpoints drop the pod before it stops accepting) and while `SELECT 1` through the
//! pool fails or takes longer than [`READY_TIMEOUT`]; the 503 body says which. The admin listener
//! outlives the main one during shutdown, so probes keep getting answers until the very end.
//! Request handling of the services themselves is elsewhere.

use std::{
    future::IntoFuture,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{db, db::Pool, metrics::Metrics};

/// Bound on the readiness database check.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// What readiness depends on.
#[derive(Debug)]
pub struct Health {
    shutting_down: AtomicBool,
    pool: Pool,
}

impl Health {
    pub fn new(pool: Pool) -> Arc<Self> {
        Arc::new(Health {
            shutting_down: AtomicBool::new(false),
            pool,
        })
    }

    /// From now on readiness fails.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// `Ok` when ready, else why not.
    pub async fn ready(&self) -> Result<(), String> {
        if self.is_shutting_down() {
            return Err("shutting down".into());
        }
        match tokio::time::timeout(READY_TIMEOUT, db::ping(&self.pool)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("database unreachable: {e}")),
            Err(_) => Err(format!("database did not answer within {READY_TIMEOUT:?}")),
        }
    }
}

#[derive(Clone)]
struct AdminState {
    health: Arc<Health>,
    metrics: Arc<Metrics>,
}

/// The admin routes.
pub fn router(health: Arc<Health>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AdminState { health, metrics })
}

async fn readyz(State(s): State<AdminState>) -> Response {
    match s.health.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => {
            tracing::info!(%reason, "Not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
            )
                .into_response()
        }
    }
}

async fn metrics_text(State(s): State<AdminState>) -> Response {
    match s.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The admin listener running on its own task. It outlives the service's main listener during
/// shutdown, so probes keep getting answers: stop it last, with [`AdminServer::stop`].
pub struct AdminServer {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl AdminServer {
    /// Serves [`router`] on `listener` until [`Self::stop`].
    pub fn spawn(listener: TcpListener, health: Arc<Health>, metrics: Arc<Metrics>) -> Self {
        let stop = CancellationToken::new();
        let server = axum::serve(listener, router(health, metrics))
            .with_graceful_shutdown(stop.clone().cancelled_owned());
        Self {
            stop,
            task: tokio::spawn(server.into_future()),
        }
    }

    /// Closes the listener and waits for it; its I/O error, if it failed while serving.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await??;
        Ok(())
    }
}
