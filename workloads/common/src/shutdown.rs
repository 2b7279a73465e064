//! Signals and the shutdown sequence shared by both services.
//!
//! Order (podinfo's `pkg/signals/shutdown.go`, the house style): on the first SIGTERM or SIGINT,
//! fail readiness; wait `APP_SHUTDOWN_GRACE` so load balancers and endpoints stop sending work;
//! then stop accepting (API) or claiming (worker) and drain in-flight work within
//! `APP_DRAIN_TIMEOUT`; flush telemetry; exit. A second signal exits at once with status 130.
//! This module produces the cancellation tokens that mark those phases; each service decides
//! what stopping and draining mean for it.

use std::{sync::Arc, time::Duration};

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::admin::Health;

/// A token cancelled on the first SIGTERM/SIGINT; a second signal exits the process.
pub fn on_signal() -> std::io::Result<CancellationToken> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let token = CancellationToken::new();
    let first = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!(signal = name, "Shutting down");
        first.cancel();
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        warn!("Second signal: exiting without draining");
        std::process::exit(130);
    });
    Ok(token)
}

/// The phases after a shutdown request, as tokens.
#[derive(Clone, Debug)]
pub struct Phases {
    /// Cancelled when shutdown starts (readiness already failing).
    pub requested: CancellationToken,
    /// Cancelled `grace` later: stop accepting or claiming work.
    pub stop: CancellationToken,
    /// Cancelled `drain` after `stop`: abandon what is still in flight.
    pub abort: CancellationToken,
}

impl Phases {
    /// Drives the phases from `requested`: fails readiness at once, then the timers.
    pub fn start(
        requested: CancellationToken,
        health: Arc<Health>,
        grace: Duration,
        drain: Duration,
    ) -> Self {
        let phases = Phases {
            requested,
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
        };
        let p = phases.clone();
        tokio::spawn(async move {
            p.requested.cancelled().await;
            health.set_shutting_down();
            info!(grace = ?grace, "Readiness failing; waiting before stopping");
            tokio::time::sleep(grace).await;
            info!(drain_timeout = ?drain, "Stopping: draining in-flight work");
            p.stop.cancel();
            tokio::time::sleep(drain).await;
            p.abort.cancel();
        });
        phases
    }
}
