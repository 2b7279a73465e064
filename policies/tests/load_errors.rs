//! Invalid policies never load: every case in `tests/data/invalid_policies.yaml` fails with a
//! LoadError naming the source, document, policy and field, and a set with one bad document is
//! refused as a whole (the webhook keeps its last good set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use std::sync::Arc;

use portcullis_policies::{LoadError, PolicyError, PolicySet, TrustRoots};
use portcullis_verifier_types::Authority;
use portcullis_verifier_types::keyless::TrustedRoot;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    sources: BTreeMap<String, String>,
    error: Vec<String>,
}

#[test]
fn invalid_policies_fail_with_precise_errors() {
    let path = common::workspace_root().join("policies/tests/data/invalid_policies.yaml");
    let cases: Vec<Case> =
        serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in &cases {
        match PolicySet::from_sources(case.sources.iter().map(|(a, b)| (a.as_str(), b.as_str()))) {
            Ok(set) => failures.push(format!("{}: loaded {} policies", case.name, set.len())),
            Err(e) => {
                let msg = e.to_string();
                for want in &case.error {
                    if !msg.contains(want.as_str()) {
                        failures.push(format!("{}: {msg:?} lacks {want:?}", case.name));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_carry_typed_fields() {
    let text = "apiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {name: ok}\nspec: {podSecurity: {level: baseline}}\n---\n\n---\napiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {name: bad}\nspec: {podSecurity: {level: baseline, version: v2.0}}\n";
    match PolicySet::from_yaml("set.yaml", text) {
        Err(LoadError::Policy {
            origin,
            document,
            line,
            kind,
            name,
            source,
        }) => {
            let PolicyError::Version(v) = *source else {
                panic!("unexpected source: {source}")
            };
            assert_eq!((origin.as_str(), document, line), ("set.yaml", 2, 7));
            assert_eq!(kind.as_deref(), Some("ClusterGuardrailPolicy"));
            assert_eq!(name.as_deref(), Some("bad"));
            assert_eq!(v.text, "v2.0");
        }
        other => panic!("unexpected: {other:?}"),
    }
}

#[test]
fn valid_multi_document_sources_load_sorted() {
    let a = "apiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {name: zeta}\nspec: {podSecurity: {level: baseline}}\n---\napiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {name: alpha}\nspec: {rules: [{name: r, path: $.metadata.name, operator: exists}]}\n";
    let set = PolicySet::from_sources([("a.yaml", a), ("empty.yaml", "# nothing here\n")]).unwrap();
    let names: Vec<String> = set.policies().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(set.policies()[1].origin, "a.yaml document 1");
    assert!(
        PolicySet::from_sources(Vec::<(&str, &str)>::new())
            .unwrap()
            .is_empty()
    );
}

/// Keyless authorities compile against the trusted roots the webhook was given; each mistake in
/// an identity is named with its index.
#[test]
fn keyless_authorities_compile_against_named_trusted_roots() {
    let root = TrustedRoot::from_json(
        br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
        "test",
    )
    .unwrap();
    let roots: TrustRoots = [("test".to_string(), Arc::new(root))].into();
    let policy = |authorities: &str, extra: &str| {
        format!(
            "apiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {{name: k}}\nspec:\n  images: ['ghcr.io/**']\n  authorities:\n    keyless: {authorities}\n{extra}"
        )
    };
    let load = |text: &str| PolicySet::from_sources_with_roots([("k.yaml", text)], &roots);

    let ok = policy(
        "{trustedRoot: test, identities: [{subjectRegExp: '^https://github.com/acme/', issuer: https://token.actions.githubusercontent.com, claims: {github-workflow-trigger: push}}]}",
        "",
    );
    let set = load(&ok).unwrap();
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "ghcr.io/acme/app:1"}]}});
    let checks =
        set.image_checks(&portcullis_policies::Request::from_manifest(pod.clone()).unwrap());
    assert_eq!(checks.len(), 1);
    assert!(
        checks[0].fingerprint.starts_with("keyless:"),
        "{}",
        checks[0].fingerprint
    );
    let Authority::Keyless(req) = &checks[0].requirement.authority else {
        panic!("expected a keyless authority")
    };
    assert_eq!(
        req.identities[0].to_string(),
        "subject /^https://github.com/acme//, issuer \"https://token.actions.githubusercontent.com\", github-workflow-trigger \"push\""
    );

    // Attestations join a keyless requirement, and change what it is cached under.
    let with_att = policy(
        "{trustedRoot: test, identities: [{subject: a, issuer: i}]}",
        "  attestations: [{type: slsaprovenance1, conditions: [{path: $.builder.id, operator: exists}]}]\n",
    );
    let checks = load(&with_att)
        .unwrap()
        .image_checks(&portcullis_policies::Request::from_manifest(pod.clone()).unwrap());
    let Authority::Keyless(req) = &checks[0].requirement.authority else {
        panic!("expected a keyless authority")
    };
    assert_eq!(req.attestations.len(), 1);
    assert_eq!(
        req.attestations[0].predicate_type,
        "https://slsa.dev/provenance/v1"
    );
    let without = load(&policy(
        "{trustedRoot: test, identities: [{subject: a, issuer: i}]}",
        "",
    ))
    .unwrap()
    .image_checks(&portcullis_policies::Request::from_manifest(pod.clone()).unwrap());
    assert_ne!(checks[0].fingerprint, without[0].fingerprint);

    for (authorities, extra, want) in [
        (
            "{trustedRoot: test, identities: []}",
            "",
            "spec.authorities.keyless.identities is empty",
        ),
        (
            "{trustedRoot: test, identities: [{subject: a, subjectRegExp: b, issuer: i}]}",
            "",
            "identities[0]: set subject or subjectRegExp, not both",
        ),
        (
            "{trustedRoot: test, identities: [{subject: a}]}",
            "",
            "identities[0]: issuer or issuerRegExp is required",
        ),
        (
            "{trustedRoot: test, identities: [{subject: a, issuer: i}, {subjectRegExp: '(', issuer: i}]}",
            "",
            "identities[1]: subjectRegExp \"(\"",
        ),
        (
            "{trustedRoot: test, identities: [{subject: a, issuer: i, claims: {workflow: x}}]}",
            "",
            "unknown Fulcio extension \"workflow\"",
        ),
        (
            "{trustedRoot: prod, identities: [{subject: a, issuer: i}]}",
            "",
            "(known: test)",
        ),
    ] {
        let err = load(&policy(authorities, extra)).unwrap_err().to_string();
        assert!(err.contains(want), "{authorities}: {err:?} lacks {want:?}");
    }
}
