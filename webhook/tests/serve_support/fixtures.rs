//! Fixtures: the AdmissionReview corpus, shipped policies, pods, reviews, patch checking.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

// === fixtures ===

/// `<corpora>/admissionreview` (a panic naming the fix when it is missing).
pub fn corpus_dir() -> PathBuf {
    portcullis_testkit::corpus("admissionreview")
}

/// Every `*.json` review in the corpus, sorted, as (file name, parsed JSON).
pub fn corpus_reviews(dir: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let value = serde_json::from_slice(&std::fs::read(&p).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, value)
        })
        .collect()
}

/// The shipped restricted Pod Security policy: the library's copy once it exists, else the one
/// the deployment mounts.
pub fn restricted_policy() -> (PathBuf, String) {
    let root = portcullis_testkit::workspace_root();
    let candidates = [
        root.join("policies/library/pod-security-restricted.yaml"),
        root.join("deploy/base/webhook/policies/pod-security-restricted.yaml"),
    ];
    let path = candidates
        .iter()
        .find(|p| p.is_file())
        .expect("a shipped pod-security-restricted.yaml")
        .clone();
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

/// A policy at the `baseline` Pod Security level (allows running as root).
pub const BASELINE_POLICY: &str = "\
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: pod-security-baseline}
spec:
  mode: enforce
  podSecurity: {level: baseline, version: latest}
";

/// A pod that satisfies the restricted profile.
pub fn compliant_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "web",
                "image": "registry.example/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]},
                    "runAsNonRoot": true,
                    "runAsUser": 1000
                },
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}}
            }]
        }
    })
}

/// The compliant pod, but running as root.
pub fn root_pod() -> Value {
    let mut pod = compliant_pod();
    pod["metadata"]["name"] = json!("rooty");
    pod["spec"]["securityContext"] = json!({"seccompProfile": {"type": "RuntimeDefault"}});
    pod["spec"]["containers"][0]["securityContext"] = json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "runAsUser": 0
    });
    pod
}

/// An AdmissionReview for creating `object` (a Pod unless its `kind` says otherwise).
pub fn review_for(uid: &str, object: &Value) -> Value {
    let kind = object["kind"].as_str().unwrap_or("Pod");
    let (group, version, resource) = match kind {
        "Pod" => ("", "v1", "pods"),
        "Deployment" => ("apps", "v1", "deployments"),
        other => panic!("review_for: unsupported kind {other}"),
    };
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": {"username": "test-user", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    })
}

/// Checks the response envelope and returns `response`.
pub fn response_of(review: &Value, uid: &str) -> Value {
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1", "{review}");
    assert_eq!(review["kind"], "AdmissionReview", "{review}");
    let response = review["response"].clone();
    assert_eq!(response["uid"], uid, "{review}");
    assert!(response["allowed"].is_boolean(), "{review}");
    response
}

/// Decodes `response.patch` the way the API server does (base64 of JSON Patch bytes) and
/// applies it to `object`. No patch: `object` unchanged.
pub fn apply_patch(response: &Value, object: &Value) -> Value {
    let Some(patch) = response.get("patch").and_then(Value::as_str) else {
        assert!(
            response.get("patchType").is_none(),
            "patchType without patch: {response}"
        );
        return object.clone();
    };
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .unwrap_or_else(|e| panic!("patch is not base64 ({e}): {response}"));
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "patch is not a JSON Patch ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).unwrap_or_else(|e| panic!("patch does not apply: {e}"));
    patched
}
