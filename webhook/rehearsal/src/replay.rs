//! Replays one object through the admission chain as the API server would receive it, then the
//! objects its controllers would create from the admitted (mutated and stored) object, level by
//! level, each judged against its expectation.
//!
//! With the webhook up, the expectation is the one given (by default: admitted, Pods pinned).
//! With the webhook down it follows from the rendered configurations: when a webhook that the
//! request matches has `failurePolicy: Fail`, the request must be denied with "failed calling
//! webhook"; otherwise it must be admitted; and every matching webhook must really have failed
//! (an answer means the webhook was not down).

use std::collections::VecDeque;

use serde_json::Value;

use crate::cases::{Case, Expectation, check_pins};
use crate::controllers::{children, persist};
use crate::dispatch::{Admission, Caller, Decision, admit};
use crate::manifests::{Namespaces, name, namespace};
use crate::report::{Outcome, judge};
use crate::review::{Kind, Request, UserInfo, display_name};
use crate::webhooks::{FailurePolicy, Hook};

/// What stays the same for every request of one phase.
pub struct Phase<'a, C: Caller> {
    pub rendering: &'a str,
    /// `up` or `down`.
    pub name: &'a str,
    pub hooks: &'a [Hook],
    pub namespaces: &'a Namespaces,
    pub caller: &'a C,
    pub dry_run: bool,
    pub expand: bool,
}

/// One object to submit.
pub struct Submission {
    pub kind: Kind,
    pub object: Value,
    pub user: UserInfo,
    pub case: Option<String>,
    /// `None`: derive the expectation from the failure policies (webhook-down phase).
    pub expectation: Option<Expectation>,
}

impl Submission {
    /// A rendered object, not tied to a case.
    pub fn object(
        kind: Kind,
        object: Value,
        user: &UserInfo,
        expectation: Option<Expectation>,
    ) -> Self {
        Self {
            kind,
            object,
            user: user.clone(),
            case: None,
            expectation,
        }
    }

    /// A case's object, expected as the case says (`pinned`: whether an admitted image is pinned).
    pub fn case(case: &Case, kind: Kind, object: Value, user: &UserInfo, pinned: bool) -> Self {
        Self {
            kind,
            object,
            user: user.clone(),
            case: Some(case.name.clone()),
            expectation: Some(Expectation::of_case(case, pinned)),
        }
    }
}

/// The expectation when the webhook is down, from the calls the chain attempted.
pub fn down_expectation(admission: &Admission, hooks: &[Hook]) -> Expectation {
    let fail_closed = admission.calls.iter().any(|c| {
        c.decision != Decision::Skipped
            && hooks
                .iter()
                .any(|h| h.name == c.webhook && h.failure_policy == FailurePolicy::Fail)
    });
    Expectation {
        admit: !fail_closed,
        reason: fail_closed.then(|| "failed calling webhook".to_string()),
        pinned: false,
        digest: None,
    }
}

/// Submits `s` and what the controllers make of it; appends one [`Outcome`] per request.
pub async fn replay<C: Caller>(phase: &Phase<'_, C>, s: Submission, out: &mut Vec<Outcome>) {
    let root = display_name(s.kind, &s.object);
    let root_short = format!("{}/{}", s.kind.name(), name(&s.object));
    let mut queue = VecDeque::from([(s.kind, s.object, s.user, None::<String>)]);
    while let Some((kind, object, user, via)) = queue.pop_front() {
        let ns = namespace(&object).to_string();
        let req = Request {
            kind,
            subresource: String::new(),
            operation: "CREATE".into(),
            namespace: ns.clone(),
            name: name(&object).to_string(),
            object: object.clone(),
            old_object: None,
            user,
            dry_run: phase.dry_run,
        };
        let ns_object = phase.namespaces.get(&ns).cloned().unwrap_or(Value::Null);
        let admission = admit(phase.hooks, &req, &ns_object, phase.caller).await;
        let expectation = s
            .expectation
            .clone()
            .unwrap_or_else(|| down_expectation(&admission, phase.hooks));
        let mut verdict = judge(&admission, &expectation);
        let answered = admission.calls.iter().find(|c| {
            matches!(
                c.decision,
                Decision::Allowed | Decision::Patched | Decision::Denied
            )
        });
        if s.expectation.is_none()
            && let Some(answered) = answered
        {
            verdict = Err(format!(
                "{} answered although the webhook was stopped",
                answered.webhook
            ));
        }
        if verdict.is_ok() && admission.allowed && kind == Kind::Pod {
            verdict = check_pins(&admission.object, &expectation);
        }
        let object_name = display_name(kind, &req.object);
        let via_label = via.clone();
        let allowed = admission.allowed;
        let stored = persist(&admission.object);
        out.push(Outcome {
            rendering: phase.rendering.to_string(),
            phase: phase.name.to_string(),
            object: object_name.clone(),
            via: via_label,
            case: s.case.clone(),
            admission,
            expectation,
            verdict,
        });
        if allowed && phase.expand && !phase.dry_run {
            for child in children(kind, &stored) {
                let through = if object_name == root {
                    String::new()
                } else {
                    format!(", via {}/{}", kind.name(), name(&stored))
                };
                let label = format!(
                    "{} of {root_short}{through}",
                    child.kind.name().to_lowercase()
                );
                queue.push_back((child.kind, child.object, child.user, Some(label)));
            }
        }
    }
}
