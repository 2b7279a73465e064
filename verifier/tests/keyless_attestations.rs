//! Keyless attestations against a private Sigstore and a real loopback registry, in both places
//! cosign puts them: the classic `sha256-<hex>.att` tag (keyless `cosign attest`: a DSSE layer
//! with certificate and Rekor-bundle annotations, logged as an `intoto` entry) and DSSE bundles
//! attached as OCI referrers (`--new-bundle-format`). An attestation passes with the right
//! identity and conditions; a failed condition, a signer outside the identity policy, a
//! statement about another digest and a missing type each fail with their named error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod keyless_env;
mod support;

use keyless_env::KeylessEnv;
use portcullis_testkit::sigstore::{GITHUB, LeafSpec, SUBJECT, release, statement};
use portcullis_verifier::keyless::{IdentityMismatch, KeylessError, KeylessRequirement};
use portcullis_verifier::{AttestationRequirement, Condition, VerifyError};
use serde_json::json;
use support::soon;

const SLSA: &str = "https://slsa.dev/provenance/v1";
const BUILDER: &str = "https://github.com/acme/builder";

fn provenance(builder: &str) -> serde_json::Value {
    json!({"buildDefinition": {"buildType": "https://acme/build/v1"},
        "runDetails": {"builder": {"id": builder}}})
}

fn wanting(
    base: KeylessRequirement,
    predicate_type: &str,
    conditions: &[&str],
) -> KeylessRequirement {
    KeylessRequirement {
        attestations: vec![AttestationRequirement {
            predicate_type: predicate_type.into(),
            conditions: conditions
                .iter()
                .map(|c| Condition::parse(c).unwrap())
                .collect(),
        }],
        ..base
    }
}

const ON_BUILDER: &str = "$.runDetails.builder.id == https://github.com/acme/builder";
const ON_OTHER: &str = "$.runDetails.builder.id == https://github.com/evil/builder";

#[tokio::test]
async fn classic_keyless_attestations_are_verified() {
    let mut k = KeylessEnv::start("attest/app").await;
    let t0 = k.t0;
    let l = k.valid_leaf();
    let (img, digest) = k.signed_image("classic", &l).await;
    let base = k.req(release());

    // Signed but not attested: the missing type names where it looked.
    let outcome = k
        .verify(&img, &digest, &wanting(base.clone(), SLSA, &[]))
        .await;
    match &outcome {
        Err(VerifyError::AttestationNotFound {
            predicate_type,
            looked,
            ..
        }) => {
            assert_eq!(predicate_type, SLSA);
            assert!(
                looked.contains(&format!("sha256-{}.att", digest.hex())),
                "{looked}"
            );
            assert!(looked.contains("referrers tag"), "{looked}");
        }
        other => panic!("expected a missing attestation, got {other:?}"),
    }

    k.attest(&img, &digest, &l, SLSA, provenance(BUILDER)).await;
    let ok = k
        .verify(&img, &digest, &wanting(base.clone(), SLSA, &[ON_BUILDER]))
        .await
        .unwrap();
    assert_eq!(ok.attestations.len(), 1);
    assert_eq!(ok.attestations[0].predicate_type, SLSA);
    assert_eq!(
        ok.attestations[0].key_ids,
        vec![format!("{SUBJECT} ({GITHUB})")]
    );
    assert_eq!(ok.attestations[0].conditions, vec![ON_BUILDER.to_string()]);

    let outcome = k
        .verify(&img, &digest, &wanting(base.clone(), SLSA, &[ON_OTHER]))
        .await;
    assert!(
        matches!(&outcome, Err(VerifyError::ConditionFailed { predicate_type, .. }) if predicate_type == SLSA),
        "{outcome:?}"
    );
    let spdx = wanting(base.clone(), "https://spdx.dev/Document", &[]);
    let outcome = k.verify(&img, &digest, &spdx).await;
    assert!(
        matches!(&outcome, Err(VerifyError::AttestationNotFound { predicate_type, .. }) if predicate_type == "https://spdx.dev/Document"),
        "{outcome:?}"
    );

    // An attestation by someone else: the image signature passes, the attestation does not.
    let (img2, digest2) = k.signed_image("classic-mallory", &l).await;
    let mallory = k.ss.issue(&LeafSpec {
        subject: "https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1",
        issuer: GITHUB,
        not_before: t0 - 60,
        not_after: t0 + 540,
        claims: &[],
    });
    k.attest(&img2, &digest2, &mallory, SLSA, provenance(BUILDER))
        .await;
    let outcome = k
        .verify(&img2, &digest2, &wanting(base.clone(), SLSA, &[ON_BUILDER]))
        .await;
    match &outcome {
        Err(VerifyError::KeylessAttestationRejected { at, source, .. }) => {
            let KeylessError::Identity(IdentityMismatch { field, .. }) = source.as_ref() else {
                panic!("expected an identity mismatch, got {source}");
            };
            assert_eq!(field, "subject");
            assert!(
                at.contains(&format!("sha256-{}.att", digest2.hex())),
                "{at}"
            );
        }
        other => panic!("expected the attestation's signer to be rejected, got {other:?}"),
    }

    // The requirement's attestations are part of its cache key.
    let plain = base.fingerprint();
    let on_builder = wanting(base.clone(), SLSA, &[ON_BUILDER]).fingerprint();
    assert_ne!(plain, on_builder);
    assert_ne!(
        on_builder,
        wanting(base.clone(), SLSA, &[ON_OTHER]).fingerprint()
    );
    assert_eq!(on_builder, wanting(base, SLSA, &[ON_BUILDER]).fingerprint());
}

#[tokio::test]
async fn referrer_attestation_bundles_are_verified() {
    let mut k = KeylessEnv::start("attest/app").await;
    let t0 = k.t0;
    let l = k.valid_leaf();
    let base = k.req(release());
    let (img, digest) = k.image("bundles").await;
    let (_, other) = k.image("bundles-other").await;
    k.attach_signature(&img, &digest, &l).await;

    // A statement about another image, listed as a referrer of this one.
    let stray =
        k.ss.sign_statement(&l, &statement(&other, SLSA, Some(provenance(BUILDER))), t0);
    k.attach(&img, &digest, &stray).await;
    let outcome = k
        .verify(&img, &digest, &wanting(base.clone(), SLSA, &[ON_BUILDER]))
        .await;
    match &outcome {
        Err(VerifyError::SubjectMismatch {
            subjects, actual, ..
        }) => {
            assert!(subjects.contains(other.hex()), "{subjects}");
            assert_eq!(actual, &digest.to_string());
        }
        other => panic!("expected a subject mismatch, got {other:?}"),
    }

    let att =
        k.ss.sign_statement(&l, &statement(&digest, SLSA, Some(provenance(BUILDER))), t0);
    k.attach(&img, &digest, &att).await;
    let ok = k
        .verify(&img, &digest, &wanting(base.clone(), SLSA, &[ON_BUILDER]))
        .await
        .unwrap();
    assert_eq!(ok.key_ids, vec![format!("{SUBJECT} ({GITHUB})")]);
    assert_eq!(ok.attestations[0].key_ids, ok.key_ids);
    // Through the cached verifier.
    let verdict = k
        .env
        .verifier()
        .verify_keyless(&img, &wanting(base.clone(), SLSA, &[ON_BUILDER]), soon())
        .await;
    assert!(verdict.is_ok(), "{verdict:?}");

    let outcome = k
        .verify(&img, &digest, &wanting(base.clone(), SLSA, &[ON_OTHER]))
        .await;
    assert!(
        matches!(&outcome, Err(VerifyError::ConditionFailed { .. })),
        "{outcome:?}"
    );
    let cyclonedx = wanting(base, "https://cyclonedx.org/bom", &[]);
    let outcome = k.verify(&img, &digest, &cyclonedx).await;
    assert!(
        matches!(&outcome, Err(VerifyError::AttestationNotFound { .. })),
        "{outcome:?}"
    );

    // A wrong issuer rejects the signature bundle first; the attestation alone is no signature.
    let google = portcullis_verifier::keyless::Identity::new(
        portcullis_verifier::keyless::StringMatcher::exact(SUBJECT),
        Some(portcullis_verifier::keyless::StringMatcher::exact(
            "https://accounts.google.com",
        )),
    );
    let outcome = k
        .verify(&img, &digest, &wanting(k.req(google), SLSA, &[ON_BUILDER]))
        .await;
    assert!(
        matches!(&outcome, Err(VerifyError::ReferrerRejected { source, .. })
            if matches!(source.as_ref(), KeylessError::Identity(IdentityMismatch { field, .. }) if field == "issuer")),
        "{outcome:?}"
    );
}
