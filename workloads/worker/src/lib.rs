//! The jobs worker: takes jobs from PostgreSQL, computes them, records the outcome.
//!
//! Any number of worker processes, each with `APP_WORKER_CONCURRENCY` slots, share the `jobs`
//! table without coordination beyond row locks: claims are leases taken with
//! `FOR UPDATE SKIP LOCKED`, so a crashed worker's jobs return after the lease, and every write
//! after a claim is guarded by it, so no job completes twice ([`runner`]). The work ([`tasks`]) is
//! pure and deterministic. The worker serves only the admin listener (`/livez`, `/readyz`,
//! `/metrics`); it has no API and owns no SQL (that is `jobs_common::jobs::queue`). [`run`] is the
//! whole lifecycle, shared by the binary and the integration tests.

pub mod cli;
pub mod runner;
pub mod tasks;

use std::sync::Arc;

use jobs_common::{config::ShutdownArgs, service};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use runner::Worker;

/// Runs the worker and the admin listener until `requested` is cancelled, then: readiness
/// fails, `shutdown_grace` later no new claims, jobs in hand get `drain_timeout` to finish and
/// are released after that, and the admin listener closes last.
pub async fn run(
    worker: Arc<Worker>,
    admin_listener: TcpListener,
    requested: CancellationToken,
    timing: &ShutdownArgs,
) -> anyhow::Result<()> {
    let (admin, phases) = service::start_admin(
        admin_listener,
        worker.pool.clone(),
        worker.metrics.clone(),
        requested,
        timing,
    );
    runner::run(worker, phases).await;
    admin.stop().await
}
