//! Signature verification against a real loopback registry: every outcome gets its named error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use portcullis_verifier::cosign::sign::sign_image;
use portcullis_verifier::cosign::{Artifact, artifact_ref};
use portcullis_verifier::{Digest, PrivateKey, VerifyError, verify_digest};
use support::{Env, requirement, signed_image, soon};

#[tokio::test]
async fn signed_image_verifies_and_names_its_key() {
    let (env, key, image, done) = signed_image("app", "v1", b"signed").await;
    assert!(done.added);
    assert!(
        !sign_image(&env.client, &image, &key, soon())
            .await
            .unwrap()
            .added,
        "idempotent"
    );

    let verdict = env
        .verifier()
        .verify(&image, &requirement(&[&key], 1), soon())
        .await;
    let verified = verdict.as_ref().as_ref().unwrap();
    assert_eq!(verified.digest, done.digest);
    assert_eq!(verified.key_ids, vec![key.public().id().to_string()]);
}

#[tokio::test]
async fn unsigned_wrong_key_and_threshold_fail_by_name() {
    let env = Env::start().await;
    let (k1, k2, k3) = (
        PrivateKey::generate(),
        PrivateKey::generate(),
        PrivateKey::generate(),
    );
    let unsigned = env.push("app", "unsigned", b"unsigned").await;
    let err = env
        .verifier()
        .verify(&unsigned, &requirement(&[&k1], 1), soon())
        .await;
    assert!(
        matches!(err.as_ref(), Err(VerifyError::NoSignatureIn { looked, .. })
            if looked.contains(".sig (layers application/vnd.dev.cosign.simplesigning.v1+json)")
                && looked.contains("referrers tag")
                && looked.contains("(artifact type application/vnd.dev.sigstore.bundle.v0.3+json)")),
        "{err:?}"
    );

    let image = env.push("app", "two", b"two-signers").await;
    sign_image(&env.client, &image, &k1, soon()).await.unwrap();
    sign_image(&env.client, &image, &k2, soon()).await.unwrap();
    let v = env.verifier();
    assert!(
        v.verify(&image, &requirement(&[&k1, &k2, &k3], 2), soon())
            .await
            .is_ok(),
        "2 of 3"
    );
    let err = v.verify(&image, &requirement(&[&k1, &k3], 2), soon()).await;
    assert!(
        matches!(
            err.as_ref(),
            Err(VerifyError::ThresholdNotMet {
                found: 2,
                valid: 1,
                threshold: 2,
                ..
            })
        ),
        "{err:?}"
    );
    let err = v.verify(&image, &requirement(&[&k3], 1), soon()).await;
    assert!(
        matches!(
            err.as_ref(),
            Err(VerifyError::ThresholdNotMet { valid: 0, .. })
        ),
        "{err:?}"
    );
    assert!(
        err.as_ref()
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("signed by 0 of the 1 required trusted key(s) (2 signature(s) found)")
    );
}

#[tokio::test]
async fn tampered_signature_is_rejected() {
    let (env, key, image, done) = signed_image("app", "tamper", b"tamper").await;
    // Replace the signature annotation with a signature over other bytes.
    let sig_ref = artifact_ref(&image, &done.digest, Artifact::Signature);
    let m = env.manifest(&sig_ref).await;
    let mut doc: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
    use base64::Engine as _;
    let forged = base64::engine::general_purpose::STANDARD.encode(key.sign(b"something else"));
    doc["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] = forged.into();
    let bytes = serde_json::to_vec(&doc).unwrap();
    env.put_manifest(&sig_ref, &m.media_type, &bytes).await;
    let err = env
        .verifier()
        .verify(&image, &requirement(&[&key], 1), soon())
        .await;
    assert!(
        matches!(
            err.as_ref(),
            Err(VerifyError::ThresholdNotMet {
                found: 1,
                valid: 0,
                ..
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_verdict_does_not_follow_the_digest_to_another_repository() {
    let (env, key, signed, _) = signed_image("team-a/app", "v1", b"same-content").await;
    let req = requirement(&[&key], 1);
    // The same image copied to a repository where nobody signed it: same digest.
    let copy = env.push("team-b/app", "v1", b"same-content").await;
    let v = env.verifier();
    let ok = v.verify(&signed, &req, soon()).await;
    let digest = ok.as_ref().as_ref().unwrap().digest.clone();
    assert_eq!(env.client.resolve(&copy, soon()).await.unwrap(), digest);
    let err = v.verify(&copy, &req, soon()).await;
    assert!(
        matches!(err.as_ref(), Err(VerifyError::NoSignatureIn { image, .. }) if image.contains("team-b/app")),
        "the cached verdict of team-a/app must not answer for team-b/app: {err:?}"
    );
}

#[tokio::test]
async fn repushed_tag_and_copied_signature_are_caught() {
    let (env, key, _, signed) = signed_image("app", "v1", b"original").await;
    // Someone pushes new content under the signed tag.
    let image = env.push("app", "v1", b"malicious").await;
    let req = requirement(&[&key], 1);
    let err = env.verifier().verify(&image, &req, soon()).await;
    assert!(
        matches!(err.as_ref(), Err(VerifyError::NoSignatureIn { .. })),
        "{err:?}"
    );

    // ...and copies the old signature manifest onto the new digest's signature tag.
    let new_digest: Digest = env.client.resolve(&image, soon()).await.unwrap();
    assert_ne!(new_digest, signed.digest);
    let old = artifact_ref(&image, &signed.digest, Artifact::Signature);
    let new = artifact_ref(&image, &new_digest, Artifact::Signature);
    env.copy_manifest(&old, &new).await;
    let err = verify_digest(&env.client, &image, &new_digest, &req, soon()).await;
    match err {
        Err(VerifyError::DigestMismatch {
            signed: s, actual, ..
        }) => {
            assert_eq!(s, signed.digest.to_string());
            assert_eq!(actual, new_digest.to_string());
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn multi_arch_index_resolves_to_the_index_digest() {
    let env = Env::start().await;
    let digest = portcullis_testkit::push_index(&env.registry.addr(), "multi", "v1", b"idx")
        .await
        .unwrap();
    let image = format!("{}/multi:v1", env.proxy.addr()).parse().unwrap();
    let resolved = env.client.resolve(&image, soon()).await.unwrap();
    assert_eq!(resolved.as_str(), digest);
    let key = PrivateKey::generate();
    sign_image(&env.client, &image, &key, soon()).await.unwrap();
    assert!(
        env.verifier()
            .verify(&image, &requirement(&[&key], 1), soon())
            .await
            .is_ok()
    );
}
