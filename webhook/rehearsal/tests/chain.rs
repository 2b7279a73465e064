//! The admission chain against scripted webhooks (no network): API-server ordering, patch
//! application, reinvocation, failurePolicy on every kind of failure, matchCondition errors, and
//! the messages the API server would return.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::BTreeMap;

use base64::Engine as _;
use portcullis_rehearsal::dispatch::{Caller, Decision, admit};
use portcullis_rehearsal::manifests::Stream;
use portcullis_rehearsal::review::{Kind, Request, UserInfo};
use portcullis_rehearsal::webhooks::{self, Hook};
use serde_json::{Value, json};

/// What a scripted webhook does.
#[derive(Clone)]
enum Script {
    Allow,
    Patch(Vec<Value>),
    Deny(&'static str),
    /// Transport error.
    Down,
    Status(u16),
    WrongUid,
    RawPatch(&'static str),
}

#[derive(Default)]
struct Scripted {
    scripts: BTreeMap<String, Script>,
    seen: RefCell<Vec<(String, Value)>>,
}

impl Scripted {
    fn with(pairs: &[(&str, Script)]) -> Self {
        Self {
            scripts: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            seen: RefCell::default(),
        }
    }
    fn seen_names(&self) -> Vec<String> {
        self.seen.borrow().iter().map(|(n, _)| n.clone()).collect()
    }
}

impl Caller for Scripted {
    async fn call(&self, hook: &Hook, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let review: Value = serde_json::from_slice(&body).unwrap();
        self.seen
            .borrow_mut()
            .push((hook.name.clone(), review["request"]["object"].clone()));
        let uid = review["request"]["uid"].as_str().unwrap().to_string();
        let answer = |response: Value| {
            let r = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response});
            Ok((200, serde_json::to_vec(&r).unwrap()))
        };
        let b64 = |ops: &[Value]| {
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(ops).unwrap())
        };
        match self
            .scripts
            .get(&hook.name)
            .cloned()
            .unwrap_or(Script::Allow)
        {
            Script::Allow => answer(
                json!({"uid": uid, "allowed": true, "warnings": ["w1"], "auditAnnotations": {"k": "v"}}),
            ),
            Script::Patch(ops) => answer(
                json!({"uid": uid, "allowed": true, "patchType": "JSONPatch", "patch": b64(&ops)}),
            ),
            Script::Deny(m) => {
                answer(json!({"uid": uid, "allowed": false, "status": {"code": 403, "message": m}}))
            }
            Script::Down => Err("dial tcp 127.0.0.1:1: connect: connection refused".into()),
            Script::Status(s) => Ok((s, b"upstream sad".to_vec())),
            Script::WrongUid => answer(json!({"uid": "other", "allowed": true})),
            Script::RawPatch(p) => {
                answer(json!({"uid": uid, "allowed": true, "patchType": "JSONPatch", "patch": p}))
            }
        }
    }
}

/// Two mutating webhooks (the first IfNeeded) and one validating, each with `policy`.
fn hooks(first_policy: &str, conditions: &str) -> Vec<Hook> {
    let hook = |name: &str, policy: &str, extra: &str| {
        format!(
            "- name: {name}\n  admissionReviewVersions: [v1]\n  sideEffects: None\n  failurePolicy: {policy}\n{extra}\
             \x20 clientConfig: {{service: {{name: s, namespace: ns, path: /{name}}}}}\n\
             \x20 namespaceSelector: {{matchLabels: {{team: a}}}}\n\
             \x20 rules: [{{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}}]\n{conditions}"
        )
    };
    let text = format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {{name: b}}\nwebhooks:\n{}{}\
         ---\napiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {{name: a}}\nwebhooks:\n{}\
         ---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {{name: v}}\nwebhooks:\n{}",
        hook("first", first_policy, "  reinvocationPolicy: IfNeeded\n"),
        hook("second", "Fail", ""),
        hook("zeroth", "Fail", ""),
        hook("check", "Fail", ""),
    );
    webhooks::load(&Stream::parse("t", &text).unwrap()).unwrap()
}

fn request() -> Request {
    Request {
        kind: Kind::Deployment,
        subresource: String::new(),
        operation: "CREATE".into(),
        namespace: "ns".into(),
        name: "d".into(),
        object: json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "r/x:1"}]}}}}),
        old_object: None,
        user: UserInfo::service_account("flux-system", "kustomize-controller"),
        dry_run: false,
    }
}

fn ns(team: &str) -> Value {
    json!({"metadata": {"name": "ns", "labels": {"team": team, "kubernetes.io/metadata.name": "ns"}}})
}

fn pin() -> Script {
    Script::Patch(vec![
        json!({"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "r/x:1@sha256:aa"}),
    ])
}

fn run(
    hooks: &[Hook],
    caller: &Scripted,
    namespace: &Value,
) -> portcullis_rehearsal::dispatch::Admission {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(admit(hooks, &request(), namespace, caller))
}

/// Asserts that `a` was rejected with an API server message starting with `start`.
fn assert_rejected(a: &portcullis_rehearsal::dispatch::Admission, start: &str) {
    assert!(!a.allowed, "admitted: {}", a.message);
    assert!(a.message.starts_with(start), "{}", a.message);
}

#[test]
fn mutating_configurations_by_name_then_validating_on_the_patched_object() {
    let h = hooks("Fail", "");
    let caller = Scripted::with(&[("first", pin())]);
    let a = run(&h, &caller, &ns("a"));
    assert!(a.allowed, "{}", a.message);
    // Configuration "a" (zeroth) before "b" (first, second), then the validating one.
    assert_eq!(caller.seen_names(), ["zeroth", "first", "second", "check"]);
    let seen = caller.seen.borrow();
    assert_eq!(
        seen[2].1["spec"]["template"]["spec"]["containers"][0]["image"],
        "r/x:1@sha256:aa"
    );
    assert_eq!(
        seen[3].1["spec"]["template"]["spec"]["containers"][0]["image"],
        "r/x:1@sha256:aa"
    );
    assert_eq!(
        a.object["spec"]["template"]["spec"]["containers"][0]["image"],
        "r/x:1@sha256:aa"
    );
    let first = a.calls.iter().find(|c| c.webhook == "first").unwrap();
    assert_eq!(first.decision, Decision::Patched);
    let check = a.calls.iter().find(|c| c.webhook == "check").unwrap();
    assert_eq!(check.warnings, ["w1"]);
    assert_eq!(
        check.audit_annotations.get("check/k").map(String::as_str),
        Some("v")
    );
}

#[test]
fn if_needed_webhook_is_reinvoked_once_after_a_later_change() {
    let h = hooks("Fail", "");
    let caller = Scripted::with(&[("second", pin())]);
    let a = run(&h, &caller, &ns("a"));
    assert!(a.allowed);
    assert_eq!(
        caller.seen_names(),
        ["zeroth", "first", "second", "first", "check"]
    );
    let again = a
        .calls
        .iter()
        .filter(|c| c.reinvocation)
        .map(|c| c.webhook.as_str())
        .collect::<Vec<_>>();
    assert_eq!(again, ["first"]);
    // The reinvocation saw the object as the later webhook left it.
    assert_eq!(
        caller.seen.borrow()[3].1["spec"]["template"]["spec"]["containers"][0]["image"],
        "r/x:1@sha256:aa"
    );
    // No change after it: no reinvocation.
    let quiet = Scripted::default();
    run(&h, &quiet, &ns("a"));
    assert_eq!(quiet.seen_names(), ["zeroth", "first", "second", "check"]);
}

#[test]
fn denial_message_is_the_api_servers() {
    let h = hooks("Fail", "");
    let caller = Scripted::with(&[("check", Script::Deny("runs as root\nsecond reason"))]);
    let a = run(&h, &caller, &ns("a"));
    assert!(!a.allowed);
    assert_eq!(
        a.message,
        "admission webhook \"check\" denied the request: runs as root\nsecond reason"
    );
}

#[test]
fn failure_policy_decides_on_connection_errors_bad_status_and_bad_reviews() {
    for script in [Script::Down, Script::Status(500), Script::WrongUid] {
        let ignore = hooks("Ignore", "");
        let caller = Scripted::with(&[("first", script.clone())]);
        let a = run(&ignore, &caller, &ns("a"));
        assert!(a.allowed, "Ignore must admit: {}", a.message);
        let first = a.calls.iter().find(|c| c.webhook == "first").unwrap();
        assert_eq!(first.decision, Decision::FailedOpen);
        assert!(
            first.detail.starts_with("failurePolicy Ignore, admitted: "),
            "{}",
            first.detail
        );

        let fail = hooks("Fail", "");
        let caller = Scripted::with(&[("first", script)]);
        let a = run(&fail, &caller, &ns("a"));
        assert_rejected(
            &a,
            "Internal error occurred: failed calling webhook \"first\": ",
        );
        // The chain stops at the first rejection.
        assert_eq!(caller.seen_names(), ["zeroth", "first"]);
    }
    let a = run(
        &hooks("Fail", ""),
        &Scripted::with(&[("first", Script::Down)]),
        &ns("a"),
    );
    assert!(a.message.contains("Post \"https://s.ns.svc:443/first?timeout=10s\": dial tcp 127.0.0.1:1: connect: connection refused"), "{}", a.message);
}

#[test]
fn broken_patches_are_internal_errors_whatever_the_policy() {
    for patch in [
        Script::RawPatch("not base64!"),
        Script::Patch(vec![json!({"op": "remove", "path": "/spec/nothing"})]),
        // Applies, but the Deployment no longer decodes as apps/v1.
        Script::Patch(vec![
            json!({"op": "replace", "path": "/spec/template/spec/containers", "value": "oops"}),
        ]),
    ] {
        let a = run(
            &hooks("Ignore", ""),
            &Scripted::with(&[("first", patch)]),
            &ns("a"),
        );
        assert_rejected(&a, "Internal error occurred");
    }
}

#[test]
fn selectors_and_match_conditions_decide_who_is_called() {
    let h = hooks("Fail", "");
    let caller = Scripted::default();
    let a = run(&h, &caller, &ns("b"));
    assert!(a.allowed);
    assert!(caller.seen_names().is_empty());
    assert!(
        a.calls
            .iter()
            .all(|c| c.decision == Decision::Skipped && c.detail.contains("namespaceSelector"))
    );

    let false_cond = "  matchConditions: [{name: never, expression: \"request.userInfo.username == 'nobody'\"}]\n";
    let caller = Scripted::default();
    let a = run(&hooks("Fail", false_cond), &caller, &ns("a"));
    assert!(a.allowed && caller.seen_names().is_empty());
    assert!(
        a.calls[0].detail.contains("matchCondition never is false"),
        "{}",
        a.calls[0].detail
    );

    // An evaluation error follows the failurePolicy: Fail rejects before any call.
    let broken =
        "  matchConditions: [{name: broken, expression: \"object.spec.nothing.deeper == 1\"}]\n";
    let caller = Scripted::default();
    let a = run(&hooks("Fail", broken), &caller, &ns("a"));
    assert!(!a.allowed);
    assert!(
        a.message
            .contains("failed evaluating match conditions (broken)"),
        "{}",
        a.message
    );
    assert!(caller.seen_names().is_empty());
}
