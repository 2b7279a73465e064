//! What the API does with jobs: create (idempotently), read one, list a page.
//!
//! Idempotency: a request may carry a key; the key is unique in the table and stored with a hash
//! of the normalised request. `INSERT … ON CONFLICT (idempotency_key) DO NOTHING` settles races
//! between concurrent requests with the same key (the loser waits for the winner's transaction and
//! then reads its row), after which the hashes decide between a replay and a conflict.
//! Listing is keyset pagination on the time-ordered UUIDv7 primary key, newest first: a page is
//! "ids below the cursor", so pages never repeat or skip rows, whatever is inserted meanwhile.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::{COLUMNS, Job, JobKind, JobStatus};
use crate::db::DbError;

/// A job to create.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: JobKind,
    pub payload: String,
    pub max_attempts: i32,
    /// The client's idempotency key and the hash of its normalised request.
    pub idempotency: Option<Idempotency>,
    /// W3C trace context to hand to the worker.
    pub trace_context: HashMap<String, String>,
}

/// An idempotency key with the request it was first used for.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub key: String,
    pub request_hash: String,
}

/// The outcome of [`create`].
#[derive(Clone, Debug, PartialEq)]
pub enum Created {
    /// A new job.
    New(Job),
    /// The key was used before with the same request: the original job.
    Replayed(Job),
    /// The key was used before with a different request.
    Conflict { existing: Uuid },
}

/// The hash that decides whether a reused idempotency key carries the same request: SHA-256 over
/// the normalised request (defaults applied), so `{"kind":"hash","payload":"x"}` and the same
/// with `"maxAttempts": 3` are one request.
pub fn request_hash(kind: JobKind, payload: &str, max_attempts: i32) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_str().as_bytes());
    h.update(b"\n");
    h.update(max_attempts.to_string().as_bytes());
    h.update(b"\n");
    h.update(payload.as_bytes());
    hex::encode(h.finalize())
}

/// Inserts a job, honouring its idempotency key.
pub async fn create(client: &impl GenericClient, new: &NewJob) -> Result<Created, DbError> {
    let trace = serde_json::Value::Object(
        new.trace_context
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
            .collect(),
    );
    let (key, hash) = match &new.idempotency {
        Some(i) => (Some(i.key.as_str()), Some(i.request_hash.as_str())),
        None => (None, None),
    };
    let sql = format!(
        "INSERT INTO jobs (id, kind, payload, max_attempts, idempotency_key, request_hash, trace_context)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING {COLUMNS}"
    );
    let id = Uuid::now_v7();
    let inserted = client
        .query_opt(
            &sql,
            &[
                &id,
                &new.kind.as_str(),
                &new.payload,
                &new.max_attempts,
                &key,
                &hash,
                &trace,
            ],
        )
        .await?;
    if let Some(row) = inserted {
        return Ok(Created::New(Job::from_row(&row)?));
    }
    // Only a key conflict skips the insert; the row is committed by now.
    let sql = format!("SELECT {COLUMNS}, request_hash FROM jobs WHERE idempotency_key = $1");
    let row = client.query_one(&sql, &[&key]).await?;
    let recorded: Option<String> = row.try_get("request_hash")?;
    let job = Job::from_row(&row)?;
    if recorded.as_deref() == hash {
        Ok(Created::Replayed(job))
    } else {
        Ok(Created::Conflict { existing: job.id })
    }
}

/// One job by id.
pub async fn get(client: &impl GenericClient, id: Uuid) -> Result<Option<Job>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
    client
        .query_opt(&sql, &[&id])
        .await?
        .map(|r| Job::from_row(&r))
        .transpose()
}

/// A page of jobs, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub items: Vec<Job>,
    /// The cursor of the next page; `None` on the last one.
    pub next: Option<Uuid>,
}

/// Up to `limit` jobs with ids below `before`, optionally of one status.
pub async fn list(
    client: &impl GenericClient,
    status: Option<JobStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Page, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs
         WHERE ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC
         LIMIT $3"
    );
    let status = status.map(JobStatus::as_str);
    // One extra row tells whether another page exists without a second query.
    let rows = client
        .query(&sql, &[&status, &before, &(limit + 1)])
        .await?;
    let mut items = rows
        .iter()
        .map(Job::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let more = items.len() as i64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if more {
        items.last().map(|j| j.id)
    } else {
        None
    };
    Ok(Page { items, next })
}

/// Counts jobs by status (for the seed command's summary and tests).
pub async fn count_by_status(
    client: &impl GenericClient,
) -> Result<HashMap<JobStatus, i64>, DbError> {
    let rows = client
        .query("SELECT status, count(*) FROM jobs GROUP BY status", &[])
        .await?;
    let mut counts = HashMap::new();
    for row in rows {
        let status: String = row.try_get(0)?;
        let status = status.parse().map_err(|_| DbError::Corrupt {
            column: "status",
            value: status,
        })?;
        counts.insert(status, row.try_get(1)?);
    }
    Ok(counts)
}
