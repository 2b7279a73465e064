//! The admission chain, run the way the API server runs it for one request: every mutating
//! webhook in order (each one's JSON Patch applied before the next is asked, the patched object
//! re-checked against its type), IfNeeded webhooks reinvoked once when a later webhook changed
//! the object, then every validating webhook on the mutated object. A webhook is called only when
//! its rules, namespaceSelector, objectSelector and matchConditions all say so.
//!
//! Failures follow `failurePolicy` where the API server applies it (connection errors,
//! timeouts, non-200 answers, undecodable or inconsistent reviews, matchCondition errors):
//! `Ignore` admits with a note, `Fail` rejects with "failed calling webhook …". A patch that
//! cannot be decoded or applied, or leaves an object that no longer decodes, is an internal
//! error whatever the policy, as in the API server.
//!
//! Validating webhooks are called one after another (the API server calls them in parallel; the
//! outcome is the same, only latency differs). The transport is a [`Caller`], so the chain is
//! tested without a network.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::answer::read_answer;
pub use crate::answer::{apply_patch, decode_patch};
use crate::conditions::{Variables, Verdict};
use crate::review::Request;
use crate::rules::any_rule_matches;
use crate::selector::{labels_of, matches};
use crate::webhooks::{FailurePolicy, Hook, HookType};

/// Sends one AdmissionReview body to a webhook; answers (HTTP status, body) or a transport
/// error worded like the API server's.
pub trait Caller {
    fn call(
        &self,
        hook: &Hook,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(u16, Vec<u8>), String>>;
}

/// What happened at one webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not called: rules, selectors or a false matchCondition.
    Skipped,
    Allowed,
    /// Allowed with a non-empty patch.
    Patched,
    Denied,
    /// Failed, and failurePolicy Ignore admitted the request anyway.
    FailedOpen,
    /// Failed, and failurePolicy Fail (or an internal error) rejected the request.
    FailedClosed,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Skipped => "skipped",
            Decision::Allowed => "allowed",
            Decision::Patched => "patched",
            Decision::Denied => "denied",
            Decision::FailedOpen => "failed-open",
            Decision::FailedClosed => "failed-closed",
        }
    }
}

/// One webhook's part in an admission.
#[derive(Debug, Clone)]
pub struct Call {
    pub webhook: String,
    pub hook_type: HookType,
    pub reinvocation: bool,
    pub decision: Decision,
    /// Why skipped, the denial or failure message, or a note.
    pub detail: String,
    pub latency: Option<Duration>,
    pub patch: Vec<Value>,
    pub warnings: Vec<String>,
    /// Keys already prefixed with the webhook name, as the API server records them.
    pub audit_annotations: BTreeMap<String, String>,
    pub request: Option<Value>,
    pub response: Option<Value>,
}

/// The outcome of one request.
#[derive(Debug, Clone)]
pub struct Admission {
    pub allowed: bool,
    /// The API server's error message when not allowed.
    pub message: String,
    /// The object after all mutations.
    pub object: Value,
    pub calls: Vec<Call>,
}

enum Step {
    /// Call it.
    Call,
    Skip(String),
    /// A matchCondition failed to evaluate.
    ConditionError(String),
}

fn step(
    hook: &Hook,
    req: &Request,
    object: &Value,
    namespace_object: &Value,
    request_fields: &Value,
) -> Step {
    if !any_rule_matches(&hook.rules, &req.attrs()) {
        return Step::Skip("no rule matches".into());
    }
    // Selectors were validated when the configuration was read; an error cannot occur here,
    // and would fail closed (treated as a mismatch) if it did.
    if !matches(
        hook.namespace_selector.as_ref(),
        &labels_of(namespace_object),
    )
    .unwrap_or(false)
    {
        return Step::Skip("namespaceSelector does not match".into());
    }
    let object_matches = matches(hook.object_selector.as_ref(), &labels_of(object))
        .unwrap_or(false)
        || req.old_object.as_ref().is_some_and(|o| {
            matches(hook.object_selector.as_ref(), &labels_of(o)).unwrap_or(false)
        });
    if !object_matches {
        return Step::Skip("objectSelector does not match".into());
    }
    match hook.conditions.evaluate(Variables {
        object,
        old_object: req.old_object.as_ref().unwrap_or(&Value::Null),
        request: request_fields,
        namespace_object,
    }) {
        Verdict::Call => Step::Call,
        Verdict::Skip { condition } => Step::Skip(format!("matchCondition {condition} is false")),
        Verdict::Error { condition, message } => Step::ConditionError(format!(
            "failed evaluating match conditions ({condition}): {message}"
        )),
    }
}

fn failed_calling(hook: &Hook, reason: &str) -> String {
    format!(
        "Internal error occurred: failed calling webhook \"{}\": {reason}",
        hook.name
    )
}

fn call_record(hook: &Hook, reinvocation: bool, decision: Decision, detail: String) -> Call {
    Call {
        webhook: hook.name.clone(),
        hook_type: hook.hook_type,
        reinvocation,
        decision,
        detail,
        latency: None,
        patch: Vec::new(),
        warnings: Vec::new(),
        audit_annotations: BTreeMap::new(),
        request: None,
        response: None,
    }
}

/// Runs the whole chain for `req` (its `object` is the object as submitted).
pub async fn admit<C: Caller>(
    hooks: &[Hook],
    req: &Request,
    namespace_object: &Value,
    caller: &C,
) -> Admission {
    let mut object = req.object.clone();
    let mut calls = Vec::new();
    let mutating: Vec<&Hook> = hooks
        .iter()
        .filter(|h| h.hook_type == HookType::Mutating)
        .collect();
    let validating: Vec<&Hook> = hooks
        .iter()
        .filter(|h| h.hook_type == HookType::Validating)
        .collect();

    // Pass 1, then one reinvocation pass for IfNeeded webhooks that a later change touched.
    let mut reinvoke = vec![false; mutating.len()];
    for pass in 0..2 {
        let reinvocation = pass == 1;
        if reinvocation && !reinvoke.iter().any(|r| *r) {
            break;
        }
        for (i, hook) in mutating.iter().enumerate() {
            if reinvocation && !reinvoke[i] {
                continue;
            }
            let before = object.clone();
            match run_one(
                hook,
                req,
                &object,
                namespace_object,
                caller,
                reinvocation,
                &mut calls,
            )
            .await
            {
                Err(message) => {
                    return Admission {
                        allowed: false,
                        message,
                        object,
                        calls,
                    };
                }
                Ok(Some(patched)) => object = patched,
                Ok(None) => {}
            }
            if !reinvocation && object != before {
                // Every earlier IfNeeded webhook that was called has now seen a stale object.
                for (j, earlier) in mutating.iter().enumerate().take(i) {
                    let called = calls.iter().any(|c| {
                        c.webhook == earlier.name && !matches!(c.decision, Decision::Skipped)
                    });
                    if earlier.reinvoke_if_needed && called {
                        reinvoke[j] = true;
                    }
                }
            }
        }
    }

    let mut denial = None;
    for hook in validating {
        if let Err(message) = run_one(
            hook,
            req,
            &object,
            namespace_object,
            caller,
            false,
            &mut calls,
        )
        .await
        {
            denial.get_or_insert(message);
        }
    }
    match denial {
        Some(message) => Admission {
            allowed: false,
            message,
            object,
            calls,
        },
        None => Admission {
            allowed: true,
            message: String::new(),
            object,
            calls,
        },
    }
}

/// One webhook: `Ok(Some(object))` when it patched, `Ok(None)` when it allowed or was skipped,
/// `Err(message)` when the request is rejected.
async fn run_one<C: Caller>(
    hook: &Hook,
    req: &Request,
    object: &Value,
    namespace_object: &Value,
    caller: &C,
    reinvocation: bool,
    calls: &mut Vec<Call>,
) -> Result<Option<Value>, String> {
    let uid = uuid::Uuid::new_v4().to_string();
    let current = Request {
        object: object.clone(),
        ..req.clone()
    };
    let fields = current.request_fields(&uid);
    let fail = |calls: &mut Vec<Call>, reason: String, mut record: Call| match hook.failure_policy {
        FailurePolicy::Ignore => {
            record.decision = Decision::FailedOpen;
            record.detail = format!("failurePolicy Ignore, admitted: {reason}");
            calls.push(record);
            Ok(None)
        }
        FailurePolicy::Fail => {
            record.decision = Decision::FailedClosed;
            record.detail = format!("failurePolicy Fail, rejected: {reason}");
            calls.push(record);
            Err(failed_calling(hook, &reason))
        }
    };
    match step(hook, &current, object, namespace_object, &fields) {
        Step::Skip(why) => {
            calls.push(call_record(hook, reinvocation, Decision::Skipped, why));
            return Ok(None);
        }
        Step::ConditionError(reason) => {
            return fail(
                calls,
                reason,
                call_record(hook, reinvocation, Decision::FailedClosed, String::new()),
            );
        }
        Step::Call => {}
    }
    let review = current.review(&uid, &hook.review_api_version);
    let mut record = call_record(hook, reinvocation, Decision::Allowed, String::new());
    record.request = Some(review.clone());
    let body = serde_json::to_vec(&review).unwrap_or_default();
    let started = Instant::now();
    let answer = caller.call(hook, body).await;
    record.latency = Some(started.elapsed());
    let (status, bytes) = match answer {
        Ok(a) => a,
        Err(e) => {
            let url = hook.endpoint.url(hook.timeout);
            return fail(
                calls,
                format!("failed to call webhook: Post \"{url}\": {e}"),
                record,
            );
        }
    };
    record.response = serde_json::from_slice(&bytes).ok();
    let answer = match read_answer(hook, &uid, status, &bytes) {
        Ok(a) => a,
        Err(e) if e.starts_with("INTERNAL:") => {
            let message = format!(
                "Internal error occurred: {}",
                e.trim_start_matches("INTERNAL:")
            );
            record.decision = Decision::FailedClosed;
            record.detail = message.clone();
            calls.push(record);
            return Err(message);
        }
        Err(e) => return fail(calls, e, record),
    };
    record.warnings = answer.warnings;
    record.audit_annotations = answer.audit;
    record.response = Some(answer.raw);
    if !answer.allowed {
        let message = if answer.message.is_empty() {
            format!(
                "admission webhook \"{}\" denied the request without explanation",
                hook.name
            )
        } else {
            format!(
                "admission webhook \"{}\" denied the request: {}",
                hook.name, answer.message
            )
        };
        record.decision = Decision::Denied;
        record.detail = answer.message;
        calls.push(record);
        return Err(message);
    }
    let Some(ops) = answer.patch.filter(|p| !p.is_empty()) else {
        calls.push(record);
        return Ok(None);
    };
    let patched = apply_patch(object, &ops).and_then(|p| {
        req.kind
            .check_typed(&p)
            .map(|()| p)
            .map_err(|e| format!("the patched {} no longer decodes: {e}", req.kind.name()))
    });
    match patched {
        Ok(p) => {
            record.decision = Decision::Patched;
            record.patch = ops;
            calls.push(record);
            Ok(Some(p))
        }
        Err(e) => {
            let message = format!("Internal error occurred: webhook \"{}\": {e}", hook.name);
            record.decision = Decision::FailedClosed;
            record.detail = message.clone();
            record.patch = ops;
            calls.push(record);
            Err(message)
        }
    }
}
