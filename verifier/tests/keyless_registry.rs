//! Keyless verification end to end against a private Sigstore (test CA + test log + a
//! `trusted_root.json`) and a real loopback registry: images signed keylessly in cosign's
//! classic format verify for the right identity and fail, each with its named error, for a
//! wrong subject, a wrong issuer, a certificate expired at the log time, a SET by an unknown key,
//! a log the root does not trust, or a CA outside its validity window. (The classic format has no
//! inclusion proof; tampered proofs are covered by `keyless_private_bundles.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod keyless_support;
mod support;

use keyless_support::{DAY, GITHUB, LeafSpec, SUBJECT, TestSigstore, leaf, now, release, req};
use portcullis_verifier::cosign::sign::sign_image;
use portcullis_verifier::keyless::{
    CertError, Claim, Identity, IdentityMismatch, KeylessError, RekorError, StringMatcher,
    verify_keyless_digest,
};
use portcullis_verifier::{Digest, ImageRef, PrivateKey, VerifyError};
use support::{Env, soon};

async fn image(env: &Env, tag: &str) -> (ImageRef, Digest) {
    let image = env.push("keyless/app", tag, tag.as_bytes()).await;
    let digest = env.client.resolve(&image, soon()).await.unwrap();
    (image, digest)
}

fn rejected(outcome: Result<portcullis_verifier::Verified, VerifyError>) -> KeylessError {
    match outcome {
        Err(VerifyError::KeylessRejected { source, .. }) => source,
        other => panic!("expected a keyless rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn keyless_signed_image_verifies_for_the_right_identity_only() {
    let Some(env) = Env::start().await else {
        return;
    };
    let t0 = now();
    let mut ss = TestSigstore::new((t0 - DAY, t0 + DAY));
    let (img, digest) = image(&env, "good").await;
    let l = leaf(&ss, t0, (-60, 540));
    ss.sign_image(&env.client, &img, &digest, &l, t0, None)
        .await;
    let window = (Some(t0 - DAY), None);

    let strict = release()
        .with_claim(
            Claim::SourceRepositoryRef,
            StringMatcher::exact("refs/tags/v1"),
        )
        .with_claim(
            Claim::SourceRepositoryUri,
            StringMatcher::exact("https://github.com/acme/app"),
        );
    let ok = verify_keyless_digest(
        &env.client,
        &img,
        &digest,
        &req(&ss, window, strict),
        soon(),
    )
    .await
    .unwrap();
    assert_eq!(ok.digest, digest);
    assert_eq!(ok.key_ids, vec![format!("{SUBJECT} ({GITHUB})")]);
    let regex = Identity::new(
        StringMatcher::regex("^https://github.com/acme/").unwrap(),
        Some(StringMatcher::regex("^https://token\\.actions\\.").unwrap()),
    );
    assert!(
        verify_keyless_digest(&env.client, &img, &digest, &req(&ss, window, regex), soon())
            .await
            .is_ok()
    );

    let other_subject = Identity::new(
        StringMatcher::exact(
            "https://github.com/acme/other/.github/workflows/release.yml@refs/tags/v1",
        ),
        Some(StringMatcher::exact(GITHUB)),
    );
    let e = rejected(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&ss, window, other_subject),
            soon(),
        )
        .await,
    );
    assert!(
        matches!(&e, KeylessError::Identity(IdentityMismatch { field, .. }) if field == "subject"),
        "{e}"
    );
    let other_issuer = Identity::new(
        StringMatcher::exact(SUBJECT),
        Some(StringMatcher::exact("https://accounts.google.com")),
    );
    let e = rejected(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&ss, window, other_issuer),
            soon(),
        )
        .await,
    );
    assert!(
        matches!(&e, KeylessError::Identity(IdentityMismatch { field, .. }) if field == "issuer"),
        "{e}"
    );
    let other_ref = release().with_claim(
        Claim::SourceRepositoryRef,
        StringMatcher::exact("refs/heads/main"),
    );
    let e = rejected(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&ss, window, other_ref),
            soon(),
        )
        .await,
    );
    assert!(
        matches!(&e, KeylessError::Identity(IdentityMismatch { field, .. }) if field == "source-repository-ref"),
        "{e}"
    );

    // Through the cached verifier: the second call is a cache hit with the same verdict.
    let v = env.verifier();
    let r = req(&ss, window, release());
    let first = v.verify_keyless(&img, &r, soon()).await;
    assert_eq!(first.as_ref().as_ref().unwrap().key_ids, ok.key_ids);
    let again = v.verify_keyless(&img, &r, soon()).await;
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    assert_eq!(v.stats().hits.load(std::sync::atomic::Ordering::Relaxed), 1);

    // The same signature against another Sigstore's trusted root: its log is unknown there.
    let stranger = TestSigstore::new((t0 - DAY, t0 + DAY));
    let e = rejected(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&stranger, window, release()),
            soon(),
        )
        .await,
    );
    assert!(
        matches!(e, KeylessError::Log(RekorError::UnknownLog { .. })),
        "{e}"
    );
}

#[tokio::test]
async fn expired_certificates_unknown_set_keys_and_ca_windows_are_rejected() {
    let Some(env) = Env::start().await else {
        return;
    };
    let t0 = now();
    let mut ss = TestSigstore::new((t0 - DAY, t0 + DAY));
    let window = (Some(t0 - DAY), None);

    // Certificate valid for ten minutes an hour before the log integrated the signature.
    let (img, digest) = image(&env, "expired").await;
    let old = leaf(&ss, t0, (-4200, -3600));
    ss.sign_image(&env.client, &img, &digest, &old, t0, None)
        .await;
    let e = rejected(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&ss, window, release()),
            soon(),
        )
        .await,
    );
    assert!(
        matches!(e, KeylessError::Certificate(CertError::NotValidAt { .. })),
        "{e}"
    );

    // A SET signed by a key that is not the log's.
    let (img, digest) = image(&env, "forged-set").await;
    let impostor = PrivateKey::generate();
    ss.sign_image(
        &env.client,
        &img,
        &digest,
        &leaf(&ss, t0, (-60, 540)),
        t0,
        Some(&impostor),
    )
    .await;
    let e = rejected(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&ss, window, release()),
            soon(),
        )
        .await,
    );
    assert!(
        matches!(e, KeylessError::Log(RekorError::BadSet { .. })),
        "{e}"
    );

    // A good signature, but the trusted root's CA window ended before the log time…
    let (img, digest) = image(&env, "late").await;
    ss.sign_image(
        &env.client,
        &img,
        &digest,
        &leaf(&ss, t0, (-60, 540)),
        t0,
        None,
    )
    .await;
    let e = rejected(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&ss, (Some(t0 - DAY), Some(t0 - 3600)), release()),
            soon(),
        )
        .await,
    );
    assert!(
        matches!(e, KeylessError::Certificate(CertError::CaNotValidAt { .. })),
        "{e}"
    );
    // …or starts after it.
    let e = rejected(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&ss, (Some(t0 + 60), None), release()),
            soon(),
        )
        .await,
    );
    assert!(
        matches!(e, KeylessError::Certificate(CertError::CaNotValidAt { .. })),
        "{e}"
    );
    assert!(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&ss, window, release()),
            soon()
        )
        .await
        .is_ok()
    );

    // A CA certificate that itself expired before the log time.
    let mut expired_ca = TestSigstore::new((t0 - 2 * DAY, t0 - DAY));
    let (img, digest) = image(&env, "expired-ca").await;
    let l = expired_ca.issue(&LeafSpec {
        subject: SUBJECT,
        issuer: GITHUB,
        not_before: t0 - 60,
        not_after: t0 + 540,
        claims: &[],
    });
    expired_ca
        .sign_image(&env.client, &img, &digest, &l, t0, None)
        .await;
    let e = rejected(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&expired_ca, (None, None), release()),
            soon(),
        )
        .await,
    );
    assert!(
        matches!(e, KeylessError::Certificate(CertError::CaNotValidAt { .. })),
        "{e}"
    );
}

#[tokio::test]
async fn the_signature_that_got_furthest_explains_the_verdict() {
    let Some(env) = Env::start().await else {
        return;
    };
    let t0 = now();
    let mut ss = TestSigstore::new((t0 - DAY, t0 + DAY));
    let window = (Some(t0 - DAY), None);
    let (img, digest) = image(&env, "mixed").await;
    let key = PrivateKey::generate();
    sign_image(&env.client, &img, &key, soon()).await.unwrap();
    let e = rejected(
        verify_keyless_digest(
            &env.client,
            &img,
            &digest,
            &req(&ss, window, release()),
            soon(),
        )
        .await,
    );
    assert!(
        matches!(e, KeylessError::NoCertificate { layers: 1 }),
        "key-signed only: {e}"
    );

    ss.sign_image(
        &env.client,
        &img,
        &digest,
        &leaf(&ss, t0, (-4200, -3600)),
        t0,
        None,
    )
    .await;
    let mallory = ss.issue(&LeafSpec {
        subject: "mallory@example.com",
        issuer: GITHUB,
        not_before: t0 - 60,
        not_after: t0 + 540,
        claims: &[],
    });
    ss.sign_image(&env.client, &img, &digest, &mallory, t0, None)
        .await;
    let outcome = verify_keyless_digest(
        &env.client,
        &img,
        &digest,
        &req(&ss, window, release()),
        soon(),
    )
    .await;
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
    ss.sign_image(
        &env.client,
        &img,
        &digest,
        &leaf(&ss, t0, (-60, 540)),
        t0,
        None,
    )
    .await;
    let ok = verify_keyless_digest(
        &env.client,
        &img,
        &digest,
        &req(&ss, window, release()),
        soon(),
    )
    .await
    .unwrap();
    assert_eq!(ok.key_ids.len(), 1);

    let (unsigned, digest) = image(&env, "unsigned").await;
    let outcome = verify_keyless_digest(
        &env.client,
        &unsigned,
        &digest,
        &req(&ss, window, release()),
        soon(),
    )
    .await;
    // Both places were looked at, and the error names them.
    let hex = digest.hex();
    assert!(
        matches!(&outcome, Err(VerifyError::NoSignatureIn { looked, .. })
            if looked.contains(&format!("sha256-{hex}.sig"))
                && looked.contains(&format!("referrers tag {}:sha256-{hex} (absent)", unsigned.name()))),
        "{outcome:?}"
    );
}
