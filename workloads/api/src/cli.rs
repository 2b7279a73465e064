//! Command line and environment of `jobs-api`: `serve` (the default), `migrate`, `seed`.
//!
//! Every flag is also an `APP_…` (or `OTEL_…`) variable, so the container runs with no arguments
//! and the migration Job with `args: [migrate]`. Configuration errors stop the process before it
//! listens, with the variable's name in the message.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use jobs_common::{
    Metrics,
    config::{AdminArgs, ServiceArgs, ShutdownArgs, bounded, socket_addr},
    db, fixtures,
    jobs::store::{self, Created, Idempotency, NewJob},
    migrate, service, shutdown,
};
use tokio::net::TcpListener;
use tracing::info;

use crate::AppState;

/// The jobs API.
#[derive(Debug, Parser)]
#[command(name = "jobs-api", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address of the API listener.
    #[arg(long, env = "APP_LISTEN", default_value = "0.0.0.0:8080", value_parser = socket_addr("APP_LISTEN"))]
    listen: SocketAddr,
    #[command(flatten)]
    service: ServiceArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the admin endpoints (the default).
    Serve,
    /// Apply pending schema migrations and exit.
    Migrate,
    /// Insert deterministic demo jobs (idempotent: the same seed inserts the same jobs once).
    Seed {
        /// How many jobs.
        #[arg(long, default_value = "100", value_parser = bounded("--count", 1, 1_000_000))]
        count: u64,
        /// Generator seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

impl Args {
    pub async fn run(self) -> anyhow::Result<()> {
        let (telemetry, pool) = service::prepare(&self.service, "jobs-api")?;
        let result = match self.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                serve(
                    self.listen,
                    &self.service.admin,
                    &self.service.shutdown,
                    pool,
                )
                .await
            }
            Command::Migrate => migrate::command(&pool).await,
            Command::Seed { count, seed } => seed_jobs(&pool, count, seed).await,
        };
        telemetry.shutdown();
        result
    }
}

async fn serve(
    listen: SocketAddr,
    admin: &AdminArgs,
    timing: &ShutdownArgs,
    pool: jobs_common::Pool,
) -> anyhow::Result<()> {
    let api = TcpListener::bind(listen)
        .await
        .with_context(|| format!("APP_LISTEN {listen}"))?;
    let admin_listener = service::bind_admin(admin).await?;
    let state = AppState {
        pool,
        metrics: Arc::new(Metrics::new()),
    };
    crate::run(api, admin_listener, state, shutdown::on_signal()?, timing).await
}

async fn seed_jobs(pool: &jobs_common::Pool, count: u64, seed: u64) -> anyhow::Result<()> {
    let mut conn = db::get(pool).await.context("connecting to the database")?;
    let tx = conn.transaction().await?;
    let (mut created, mut existing) = (0u64, 0u64);
    let count = usize::try_from(count)?;
    for (i, job) in fixtures::jobs(seed, count).into_iter().enumerate() {
        let new = NewJob {
            idempotency: Some(Idempotency {
                key: format!("seed-{seed}-{i}"),
                request_hash: store::request_hash(job.kind, &job.payload, job.max_attempts),
            }),
            kind: job.kind,
            payload: job.payload,
            max_attempts: job.max_attempts,
            trace_context: Default::default(),
        };
        match store::create(&tx, &new).await? {
            Created::New(_) => created += 1,
            Created::Replayed(_) | Created::Conflict { .. } => existing += 1,
        }
    }
    tx.commit().await?;
    info!(created, existing, seed, "Seeded demo jobs");
    println!("seeded {created} new jobs ({existing} already present) from seed {seed}");
    Ok(())
}
