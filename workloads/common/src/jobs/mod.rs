//! The job table: its row type and the two sets of queries on it.
//!
//! [`store`] is what the API does (create with idempotency, read, list by keyset); [`queue`] is
//! what the worker does (claim with a lease using `FOR UPDATE SKIP LOCKED`, complete, retry with
//! backoff, release). Every state change of a claimed job is guarded by the claim itself
//! (`locked_by` and the attempt number), so a worker whose lease expired cannot complete a job
//! another worker took over: a job is completed at most once, and an unfinished claim is never
//! lost, only delayed until its lease expires. Serialisation to the API's JSON is the API's
//! business; these types are plain data.

pub mod queue;
pub mod store;

use std::{collections::HashMap, fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::DbError;

/// Longest payload accepted, in bytes (also a CHECK constraint in the schema).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Allowed range of `max_attempts`.
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<i32> = 1..=10;
/// `max_attempts` when the request does not say.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 3;

/// What a job computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// SHA-256 of the payload, iterated.
    Hash,
    /// Word-frequency summary of the payload.
    Summarise,
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// Both enums are stored as text; these tables are the single mapping.
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(format!("must be one of {}", [$($text),+].join(", "))),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(JobKind { Hash => "hash", Summarise => "summarise" });
text_enum!(JobStatus {
    Queued => "queued",
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
});

/// One row of `jobs`.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub kind: JobKind,
    pub payload: String,
    pub status: JobStatus,
    /// Attempts started so far (a released claim does not count).
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_after: OffsetDateTime,
    pub result: Option<serde_json::Value>,
    pub last_error: Option<String>,
    /// W3C trace context of the request that created the job.
    pub trace_context: HashMap<String, String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
}

/// The column list every query returns, in [`Job::from_row`]'s order.
pub(crate) const COLUMNS: &str = "id, kind, payload, status, attempts, max_attempts, run_after, \
     result, last_error, trace_context, created_at, updated_at, completed_at";

impl Job {
    pub(crate) fn from_row(row: &Row) -> Result<Self, DbError> {
        let kind: String = row.try_get("kind")?;
        let status: String = row.try_get("status")?;
        let trace: serde_json::Value = row.try_get("trace_context")?;
        Ok(Job {
            id: row.try_get("id")?,
            kind: kind.parse().map_err(|_| DbError::Corrupt {
                column: "kind",
                value: kind,
            })?,
            payload: row.try_get("payload")?,
            status: status.parse().map_err(|_| DbError::Corrupt {
                column: "status",
                value: status,
            })?,
            attempts: row.try_get("attempts")?,
            max_attempts: row.try_get("max_attempts")?,
            run_after: row.try_get("run_after")?,
            result: row.try_get("result")?,
            last_error: row.try_get("last_error")?,
            trace_context: serde_json::from_value(trace.clone()).map_err(|_| DbError::Corrupt {
                column: "trace_context",
                value: trace.to_string(),
            })?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            completed_at: row.try_get("completed_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        for k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>(), Ok(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>(), Ok(*s));
        }
        assert_eq!(
            "summarize".parse::<JobKind>().unwrap_err(),
            "must be one of hash, summarise"
        );
    }
}
