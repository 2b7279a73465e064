//! The admission endpoints: `POST /validate` and `POST /mutate`.
//!
//! Per review: read the body (≤ 3 MiB, within the deadline), parse the AdmissionReview into the
//! engine's request (an object that is not a valid instance of its kind is refused here, as
//! invalid), ask the policy set which images need verifying, verify them all concurrently until
//! the deadline, let the engine decide, answer. The answer is always HTTP 200 with an
//! AdmissionReview once a `uid` could be read; unusable bodies without one get HTTP 400 (413 when
//! too large).
//!
//! - `/validate` answers the engine's decision: `allowed`, the reasons as `status.message`,
//!   `warn` results as `warnings`, `audit` results as `auditAnnotations`. Never a patch.
//! - `/mutate` answers the engine's patch (e.g. tags pinned to verified digests) and allows; it
//!   denies only when image verification failed for a policy in `enforce` mode, since it cannot
//!   pin what it could not verify. Other policy violations are `/validate`'s job, so a request
//!   is never denied twice for the same reason; for the same cause `/mutate` returns no
//!   warnings or audit annotations and does not count `portcullis_policy_results_total`.
//! - Deny messages list one reason per line (policy/rule, container, JSON path, expected vs
//!   found, how to fix), as the engine renders them.
//! - `DELETE` and `CONNECT` are allowed without evaluation.
//! - `dryRun: true` reviews are evaluated exactly like real ones (`sideEffects: None`): the
//!   verdict cache only holds facts about image digests, so it cannot be poisoned by a dry run;
//!   dry runs are not counted in `portcullis_policy_results_total`, so policy dashboards show
//!   real admissions only.
//!
//! Deadline: the API server appends `?timeout=10s`; the server gives image verification that
//! minus `--timeout-margin`, measured from when the request arrived.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt as _;
use portcullis_policies::Operation;
use portcullis_verifier::Credentials;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::decide::Outcome;
use super::metrics::{ExceptionLabels, Metrics, PolicyResultLabels, ReviewLabels, WebhookLabels};
use super::policy::PolicyStore;
use super::pull_secrets::{PullSecretRefs, PullSecrets};
use super::review::{AdmissionResponse, ParsedReview, ReviewError, parse_review};
use super::verify::{ImageVerifier, verify_all};
use crate::duration::parse_duration;

/// Largest accepted request body (the API server's own limit for objects is ~3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// Longest deadline honoured (the API server's maximum webhook timeout).
const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// What the admission endpoints need; shared by all requests.
pub struct AdmissionState {
    pub policies: Arc<PolicyStore>,
    pub verifier: Arc<dyn ImageVerifier>,
    pub metrics: Metrics,
    /// Kept back from the request's timeout to write the answer.
    pub timeout_margin: Duration,
    /// Used when the request carries no `?timeout=`.
    pub default_timeout: Duration,
    /// With `--pod-pull-secrets`: where the workload's registry credentials come from.
    pub pull_secrets: Option<Arc<PullSecrets>>,
}

impl std::fmt::Debug for AdmissionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdmissionState")
            .field("timeout_margin", &self.timeout_margin)
            .field("default_timeout", &self.default_timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Webhook {
    Validate,
    Mutate,
}

impl Webhook {
    fn as_str(self) -> &'static str {
        match self {
            Webhook::Validate => "validate",
            Webhook::Mutate => "mutate",
        }
    }
}

/// The admission router (`POST /validate`, `POST /mutate`), without TLS: the listener adds it.
pub fn app(state: Arc<AdmissionState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        // The body is limited while reading (see `read_body`), with a clearer error.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn validate(State(state): State<Arc<AdmissionState>>, uri: Uri, body: Body) -> Response {
    handle(&state, Webhook::Validate, &uri, body).await
}

async fn mutate(State(state): State<Arc<AdmissionState>>, uri: Uri, body: Body) -> Response {
    handle(&state, Webhook::Mutate, &uri, body).await
}

/// Decrements the in-flight gauge however the handler ends (including cancellation).
struct InFlight(Metrics);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.reviews_in_flight.dec();
    }
}

async fn handle(state: &AdmissionState, webhook: Webhook, uri: &Uri, body: Body) -> Response {
    let started = Instant::now();
    state.metrics.reviews_in_flight.inc();
    let _in_flight = InFlight(state.metrics.clone());
    let timeout = request_timeout(uri).unwrap_or(state.default_timeout);
    // The body may take the whole timeout to arrive; the work after it keeps the margin back.
    let deadline = started + timeout.saturating_sub(state.timeout_margin);

    let response = match read_body(body, started + timeout).await {
        Err(rejection) => {
            count(&state.metrics, webhook, "", "", "invalid");
            rejection.into_response()
        }
        Ok(bytes) => match parse_review(&bytes) {
            Err(error) => invalid(&state.metrics, webhook, &error),
            Ok(review) => {
                let request = &review.request;
                let span = tracing::info_span!(
                    "review",
                    uid = %request.uid,
                    webhook = webhook.as_str(),
                    operation = request.operation.as_str(),
                    kind = %request.kind.kind,
                    namespace = request.namespace.as_str(),
                    object_name = request.name.as_str(),
                    dry_run = review.is_dry_run(),
                );
                let (decision, answer) = review_one(state, webhook, &review, deadline)
                    .instrument(span)
                    .await;
                count(
                    &state.metrics,
                    webhook,
                    request.operation.as_str(),
                    &request.kind.kind,
                    decision,
                );
                json_200(answer)
            }
        },
    };
    state
        .metrics
        .review_duration
        .get_or_create(&WebhookLabels {
            webhook: webhook.as_str().into(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Evaluates one parsed review; returns the metric decision label and the answer.
async fn review_one(
    state: &AdmissionState,
    webhook: Webhook,
    review: &ParsedReview,
    deadline: Instant,
) -> (&'static str, AdmissionResponse) {
    let uid = review.uid();
    if matches!(
        review.request.operation,
        Operation::Delete | Operation::Connect
    ) {
        tracing::debug!("Allowed without evaluation");
        return ("allowed", AdmissionResponse::allow(uid));
    }
    let Some(loaded) = state.policies.current() else {
        tracing::warn!("Denied: no policies loaded yet");
        return (
            "denied",
            AdmissionResponse::deny(
                uid,
                503,
                "ServiceUnavailable",
                "portcullis has not loaded its policies yet; retry shortly",
            ),
        );
    };
    let prepared = loaded.policies.prepare(&review.request);
    let jobs = prepared.jobs();
    let verdicts = if jobs.is_empty() {
        Default::default()
    } else {
        let credentials = workload_credentials(state, review, deadline).await;
        verify_all(
            state.verifier.as_ref(),
            jobs,
            deadline,
            &state.metrics,
            credentials,
        )
        .await
    };
    let outcome = loaded.policies.decide(&prepared, &verdicts);
    // Counted once per admission: on /validate, which the mutating webhook always precedes.
    if webhook == Webhook::Validate && !review.is_dry_run() {
        for r in &outcome.results {
            state
                .metrics
                .policy_results
                .get_or_create(&PolicyResultLabels {
                    policy: r.policy.clone(),
                    rule: r.rule.clone(),
                    result: r.result.clone(),
                })
                .inc();
        }
        for (exception, policy) in &outcome.exceptions {
            state
                .metrics
                .exceptions_applied
                .get_or_create(&ExceptionLabels {
                    exception: exception.clone(),
                    policy: policy.clone(),
                })
                .inc();
        }
    }
    match webhook {
        Webhook::Validate => validate_answer(uid, outcome),
        Webhook::Mutate => mutate_answer(uid, outcome),
    }
}

/// With `--pod-pull-secrets`, the registry credentials of the workload under review (possibly
/// none: then only the configured ones are tried, and another review's are never used).
async fn workload_credentials(
    state: &AdmissionState,
    review: &ParsedReview,
    deadline: Instant,
) -> Option<Arc<Credentials>> {
    let pull_secrets = state.pull_secrets.as_ref()?;
    let request = &review.request;
    let Some(refs) = PullSecretRefs::of(request) else {
        return Some(Arc::default());
    };
    match tokio::time::timeout_at(
        deadline,
        pull_secrets.credentials(&request.namespace, &refs),
    )
    .await
    {
        Ok(credentials) => Some(credentials),
        Err(_) => {
            tracing::warn!("Pull secrets not read before the deadline: verifying without them");
            Some(Arc::default())
        }
    }
}

fn validate_answer(uid: &str, outcome: Outcome) -> (&'static str, AdmissionResponse) {
    // `namespace/name:policy` of each exception that waived findings, comma-separated.
    let exceptions = outcome
        .exceptions
        .iter()
        .map(|(e, p)| format!("{e}:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut answer = if outcome.allowed {
        tracing::info!(warnings = outcome.warnings.len(), %exceptions, "Allowed");
        AdmissionResponse::allow(uid)
    } else {
        let message = outcome.reasons.join("\n");
        tracing::info!(reason = %message, %exceptions, "Denied");
        AdmissionResponse::deny(uid, 403, "Forbidden", message)
    };
    answer.warnings = outcome.warnings;
    answer.audit_annotations = outcome.audit_annotations;
    (if outcome.allowed { "allowed" } else { "denied" }, answer)
}

fn mutate_answer(uid: &str, outcome: Outcome) -> (&'static str, AdmissionResponse) {
    if !outcome.verification_denials.is_empty() {
        let message = outcome.verification_denials.join("\n");
        tracing::info!(reason = %message, "Denied: image verification failed");
        return (
            "denied",
            AdmissionResponse::deny(uid, 403, "Forbidden", message),
        );
    }
    let operations = outcome.patch.len();
    match AdmissionResponse::allow(uid).with_patch(&outcome.patch) {
        Ok(answer) if operations > 0 => {
            tracing::info!(operations, "Patched");
            ("patched", answer)
        }
        Ok(answer) => ("allowed", answer),
        Err(error) => {
            // Serialising a `Vec<Value>` cannot fail in practice; fail closed if it ever does.
            tracing::error!(%error, "Cannot encode the patch");
            (
                "denied",
                AdmissionResponse::deny(
                    uid,
                    500,
                    "InternalError",
                    "portcullis could not encode its patch",
                ),
            )
        }
    }
}

fn invalid(metrics: &Metrics, webhook: Webhook, error: &ReviewError) -> Response {
    count(metrics, webhook, "", "", "invalid");
    match error.uid() {
        Some(uid) => {
            tracing::info!(%uid, %error, "Invalid AdmissionReview");
            let message = match error {
                ReviewError::Unreadable { .. } => error.to_string(),
                _ => format!("invalid AdmissionReview: {error}"),
            };
            json_200(AdmissionResponse::invalid(uid, message))
        }
        None => {
            tracing::info!(%error, "Unusable request body");
            (
                StatusCode::BAD_REQUEST,
                format!("invalid AdmissionReview: {error}\n"),
            )
                .into_response()
        }
    }
}

fn count(metrics: &Metrics, webhook: Webhook, operation: &str, kind: &str, decision: &str) {
    metrics
        .reviews
        .get_or_create(&ReviewLabels {
            webhook: webhook.as_str().into(),
            operation: operation.into(),
            kind: kind.into(),
            decision: decision.into(),
        })
        .inc();
}

fn json_200(answer: AdmissionResponse) -> Response {
    match serde_json::to_vec(&answer.into_review()) {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "Cannot encode the AdmissionReview");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The `timeout` query parameter (`10s`, `500ms`, …), capped at 30 s; `None` when absent or
/// malformed (the default applies).
fn request_timeout(uri: &Uri) -> Option<Duration> {
    let query = uri.query()?;
    let value = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "timeout")?
        .1;
    match parse_duration(value) {
        Ok(t) => Some(t.min(MAX_TIMEOUT)),
        Err(error) => {
            tracing::debug!(%error, "Ignoring malformed ?timeout");
            None
        }
    }
}

/// Reads at most [`MAX_BODY_BYTES`], giving up at `deadline`.
async fn read_body(body: Body, deadline: Instant) -> Result<Bytes, (StatusCode, String)> {
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    match tokio::time::timeout_at(deadline, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("AdmissionReview larger than {MAX_BODY_BYTES} bytes\n"),
        )),
        Ok(Err(error)) => Err((
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {error}\n"),
        )),
        Err(_) => Err((
            StatusCode::REQUEST_TIMEOUT,
            "request body not received before the deadline\n".to_string(),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timeout_query_forms() {
        let t = |s: &str| request_timeout(&s.parse::<Uri>().unwrap());
        assert_eq!(t("/validate?timeout=10s"), Some(Duration::from_secs(10)));
        assert_eq!(
            t("/validate?x=1&timeout=500ms"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(t("/validate?timeout=5m"), Some(MAX_TIMEOUT));
        assert_eq!(t("/validate?timeout=soon"), None);
        assert_eq!(t("/validate"), None);
    }
}
