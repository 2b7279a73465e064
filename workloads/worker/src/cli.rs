//! Command line and environment of `jobs-worker`: `run` (the default) and `migrate`.
//!
//! Every flag is also an `APP_…` (or `OTEL_…`) variable; the container runs with no arguments.
//! Configuration errors stop the process before it claims anything, naming the variable.

use std::{sync::Arc, time::Duration};

use clap::{Parser, Subcommand};
use jobs_common::{
    Metrics,
    config::{ServiceArgs, bounded, duration},
    migrate, service, shutdown,
};

use crate::Worker;

/// The jobs worker.
#[derive(Debug, Parser)]
#[command(name = "jobs-worker", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    service: ServiceArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Process jobs and serve the admin endpoints (the default).
    Run,
    /// Apply pending schema migrations and exit.
    Migrate,
}

/// How the worker claims and processes jobs.
#[derive(Clone, Debug, clap::Args)]
pub struct WorkerArgs {
    /// Jobs processed at the same time by this process.
    #[arg(long, env = "APP_WORKER_CONCURRENCY", default_value = "4",
          value_parser = bounded("APP_WORKER_CONCURRENCY", 1, 256))]
    pub concurrency: u64,
    /// Pause between claims when no job is due.
    #[arg(long, env = "APP_WORKER_POLL_INTERVAL", default_value = "500ms",
          value_parser = duration("APP_WORKER_POLL_INTERVAL"))]
    pub poll_interval: Duration,
    /// Claim lease; extended every third of it while a job runs.
    #[arg(long, env = "APP_WORKER_LEASE", default_value = "30s", value_parser = duration("APP_WORKER_LEASE"))]
    pub lease: Duration,
    /// Backoff before the second attempt; doubles per attempt.
    #[arg(long, env = "APP_WORKER_BACKOFF_BASE", default_value = "1s",
          value_parser = duration("APP_WORKER_BACKOFF_BASE"))]
    pub backoff_base: Duration,
    /// Longest backoff.
    #[arg(long, env = "APP_WORKER_BACKOFF_MAX", default_value = "5m",
          value_parser = duration("APP_WORKER_BACKOFF_MAX"))]
    pub backoff_max: Duration,
    /// SHA-256 iterations of a `hash` job.
    #[arg(long, env = "APP_WORKER_HASH_ROUNDS", default_value = "10000",
          value_parser = bounded("APP_WORKER_HASH_ROUNDS", 1, 100_000_000))]
    pub hash_rounds: u64,
    /// Identity in `locked_by` and the attempt log (default: $HOSTNAME plus a random suffix).
    #[arg(long, env = "APP_WORKER_ID")]
    pub worker_id: Option<String>,
}

impl WorkerArgs {
    /// Checks relations between settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease < Duration::from_millis(300) {
            return Err(format!(
                "APP_WORKER_LEASE must be at least 300ms, got {:?}",
                self.lease
            ));
        }
        if self.backoff_max < self.backoff_base {
            return Err("APP_WORKER_BACKOFF_MAX must not be below APP_WORKER_BACKOFF_BASE".into());
        }
        Ok(())
    }

    /// This process's worker id.
    pub fn id(&self) -> String {
        self.worker_id.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
            let suffix = uuid::Uuid::new_v4().simple().to_string();
            format!("{host}-{}", &suffix[..8])
        })
    }
}

impl Args {
    pub async fn run(self) -> anyhow::Result<()> {
        self.worker.validate().map_err(anyhow::Error::msg)?;
        let (telemetry, pool) = service::prepare(&self.service, "jobs-worker")?;
        let result = match self.command.unwrap_or(Command::Run) {
            Command::Run => {
                let admin = service::bind_admin(&self.service.admin).await?;
                let worker = Arc::new(Worker {
                    id: self.worker.id(),
                    pool,
                    metrics: Arc::new(Metrics::new()),
                    args: self.worker,
                });
                crate::run(
                    worker,
                    admin,
                    shutdown::on_signal()?,
                    &self.service.shutdown,
                )
                .await
            }
            Command::Migrate => migrate::command(&pool).await,
        };
        telemetry.shutdown();
        result
    }
}
