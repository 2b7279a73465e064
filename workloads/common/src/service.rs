//! The start and the end both binaries share around their own work: checking the
//! configuration and opening telemetry and the pool ([`prepare`]), binding and starting the admin
//! listener with the shutdown phases ([`bind_admin`], [`start_admin`]), and turning the outcome
//! into an exit status ([`exit_code`]). What each service serves or processes is in its crate.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    Metrics, Pool,
    admin::{AdminServer, Health},
    config::{AdminArgs, ServiceArgs, ShutdownArgs},
    db,
    shutdown::Phases,
    telemetry::{self, Telemetry},
};

/// Checks what the parsers could not (the password file), then starts telemetry (spans named
/// `default_service` unless `OTEL_SERVICE_NAME` says otherwise) and the database pool.
pub fn prepare(args: &ServiceArgs, default_service: &str) -> anyhow::Result<(Telemetry, Pool)> {
    args.database.validate().map_err(anyhow::Error::msg)?;
    let telemetry = telemetry::init(&args.telemetry, default_service)?;
    let pool = db::pool(&args.database)?;
    Ok((telemetry, pool))
}

/// Binds the admin listener; the error names `APP_ADMIN_LISTEN`.
pub async fn bind_admin(args: &AdminArgs) -> anyhow::Result<TcpListener> {
    TcpListener::bind(args.admin_listen)
        .await
        .with_context(|| format!("APP_ADMIN_LISTEN {}", args.admin_listen))
}

/// Serves the admin routes on `listener` and drives the shutdown phases from `requested`:
/// readiness fails at once, `timing`'s grace and drain follow.
pub fn start_admin(
    listener: TcpListener,
    pool: Pool,
    metrics: Arc<Metrics>,
    requested: CancellationToken,
    timing: &ShutdownArgs,
) -> (AdminServer, Phases) {
    let health = Health::new(pool);
    let phases = Phases::start(
        requested,
        health.clone(),
        timing.shutdown_grace,
        timing.drain_timeout,
    );
    (AdminServer::spawn(listener, health, metrics), phases)
}

/// The process's exit status for `result`; a failure is logged and printed as `binary: error`.
pub fn exit_code(binary: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "Exiting");
            eprintln!("{binary}: {error:#}");
            ExitCode::FAILURE
        }
    }
}
