//! The shipped policy library (`policies/library/*.yaml`) loads, every file and all together,
//! and each policy does what its comment promises.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use portcullis_policies::{Mode, PolicyKind, PolicySet, Request};
use portcullis_verifier_types::{Authority, PublicKey};
use serde_json::{Value, json};

const FILES: [&str; 10] = [
    "ci-signing.example.yaml",
    "image-hygiene.yaml",
    "keyless-github-release.example.yaml",
    "pod-security-baseline.yaml",
    "pod-security-restricted.yaml",
    "resource-limits.yaml",
    "sbom-licences.example.yaml",
    "secure-defaults.yaml",
    "signed-images.example.yaml",
    "vulnerability-scan.example.yaml",
];

/// Example `PolicyException`s (no policies of their own).
const EXCEPTIONS: [&str; 1] = ["debug-tools-exception.example.yaml"];

fn pod(containers: Value) -> Request {
    let mut r = Request::from_manifest(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})).unwrap();
    r.namespace = "apps".into();
    r
}

#[test]
fn every_library_file_parses_and_nothing_else_is_there() {
    let dir = common::workspace_root().join("policies/library");
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    let mut expected: Vec<&str> = FILES.iter().chain(&EXCEPTIONS).copied().collect();
    expected.sort_unstable();
    assert_eq!(
        present, expected,
        "library contents changed: update this test"
    );
    for f in FILES {
        let set = common::library(&[f]);
        assert_eq!(set.len(), 1, "{f}");
        assert_eq!(
            set.policies()[0].mode,
            if f == "image-hygiene.yaml" {
                Mode::Warn
            } else {
                Mode::Enforce
            },
            "{f}"
        );
    }
    let all = common::library(&FILES);
    let names: Vec<(PolicyKind, String)> = all
        .policies()
        .into_iter()
        .map(|p| (p.kind, p.name))
        .collect();
    assert_eq!(names.len(), 10);
    assert!(names.contains(&(PolicyKind::ClusterImagePolicy, "signed-images".into())));
    assert!(names.contains(&(
        PolicyKind::ClusterImagePolicy,
        "keyless-github-release".into()
    )));
}

#[test]
fn example_key_is_a_real_p256_key_and_the_attestation_is_slsa_v1() {
    let text = std::fs::read_to_string(
        common::workspace_root().join("policies/library/signed-images.example.yaml"),
    )
    .unwrap();
    let doc: Value = serde_saphyr::from_str(&text).unwrap();
    let pem = doc["spec"]["authorities"]["keys"][0]["pem"]
        .as_str()
        .unwrap();
    let key = PublicKey::from_pem(pem, "example key").unwrap();
    assert_eq!(key.to_pem().trim(), pem.trim());

    let set = common::library(&["signed-images.example.yaml"]);
    let checks = set.image_checks(&pod(json!([{"name": "w", "image": "ghcr.io/portcullis-dev/portcullis:0.1.0"}, {"name": "o", "image": "nginx:1.27"}])));
    assert_eq!(checks.len(), 1, "only the project's images are covered");
    let c = &checks[0];
    assert!(c.pin_digest);
    let Authority::Keys(req) = &c.requirement.authority else {
        panic!("expected a key authority")
    };
    assert_eq!(req.keys, vec![key]);
    assert_eq!(req.threshold, 1);
    let att = &req.attestations[0];
    assert_eq!(att.predicate_type, "https://slsa.dev/provenance/v1");
    assert_eq!(
        att.conditions[0].spec().path,
        "$.buildDefinition.externalParameters.workflow.repository"
    );
    assert_eq!(
        att.conditions[0].spec().value,
        Some(json!("https://github.com/portcullis-dev/portcullis"))
    );
    // Without a verdict the image is refused.
    let d = set.evaluate(
        &pod(json!([{"name": "w", "image": "ghcr.io/portcullis-dev/portcullis:0.1.0"}])),
        &common::no_facts(),
    );
    assert_eq!(d.denied_rules(), ["signed-images/verifyImage"]);
}

#[test]
fn secure_defaults_make_a_plain_pod_pass_restricted() {
    let plain = json!([{"name": "app", "image": "nginx:1.27"}]);
    let restricted = common::library(&["pod-security-restricted.yaml"]);
    let d = restricted.evaluate(&pod(plain.clone()), &common::no_facts());
    assert!(!d.allowed);
    let mut rules = d.denied_rules();
    rules.dedup();
    assert_eq!(
        rules,
        [
            "pod-security-restricted/allowPrivilegeEscalation",
            "pod-security-restricted/runAsNonRoot",
            "pod-security-restricted/seccompProfile_restricted",
            "pod-security-restricted/capabilities_restricted",
        ]
    );
    let both = common::library(&[
        "pod-security-restricted.yaml",
        "secure-defaults.yaml",
        "resource-limits.yaml",
    ]);
    let d = both.evaluate(&pod(plain), &common::no_facts());
    assert!(d.allowed, "{}", d.message());
    assert!(!d.patch.is_empty());
}

#[test]
fn baseline_resources_and_hygiene_do_their_job() {
    let baseline = common::library(&["pod-security-baseline.yaml"]);
    let d = baseline.evaluate(
        &pod(json!([{"name": "a", "image": "x:1", "securityContext": {"privileged": true}}])),
        &common::no_facts(),
    );
    assert_eq!(d.denied_rules(), ["pod-security-baseline/privileged"]);

    let resources = common::library(&["resource-limits.yaml"]);
    let d = resources.evaluate(&pod(json!([{"name": "a", "image": "x:1", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "8Gi"}}}])), &common::no_facts());
    assert_eq!(
        d.denied_rules(),
        ["resource-limits/resources.maxLimitRequestRatio"]
    );

    let hygiene: PolicySet = common::library(&["image-hygiene.yaml"]);
    let d = hygiene.evaluate(
        &pod(json!([{"name": "a", "image": "nginx:latest"}, {"name": "b", "image": "redis"}])),
        &common::no_facts(),
    );
    assert!(d.allowed);
    assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
    assert!(
        d.warnings[0].starts_with("image-hygiene/imageHygiene.latestTag: container \"a\""),
        "{}",
        d.warnings[0]
    );
}

#[test]
fn keyless_example_accepts_the_release_workflow_on_main_and_tags_only() {
    let set = common::library(&["keyless-github-release.example.yaml"]);
    let checks = set.image_checks(&pod(
        json!([{"name": "w", "image": "ghcr.io/portcullis-dev/jobs-api:0.1.0"}]),
    ));
    assert_eq!(checks.len(), 1);
    let Authority::Keyless(req) = &checks[0].requirement.authority else {
        panic!("expected a keyless authority")
    };
    let id = &req.identities[0];
    let workflow = "https://github.com/portcullis-dev/portcullis/.github/workflows/release.yml";
    for (reference, accepted) in [
        ("refs/heads/main", true),
        ("refs/tags/v1.2.0", true),
        ("refs/heads/feature", false),
        ("refs/pull/7/merge", false),
    ] {
        assert_eq!(
            id.subject.matches(&format!("{workflow}@{reference}")),
            accepted,
            "{reference}"
        );
    }
    assert!(!id.subject.matches(
        "https://github.com/mallory/portcullis/.github/workflows/release.yml@refs/heads/main"
    ));
    assert!(
        id.issuer
            .as_ref()
            .is_some_and(|i| i.matches("https://token.actions.githubusercontent.com"))
    );
    assert_eq!(id.claims.len(), 1);
}

#[test]
fn ci_signing_example_wants_what_the_sign_action_attaches_from_the_release_workflow() {
    let set = common::library(&["ci-signing.example.yaml"]);
    let checks = set.image_checks(&pod(json!([
        {"name": "w", "image": "ghcr.io/portcullis-dev/jobs-api:0.1.0"},
        {"name": "o", "image": "nginx:1.27"}
    ])));
    assert_eq!(checks.len(), 1, "only the project's images are covered");
    assert!(checks[0].pin_digest);
    let Authority::Keyless(req) = &checks[0].requirement.authority else {
        panic!("expected a keyless authority")
    };
    let id = &req.identities[0];
    let workflow = "https://github.com/portcullis-dev/portcullis/.github/workflows/release.yml";
    for (reference, accepted) in [
        ("refs/heads/main", true),
        ("refs/tags/v1.2.0", true),
        ("refs/heads/feature", false),
    ] {
        assert_eq!(
            id.subject.matches(&format!("{workflow}@{reference}")),
            accepted,
            "{reference}"
        );
    }
    // The reusable workflow's certificate names sign.yml, not the caller's release workflow.
    assert!(!id.subject.matches(
        "https://github.com/portcullis-dev/portcullis/.github/workflows/sign.yml@refs/heads/main"
    ));
    let claims: Vec<&str> = id.claims.iter().map(|(c, _)| c.name()).collect();
    assert_eq!(claims, ["runner-environment", "source-repository-uri"]);
    let types: Vec<&str> = req
        .attestations
        .iter()
        .map(|a| a.predicate_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "https://slsa.dev/provenance/v1",
            "https://cyclonedx.org/bom"
        ]
    );
    let provenance: Vec<(&str, Option<Value>)> = req.attestations[0]
        .conditions
        .iter()
        .map(|c| (c.spec().path.as_str(), c.spec().value.clone()))
        .collect();
    assert_eq!(
        provenance,
        [
            (
                "$.buildDefinition.externalParameters.workflow.repository",
                Some(json!("https://github.com/portcullis-dev/portcullis"))
            ),
            (
                "$.buildDefinition.externalParameters.workflow.path",
                Some(json!(".github/workflows/release.yml"))
            ),
        ]
    );
    // Without a verdict the image is refused.
    let d = set.evaluate(
        &pod(json!([{"name": "w", "image": "ghcr.io/portcullis-dev/jobs-api:0.1.0"}])),
        &common::no_facts(),
    );
    assert_eq!(d.denied_rules(), ["ci-signing/verifyImage"]);
}

#[test]
fn the_debug_tools_exception_waives_its_controls_for_its_images_in_team_a_only() {
    let set = common::library(&["pod-security-restricted.yaml", EXCEPTIONS[0]]);
    assert_eq!(set.exceptions().len(), 1);
    assert!(!set.exceptions()[0].ready, "no namespace listed");
    let set = set.with_exception_namespaces(["team-a"]);
    let request = |image: &str| {
        let mut r = Request::from_manifest(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "debug-1", "namespace": "team-a", "labels": {"app": "debug"}},
            "spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "tools", "image": image, "securityContext": {
                         "allowPrivilegeEscalation": false,
                         "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}}]}}))
        .unwrap();
        r.namespace = "team-a".into();
        r
    };
    let d = set.evaluate(
        &request("registry.example/debug/tools:1"),
        &common::no_facts(),
    );
    assert!(d.allowed, "{}", d.message());
    let waived: Vec<&str> = d.exemptions.iter().map(|e| e.rule.as_str()).collect();
    assert_eq!(waived, ["runAsNonRoot", "capabilities_restricted"]);
    let d = set.evaluate(&request("registry.example/web:1"), &common::no_facts());
    assert_eq!(
        d.denied_rules(),
        [
            "pod-security-restricted/runAsNonRoot",
            "pod-security-restricted/capabilities_restricted"
        ]
    );
}
