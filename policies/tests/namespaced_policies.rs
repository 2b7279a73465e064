//! Namespaced policies (`ImagePolicy`, `GuardrailPolicy`) apply only to objects in their own
//! namespace, add their findings and defaults to the cluster policies', and never loosen a
//! cluster policy; their identity is (kind, namespace, name).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_policies::{
    LoadError, Mode, NoMatch, PolicyError, PolicyKind, PolicySet, Request, VerdictMap,
};
use serde_json::{Value, json};

const KEY: &str = "        pem: |
          -----BEGIN PUBLIC KEY-----
          MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7O9deV7fQvehPWl2qKo0JhZwYCIT
          2Wll5nTU+/SHCZlAbJNX0Z3KKWLGatou29K2wCA2ITQ+RsHDIapswXwFAw==
          -----END PUBLIC KEY-----
";

fn policies(text: &str) -> PolicySet {
    PolicySet::from_yaml("t.yaml", text).unwrap_or_else(|e| panic!("{e}"))
}

fn guardrail(kind: &str, meta: &str, spec: &str) -> String {
    format!(
        "apiVersion: policy.portcullis.dev/v1alpha1\nkind: {kind}\nmetadata: {meta}\nspec: {spec}\n"
    )
}

fn image_policy(kind: &str, meta: &str, mode: &str) -> String {
    format!(
        "apiVersion: policy.portcullis.dev/v1alpha1\nkind: {kind}\nmetadata: {meta}\nspec:\n  mode: {mode}\n  images: [\"registry.example/team/**\"]\n  authorities:\n    keys:\n      - name: k\n{KEY}"
    )
}

fn pod(namespace: &str, container: Value) -> Request {
    let mut c = json!({"name": "app", "image": "registry.example/team/api:1.0"});
    if let (Some(c), Some(extra)) = (c.as_object_mut(), container.as_object()) {
        c.extend(extra.clone());
    }
    Request::from_manifest(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": namespace}, "spec": {"containers": [c]}}))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn privileged(namespace: &str) -> Request {
    pod(namespace, json!({"securityContext": {"privileged": true}}))
}

#[test]
fn a_guardrail_policy_denies_in_its_namespace_only() {
    let set = policies(&guardrail(
        "GuardrailPolicy",
        "{name: baseline, namespace: team-a}",
        "{podSecurity: {level: baseline}}",
    ));
    let facts = VerdictMap::new();
    let d = set.evaluate(&privileged("team-a"), &facts);
    assert!(!d.allowed);
    assert_eq!(d.denied_rules(), ["team-a/baseline/privileged"]);
    assert!(
        d.message().starts_with(
            "team-a/baseline/privileged: container \"app\" (spec.containers[0].securityContext.privileged)"
        ),
        "{}",
        d.message()
    );
    for other in ["team-b", "default", "team-a-2"] {
        let d = set.evaluate(&privileged(other), &facts);
        assert!(d.allowed, "{other}: {:?}", d.reasons);
        assert!(d.warnings.is_empty() && d.audit_annotations.is_empty());
    }
}

#[test]
fn its_own_match_and_exclude_still_apply_inside_its_namespace() {
    let set = policies(&guardrail(
        "GuardrailPolicy",
        "{name: baseline, namespace: team-a}",
        "{match: {namespaces: ['team-*']}, exclude: {usernames: [alice]}, podSecurity: {level: baseline}}",
    ));
    let facts = VerdictMap::new();
    assert!(
        set.evaluate(&privileged("team-b"), &facts).allowed,
        "match.namespaces cannot widen it beyond its namespace"
    );
    let mut req = privileged("team-a");
    assert!(!set.evaluate(&req, &facts).allowed);
    req.username = "alice".into();
    assert!(set.evaluate(&req, &facts).allowed, "exclude.usernames");
}

#[test]
fn an_image_policy_covers_images_in_its_namespace_only() {
    let set = policies(&image_policy(
        "ImagePolicy",
        "{name: signed, namespace: team-a}",
        "audit",
    ))
    .with_no_match(NoMatch::Deny);
    let facts = VerdictMap::new();

    let inside = pod("team-a", json!({}));
    let checks = set.image_checks(&inside);
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].policy, "team-a/signed");
    let d = set.evaluate(&inside, &facts);
    assert!(d.allowed, "covered there: {:?}", d.reasons);
    // The unverified image is an audit finding, filed under a key the API server accepts.
    let keys: Vec<&String> = d.audit_annotations.keys().collect();
    assert_eq!(keys, ["team-a_signed"]);
    assert!(
        d.audit_annotations["team-a_signed"].starts_with("team-a/signed/verifyImage: "),
        "{:?}",
        d.audit_annotations
    );

    let outside = pod("team-b", json!({}));
    assert!(set.image_checks(&outside).is_empty());
    let d = set.evaluate(&outside, &facts);
    assert!(!d.allowed);
    assert_eq!(d.denied_rules(), ["no-match/imagePolicy"]);
    assert!(
        d.message()
            .contains("no ClusterImagePolicy matches image \"registry.example/team/api:1.0\""),
        "{}",
        d.message()
    );
}

#[test]
fn a_cluster_enforce_policy_still_denies_beside_a_lenient_namespaced_one() {
    for mode in ["warn", "audit"] {
        let text = [
            guardrail(
                "ClusterGuardrailPolicy",
                "{name: baseline}",
                "{podSecurity: {level: baseline}}",
            ),
            guardrail(
                "GuardrailPolicy",
                "{name: baseline, namespace: team-a}",
                &format!("{{mode: {mode}, podSecurity: {{level: baseline}}}}"),
            ),
            image_policy("ClusterImagePolicy", "{name: signed}", "enforce"),
            image_policy("ImagePolicy", "{name: signed, namespace: team-a}", mode),
        ]
        .join("---\n");
        let set = policies(&text);
        let d = set.evaluate(&privileged("team-a"), &VerdictMap::new());
        assert!(!d.allowed, "{mode}");
        assert_eq!(
            d.denied_rules(),
            ["signed/verifyImage", "baseline/privileged"],
            "{mode}: the cluster policies' reasons, unchanged"
        );
        let mut namespaced = if mode == "warn" {
            d.warnings.clone()
        } else {
            d.audit_annotations.values().cloned().collect()
        };
        namespaced.sort();
        assert_eq!(namespaced.len(), 2, "{mode}: {namespaced:?}");
        assert!(namespaced[0].starts_with("team-a/baseline/privileged: "));
        assert!(namespaced[1].starts_with("team-a/signed/verifyImage: "));
    }
}

#[test]
fn namespaced_defaults_add_to_cluster_defaults_in_their_namespace_only() {
    let set = policies(
        &[
            guardrail(
                "ClusterGuardrailPolicy",
                "{name: defaults}",
                "{defaults: {securityContext: {runAsNonRoot: true}}}",
            ),
            guardrail(
                "GuardrailPolicy",
                "{name: a-defaults, namespace: team-a}",
                "{defaults: {securityContext: {runAsNonRoot: false, allowPrivilegeEscalation: false}}}",
            ),
        ]
        .join("---\n"),
    );
    let patched = |ns: &str| {
        let d = set.evaluate(&pod(ns, json!({})), &VerdictMap::new());
        assert!(d.allowed, "{:?}", d.reasons);
        let mut doc = json!({"spec": {"containers": [{"name": "app"}]}});
        json_patch::patch(&mut doc, &d.patch).unwrap();
        (
            doc["spec"]["securityContext"].clone(),
            doc["spec"]["containers"][0]["securityContext"].clone(),
        )
    };
    assert_eq!(
        patched("team-a"),
        (
            json!({"runAsNonRoot": true}),
            json!({"allowPrivilegeEscalation": false})
        ),
        "the cluster default wins; the namespaced one fills what is still unset"
    );
    assert_eq!(
        patched("team-b"),
        (json!({"runAsNonRoot": true}), Value::Null)
    );
}

#[test]
fn identity_is_kind_namespace_and_name() {
    let set = policies(
        &[
            guardrail(
                "GuardrailPolicy",
                "{name: base, namespace: team-b}",
                "{podSecurity: {level: baseline}}",
            ),
            guardrail(
                "GuardrailPolicy",
                "{name: base, namespace: team-a}",
                "{mode: warn, podSecurity: {level: baseline}}",
            ),
            guardrail(
                "ClusterGuardrailPolicy",
                "{name: base}",
                "{mode: audit, podSecurity: {level: baseline}}",
            ),
        ]
        .join("---\n"),
    );
    let loaded = set.policies();
    let info: Vec<(PolicyKind, Option<&str>, &str, Mode)> = loaded
        .iter()
        .map(|p| (p.kind, p.namespace.as_deref(), p.name.as_str(), p.mode))
        .collect();
    assert_eq!(
        info,
        [
            (
                PolicyKind::ClusterGuardrailPolicy,
                None,
                "base",
                Mode::Audit
            ),
            (
                PolicyKind::GuardrailPolicy,
                Some("team-a"),
                "base",
                Mode::Warn
            ),
            (
                PolicyKind::GuardrailPolicy,
                Some("team-b"),
                "base",
                Mode::Enforce
            ),
        ]
    );
    let json = serde_json::to_value(set.policies()).unwrap();
    assert_eq!(json[1]["namespace"], "team-a");
    assert!(
        json[0].get("namespace").is_none(),
        "cluster policies as before"
    );

    let twice = guardrail(
        "GuardrailPolicy",
        "{name: base, namespace: team-a}",
        "{podSecurity: {level: baseline}}",
    );
    match PolicySet::from_sources([("a.yaml", twice.as_str()), ("b.yaml", twice.as_str())]) {
        Err(LoadError::Duplicate {
            kind,
            namespace,
            name,
            ..
        }) => {
            assert_eq!(
                (kind.as_str(), namespace.as_deref(), name.as_str()),
                ("GuardrailPolicy", Some("team-a"), "base")
            );
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
}

#[test]
fn a_namespaced_policy_needs_a_namespace_and_a_cluster_one_does_not() {
    for (kind, cluster) in [
        (
            PolicyKind::GuardrailPolicy,
            PolicyKind::ClusterGuardrailPolicy,
        ),
        (PolicyKind::ImagePolicy, PolicyKind::ClusterImagePolicy),
    ] {
        let text = if kind == PolicyKind::ImagePolicy {
            image_policy("ImagePolicy", "{name: x}", "enforce")
        } else {
            guardrail(
                "GuardrailPolicy",
                "{name: x}",
                "{podSecurity: {level: baseline}}",
            )
        };
        match PolicySet::from_yaml("ns.yaml", &text) {
            Err(LoadError::Policy { source, name, .. }) => {
                assert_eq!(name.as_deref(), Some("x"));
                let msg = source.to_string();
                assert!(
                    matches!(*source, PolicyError::MissingNamespace { kind: k, cluster: c } if k == kind && c == cluster),
                    "{msg}"
                );
                assert!(msg.starts_with("metadata.namespace is missing"), "{msg}");
            }
            other => panic!("{kind}: expected a missing namespace, got {other:?}"),
        }
    }
    // A cluster policy neither needs a namespace nor is confined by one written by mistake.
    let set = policies(&guardrail(
        "ClusterGuardrailPolicy",
        "{name: base, namespace: team-a}",
        "{podSecurity: {level: baseline}}",
    ));
    assert_eq!(set.policies()[0].namespace, None);
    assert!(
        !set.evaluate(&privileged("team-b"), &VerdictMap::new())
            .allowed
    );
}
