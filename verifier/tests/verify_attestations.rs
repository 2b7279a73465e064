//! Attestation verification against a real loopback registry: DSSE signatures, subjects and
//! predicate conditions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use portcullis_verifier::ImageRef;
use portcullis_verifier::cosign::sign::{Attached, attest_image, sign_image};
use portcullis_verifier::cosign::{Artifact, artifact_ref};
use portcullis_verifier::{
    AttestationRequirement, Condition, KeyRequirement, PrivateKey, VerifyError, predicate_type_uri,
};
use serde_json::json;
use support::{Env, signed_image, soon};

const SLSA1: &str = "https://slsa.dev/provenance/v1";

fn provenance(repo: &str) -> serde_json::Value {
    json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"repository": repo, "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}},
            "resolvedDependencies": []
        },
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}, "metadata": {"invocationId": "1"}}
    })
}

fn require(key: &PrivateKey, conditions: &[&str]) -> Arc<KeyRequirement> {
    Arc::new(KeyRequirement {
        keys: vec![key.public()],
        threshold: 1,
        attestations: vec![AttestationRequirement {
            predicate_type: predicate_type_uri("slsaprovenance1").into(),
            conditions: conditions
                .iter()
                .map(|c| Condition::parse(c).unwrap())
                .collect(),
        }],
        format: Default::default(),
    })
}

/// Attests `image` with SLSA v1 [`provenance`] naming `repo`, signed by `key`.
async fn attest_provenance(env: &Env, image: &ImageRef, key: &PrivateKey, repo: &str) -> Attached {
    let predicate = provenance(repo);
    let attached = attest_image(&env.client, image, key, SLSA1, predicate, soon()).await;
    attached.unwrap()
}

const REPO_COND: &str =
    "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo";

#[tokio::test]
async fn provenance_with_matching_conditions_verifies() {
    let (env, key, image, _) = signed_image("svc", "v1", b"attested").await;
    attest_provenance(&env, &image, &key, "https://github.com/org/repo").await;
    // An SBOM next to it must not confuse the provenance check.
    attest_image(
        &env.client,
        &image,
        &key,
        "https://cyclonedx.org/bom",
        json!({"bomFormat": "CycloneDX"}),
        soon(),
    )
    .await
    .unwrap();
    let verdict = env
        .verifier()
        .verify(
            &image,
            &require(&key, &[REPO_COND, "$.runDetails.builder.id exists"]),
            soon(),
        )
        .await;
    let v = verdict.as_ref().as_ref().unwrap();
    assert_eq!(v.attestations.len(), 1);
    assert_eq!(v.attestations[0].predicate_type, SLSA1);
    assert_eq!(v.attestations[0].conditions.len(), 2);
}

#[tokio::test]
async fn wrong_repository_missing_type_and_wrong_signer_fail_by_name() {
    let (env, key, image, _) = signed_image("svc", "fork", b"fork-build").await;
    let v = env.verifier();

    let err = v.verify(&image, &require(&key, &[REPO_COND]), soon()).await;
    assert!(
        matches!(err.as_ref(), Err(VerifyError::AttestationNotFound { .. })),
        "{err:?}"
    );

    attest_provenance(&env, &image, &key, "https://github.com/evil/fork").await;
    let v = env.verifier();
    let err = v.verify(&image, &require(&key, &[REPO_COND]), soon()).await;
    match err.as_ref() {
        Err(VerifyError::ConditionFailed { failure, .. }) => {
            assert_eq!(
                failure.path,
                "$.buildDefinition.externalParameters.workflow.repository"
            );
            assert_eq!(failure.expected, "== https://github.com/org/repo");
            assert_eq!(failure.actual, "https://github.com/evil/fork");
        }
        other => panic!("expected ConditionFailed, got {other:?}"),
    }

    // An attestation signed by an untrusted key counts for nothing.
    let stranger = PrivateKey::generate();
    let other = env.push("svc", "stranger", b"stranger").await;
    sign_image(&env.client, &other, &key, soon()).await.unwrap();
    attest_provenance(&env, &other, &stranger, "https://github.com/org/repo").await;
    let err = v.verify(&other, &require(&key, &[REPO_COND]), soon()).await;
    assert!(
        matches!(err.as_ref(), Err(VerifyError::AttestationNotFound { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn attestation_about_another_digest_is_rejected() {
    let env = Env::start().await;
    let key = PrivateKey::generate();
    let a = env.push("svc", "a", b"image-a").await;
    let b = env.push("svc", "b", b"image-b").await;
    let att = attest_provenance(&env, &a, &key, "https://github.com/org/repo").await;
    let done_b = sign_image(&env.client, &b, &key, soon()).await.unwrap();
    // Copy a's attestation manifest onto b's attestation tag.
    let from = artifact_ref(&a, &att.digest, Artifact::Attestation);
    let to = artifact_ref(&b, &done_b.digest, Artifact::Attestation);
    env.copy_manifest(&from, &to).await;
    let err = env
        .verifier()
        .verify(&b, &require(&key, &[REPO_COND]), soon())
        .await;
    match err.as_ref() {
        Err(VerifyError::SubjectMismatch {
            subjects, actual, ..
        }) => {
            assert_eq!(subjects, &format!("sha256:{}", att.digest.hex()));
            assert_eq!(actual, &done_b.digest.to_string());
        }
        other => panic!("expected SubjectMismatch, got {other:?}"),
    }
}
