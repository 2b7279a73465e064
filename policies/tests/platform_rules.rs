//! `spec.authorities.platforms` / `platformSignatures` compile into the image requirement (with
//! their own fingerprint), and a platform failure becomes a denial naming the platform, the
//! manifest and the fix. The invalid forms are cases in `tests/data/invalid_policies.yaml`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use portcullis_policies::{PolicySet, Request, VerdictMap};
use portcullis_verifier_types::{Platform, PlatformRule, PlatformSignatures, VerifyError};
use serde_json::json;

const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEl7wDr/sdpF/SGl0QGLiN0tMce2IY\n4rOdDd+Y+3gPUrFl0LUYbWOkn+V8SjWvHtbDaudUCI1wQK3Q9dqInA7iIA==\n-----END PUBLIC KEY-----\n";
const IMAGE: &str = "ghcr.io/acme/app:1";

fn policy(extra: &str) -> PolicySet {
    let text = format!(
        "apiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {{name: multi}}\nspec:\n  images: [\"ghcr.io/**\"]\n  authorities:\n{extra}    keys: [{{name: release, pem: {KEY:?}}}]\n"
    );
    PolicySet::from_yaml("multi.yaml", &text).unwrap()
}

fn pod() -> Request {
    let mut r = Request::from_manifest(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": IMAGE}]}})).unwrap();
    r.namespace = "apps".into();
    r
}

#[test]
fn platforms_compile_into_the_requirement_with_their_own_fingerprint() {
    let plain = policy("");
    let and = policy("    platforms: [linux/amd64, linux/arm/v7]\n");
    let or = policy(
        "    platforms: [linux/amd64, linux/arm/v7]\n    platformSignatures: indexOrPlatforms\n",
    );
    let check = |set: &PolicySet| set.image_checks(&pod()).remove(0);
    let (plain, and, or) = (check(&plain), check(&and), check(&or));
    assert_eq!(plain.requirement.platforms, None);
    let platforms: Vec<Platform> = vec![
        "linux/amd64".parse().unwrap(),
        "linux/arm/v7".parse().unwrap(),
    ];
    assert_eq!(
        and.requirement.platforms,
        Some(PlatformRule {
            platforms: platforms.clone(),
            signatures: PlatformSignatures::IndexAndPlatforms,
        }),
        "indexAndPlatforms is the default"
    );
    assert_eq!(
        or.requirement.platforms,
        Some(PlatformRule {
            platforms,
            signatures: PlatformSignatures::IndexOrPlatforms,
        })
    );
    // One authority, three requirements: never one cached verdict for another.
    assert_eq!(plain.fingerprint, plain.requirement.authority.fingerprint());
    assert_eq!(and.requirement.authority.fingerprint(), plain.fingerprint);
    assert_ne!(and.fingerprint, plain.fingerprint);
    assert_ne!(and.fingerprint, or.fingerprint);
    assert_eq!(and.fingerprint, and.requirement.fingerprint());
}

fn deny_reason(set: &PolicySet, err: VerifyError) -> String {
    let check = set.image_checks(&pod()).remove(0);
    let mut facts = VerdictMap::new();
    facts.insert(check.key(), Arc::new(Err(err)));
    let d = set.evaluate(&pod(), &facts);
    assert!(!d.allowed);
    d.message()
}

#[test]
fn a_platform_failure_is_denied_naming_the_manifest_and_the_fix() {
    let set = policy("    platforms: [linux/amd64, linux/arm64]\n");
    let digest = format!("sha256:{}", "a".repeat(64));
    let unsigned = VerifyError::NoSignatureIn {
        image: format!("{IMAGE}@{digest}"),
        looked: "tag sha256-aaaa.sig".into(),
    };
    let msg = deny_reason(
        &set,
        VerifyError::PlatformNotVerified {
            image: IMAGE.into(),
            platform: "linux/arm64".into(),
            digest: digest.clone(),
            signatures: PlatformSignatures::IndexAndPlatforms,
            source: Box::new(unsigned),
        },
    );
    assert_eq!(
        msg,
        format!(
            "multi/verifyImage: container \"app\" (spec.containers[0].image): {IMAGE}: platform linux/arm64 manifest {digest} is not verified (the policy requires the index and every listed platform manifest to verify): {IMAGE}@{digest}: no signature found (looked in tag sha256-aaaa.sig) — sign the linux/arm64 manifest too (`cosign sign --recursive --key` signs the index and every platform manifest); accepted signers: release"
        )
    );

    // A platform manifest that is signed but lacks an attestation gets the attestation fix.
    let msg = deny_reason(
        &set,
        VerifyError::PlatformNotVerified {
            image: IMAGE.into(),
            platform: "linux/arm64".into(),
            digest: digest.clone(),
            signatures: PlatformSignatures::IndexAndPlatforms,
            source: Box::new(VerifyError::AttestationNotFound {
                image: format!("{IMAGE}@{digest}"),
                predicate_type: "https://slsa.dev/provenance/v1".into(),
                looked: "tag sha256-aaaa.att".into(),
            }),
        },
    );
    assert!(
        msg.ends_with(" — for the linux/arm64 manifest: attach a matching attestation signed by a trusted key (release): `cosign attest --key`"),
        "{msg}"
    );

    let msg = deny_reason(
        &set,
        VerifyError::PlatformMissing {
            image: IMAGE.into(),
            platform: "linux/arm64".into(),
            available: "linux/amd64".into(),
        },
    );
    assert_eq!(
        msg,
        format!(
            "multi/verifyImage: container \"app\" (spec.containers[0].image): {IMAGE}: the image index has no manifest for platform linux/arm64 (it has linux/amd64); the policy requires one — push the image for linux/arm64, or correct spec.authorities.platforms (os/architecture[/variant])"
        )
    );
}
