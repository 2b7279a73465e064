//! `NoMatch`: images no applicable ClusterImagePolicy covers are admitted silently, with a
//! warning naming the image, or denied; covered images, unchanged pod specs and objects without
//! a pod spec are never affected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_policies::{NoMatch, PolicySet, Request, VerdictMap};
use serde_json::{Value, json};

const POLICIES: &str = "apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: signed}
spec:
  mode: audit
  images: [\"registry.example/team/**\"]
  authorities:
    keys:
      - name: k
        pem: |
          -----BEGIN PUBLIC KEY-----
          MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7O9deV7fQvehPWl2qKo0JhZwYCIT
          2Wll5nTU+/SHCZlAbJNX0Z3KKWLGatou29K2wCA2ITQ+RsHDIapswXwFAw==
          -----END PUBLIC KEY-----
---
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: tags}
spec: {mode: warn, imageHygiene: {forbidLatestTag: true}}
";

fn set(no_match: NoMatch) -> PolicySet {
    PolicySet::from_yaml("t", POLICIES)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_no_match(no_match)
}

fn pod(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps"},
           "spec": {"containers": containers}})
}

fn create(object: &Value) -> Request {
    Request::from_manifest(object.clone()).unwrap_or_else(|e| panic!("{e}"))
}

const COVERED: &str = "registry.example/team/api:1.0";
const OTHER: &str = "docker.io/library/nginx:1.27";

fn no_match_warnings(d: &portcullis_policies::Decision) -> Vec<&String> {
    d.warnings
        .iter()
        .filter(|w| w.starts_with("no-match/"))
        .collect()
}

#[test]
fn allow_is_the_engine_default_and_adds_nothing() {
    let req = create(&pod(&[COVERED, OTHER]));
    let facts = VerdictMap::new();
    let default = PolicySet::from_yaml("t", POLICIES).unwrap();
    assert_eq!(default.no_match(), NoMatch::Allow);
    let d = set(NoMatch::Allow).evaluate(&req, &facts);
    assert!(d.allowed);
    assert!(no_match_warnings(&d).is_empty(), "{:?}", d.warnings);
    assert_eq!(d, default.evaluate(&req, &facts));
}

#[test]
fn warn_names_each_uncovered_image_and_admits() {
    let req = create(&pod(&[COVERED, OTHER, "quay.io/x/y:2"]));
    let d = set(NoMatch::Warn).evaluate(&req, &VerdictMap::new());
    assert!(d.allowed, "{:?}", d.reasons);
    let warned = no_match_warnings(&d);
    assert_eq!(warned.len(), 2, "{:?}", d.warnings);
    assert!(
        warned[0].starts_with(
            "no-match/imagePolicy: container \"c1\" (spec.containers[1].image): \
             no ClusterImagePolicy matches image \"docker.io/library/nginx:1.27\""
        ),
        "{}",
        warned[0]
    );
    assert!(warned[1].contains("\"quay.io/x/y:2\""), "{}", warned[1]);
    assert!(
        !d.warnings
            .iter()
            .any(|w| w.contains(COVERED) && w.starts_with("no-match/"))
    );
}

#[test]
fn deny_refuses_uncovered_images_only() {
    let facts = VerdictMap::new();
    let d = set(NoMatch::Deny).evaluate(&create(&pod(&[COVERED, OTHER])), &facts);
    assert!(!d.allowed);
    assert_eq!(d.reasons.len(), 1, "{:?}", d.reasons);
    let r = &d.reasons[0];
    assert_eq!(
        (r.policy.as_str(), r.rule.as_str()),
        ("no-match", "imagePolicy")
    );
    assert_eq!(r.path, "spec.containers[1].image");
    assert!(r.fix.contains("--no-match=allow"), "{}", r.fix);
    // Covered images only: the audit-mode image policy decides, and it never denies.
    let d = set(NoMatch::Deny).evaluate(&create(&pod(&[COVERED])), &facts);
    assert!(d.allowed, "{:?}", d.reasons);
}

#[test]
fn deny_applies_with_no_policy_at_all_but_never_without_a_pod_spec() {
    let empty = PolicySet::empty().with_no_match(NoMatch::Deny);
    let facts = VerdictMap::new();
    assert!(!empty.evaluate(&create(&pod(&[OTHER])), &facts).allowed);
    let cm = create(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "c", "namespace": "apps"}, "data": {"a": "b"}}));
    assert!(empty.evaluate(&cm, &facts).allowed);
}

#[test]
fn an_update_that_keeps_the_pod_spec_is_not_judged_again() {
    let old = pod(&[OTHER]);
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"tier": "web"});
    let request = json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "apps",
        "operation": "UPDATE", "userInfo": {"username": "u"}, "object": new, "oldObject": old});
    let req = Request::from_admission_request(&request).unwrap_or_else(|e| panic!("{e}"));
    let d = set(NoMatch::Deny).evaluate(&req, &VerdictMap::new());
    assert!(d.allowed, "{:?}", d.reasons);
}

#[test]
fn detailed_evaluation_reports_the_no_match_outcome() {
    let e = set(NoMatch::Warn).evaluate_detailed(&create(&pod(&[OTHER])), &VerdictMap::new());
    let outcome = e
        .outcomes
        .iter()
        .find(|o| o.policy == "no-match")
        .expect("no-match outcome");
    assert_eq!(outcome.rules, ["imagePolicy"]);
    assert_eq!(outcome.findings.len(), 1);
}

#[test]
fn settings_parse_and_print() {
    for s in ["allow", "warn", "deny"] {
        assert_eq!(s.parse::<NoMatch>().unwrap().to_string(), s);
    }
    let err = "block".parse::<NoMatch>().unwrap_err();
    assert!(err.contains("allow, warn or deny"), "{err}");
}
