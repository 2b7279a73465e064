//! `portcullis evaluate` reads manifests and AdmissionReviews into the same request model as the
//! webhook: a workload whose object is not a valid instance of its kind is bad input (exit 2,
//! one line naming the file and the field path), never evaluated and never allowed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::path::Path;

use cli_support::portcullis;
use serde_json::json;

const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../policies/library/pod-security-restricted.yaml"
);

fn evaluate(dir: &Path, manifest: &serde_json::Value) -> std::process::Output {
    let path = dir.join("manifest.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    portcullis(
        dir,
        &["evaluate", "--policy", POLICY, path.to_str().unwrap()],
    )
}

fn deployment(containers: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": containers}}}
    })
}

#[test]
fn unreadable_objects_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "operation": "CREATE", "kind": {"version": "v1", "kind": "Pod"},
                    "object": {"metadata": {"name": "p"}, "spec": {"containers": "nginx"}}}
    });
    for (manifest, needle) in [
        (
            deployment(json!({"name": "app", "image": "nginx"})),
            "spec.template.spec.containers: invalid type: map, expected a sequence",
        ),
        (
            review,
            "request.object.spec.containers: invalid type: string \"nginx\", expected a sequence",
        ),
    ] {
        let out = evaluate(dir.path(), &manifest);
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "one-line reason: {err}");
        assert!(err.contains("manifest.json: "), "{err}");
        assert!(err.contains(needle), "{needle:?} not in: {err}");
        assert!(out.stdout.is_empty(), "nothing evaluated");
    }
    // The same Deployment with a list of containers is read and evaluated (denied by restricted).
    let out = evaluate(
        dir.path(),
        &deployment(json!([{"name": "app", "image": "nginx"}])),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("DENY "));
}
