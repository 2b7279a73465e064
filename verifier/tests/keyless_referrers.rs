//! Sigstore bundles attached to images as OCI 1.1 referrers (cosign v3 `--new-bundle-format`),
//! found through the `sha256-<hex>` referrers tag on a real loopback registry without the
//! referrers API (CNCF distribution 2.8): a bundle signed by the right identity verifies; a wrong
//! subject or issuer, a bundle about another digest, and an index entry whose manifest is missing
//! each fail with a named error that says where the bundle was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod keyless_env;
mod support;

use keyless_env::KeylessEnv;
use portcullis_testkit::sigstore::{GITHUB, SUBJECT, release};
use portcullis_verifier::keyless::{Identity, TrustedRootFile};
use portcullis_verifier::keyless::{IdentityMismatch, KeylessError, StringMatcher};
use portcullis_verifier::registry::referrers::ReferrersSource;
use portcullis_verifier::{Digest, ImageRef, RegistryError, VerifyError};
use support::{Env, soon};

const REPO: &str = "referrers/app";

fn tag_of(image: &ImageRef, digest: &Digest) -> String {
    format!("referrers tag {}:sha256-{}", image.name(), digest.hex())
}

#[tokio::test]
async fn referrer_bundles_verify_for_the_right_identity_only() {
    let mut k = KeylessEnv::start(REPO).await;
    let (img, digest) = k.image("dsse").await;
    let l = k.valid_leaf();
    let manifest_digest = k.attach_signature(&img, &digest, &l).await;

    // The listing falls back to the tag on this registry, and names it.
    let listed = k
        .env
        .client
        .referrers(&img, &digest, None, soon())
        .await
        .unwrap();
    assert!(
        matches!(&listed.source, ReferrersSource::Tag { found: true, .. }),
        "{:?}",
        listed.source
    );
    assert_eq!(listed.source.to_string(), tag_of(&img, &digest));
    assert_eq!(listed.manifests.len(), 1);
    assert_eq!(listed.manifests[0].digest, manifest_digest.as_str());

    let ok = k.verify(&img, &digest, &k.req(release())).await.unwrap();
    assert_eq!(ok.key_ids, vec![format!("{SUBJECT} ({GITHUB})")]);
    // Through the cached verifier too.
    let v = k.env.verifier();
    let verdict = v.verify_keyless(&img, &k.req(release()), soon()).await;
    assert_eq!(verdict.as_ref().as_ref().unwrap().key_ids, ok.key_ids);

    for (identity, field) in [
        (
            Identity::new(
                StringMatcher::exact(
                    "https://github.com/acme/other/.github/workflows/x.yml@refs/heads/main",
                ),
                Some(StringMatcher::exact(GITHUB)),
            ),
            "subject",
        ),
        (
            Identity::new(
                StringMatcher::exact(SUBJECT),
                Some(StringMatcher::exact("https://accounts.google.com")),
            ),
            "issuer",
        ),
    ] {
        let outcome = k.verify(&img, &digest, &k.req(identity)).await;
        match &outcome {
            Err(VerifyError::ReferrerRejected {
                referrer,
                source,
                found: 1,
                ..
            }) if matches!(source.as_ref(),
                KeylessError::Identity(IdentityMismatch { field: f, .. }) if f == field) =>
            {
                assert!(referrer.starts_with(manifest_digest.as_str()), "{referrer}");
                assert!(referrer.contains(&tag_of(&img, &digest)), "{referrer}");
            }
            other => panic!("expected a {field} mismatch of the referrer, got {other:?}"),
        }
        let text = outcome.unwrap_err().to_string();
        assert!(text.contains(manifest_digest.as_str()), "{text}");
    }

    // A message-signature bundle over the image manifest counts as a signature as well.
    let (img2, digest2) = k.image("message").await;
    let manifest = k
        .env
        .client
        .get_manifest(&img2, digest2.as_str(), soon())
        .await
        .unwrap()
        .unwrap();
    let blob_bundle = k.ss.sign_blob(&l, &manifest.bytes, k.t0);
    k.attach(&img2, &digest2, &blob_bundle).await;
    let ok = k.verify(&img2, &digest2, &k.req(release())).await.unwrap();
    assert_eq!(ok.key_ids.len(), 1);
}

#[tokio::test]
async fn bundles_for_other_digests_and_missing_referrers_are_rejected() {
    let mut k = KeylessEnv::start(REPO).await;
    let l = k.valid_leaf();
    let (img, digest) = k.image("target").await;
    let (_, other) = k.image("other").await;

    // A valid bundle, by the right identity, but its statement is about another image: listed
    // as a referrer of `img`, it must not count.
    let for_other = k.ss.sign_image_bundle(&l, &other, k.t0);
    let referrer = k.attach(&img, &digest, &for_other).await;
    let outcome = k.verify(&img, &digest, &k.req(release())).await;
    match &outcome {
        Err(VerifyError::ReferrerRejected {
            referrer: at,
            source,
            ..
        }) => {
            let KeylessError::ContentMismatch { expected, actual } = source.as_ref() else {
                panic!("expected a subject mismatch, got {source}");
            };
            assert_eq!(expected, &digest.to_string());
            assert!(actual.contains(other.hex()), "{actual}");
            assert!(at.starts_with(referrer.as_str()), "{at}");
        }
        other => panic!("expected a subject mismatch, got {other:?}"),
    }

    // An index entry whose manifest is not in the registry (the registry checks entries when
    // the index is pushed, so the manifest is deleted afterwards).
    let (img3, digest3) = k.image("dangling").await;
    let missing = k.attach_signature(&img3, &digest3, &l).await;
    delete_manifest(&k.env, &missing).await;
    let outcome = k.verify(&img3, &digest3, &k.req(release())).await;
    match &outcome {
        Err(VerifyError::Registry {
            source: RegistryError::NotFound { what, .. },
            ..
        }) => {
            assert!(
                what.contains(&format!("referrer manifest {missing}")),
                "{what}"
            );
            assert!(what.contains(&tag_of(&img3, &digest3)), "{what}");
        }
        other => panic!("expected the missing referrer manifest, got {other:?}"),
    }
    // A valid bundle beside a dangling entry still verifies.
    let (img4, digest4) = k.image("dangling-and-good").await;
    k.attach_signature(&img4, &digest4, &l).await;
    let missing = k.attach_signature(&img4, &digest4, &l).await;
    delete_manifest(&k.env, &missing).await;
    k.verify(&img4, &digest4, &k.req(release())).await.unwrap();

    // Nothing anywhere: the error names both places looked at.
    let (bare, bare_digest) = k.image("bare").await;
    let outcome = k.verify(&bare, &bare_digest, &k.req(release())).await;
    match &outcome {
        Err(VerifyError::NoSignatureIn { looked, .. }) => {
            assert!(
                looked.contains(&format!("sha256-{}.sig", bare_digest.hex())),
                "{looked}"
            );
            assert!(
                looked.contains(&format!("{} (absent)", tag_of(&bare, &bare_digest))),
                "{looked}"
            );
        }
        other => panic!("expected nothing found, got {other:?}"),
    }
}

/// Deletes a manifest straight from the registry (the client under test has no deletes).
async fn delete_manifest(env: &Env, digest: &Digest) {
    let url = format!(
        "http://{}/v2/{REPO}/manifests/{digest}",
        env.registry.addr()
    );
    let deleted = reqwest::Client::new().delete(url).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 202, "manifest deletion");
}

/// A real cosign v3 image-signature bundle (kubewarden-controller v1.34.0, public-good
/// Sigstore) listed as a referrer of an image it does not sign: discovery reads it, its DSSE
/// signature verifies with its certificate, and then it is rejected for its subject.
#[tokio::test]
async fn a_real_cosign_bundle_for_another_image_is_rejected_for_its_subject() {
    let k = KeylessEnv::start(REPO).await;
    let dir = portcullis_testkit::corpus("cosign");
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("bundles/bundle_v03.json")).unwrap())
            .unwrap();
    let (img, digest) = k.image("kubewarden").await;
    let manifest_digest = k.attach(&img, &digest, &bundle).await;
    let root = portcullis_verifier::keyless::TrustedRoot::from_file(
        &dir.join("trust/production_trusted_root.json"),
    )
    .unwrap();
    let req = portcullis_verifier::KeylessRequirement {
        trusted_root: std::sync::Arc::new(root),
        identities: vec![Identity::new(
            StringMatcher::exact(
                "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0",
            ),
            Some(StringMatcher::exact(GITHUB)),
        )],
        attestations: Vec::new(),
    };
    let outcome = k.verify(&img, &digest, &req).await;
    match &outcome {
        Err(VerifyError::ReferrerRejected {
            referrer, source, ..
        }) => {
            assert!(referrer.starts_with(manifest_digest.as_str()), "{referrer}");
            let KeylessError::ContentMismatch { expected, actual } = source.as_ref() else {
                panic!("expected a subject mismatch, got {source}");
            };
            assert_eq!(expected, &digest.to_string());
            assert!(
                actual.contains("c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172"),
                "{actual}"
            );
        }
        other => panic!("expected the bundle's subject to be rejected, got {other:?}"),
    }
}
