//! Keyless verification end to end against a private Sigstore (test CA + test log + a
//! `trusted_root.json`) and a real loopback registry: images signed keylessly in cosign's
//! classic format verify for the right identity and fail, each with its named error, for a
//! wrong subject, a wrong issuer, a certificate expired at the log time, a SET by an unknown key,
//! a log the root does not trust, or a CA outside its validity window. (The classic format has no
//! inclusion proof; tampered proofs are covered by `keyless_private_bundles.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod keyless_env;
mod support;

use keyless_env::KeylessEnv;
use portcullis_testkit::sigstore::{DAY, GITHUB, LeafSpec, SUBJECT, TestSigstore, release, req};
use portcullis_verifier::cosign::sign::sign_image;
use portcullis_verifier::keyless::{
    CertError, Claim, Identity, IdentityMismatch, KeylessError, RekorError, StringMatcher,
};
use portcullis_verifier::{PrivateKey, VerifyError};
use support::soon;

fn rejected(outcome: Result<portcullis_verifier::Verified, VerifyError>) -> KeylessError {
    match outcome {
        Err(VerifyError::KeylessRejected { source, .. }) => source,
        other => panic!("expected a keyless rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn keyless_signed_image_verifies_for_the_right_identity_only() {
    let mut k = KeylessEnv::start("keyless/app").await;
    let l = k.valid_leaf();
    let (img, digest) = k.signed_image("good", &l).await;

    let strict = release()
        .with_claim(
            Claim::SourceRepositoryRef,
            StringMatcher::exact("refs/tags/v1"),
        )
        .with_claim(
            Claim::SourceRepositoryUri,
            StringMatcher::exact("https://github.com/acme/app"),
        );
    let ok = k.verify(&img, &digest, &k.req(strict)).await.unwrap();
    assert_eq!(ok.digest, digest);
    assert_eq!(ok.key_ids, vec![format!("{SUBJECT} ({GITHUB})")]);
    let regex = Identity::new(
        StringMatcher::regex("^https://github.com/acme/").unwrap(),
        Some(StringMatcher::regex("^https://token\\.actions\\.").unwrap()),
    );
    assert!(k.verify(&img, &digest, &k.req(regex)).await.is_ok());

    let other_subject = Identity::new(
        StringMatcher::exact(
            "https://github.com/acme/other/.github/workflows/release.yml@refs/tags/v1",
        ),
        Some(StringMatcher::exact(GITHUB)),
    );
    let e = rejected(k.verify(&img, &digest, &k.req(other_subject)).await);
    assert!(
        matches!(&e, KeylessError::Identity(IdentityMismatch { field, .. }) if field == "subject"),
        "{e}"
    );
    let other_issuer = Identity::new(
        StringMatcher::exact(SUBJECT),
        Some(StringMatcher::exact("https://accounts.google.com")),
    );
    let e = rejected(k.verify(&img, &digest, &k.req(other_issuer)).await);
    assert!(
        matches!(&e, KeylessError::Identity(IdentityMismatch { field, .. }) if field == "issuer"),
        "{e}"
    );
    let other_ref = release().with_claim(
        Claim::SourceRepositoryRef,
        StringMatcher::exact("refs/heads/main"),
    );
    let e = rejected(k.verify(&img, &digest, &k.req(other_ref)).await);
    assert!(
        matches!(&e, KeylessError::Identity(IdentityMismatch { field, .. }) if field == "source-repository-ref"),
        "{e}"
    );

    // Through the cached verifier: the second call is a cache hit with the same verdict.
    let v = k.env.verifier();
    let r = k.req(release());
    let first = v.verify_keyless(&img, &r, soon()).await;
    assert_eq!(first.as_ref().as_ref().unwrap().key_ids, ok.key_ids);
    let again = v.verify_keyless(&img, &r, soon()).await;
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    assert_eq!(v.stats().hits.load(std::sync::atomic::Ordering::Relaxed), 1);

    // The same signature against another Sigstore's trusted root: its log is unknown there.
    let stranger = TestSigstore::new((k.t0 - DAY, k.t0 + DAY));
    let e = rejected(
        k.verify(&img, &digest, &req(&stranger, k.window, release()))
            .await,
    );
    assert!(
        matches!(e, KeylessError::Log(RekorError::UnknownLog { .. })),
        "{e}"
    );
}

#[tokio::test]
async fn expired_certificates_unknown_set_keys_and_ca_windows_are_rejected() {
    let mut k = KeylessEnv::start("keyless/app").await;
    let t0 = k.t0;

    // Certificate valid for ten minutes an hour before the log integrated the signature.
    let old = k.leaf((-4200, -3600));
    let (img, digest) = k.signed_image("expired", &old).await;
    let e = rejected(k.verify(&img, &digest, &k.req(release())).await);
    assert!(
        matches!(e, KeylessError::Certificate(CertError::NotValidAt { .. })),
        "{e}"
    );

    // A SET signed by a key that is not the log's.
    let (img, digest) = k.image("forged-set").await;
    let impostor = PrivateKey::generate();
    let l = k.valid_leaf();
    k.ss.sign_image(&k.env.client, &img, &digest, &l, t0, Some(&impostor))
        .await;
    let e = rejected(k.verify(&img, &digest, &k.req(release())).await);
    assert!(
        matches!(e, KeylessError::Log(RekorError::BadSet { .. })),
        "{e}"
    );

    // A good signature, but the trusted root's CA window ended before the log time…
    let l = k.valid_leaf();
    let (img, digest) = k.signed_image("late", &l).await;
    let closed = req(&k.ss, (Some(t0 - DAY), Some(t0 - 3600)), release());
    let e = rejected(k.verify(&img, &digest, &closed).await);
    assert!(
        matches!(e, KeylessError::Certificate(CertError::CaNotValidAt { .. })),
        "{e}"
    );
    // …or starts after it.
    let not_yet = req(&k.ss, (Some(t0 + 60), None), release());
    let e = rejected(k.verify(&img, &digest, &not_yet).await);
    assert!(
        matches!(e, KeylessError::Certificate(CertError::CaNotValidAt { .. })),
        "{e}"
    );
    assert!(k.verify(&img, &digest, &k.req(release())).await.is_ok());

    // A CA certificate that itself expired before the log time.
    let mut expired_ca = TestSigstore::new((t0 - 2 * DAY, t0 - DAY));
    let (img, digest) = k.image("expired-ca").await;
    let l = expired_ca.issue(&LeafSpec {
        subject: SUBJECT,
        issuer: GITHUB,
        not_before: t0 - 60,
        not_after: t0 + 540,
        claims: &[],
    });
    expired_ca
        .sign_image(&k.env.client, &img, &digest, &l, t0, None)
        .await;
    let e = rejected(
        k.verify(&img, &digest, &req(&expired_ca, (None, None), release()))
            .await,
    );
    assert!(
        matches!(e, KeylessError::Certificate(CertError::CaNotValidAt { .. })),
        "{e}"
    );
}

#[tokio::test]
async fn the_signature_that_got_furthest_explains_the_verdict() {
    let mut k = KeylessEnv::start("keyless/app").await;
    let t0 = k.t0;
    let (img, digest) = k.image("mixed").await;
    let key = PrivateKey::generate();
    sign_image(&k.env.client, &img, &key, soon()).await.unwrap();
    let e = rejected(k.verify(&img, &digest, &k.req(release())).await);
    assert!(
        matches!(e, KeylessError::NoCertificate { layers: 1 }),
        "key-signed only: {e}"
    );

    let expired = k.leaf((-4200, -3600));
    k.sign(&img, &digest, &expired).await;
    let mallory = k.ss.issue(&LeafSpec {
        subject: "mallory@example.com",
        issuer: GITHUB,
        not_before: t0 - 60,
        not_after: t0 + 540,
        claims: &[],
    });
    k.sign(&img, &digest, &mallory).await;
    let outcome = k.verify(&img, &digest, &k.req(release())).await;
    assert!(
        matches!(
            &outcome,
            Err(VerifyError::KeylessRejected {
                found: 2,
                source: KeylessError::Identity(_),
                ..
            })
        ),
        "{outcome:?}"
    );
    let l = k.valid_leaf();
    k.sign(&img, &digest, &l).await;
    let ok = k.verify(&img, &digest, &k.req(release())).await.unwrap();
    assert_eq!(ok.key_ids.len(), 1);

    let (unsigned, digest) = k.image("unsigned").await;
    let outcome = k.verify(&unsigned, &digest, &k.req(release())).await;
    // Both places were looked at, and the error names them.
    let hex = digest.hex();
    assert!(
        matches!(&outcome, Err(VerifyError::NoSignatureIn { looked, .. })
            if looked.contains(&format!("sha256-{hex}.sig"))
                && looked.contains(&format!("referrers tag {}:sha256-{hex} (absent)", unsigned.name()))),
        "{outcome:?}"
    );
}
