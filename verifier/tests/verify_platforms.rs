//! Image indexes against a real loopback registry: a two-platform index (linux/amd64 +
//! linux/arm64) signed on the index only, on the platform manifests only, or on one platform,
//! under each platform rule (none, `indexAndPlatforms`, `indexOrPlatforms`); a named platform the
//! index lacks; a single-platform image under a rule; and the per-digest cache the platform
//! manifests share with plain verification; and `cosign sign --recursive` (cosign 2.5) meeting
//! `indexAndPlatforms`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use portcullis_testkit::cosign::Cosign;
use portcullis_verifier::cosign::sign::sign_image;
use portcullis_verifier::{
    Authority, Digest, ImageRef, ImageRequirement, KeyRequirement, PlatformRule,
    PlatformSignatures, PrivateKey, PublicKey, Verdict, VerifyError,
};
use support::{Env, requirement, soon};

/// A two-platform index tagged `repo:v1` (named through the proxy), with its digest and its
/// linux/amd64 and linux/arm64 manifest digests, read back from the index as pushed.
struct Index {
    image: ImageRef,
    index: Digest,
    amd64: Digest,
    arm64: Digest,
}

async fn push_index(env: &Env, repo: &str) -> Index {
    let index = portcullis_testkit::push_index(&env.registry.addr(), repo, "v1", repo.as_bytes())
        .await
        .unwrap();
    let image: ImageRef = format!("{}/{repo}:v1", env.proxy.addr()).parse().unwrap();
    let manifest = env.manifest(&image).await;
    let json: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let child = |arch: &str| -> Digest {
        let entry = json["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap_or_else(|| panic!("no {arch} entry in {json}"));
        entry["digest"].as_str().unwrap().parse().unwrap()
    };
    Index {
        index: index.parse().unwrap(),
        amd64: child("amd64"),
        arm64: child("arm64"),
        image,
    }
}

impl Index {
    async fn sign(&self, env: &Env, key: &PrivateKey, digest: &Digest) {
        let at = self.image.with_digest(digest.clone());
        let signed = sign_image(&env.client, &at, key, soon()).await.unwrap();
        assert_eq!(&signed.digest, digest);
    }

    /// The same repository at `digest`, as platform failures name it.
    fn at(&self, digest: &Digest) -> ImageRef {
        self.image.with_digest(digest.clone())
    }
}

fn rule(key: &PrivateKey, platforms: &[&str], signatures: PlatformSignatures) -> ImageRequirement {
    ImageRequirement {
        authority: Authority::Keys(requirement(&[key], 1).as_ref().clone()),
        platforms: (!platforms.is_empty()).then(|| PlatformRule {
            platforms: platforms.iter().map(|p| p.parse().unwrap()).collect(),
            signatures,
        }),
    }
}

const BOTH: &[&str] = &["linux/amd64", "linux/arm64"];
const AND: PlatformSignatures = PlatformSignatures::IndexAndPlatforms;
const OR: PlatformSignatures = PlatformSignatures::IndexOrPlatforms;

async fn verify(env: &Env, image: &ImageRef, req: &ImageRequirement) -> Verdict {
    env.verifier().verify_requirement(image, req, soon()).await
}

/// The plain verdict on `at` (one manifest, no rule), for the reason a platform failure embeds.
async fn plain(env: &Env, key: &PrivateKey, at: &ImageRef) -> VerifyError {
    let verdict = env
        .verifier()
        .verify(at, &requirement(&[key], 1), soon())
        .await;
    verdict.as_ref().clone().unwrap_err()
}

/// The reason for an unverified platform manifest, exactly.
async fn platform_reason(
    env: &Env,
    key: &PrivateKey,
    idx: &Index,
    platform: &str,
    digest: &Digest,
    rule_said: &str,
) -> String {
    let inner = plain(env, key, &idx.at(digest)).await.to_string();
    assert!(
        inner.starts_with(&format!(
            "{}: no signature found (looked in ",
            idx.at(digest)
        )),
        "{inner}"
    );
    format!(
        "{}: platform {platform} manifest {digest} is not verified{rule_said}: {inner}",
        idx.image
    )
}

const AND_SAID: &str =
    " (the policy requires the index and every listed platform manifest to verify)";
const OR_SAID: &str = ", nor is the index (the policy accepts a verified index or else every listed platform manifest verified)";

#[tokio::test]
async fn a_signature_on_the_index_only_passes_unless_the_platforms_are_required() {
    let env = Env::start().await;
    let idx = push_index(&env, "index-only").await;
    let key = PrivateKey::generate();
    idx.sign(&env, &key, &idx.index).await;

    let v = verify(&env, &idx.image, &rule(&key, &[], AND)).await;
    assert_eq!(v.as_ref().as_ref().unwrap().digest, idx.index, "no rule");
    let v = verify(&env, &idx.image, &rule(&key, BOTH, OR)).await;
    assert_eq!(v.as_ref().as_ref().unwrap().digest, idx.index, "or: index");

    let v = verify(&env, &idx.image, &rule(&key, BOTH, AND)).await;
    let err = v.as_ref().as_ref().unwrap_err();
    assert!(
        matches!(err, VerifyError::PlatformNotVerified { platform, digest, .. }
            if platform == "linux/amd64" && *digest == idx.amd64.to_string()),
        "{err:?}"
    );
    let want = platform_reason(&env, &key, &idx, "linux/amd64", &idx.amd64, AND_SAID).await;
    assert_eq!(err.to_string(), want);
    assert_eq!(err.code(), "no-signature");
    assert!(!err.is_transient(), "an unsigned manifest is a fact");
}

#[tokio::test]
async fn signatures_on_the_platform_manifests_only_pass_when_the_rule_accepts_them() {
    let env = Env::start().await;
    let idx = push_index(&env, "platforms-only").await;
    let key = PrivateKey::generate();
    idx.sign(&env, &key, &idx.amd64).await;
    idx.sign(&env, &key, &idx.arm64).await;

    let v = verify(&env, &idx.image, &rule(&key, BOTH, OR)).await;
    let verified = v.as_ref().as_ref().unwrap();
    assert_eq!(verified.digest, idx.index, "the index digest is pinned");
    assert_eq!(verified.key_ids, vec![key.public().id().to_string()]);

    let unsigned_index = plain(&env, &key, &idx.image).await;
    assert!(
        matches!(unsigned_index, VerifyError::NoSignatureIn { .. }),
        "{unsigned_index:?}"
    );
    for req in [rule(&key, &[], AND), rule(&key, BOTH, AND)] {
        let v = verify(&env, &idx.image, &req).await;
        assert_eq!(
            v.as_ref().as_ref().unwrap_err(),
            &unsigned_index,
            "the index itself is unsigned ({:?})",
            req.platforms
        );
    }
}

#[tokio::test]
async fn one_signed_platform_is_enough_only_for_a_rule_naming_just_that_platform() {
    let env = Env::start().await;
    let idx = push_index(&env, "one-platform").await;
    let key = PrivateKey::generate();
    idx.sign(&env, &key, &idx.amd64).await;

    let v = verify(&env, &idx.image, &rule(&key, &["linux/amd64"], OR)).await;
    assert_eq!(v.as_ref().as_ref().unwrap().digest, idx.index);

    let v = verify(&env, &idx.image, &rule(&key, BOTH, OR)).await;
    let err = v.as_ref().as_ref().unwrap_err();
    let want = platform_reason(&env, &key, &idx, "linux/arm64", &idx.arm64, OR_SAID).await;
    assert_eq!(err.to_string(), want);

    // Signing the index too satisfies `indexOrPlatforms`, not `indexAndPlatforms`.
    idx.sign(&env, &key, &idx.index).await;
    let v = env
        .verifier()
        .verify_requirement(&idx.image, &rule(&key, BOTH, OR), soon())
        .await;
    assert!(v.is_ok(), "{v:?}");
    let v = verify(&env, &idx.image, &rule(&key, BOTH, AND)).await;
    let err = v.as_ref().as_ref().unwrap_err();
    let want = platform_reason(&env, &key, &idx, "linux/arm64", &idx.arm64, AND_SAID).await;
    assert_eq!(err.to_string(), want);

    idx.sign(&env, &key, &idx.arm64).await;
    let v = verify(&env, &idx.image, &rule(&key, BOTH, AND)).await;
    assert_eq!(v.as_ref().as_ref().unwrap().digest, idx.index, "all signed");
}

#[tokio::test]
async fn a_named_platform_the_index_lacks_is_denied_by_name() {
    let env = Env::start().await;
    let idx = push_index(&env, "missing").await;
    let key = PrivateKey::generate();
    for d in [&idx.index, &idx.amd64, &idx.arm64] {
        idx.sign(&env, &key, d).await;
    }
    for signatures in [AND, OR] {
        let req = rule(&key, &["linux/amd64", "linux/s390x"], signatures);
        let v = verify(&env, &idx.image, &req).await;
        let err = v.as_ref().as_ref().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: the image index has no manifest for platform linux/s390x (it has linux/amd64, linux/arm64); the policy requires one",
                idx.image
            )
        );
        assert_eq!(err.code(), "platform-missing");
    }
    let v = verify(&env, &idx.image, &rule(&key, &["linux/arm64/v8"], AND)).await;
    assert!(
        matches!(v.as_ref(), Err(VerifyError::PlatformMissing { platform, .. }) if platform == "linux/arm64/v8"),
        "a variant the index does not list: {v:?}"
    );
}

#[tokio::test]
async fn a_single_platform_image_is_verified_by_its_own_signature_under_a_rule() {
    let env = Env::start().await;
    let key = PrivateKey::generate();
    let image = env.push("single", "v1", b"single").await;
    let v = verify(&env, &image, &rule(&key, BOTH, AND)).await;
    assert_eq!(
        v.as_ref().as_ref().unwrap_err(),
        &plain(&env, &key, &image).await,
        "unsigned: the manifest's own reason"
    );
    sign_image(&env.client, &image, &key, soon()).await.unwrap();
    let verifier = env.verifier();
    for signatures in [AND, OR] {
        let v = verifier
            .verify_requirement(&image, &rule(&key, BOTH, signatures), soon())
            .await;
        assert!(v.is_ok(), "{v:?}");
    }
}

#[tokio::test]
async fn platform_verdicts_share_the_per_digest_cache() {
    let env = Env::start().await;
    let idx = push_index(&env, "cached").await;
    let key = PrivateKey::generate();
    for d in [&idx.index, &idx.amd64, &idx.arm64] {
        idx.sign(&env, &key, d).await;
    }
    let verifier = env.verifier();
    env.proxy.clear_requests();
    let first = verifier
        .verify_requirement(&idx.image, &rule(&key, BOTH, AND), soon())
        .await;
    assert!(first.is_ok(), "{first:?}");
    assert!(
        env.proxy.count(|_, _| true) > 0,
        "the first verification reads the registry"
    );

    env.proxy.clear_requests();
    let again = verifier
        .verify_requirement(&idx.image, &rule(&key, BOTH, AND), soon())
        .await;
    assert!(again.is_ok());
    let arm64 = verifier
        .verify(&idx.at(&idx.arm64), &requirement(&[&key], 1), soon())
        .await;
    assert_eq!(arm64.as_ref().as_ref().unwrap().digest, idx.arm64);
    let index = verifier
        .verify(&idx.image, &requirement(&[&key], 1), soon())
        .await;
    assert_eq!(index.as_ref().as_ref().unwrap().digest, idx.index);
    assert_eq!(
        env.proxy.requests(),
        Vec::<(String, String)>::new(),
        "every verdict came from the cache"
    );
}

#[tokio::test]
async fn cosign_sign_recursive_satisfies_index_and_platforms() {
    let cosign = Cosign::v2();
    let env = Env::start().await;
    assert!(cosign.run(&["generate-key-pair"]).status.success());
    let pem = std::fs::read_to_string(cosign.dir().join("cosign.pub")).unwrap();
    let cosign_pub = PublicKey::from_pem(&pem, "cosign.pub").unwrap();
    let req = ImageRequirement {
        authority: Authority::Keys(KeyRequirement {
            keys: vec![cosign_pub],
            threshold: 1,
            attestations: Vec::new(),
            format: Default::default(),
        }),
        platforms: Some(PlatformRule {
            platforms: BOTH.iter().map(|p| p.parse().unwrap()).collect(),
            signatures: AND,
        }),
    };
    let digest = portcullis_testkit::push_index(&env.registry.addr(), "recursive", "v1", b"rec")
        .await
        .unwrap();
    let image: ImageRef = format!("{}/recursive:v1", env.registry.addr())
        .parse()
        .unwrap();
    let before = env
        .direct()
        .1
        .verify_requirement(&image, &req, soon())
        .await;
    assert!(
        matches!(before.as_ref(), Err(VerifyError::NoSignatureIn { .. })),
        "{before:?}"
    );

    let args = [
        "sign",
        "--recursive",
        "--key",
        "cosign.key",
        "--tlog-upload=false",
        "--yes",
    ];
    let pinned = format!("{}/recursive@{digest}", env.registry.addr());
    assert!(cosign.succeeds_on(&args, &pinned));
    let after = env
        .direct()
        .1
        .verify_requirement(&image, &req, soon())
        .await;
    assert_eq!(after.as_ref().as_ref().unwrap().digest.as_str(), digest);
}
