//! Request and response bodies of the API, their OpenAPI schemas and their validation.
//!
//! Bodies are validated by hand from a `serde_json::Value` rather than by serde derive, so every
//! rejection can name its field (`{"error": "payload must be at most 65536 bytes, got 70000",
//! "field": "payload"}`) and unknown fields are refused instead of ignored. The derived structs
//! below exist for the OpenAPI document and for responses. The wire format is camelCase JSON with
//! RFC 3339 timestamps; conversion from `jobs_common::Job` is here, the storage types know
//! nothing of it.

use std::collections::HashMap;

use jobs_common::{
    Job, JobKind, JobStatus,
    jobs::{DEFAULT_MAX_ATTEMPTS, MAX_ATTEMPTS_RANGE, MAX_PAYLOAD_BYTES},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::ApiError;

/// Body of `POST /v1/jobs`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateJobRequest {
    pub kind: Kind,
    /// Input of the job, at most 65536 bytes of UTF-8.
    #[schema(max_length = 65536, example = "In checkout, the canary recovered.")]
    pub payload: String,
    /// Attempts before the job fails for good (default 3).
    #[schema(minimum = 1, maximum = 10, default = 3)]
    pub max_attempts: Option<i32>,
}

/// A validated creation request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidCreate {
    pub kind: JobKind,
    pub payload: String,
    pub max_attempts: i32,
}

/// What a job computes: `hash` (iterated SHA-256) or `summarise` (word frequencies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Hash,
    Summarise,
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// A job as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: Uuid,
    pub kind: Kind,
    pub status: Status,
    pub payload: String,
    /// Attempts started so far.
    pub attempts: i32,
    pub max_attempts: i32,
    /// The job's output once it succeeded.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// The error of the latest failed attempt.
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Not before this time (retry backoff).
    #[serde(with = "time::serde::rfc3339")]
    pub run_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
}

/// One page of `GET /v1/jobs`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobPage {
    pub items: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Every error response.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    /// The offending field, parameter or header, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Query of `GET /v1/jobs`.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only jobs with this status.
    pub status: Option<Status>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Validated list query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidList {
    pub status: Option<JobStatus>,
    pub limit: i64,
    pub cursor: Option<Uuid>,
}

impl From<JobKind> for Kind {
    fn from(k: JobKind) -> Self {
        match k {
            JobKind::Hash => Kind::Hash,
            JobKind::Summarise => Kind::Summarise,
        }
    }
}

impl From<JobStatus> for Status {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Queued => Status::Queued,
            JobStatus::Running => Status::Running,
            JobStatus::Succeeded => Status::Succeeded,
            JobStatus::Failed => Status::Failed,
        }
    }
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        JobView {
            id: j.id,
            kind: j.kind.into(),
            status: j.status.into(),
            payload: j.payload,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            result: j.result,
            last_error: j.last_error,
            created_at: j.created_at,
            updated_at: j.updated_at,
            run_after: j.run_after,
            completed_at: j.completed_at,
        }
    }
}

/// Validates a `POST /v1/jobs` body.
pub fn validate_create(body: &[u8]) -> Result<ValidCreate, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", format!("is not valid JSON ({e})")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    only_known(map.keys(), "field", &["kind", "payload", "maxAttempts"])?;
    let kind = match map.get("kind") {
        None | Some(Value::Null) => return Err(ApiError::invalid("kind", "is required")),
        Some(Value::String(s)) => s
            .parse::<JobKind>()
            .map_err(|e| ApiError::invalid("kind", e))?,
        Some(_) => return Err(ApiError::invalid("kind", "must be a string")),
    };
    let payload = match map.get("payload") {
        None | Some(Value::Null) => return Err(ApiError::invalid("payload", "is required")),
        Some(Value::String(s)) if s.len() > MAX_PAYLOAD_BYTES => {
            return Err(ApiError::invalid(
                "payload",
                format!("must be at most {MAX_PAYLOAD_BYTES} bytes, got {}", s.len()),
            ));
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::invalid("payload", "must be a string")),
    };
    let range = format!(
        "must be an integer from {} to {}",
        MAX_ATTEMPTS_RANGE.start(),
        MAX_ATTEMPTS_RANGE.end()
    );
    let max_attempts = match map.get("maxAttempts") {
        None | Some(Value::Null) => DEFAULT_MAX_ATTEMPTS,
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| MAX_ATTEMPTS_RANGE.contains(n))
            .ok_or_else(|| ApiError::invalid("maxAttempts", range.clone()))?,
        Some(_) => return Err(ApiError::invalid("maxAttempts", range)),
    };
    Ok(ValidCreate {
        kind,
        payload,
        max_attempts,
    })
}

/// Rejects the first of `keys` that is not `known`, naming the known ones (`what`: a body field
/// or a query parameter).
fn only_known<'a>(
    keys: impl IntoIterator<Item = &'a String>,
    what: &str,
    known: &[&str],
) -> Result<(), ApiError> {
    match keys.into_iter().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::invalid(
            unknown,
            format!("is not a known {what} ({})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Validates an `Idempotency-Key` header value: 1 to 255 visible ASCII characters.
pub fn validate_idempotency_key(raw: &[u8]) -> Result<String, ApiError> {
    let ok = (1..=255).contains(&raw.len()) && raw.iter().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(String::from_utf8_lossy(raw).into_owned())
}

/// Validates the query of `GET /v1/jobs`.
pub fn validate_list(query: &HashMap<String, String>) -> Result<ValidList, ApiError> {
    only_known(query.keys(), "parameter", &["status", "limit", "cursor"])?;
    let status = query
        .get("status")
        .map(|s| {
            s.parse::<JobStatus>()
                .map_err(|e| ApiError::invalid("status", e))
        })
        .transpose()?;
    let limit = match query.get("limit") {
        None => 20,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "must be an integer from 1 to 100"))?,
    };
    let cursor = query
        .get("cursor")
        .map(|s| {
            Uuid::parse_str(s)
                .map_err(|_| ApiError::invalid("cursor", "is not a cursor returned by this API"))
        })
        .transpose()?;
    Ok(ValidList {
        status,
        limit,
        cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> String {
        match validate_create(body.as_bytes()) {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("expected a validation error for {body}, got {other:?}"),
        }
    }

    #[test]
    fn create_validation_names_the_field() {
        let cases = [
            ("[]", "body"),
            ("{", "body"),
            (r#"{"payload":"x"}"#, "kind"),
            (r#"{"kind":"sort","payload":"x"}"#, "kind"),
            (r#"{"kind":1,"payload":"x"}"#, "kind"),
            (r#"{"kind":"hash"}"#, "payload"),
            (r#"{"kind":"hash","payload":7}"#, "payload"),
            (
                r#"{"kind":"hash","payload":"x","maxAttempts":0}"#,
                "maxAttempts",
            ),
            (
                r#"{"kind":"hash","payload":"x","maxAttempts":11}"#,
                "maxAttempts",
            ),
            (
                r#"{"kind":"hash","payload":"x","maxAttempts":2.5}"#,
                "maxAttempts",
            ),
            (r#"{"kind":"hash","payload":"x","priority":1}"#, "priority"),
        ];
        for (body, field) in cases {
            assert_eq!(field_of(body), field, "{body}");
        }
        let big = format!(
            r#"{{"kind":"hash","payload":"{}"}}"#,
            "a".repeat(MAX_PAYLOAD_BYTES + 1)
        );
        assert_eq!(field_of(&big), "payload");
    }

    #[test]
    fn unknown_fields_and_parameters_are_named_with_the_known_ones() {
        let body = validate_create(br#"{"kind":"hash","payload":"x","priority":1}"#);
        let query = validate_list(&HashMap::from([("page".to_string(), "2".to_string())]));
        assert_eq!(
            body.unwrap_err().to_string(),
            "priority: is not a known field (kind, payload, maxAttempts)"
        );
        assert_eq!(
            query.unwrap_err().to_string(),
            "page: is not a known parameter (status, limit, cursor)"
        );
    }

    #[test]
    fn create_defaults_and_limits() {
        let ok = validate_create(br#"{"kind":"summarise","payload":"a b"}"#).unwrap();
        assert_eq!(
            ok,
            ValidCreate {
                kind: JobKind::Summarise,
                payload: "a b".into(),
                max_attempts: 3
            }
        );
        let exact = format!(
            r#"{{"kind":"hash","payload":"{}","maxAttempts":10}}"#,
            "a".repeat(MAX_PAYLOAD_BYTES)
        );
        assert_eq!(validate_create(exact.as_bytes()).unwrap().max_attempts, 10);
    }

    #[test]
    fn list_and_key_validation() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(validate_list(&q(&[])).unwrap().limit, 20);
        for (pairs, field) in [
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "101")], "limit"),
            (vec![("status", "done")], "status"),
            (vec![("cursor", "abc")], "cursor"),
            (vec![("page", "2")], "page"),
        ] {
            match validate_list(&q(&pairs)) {
                Err(ApiError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
        assert!(validate_idempotency_key(b"order-42").is_ok());
        assert!(validate_idempotency_key(b"").is_err());
        assert!(validate_idempotency_key(b"has space").is_err());
    }
}
