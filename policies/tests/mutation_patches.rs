//! Mutations are sound JSON Patch: they apply cleanly with `json_patch::patch`, escape JSON
//! Pointer tokens, are idempotent (evaluating the patched object yields an empty patch), and leave
//! a Pod or Deployment that still deserialises as its k8s-openapi type with the intended values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::str::FromStr;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use portcullis_policies::workload::WorkloadKind;
use portcullis_policies::{Decision, PolicySet, Request, VerdictMap};
use portcullis_verifier_types::{Digest, Verified};
use serde_json::{Value, json};

const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

fn policies() -> PolicySet {
    let signed = r#"
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: signed}
spec:
  images: ["ghcr.io/acme/**"]
  mutateDigestControllers: true
  authorities:
    keys:
      - name: test
        pem: |
          -----BEGIN PUBLIC KEY-----
          MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEl7wDr/sdpF/SGl0QGLiN0tMce2IY
          4rOdDd+Y+3gPUrFl0LUYbWOkn+V8SjWvHtbDaudUCI1wQK3Q9dqInA7iIA==
          -----END PUBLIC KEY-----
---
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: gpu-defaults}
spec:
  defaults:
    resources:
      limits: {nvidia.com/gpu: "1", "weird~key/x": "2"}
"#;
    let library = [
        "secure-defaults.yaml",
        "pod-security-restricted.yaml",
        "resource-limits.yaml",
    ];
    let texts: Vec<(String, String)> = library
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read_to_string(common::workspace_root().join("policies/library").join(f))
                    .unwrap(),
            )
        })
        .chain([("inline".to_string(), signed.to_string())])
        .collect();
    PolicySet::from_sources(texts.iter().map(|(a, b)| (a.as_str(), b.as_str()))).unwrap()
}

/// Every check verifies, with `DIGEST`; pinned forms verify too.
fn verified(set: &PolicySet, req: &Request) -> VerdictMap {
    let mut m = VerdictMap::new();
    for c in set.image_checks(req) {
        let v = Verified {
            digest: Digest::from_str(DIGEST).unwrap(),
            key_ids: vec![],
            attestations: vec![],
        };
        m.insert(c.key(), Arc::new(Ok(v)));
    }
    m
}

fn evaluate(set: &PolicySet, object: &Value) -> (Request, Decision) {
    let req = Request::from_manifest(object.clone()).unwrap();
    let d = set.evaluate(&req, &verified(set, &req));
    (req, d)
}

/// Applies the decision's patch, checks idempotence, returns the patched object.
fn apply_and_recheck(set: &PolicySet, object: &Value) -> Value {
    let (_, d) = evaluate(set, object);
    assert!(d.allowed, "{}", d.message());
    assert!(!d.patch.is_empty());
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &d.patch).unwrap();
    // The wire form is an RFC 6902 array of {op, path, value}.
    let wire = serde_json::to_value(&d.patch).unwrap();
    assert!(
        wire.as_array()
            .unwrap()
            .iter()
            .all(|op| op["op"] == "add" || op["op"] == "replace")
    );
    let (_, again) = evaluate(set, &patched);
    assert!(again.allowed, "{}", again.message());
    assert!(
        again.patch.is_empty(),
        "not idempotent: {}",
        serde_json::to_string(&again.patch).unwrap()
    );
    patched
}

fn spec() -> Value {
    json!({
        "initContainers": [{"name": "init", "image": "ghcr.io/acme/init:1", "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}}}],
        "containers": [{"name": "app", "image": "ghcr.io/acme/app:2.0", "securityContext": {"readOnlyRootFilesystem": true}, "resources": {"limits": {"cpu": "1"}}},
                       {"name": "side", "image": "docker.io/library/envoy:1.30"}]
    })
}

#[test]
fn pod_patch_applies_is_idempotent_and_stays_a_pod() {
    let pod = WorkloadKind::Pod.wrap("app", json!({}), spec());
    let patched = apply_and_recheck(&policies(), &pod);
    let typed: Pod = serde_json::from_value(patched.clone()).unwrap();
    let s = typed.spec.unwrap();
    let sc = s.security_context.unwrap();
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    let app = &s.containers[0];
    assert_eq!(
        app.image.as_deref(),
        Some(format!("ghcr.io/acme/app:2.0@{DIGEST}").as_str())
    );
    let app_sc = app.security_context.as_ref().unwrap();
    assert_eq!(
        app_sc.read_only_root_filesystem,
        Some(true),
        "existing fields are kept"
    );
    assert_eq!(app_sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        app_sc.capabilities.as_ref().unwrap().drop,
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(
        s.containers[1].image.as_deref(),
        Some("docker.io/library/envoy:1.30"),
        "uncovered images are not pinned"
    );
    let limits = s.containers[0]
        .resources
        .as_ref()
        .unwrap()
        .limits
        .as_ref()
        .unwrap();
    assert_eq!(limits["nvidia.com/gpu"].0, "1");
    assert_eq!(limits["weird~key/x"].0, "2");
    let init = &s.init_containers.unwrap()[0];
    assert_eq!(
        init.image.as_deref(),
        Some(format!("ghcr.io/acme/init:1@{DIGEST}").as_str())
    );
    assert_eq!(
        init.resources.as_ref().unwrap().requests.as_ref().unwrap()["cpu"].0,
        "50m",
        "explicit requests win"
    );
}

#[test]
fn deployment_patch_applies_is_idempotent_and_stays_a_deployment() {
    let deploy = WorkloadKind::Deployment.wrap("app", json!({"labels": {"app": "app"}}), spec());
    let patched = apply_and_recheck(&policies(), &deploy);
    let typed: Deployment = serde_json::from_value(patched).unwrap();
    let s = typed.spec.unwrap().template.spec.unwrap();
    assert_eq!(s.security_context.unwrap().run_as_non_root, Some(true));
    assert_eq!(
        s.containers[0].image.as_deref(),
        Some(format!("ghcr.io/acme/app:2.0@{DIGEST}").as_str()),
        "opted-in controllers are pinned"
    );
    assert_eq!(
        s.containers[1]
            .security_context
            .as_ref()
            .unwrap()
            .allow_privilege_escalation,
        Some(false)
    );
}

#[test]
fn pointer_tokens_are_escaped() {
    let pod = WorkloadKind::Pod.wrap("app", json!({}), spec());
    let (_, d) = evaluate(&policies(), &pod);
    let paths: Vec<String> = d.patch.iter().map(|op| op.path().to_string()).collect();
    assert!(
        paths.iter().any(|p| p.ends_with("/limits/nvidia.com~1gpu")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.ends_with("/limits/weird~0key~1x")),
        "{paths:?}"
    );
}

#[test]
fn a_denied_request_carries_no_patch() {
    let mut s = spec();
    s["containers"][0]["securityContext"]["privileged"] = json!(true);
    let pod = WorkloadKind::Pod.wrap("app", json!({}), s);
    let (_, d) = evaluate(&policies(), &pod);
    assert!(!d.allowed);
    assert!(d.patch.is_empty());
    assert!(
        d.denied_rules()
            .contains(&"pod-security-restricted/privileged".to_string())
    );
}
