//! Signatures and attestations written as Sigstore bundles stored as OCI referrers
//! (`cosign::bundle_write`, cosign 3's format) on a loopback registry without the referrers API:
//! several signers share the fallback index, a threshold counts classic and bundle signatures
//! together, and writing the same signature twice adds nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use portcullis_verifier::cosign::bundle_write::{attest_image_bundle, sign_image_bundle};
use portcullis_verifier::cosign::sign::sign_image;
use portcullis_verifier::{
    AttestationRequirement, Condition, KeyRequirement, PrivateKey, SignatureFormat, VerifyError,
};
use support::{Env, requirement, soon};

#[tokio::test]
async fn bundle_signers_share_the_fallback_index_and_count_with_classic_ones() {
    let env = Env::start().await;
    let (k1, k2, k3) = (
        PrivateKey::generate(),
        PrivateKey::generate(),
        PrivateKey::generate(),
    );
    let image = env.push("bundles", "v1", b"bundles").await;
    let first = sign_image_bundle(&env.client, &image, &k1, soon())
        .await
        .unwrap();
    assert!(first.added);
    let second = sign_image_bundle(&env.client, &image, &k2, soon())
        .await
        .unwrap();
    assert!(second.added);
    let again = sign_image_bundle(&env.client, &image, &k1, soon())
        .await
        .unwrap();
    assert!(!again.added, "the same signature twice adds nothing");
    let listed = env
        .client
        .referrers(&image, &first.digest, None, soon())
        .await
        .unwrap();
    assert_eq!(listed.manifests.len(), 2, "{listed:?}");

    let v = env.verifier();
    let both = v.verify(&image, &requirement(&[&k1, &k2], 2), soon()).await;
    assert_eq!(both.as_ref().as_ref().unwrap().key_ids.len(), 2);
    // A classic signature by a third key counts with the bundles.
    sign_image(&env.client, &image, &k3, soon()).await.unwrap();
    let v = env.verifier();
    let mixed = v.verify(&image, &requirement(&[&k1, &k3], 2), soon()).await;
    assert!(mixed.is_ok(), "{mixed:?}");
    let short = v
        .verify(
            &image,
            &requirement(&[&k3, &PrivateKey::generate()], 2),
            soon(),
        )
        .await;
    assert!(
        matches!(
            short.as_ref(),
            Err(VerifyError::ThresholdNotMet {
                found: 3,
                valid: 1,
                threshold: 2,
                ..
            })
        ),
        "{short:?}"
    );
}

#[tokio::test]
async fn bundle_attestations_are_checked_like_classic_ones() {
    let env = Env::start().await;
    let key = PrivateKey::generate();
    let image = env.push("bundles", "att", b"bundle-attested").await;
    sign_image_bundle(&env.client, &image, &key, soon())
        .await
        .unwrap();
    let predicate = serde_json::json!({"buildDefinition": {"externalParameters": {"workflow": {"repository": "https://github.com/org/repo"}}}});
    attest_image_bundle(
        &env.client,
        &image,
        &key,
        "https://slsa.dev/provenance/v1",
        predicate,
        soon(),
    )
    .await
    .unwrap();
    let with = |cond: &str, format: SignatureFormat| {
        Arc::new(KeyRequirement {
            keys: vec![key.public()],
            threshold: 1,
            attestations: vec![AttestationRequirement {
                predicate_type: "https://slsa.dev/provenance/v1".into(),
                conditions: vec![Condition::parse(cond).unwrap()],
            }],
            format,
        })
    };
    let good =
        "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo";
    let v = env.verifier();
    let ok = v
        .verify(&image, &with(good, SignatureFormat::Bundle), soon())
        .await;
    assert_eq!(ok.as_ref().as_ref().unwrap().attestations.len(), 1);
    let bad =
        "$.buildDefinition.externalParameters.workflow.repository == https://github.com/evil/fork";
    match v
        .verify(&image, &with(bad, SignatureFormat::Any), soon())
        .await
        .as_ref()
    {
        Err(VerifyError::ConditionFailed { failure, .. }) => {
            assert_eq!(failure.actual, "https://github.com/org/repo");
        }
        other => panic!("expected the condition to fail, got {other:?}"),
    }
}
