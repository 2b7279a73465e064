//! What the worker does with jobs: claim, extend, complete, retry or fail, release.
//!
//! A claim is a lease. [`claim`] picks due queued jobs and running jobs whose lease expired
//! (their worker crashed or lost the database), with `FOR UPDATE SKIP LOCKED` so concurrent
//! workers never wait on or take the same row, marks them `running` with `locked_by` and
//! `locked_until`, counts the attempt and opens an attempt-log row. A job whose lease expired on
//! its last allowed attempt is failed instead of claimed. Every later change is guarded by the
//! claim ([`Claim`]: job id, worker, attempt): if the guard no longer matches, the change is a
//! no-op reported as `false`, and the caller drops its result. Completion and its attempt-log row
//! commit together, and a unique index allows one successful attempt per job.

use std::time::Duration;

use tokio_postgres::Client;
use uuid::Uuid;

use super::{COLUMNS, Job};
use crate::db::DbError;

/// The guard of every change to a claimed job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub job_id: Uuid,
    pub worker: String,
    pub attempt: i32,
}

impl Claim {
    pub fn of(job: &Job, worker: &str) -> Self {
        Claim {
            job_id: job.id,
            worker: worker.to_owned(),
            attempt: job.attempts,
        }
    }
}

/// How a failed attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Queued again, to run after the backoff.
    Retry,
    /// No attempts left: the job is `failed` with this error.
    Failed,
}

const GUARD: &str = "id = $1 AND status = 'running' AND locked_by = $2 AND attempts = $3";

/// Claims up to `limit` jobs for `worker`, each leased for `lease`.
pub async fn claim(
    client: &mut Client,
    worker: &str,
    limit: i64,
    lease: Duration,
) -> Result<Vec<Job>, DbError> {
    let tx = client.transaction().await?;
    // Expired on the last attempt: fail rather than run once more than allowed.
    let reaped = tx
        .query(
            "UPDATE jobs SET status = 'failed', locked_by = NULL, locked_until = NULL,
                 last_error = 'lease expired on the last attempt (worker lost)',
                 completed_at = now(), updated_at = now()
             WHERE id IN (SELECT id FROM jobs
                          WHERE status = 'running' AND locked_until < now() AND attempts >= max_attempts
                          FOR UPDATE SKIP LOCKED)
             RETURNING id",
            &[],
        )
        .await?;
    let reaped: Vec<Uuid> = reaped
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let sql = format!(
        // Two arms, each an ordered scan of its partial index with its own LIMIT, so a claim
        // costs O(limit) however many jobs wait (an OR of both would sort every due row).
        "WITH queued AS (
             SELECT id, run_after AS due FROM jobs
             WHERE status = 'queued' AND run_after <= now()
             ORDER BY run_after LIMIT $2 FOR UPDATE SKIP LOCKED
         ), expired AS (
             SELECT id, locked_until AS due FROM jobs
             WHERE status = 'running' AND locked_until < now() AND attempts < max_attempts
             ORDER BY locked_until LIMIT $2 FOR UPDATE SKIP LOCKED
         ), next AS (
             SELECT id FROM (SELECT * FROM queued UNION ALL SELECT * FROM expired) d ORDER BY due LIMIT $2
         )
         UPDATE jobs j SET status = 'running', attempts = j.attempts + 1, locked_by = $1,
             locked_until = now() + make_interval(secs => $3), updated_at = now()
         FROM next WHERE j.id = next.id
         RETURNING {}",
        COLUMNS
            .split(", ")
            .map(|c| format!("j.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows = tx
        .query(&sql, &[&worker, &limit, &lease.as_secs_f64()])
        .await?;
    let jobs = rows
        .iter()
        .map(Job::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<Uuid> = jobs.iter().map(|j| j.id).chain(reaped).collect();
    if !ids.is_empty() {
        // Any open attempt of these jobs belongs to a worker whose lease expired.
        tx.execute(
            "UPDATE job_attempts SET outcome = 'expired', finished_at = now(),
                 error = 'lease expired before the worker finished'
             WHERE job_id = ANY($1) AND outcome IS NULL",
            &[&ids],
        )
        .await?;
    }
    if !jobs.is_empty() {
        let claimed: Vec<Uuid> = jobs.iter().map(|j| j.id).collect();
        let attempts: Vec<i32> = jobs.iter().map(|j| j.attempts).collect();
        tx.execute(
            "INSERT INTO job_attempts (job_id, attempt, worker)
             SELECT id, attempt, $3 FROM unnest($1::uuid[], $2::int[]) AS c(id, attempt)",
            &[&claimed, &attempts, &worker],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(jobs)
}

/// Extends the lease of a claim; `false` if the claim was lost.
pub async fn extend(client: &Client, claim: &Claim, lease: Duration) -> Result<bool, DbError> {
    let sql = format!(
        "UPDATE jobs SET locked_until = now() + make_interval(secs => $4), updated_at = now() WHERE {GUARD}"
    );
    let n = client
        .execute(
            &sql,
            &[
                &claim.job_id,
                &claim.worker,
                &claim.attempt,
                &lease.as_secs_f64(),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Records success; `false` if the claim was lost (the result is dropped).
pub async fn complete(
    client: &mut Client,
    claim: &Claim,
    result: &serde_json::Value,
) -> Result<bool, DbError> {
    let tx = client.transaction().await?;
    let sql = format!(
        "UPDATE jobs SET status = 'succeeded', result = $4, locked_by = NULL, locked_until = NULL,
             completed_at = now(), updated_at = now()
         WHERE {GUARD}"
    );
    let n = tx
        .execute(
            &sql,
            &[&claim.job_id, &claim.worker, &claim.attempt, result],
        )
        .await?;
    if n == 1 {
        close_attempt(&tx, claim, "succeeded", None).await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

/// Records a failed attempt: queued again after `backoff`, or `failed` when no attempts are
/// left. `None` if the claim was lost.
pub async fn fail(
    client: &mut Client,
    claim: &Claim,
    error: &str,
    backoff: Duration,
) -> Result<Option<Failure>, DbError> {
    let tx = client.transaction().await?;
    let sql = format!(
        "UPDATE jobs SET
             status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
             run_after = CASE WHEN attempts >= max_attempts THEN run_after
                              ELSE now() + make_interval(secs => $5) END,
             completed_at = CASE WHEN attempts >= max_attempts THEN now() END,
             last_error = $4, locked_by = NULL, locked_until = NULL, updated_at = now()
         WHERE {GUARD}
         RETURNING status"
    );
    let row = tx
        .query_opt(
            &sql,
            &[
                &claim.job_id,
                &claim.worker,
                &claim.attempt,
                &error,
                &backoff.as_secs_f64(),
            ],
        )
        .await?;
    let outcome = match row {
        None => None,
        Some(row) => {
            let status: String = row.try_get(0)?;
            Some(if status == "failed" {
                Failure::Failed
            } else {
                Failure::Retry
            })
        }
    };
    if let Some(o) = outcome {
        let label = if o == Failure::Failed {
            "failed"
        } else {
            "retry"
        };
        close_attempt(&tx, claim, label, Some(error)).await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Gives a claim back unfinished (shutdown): queued again at once, the attempt not counted.
pub async fn release(client: &mut Client, claim: &Claim) -> Result<bool, DbError> {
    let tx = client.transaction().await?;
    let sql = format!(
        "UPDATE jobs SET status = 'queued', attempts = attempts - 1, locked_by = NULL,
             locked_until = NULL, run_after = now(), updated_at = now()
         WHERE {GUARD}"
    );
    let n = tx
        .execute(&sql, &[&claim.job_id, &claim.worker, &claim.attempt])
        .await?;
    if n == 1 {
        close_attempt(&tx, claim, "released", None).await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

async fn close_attempt(
    tx: &tokio_postgres::Transaction<'_>,
    claim: &Claim,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), DbError> {
    tx.execute(
        "UPDATE job_attempts SET outcome = $4, error = $5, finished_at = now()
         WHERE job_id = $1 AND worker = $2 AND attempt = $3 AND outcome IS NULL",
        &[
            &claim.job_id,
            &claim.worker,
            &claim.attempt,
            &outcome,
            &error,
        ],
    )
    .await?;
    Ok(())
}

/// The backoff before attempt `attempt + 1`: `base · 2^(attempt-1)`, at most `max`. No jitter:
/// retries are rare and deterministic timing keeps tests and runbooks simple.
pub fn backoff(attempt: i32, base: Duration, max: Duration) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    base.saturating_mul(1u32 << exponent).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        let got: Vec<_> = (1..=6).map(|a| backoff(a, base, max).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff(0, base, max), base);
        assert_eq!(backoff(i32::MAX, base, max), max);
    }
}
