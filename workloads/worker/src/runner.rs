//! The claim–process–record loop, run by `APP_WORKER_CONCURRENCY` independent slots.
//!
//! Each slot claims one job at a time (`jobs_common::jobs::queue::claim`, a lease of
//! `APP_WORKER_LEASE`), runs it on the blocking pool while a heartbeat extends the lease every
//! third of it, and records the outcome: success, a retry after exponential backoff, or failure
//! once `max_attempts` is reached. The processing span continues the trace stored with the job
//! by the API. On shutdown the slots stop claiming (phase `stop`) and finish the job in hand;
//! when the drain timeout passes (phase `abort`) a job still running is cancelled and its claim
//! released, so another worker takes it at once. If the database is unreachable, recording fails,
//! the claim stays and expires, and another attempt runs later: processing is at least once,
//! completion exactly once (guarded in SQL). Database errors never end the process.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use jobs_common::{
    Job, Metrics, Pool, db,
    jobs::queue::{self, Claim, Failure},
    shutdown::Phases,
    telemetry,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, field::Empty, info, info_span, warn};

use crate::{cli::WorkerArgs, tasks};

/// Longest pause between claims after database errors.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(5);

/// One worker process's shared state.
#[derive(Debug)]
pub struct Worker {
    pub id: String,
    pub pool: Pool,
    pub metrics: Arc<Metrics>,
    pub args: WorkerArgs,
}

/// How one attempt ended (the `result` label of `jobs_processed_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Retried,
    Failed,
    Released,
    /// The claim was taken over (lease expired) or could not be recorded.
    Lost,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
            Outcome::Released => "released",
            Outcome::Lost => "lost",
        }
    }
}

/// Runs the slots until the `stop` phase, then until the job in hand of each is settled.
pub async fn run(worker: Arc<Worker>, phases: Phases) {
    let mut slots = JoinSet::new();
    for slot in 0..worker.args.concurrency {
        slots.spawn(slot_loop(worker.clone(), slot, phases.clone()));
    }
    info!(worker = %worker.id, slots = worker.args.concurrency, "Worker started");
    while let Some(joined) = slots.join_next().await {
        if let Err(e) = joined {
            error!(error = %e, "A worker slot ended abnormally");
        }
    }
    info!(worker = %worker.id, "Worker stopped");
}

async fn slot_loop(worker: Arc<Worker>, slot: u64, phases: Phases) {
    let poll = worker.args.poll_interval;
    let mut error_pause = poll;
    while !phases.stop.is_cancelled() {
        match claim_one(&worker).await {
            Ok(Some(job)) => {
                error_pause = poll;
                process(&worker, job, &phases).await;
            }
            Ok(None) => {
                error_pause = poll;
                pause(poll, &phases.stop).await;
            }
            Err(e) => {
                warn!(slot, error = %e, retry_in = ?error_pause, "Claiming a job failed");
                pause(error_pause, &phases.stop).await;
                error_pause = (error_pause * 2).min(MAX_ERROR_BACKOFF);
            }
        }
    }
}

async fn pause(d: Duration, stop: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {},
        _ = stop.cancelled() => {},
    }
}

async fn claim_one(worker: &Worker) -> Result<Option<Job>, jobs_common::DbError> {
    let mut conn = db::get(&worker.pool).await?;
    let mut jobs = queue::claim(&mut conn, &worker.id, 1, worker.args.lease).await?;
    Ok(jobs.pop())
}

/// Processes one claimed job inside a span that continues the creator's trace.
async fn process(worker: &Worker, job: Job, phases: &Phases) {
    let span = info_span!(
        "job.process",
        otel.name = "job.process",
        otel.kind = "consumer",
        job_id = %job.id,
        job.kind = %job.kind,
        job.attempt = job.attempts,
        worker = %worker.id,
        trace_id = Empty,
        job.outcome = Empty,
    );
    telemetry::adopt(&span, telemetry::extract(&job.trace_context));
    let started = Instant::now();
    let kind = job.kind;
    let outcome = attempt(worker, job, phases).instrument(span.clone()).await;
    span.record("job.outcome", outcome.label());
    worker
        .metrics
        .observe_job(kind.as_str(), outcome.label(), started.elapsed());
}

async fn attempt(worker: &Worker, job: Job, phases: &Phases) -> Outcome {
    let claim = Claim::of(&job, &worker.id);
    let cancel = Arc::new(AtomicBool::new(false));
    let task = {
        let (cancel, rounds) = (cancel.clone(), worker.args.hash_rounds);
        tokio::task::spawn_blocking(move || {
            tasks::run(job.kind, &job.payload, job.attempts, rounds, &cancel)
        })
    };
    let outcome = tokio::select! {
        joined = task => match joined {
            Ok(Ok(result)) => record_success(worker, &claim, &result).await,
            Ok(Err(e)) => record_failure(worker, &claim, &e.to_string()).await,
            Err(e) => record_failure(worker, &claim, &format!("task panicked: {e}")).await,
        },
        () = heartbeat(worker, &claim) => {
            warn!("Lease lost to another worker; abandoning the job");
            Outcome::Lost
        }
        () = phases.abort.cancelled() => release(worker, &claim).await,
    };
    cancel.store(true, Ordering::Relaxed);
    outcome
}

/// Extends the lease every third of it; returns only when the claim is lost.
async fn heartbeat(worker: &Worker, claim: &Claim) {
    let lease = worker.args.lease;
    loop {
        tokio::time::sleep(lease / 3).await;
        let extended = match db::get(&worker.pool).await {
            Ok(conn) => queue::extend(&conn, claim, lease).await,
            Err(e) => Err(e),
        };
        match extended {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => warn!(error = %e, "Extending the lease failed; will retry"),
        }
    }
}

async fn record_success(worker: &Worker, claim: &Claim, result: &serde_json::Value) -> Outcome {
    let recorded = match db::get(&worker.pool).await {
        Ok(mut conn) => queue::complete(&mut conn, claim, result).await,
        Err(e) => Err(e),
    };
    match recorded {
        Ok(true) => {
            info!("Job succeeded");
            Outcome::Succeeded
        }
        Ok(false) => {
            warn!("Job finished but its claim was taken over; result dropped");
            Outcome::Lost
        }
        Err(e) => {
            error!(error = %e, "Recording success failed; the lease will expire and the job run again");
            Outcome::Lost
        }
    }
}

async fn record_failure(worker: &Worker, claim: &Claim, message: &str) -> Outcome {
    let backoff = queue::backoff(
        claim.attempt,
        worker.args.backoff_base,
        worker.args.backoff_max,
    );
    let recorded = match db::get(&worker.pool).await {
        Ok(mut conn) => queue::fail(&mut conn, claim, message, backoff).await,
        Err(e) => Err(e),
    };
    match recorded {
        Ok(Some(Failure::Retry)) => {
            info!(error = message, retry_in = ?backoff, "Attempt failed; will retry");
            Outcome::Retried
        }
        Ok(Some(Failure::Failed)) => {
            warn!(error = message, "Job failed: no attempts left");
            Outcome::Failed
        }
        Ok(None) => Outcome::Lost,
        Err(e) => {
            error!(error = %e, "Recording a failed attempt failed; the lease will expire");
            Outcome::Lost
        }
    }
}

async fn release(worker: &Worker, claim: &Claim) -> Outcome {
    let released = match db::get(&worker.pool).await {
        Ok(mut conn) => queue::release(&mut conn, claim).await,
        Err(e) => Err(e),
    };
    match released {
        Ok(true) => {
            info!("Drain timeout: claim released unfinished");
            Outcome::Released
        }
        Ok(false) => Outcome::Lost,
        Err(e) => {
            error!(error = %e, "Releasing the claim failed; it will expire");
            Outcome::Lost
        }
    }
}
