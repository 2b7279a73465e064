//! Malformed, hostile and unusual AdmissionReview bodies get a clean answer, never a crash:
//! an AdmissionReview denying with a clear `status.message` when a uid could be read (HTTP 200),
//! otherwise HTTP 400 (413 when over the 3 MiB limit) with a message saying what is wrong.
//! A well-formed review whose object is not a valid instance of its kind (containers as a map,
//! a string where a struct belongs) is refused as invalid with the field path, through the
//! router and over TLS against the real binary: never allowed because no container was found.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use serde_json::{Value, json};
use serve_support::*;

fn app() -> axum::Router {
    let (_, restricted) = restricted_policy();
    router(
        policies(&[("restricted.yaml", &restricted)]),
        StubVerifier::signed(),
    )
    .0
}

enum Expect {
    /// HTTP status with a plain-text body containing the needle.
    Http(u16, &'static str),
    /// HTTP 200, a review for `uid` with allowed=false and a message containing the needle.
    Invalid(&'static str, &'static str),
}

fn valid_review() -> Value {
    review_for("bad-1", &compliant_pod())
}

fn with(mut review: Value, pointer: &str, value: Value) -> Value {
    *review.pointer_mut(pointer).unwrap() = value;
    review
}

/// A Deployment whose pod template is the compliant pod.
fn compliant_deployment() -> Value {
    let pod = compliant_pod();
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": pod["metadata"]["namespace"]},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod["spec"]}
        }
    })
}

/// Well-formed reviews (uid `bad-1`) whose object does not parse as its kind, with the field
/// path and cause the answer must name.
fn unreadable_objects() -> Vec<(&'static str, Value, &'static str)> {
    let pod = valid_review();
    let deployment = review_for("bad-1", &compliant_deployment());
    vec![
        (
            "containers is a map",
            with(
                pod.clone(),
                "/request/object/spec/containers",
                json!({"name": "app", "image": "nginx", "securityContext": {"privileged": true}}),
            ),
            "request.object.spec.containers: invalid type: map, expected a sequence",
        ),
        (
            "containers is a string",
            with(
                pod.clone(),
                "/request/object/spec/containers",
                json!("nginx"),
            ),
            "request.object.spec.containers: invalid type: string \"nginx\", expected a sequence",
        ),
        (
            "securityContext is a list",
            with(
                pod.clone(),
                "/request/object/spec/containers/0/securityContext",
                json!([{"privileged": true}]),
            ),
            "request.object.spec.containers[0].securityContext: invalid type: sequence",
        ),
        (
            "spec is a number",
            with(pod, "/request/object/spec", json!(7)),
            "request.object.spec: invalid type: integer `7`",
        ),
        (
            "Deployment template containers is a map",
            with(
                deployment,
                "/request/object/spec/template/spec/containers",
                json!({"name": "app", "image": "nginx"}),
            ),
            "request.object.spec.template.spec.containers: invalid type: map, expected a sequence",
        ),
    ]
}

fn cases() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let valid = serde_json::to_vec(&valid_review()).unwrap();
    let depth = 10_000;
    let deep = format!(
        "{{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{{\"uid\":\"deep\",\"object\":{}{}}}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let mut invalid_utf8 =
        serde_json::to_vec(&with(valid_review(), "/request/name", json!("XX"))).unwrap();
    let at = invalid_utf8
        .windows(4)
        .position(|w| w == b"\"XX\"")
        .unwrap();
    invalid_utf8[at + 1] = 0xff;
    invalid_utf8[at + 2] = 0xfe;
    let mut request_only = valid_review()["request"].clone();
    request_only["uid"] = json!("r-only");
    vec![
        (
            "empty body",
            Vec::new(),
            Expect::Http(400, "not valid JSON"),
        ),
        (
            "truncated",
            valid[..valid.len() / 2].to_vec(),
            Expect::Http(400, "EOF"),
        ),
        (
            "not JSON",
            b"<AdmissionReview/>".to_vec(),
            Expect::Http(400, "not valid JSON"),
        ),
        (
            "JSON array",
            b"[1,2,3]".to_vec(),
            Expect::Http(400, "apiVersion"),
        ),
        (
            "JSON null",
            b"null".to_vec(),
            Expect::Http(400, "apiVersion"),
        ),
        (
            "deeply nested",
            deep.into_bytes(),
            Expect::Http(400, "recursion limit"),
        ),
        (
            "invalid UTF-8",
            invalid_utf8,
            Expect::Http(400, "not valid JSON"),
        ),
        (
            "wrong apiVersion",
            serde_json::to_vec(&with(
                valid_review(),
                "/apiVersion",
                json!("admission.k8s.io/v1beta1"),
            ))
            .unwrap(),
            Expect::Invalid("bad-1", "admission.k8s.io/v1beta1"),
        ),
        (
            "wrong kind",
            serde_json::to_vec(&with(valid_review(), "/kind", json!("TokenReview"))).unwrap(),
            Expect::Invalid("bad-1", "TokenReview"),
        ),
        (
            "bare request (no envelope)",
            serde_json::to_vec(&request_only).unwrap(),
            Expect::Http(400, "apiVersion"),
        ),
        (
            "missing request",
            serde_json::to_vec(
                &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
            )
            .unwrap(),
            Expect::Http(400, "no request"),
        ),
        (
            "request is a string",
            serde_json::to_vec(&with(valid_review(), "/request", json!("hello"))).unwrap(),
            Expect::Http(400, "no request"),
        ),
        (
            "uid is a number",
            serde_json::to_vec(&with(valid_review(), "/request/uid", json!(42))).unwrap(),
            Expect::Http(400, "uid"),
        ),
        (
            "unknown operation",
            serde_json::to_vec(&with(valid_review(), "/request/operation", json!("PATCH")))
                .unwrap(),
            Expect::Invalid("bad-1", "PATCH"),
        ),
        (
            "kind is a string",
            serde_json::to_vec(&with(valid_review(), "/request/kind", json!("Pod"))).unwrap(),
            Expect::Invalid("bad-1", "kind"),
        ),
        (
            "CREATE without object",
            serde_json::to_vec(&with(valid_review(), "/request/object", Value::Null)).unwrap(),
            Expect::Invalid("bad-1", "object"),
        ),
    ]
    .into_iter()
    .chain(
        unreadable_objects()
            .into_iter()
            .map(|(name, review, needle)| {
                (
                    name,
                    serde_json::to_vec(&review).unwrap(),
                    Expect::Invalid("bad-1", needle),
                )
            }),
    )
    .collect()
}

#[tokio::test]
async fn bad_bodies_get_clean_answers() {
    let app = app();
    for path in ["/validate?timeout=10s", "/mutate"] {
        for (name, body, expect) in cases() {
            let (status, bytes) = call(&app, path, body).await;
            let text = String::from_utf8_lossy(&bytes);
            match expect {
                Expect::Http(code, needle) => {
                    assert_eq!(status, code, "{name} on {path}: {text}");
                    assert!(
                        text.contains(needle),
                        "{name} on {path}: {needle:?} not in {text:?}"
                    );
                }
                Expect::Invalid(uid, needle) => {
                    assert_eq!(status, 200, "{name} on {path}: {text}");
                    let review: Value = serde_json::from_slice(&bytes).unwrap();
                    let response = response_of(&review, uid);
                    assert_eq!(response["allowed"], false, "{name} on {path}: {text}");
                    assert_eq!(response["status"]["code"], 400, "{name}: {text}");
                    let message = response["status"]["message"].as_str().unwrap();
                    assert!(
                        message.contains(needle),
                        "{name} on {path}: {needle:?} not in {message:?}"
                    );
                    assert!(response.get("patch").is_none(), "{name}: {text}");
                }
            }
        }
    }
}

#[tokio::test]
async fn bodies_over_3_mib_are_refused_with_413() {
    let app = app();
    let mut review = valid_review();
    review["request"]["object"]["metadata"]["annotations"] =
        json!({"filler": "x".repeat(portcullis_webhook::serve::MAX_BODY_BYTES)});
    let body = serde_json::to_vec(&review).unwrap();
    assert!(body.len() > portcullis_webhook::serve::MAX_BODY_BYTES);
    let (status, bytes) = call(&app, "/validate", body).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&bytes));
    assert!(String::from_utf8_lossy(&bytes).contains("larger than"));

    // Just under the limit is read and evaluated.
    let mut review = valid_review();
    review["request"]["object"]["metadata"]["annotations"] =
        json!({"filler": "x".repeat(portcullis_webhook::serve::MAX_BODY_BYTES - 4096)});
    let response = call_review(&app, "/validate", &review).await;
    assert!(response["allowed"].is_boolean());
}

#[tokio::test]
async fn wrong_method_and_path_are_http_errors() {
    use tower::ServiceExt as _;
    let app = app();
    let get = axum::http::Request::get("/validate")
        .body(axum::body::Body::empty())
        .unwrap();
    let status = app.clone().oneshot(get).await.unwrap().status().as_u16();
    assert_eq!(status, 405);
    let (status, _) = call(&app, "/admit", serde_json::to_vec(&valid_review()).unwrap()).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn no_policy_set_loaded_fails_closed() {
    use portcullis_webhook::serve::{AdmissionState, Metrics, PolicyStore};
    use std::sync::Arc;
    let state = AdmissionState {
        policies: Arc::new(PolicyStore::new(vec!["/nonexistent".into()])),
        verifier: StubVerifier::signed(),
        metrics: Metrics::unregistered(),
        timeout_margin: std::time::Duration::from_secs(1),
        default_timeout: std::time::Duration::from_secs(10),
        pull_secrets: None,
    };
    let app = portcullis_webhook::serve::app(Arc::new(state));
    let answer = call_review(&app, "/validate", &valid_review()).await;
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(answer["status"]["code"], 503);
    assert!(
        answer["status"]["message"]
            .as_str()
            .unwrap()
            .contains("not loaded its policies")
    );
}

#[tokio::test]
async fn unreadable_objects_are_refused_over_tls() {
    let work = Workdir::new();
    let server = work.start(&[]);
    let mut client = work.connect(&server).await;
    // The same objects, well-formed, are allowed: the refusals below are about the shape.
    for object in [compliant_pod(), compliant_deployment()] {
        let ok = client
            .review("/validate?timeout=10s", &review_for("bad-1", &object))
            .await;
        assert_eq!(ok["allowed"], true, "{object}: {ok}");
    }
    for (name, review, needle) in unreadable_objects() {
        for path in ["/validate?timeout=10s", "/mutate?timeout=10s"] {
            let response = client.review(path, &review).await;
            assert_eq!(response["allowed"], false, "{name} on {path}: {response}");
            assert_eq!(response["status"]["code"], 400, "{name}: {response}");
            let message = response["status"]["message"].as_str().unwrap();
            assert!(
                message.contains(needle),
                "{name} on {path}: {needle:?} not in {message:?}"
            );
            assert!(response.get("patch").is_none(), "{name}: {response}");
        }
    }
}
