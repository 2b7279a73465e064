//! Sigstore bundles stored as OCI 1.1 referrers on a registry *with* the referrers API: the real
//! loopback registry (CNCF distribution 2.8, which lacks the API) behind the testkit's spec-shaped
//! referrers front (`Proxy::with_referrers_api`). Our bundle writer leaves the `sha256-<hex>`
//! fallback tag alone there and the API lists what it wrote, with the descriptor our fallback
//! index gives the same manifest elsewhere; our verifier finds bundles through the API (ours, the
//! real cosign 3.1's, keyless ones); cosign 3.1 verifies ours; and a referrer the API lists for an
//! image while its manifest names another is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use portcullis_testkit::cosign::{Cosign, PASSWORD, provenance, provenance_predicate};
use portcullis_testkit::sigstore::{
    GITHUB, SUBJECT, TestSigstore, attach_referrer, from_day_before, now, release, req, valid_leaf,
};
use portcullis_testkit::{Proxy, Registry, http_get};
use portcullis_verifier::cosign::bundle_write::{attest_image_bundle, sign_image_bundle};
use portcullis_verifier::keyless::discovery::{BUNDLE_ARTIFACT_TYPE, COSIGN_SIGN_PREDICATE};
use portcullis_verifier::keyless::verify_keyless_digest;
use portcullis_verifier::registry::referrers::{Referrers, ReferrersSource};
use portcullis_verifier::{
    AttestationRequirement, CacheConfig, Condition, Digest, ImageRef, KeyRequirement, PrivateKey,
    PublicKey, RegistryClient, Verifier, VerifyError,
};
use serde_json::Value;
use support::{client_for, soon};

const SLSA1: &str = "https://slsa.dev/provenance/v1";
const REPO_COND: &str =
    "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo";

/// The real registry and the referrers front over it; `client` talks through the front.
struct ApiEnv {
    registry: Registry,
    front: Proxy,
    client: RegistryClient,
}

impl ApiEnv {
    async fn start() -> Self {
        let registry = Registry::start().await.unwrap();
        let front = Proxy::with_referrers_api(registry.addr().parse().unwrap())
            .await
            .unwrap();
        let client = client_for(&front.addr());
        Self {
            registry,
            front,
            client,
        }
    }

    /// Pushes `repo:tag` to the registry; returns it named through the front, its digest and
    /// `front/repo@digest`.
    async fn image(&self, repo: &str, tag: &str) -> (ImageRef, Digest, String) {
        portcullis_testkit::push_image(&self.registry.addr(), repo, tag, tag.as_bytes())
            .await
            .unwrap();
        let image: ImageRef = format!("{}/{repo}:{tag}", self.front.addr())
            .parse()
            .unwrap();
        let digest = self.client.resolve(&image, soon()).await.unwrap();
        let pinned = image.with_digest(digest.clone()).to_string();
        (image, digest, pinned)
    }

    /// The tags the registry itself holds for `repo`, not asking the front.
    async fn registry_tags(&self, repo: &str) -> Vec<String> {
        let addr = self.registry.addr().parse().unwrap();
        let (status, body) = http_get(addr, &format!("/v2/{repo}/tags/list"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let list: Value = serde_json::from_str(&body).unwrap();
        let mut tags: Vec<String> = list["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        tags.sort();
        tags
    }

    /// The referrers of `digest`, which must come from the referrers API.
    async fn listed(&self, image: &ImageRef, digest: &Digest) -> Referrers {
        let listed = self
            .client
            .referrers(image, digest, None, soon())
            .await
            .unwrap();
        assert!(
            matches!(listed.source, ReferrersSource::Api { .. }),
            "{listed:?}"
        );
        listed
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(self.client.clone(), CacheConfig::default())
    }

    /// How many `GET`s of the referrers API the front saw.
    fn api_gets(&self) -> usize {
        self.front
            .count(|m, p| m == "GET" && p.contains("/referrers/"))
    }

    /// How many requests the front saw for the `sha256-<hex>` fallback tag of `digest`.
    fn fallback_requests(&self, digest: &Digest) -> usize {
        let tag = format!("/manifests/sha256-{}", digest.hex());
        self.front.count(|_, path| path.ends_with(&tag))
    }
}

fn key_requirement(key: PublicKey, conditions: &[&str]) -> Arc<KeyRequirement> {
    let attestations = if conditions.is_empty() {
        Vec::new()
    } else {
        vec![AttestationRequirement {
            predicate_type: SLSA1.into(),
            conditions: conditions
                .iter()
                .map(|c| Condition::parse(c).unwrap())
                .collect(),
        }]
    };
    Arc::new(KeyRequirement {
        keys: vec![key],
        threshold: 1,
        attestations,
        format: Default::default(),
    })
}

#[tokio::test]
async fn our_bundles_are_listed_by_the_api_and_no_fallback_tag_is_written() {
    let env = ApiEnv::start().await;
    let key = PrivateKey::generate();
    let (image, digest, _) = env.image("ours", "v1").await;

    let signed = sign_image_bundle(&env.client, &image, &key, soon())
        .await
        .unwrap();
    assert!(signed.added);
    let predicate = provenance_predicate("https://github.com/org/repo");
    let attested = attest_image_bundle(&env.client, &image, &key, SLSA1, predicate, soon())
        .await
        .unwrap();
    assert!(attested.added);
    let again = sign_image_bundle(&env.client, &image, &key, soon())
        .await
        .unwrap();
    assert!(!again.added, "the same signature twice adds nothing");

    // The registry behind the front holds the image's tag and nothing else.
    assert_eq!(env.registry_tags("ours").await, vec!["v1".to_string()]);

    // The API lists both bundles, typed and annotated as the manifests say.
    let listed = env.listed(&image, &digest).await;
    assert_eq!(listed.manifests.len(), 2, "{listed:?}");
    let mut predicates: Vec<&str> = listed
        .manifests
        .iter()
        .map(|m| {
            assert_eq!(m.artifact_type.as_deref(), Some(BUNDLE_ARTIFACT_TYPE));
            m.annotations["dev.sigstore.bundle.predicateType"].as_str()
        })
        .collect();
    predicates.sort_unstable();
    assert_eq!(predicates, vec![COSIGN_SIGN_PREDICATE, SLSA1]);
    for (attached, name) in [(&signed, "signature"), (&attested, "attestation")] {
        let at = attached.artifact.rsplit_once('@').unwrap().1;
        assert!(
            listed.manifests.iter().any(|m| m.digest == at),
            "the {name} {at} is listed: {listed:?}"
        );
    }

    // Verification finds both through the API and never asks for the fallback tag.
    env.front.clear_requests();
    let verified = env
        .verifier()
        .verify(&image, &key_requirement(key.public(), &[REPO_COND]), soon())
        .await;
    let verified = verified.as_ref().as_ref().unwrap();
    assert_eq!(verified.key_ids, vec![key.public().id().to_string()]);
    assert_eq!(verified.attestations.len(), 1);
    assert_eq!(
        env.fallback_requests(&digest),
        0,
        "{:?}",
        env.front.requests()
    );
    assert!(env.api_gets() > 0, "{:?}", env.front.requests());

    // Another key: the bundles are found through the API and refused.
    let stranger = key_requirement(PrivateKey::generate().public(), &[]);
    let wrong = env.verifier().verify(&image, &stranger, soon()).await;
    assert!(
        matches!(
            wrong.as_ref(),
            Err(VerifyError::ThresholdNotMet {
                found: 1,
                valid: 0,
                ..
            })
        ),
        "{wrong:?}"
    );
}

// Two workers: cosign runs as a blocking child process while the front answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign3_and_we_read_each_others_bundles_through_the_api() {
    let env = ApiEnv::start().await;
    let cosign = Cosign::v3();
    let sc = cosign.offline_signing_config();
    assert!(cosign.run(&["generate-key-pair"]).status.success());
    let theirs = std::fs::read_to_string(cosign.dir().join("cosign.pub")).unwrap();
    let theirs = PublicKey::from_pem(&theirs, "cosign.pub").unwrap();

    // cosign 3 signs and attests through the front.
    let (image, digest, pinned) = env.image("theirs", "v1").await;
    let sign = [
        "sign",
        "--key",
        "cosign.key",
        "--signing-config",
        sc,
        "--yes",
    ];
    env.front.clear_requests();
    assert!(cosign.succeeds_on(&sign, &pinned), "cosign 3 sign");
    // cosign 3.1.1 asks the referrers API after its manifest PUT (whatever `OCI-Subject` says)
    // and would write the fallback tag on a 404.
    assert!(env.api_gets() > 0, "{:?}", env.front.requests());
    let predicate = provenance(cosign.dir(), "https://github.com/org/repo");
    let attest = [
        "attest",
        "--key",
        "cosign.key",
        "--signing-config",
        sc,
        "--type",
        "slsaprovenance1",
        "--predicate",
        &predicate,
        "--yes",
    ];
    assert!(cosign.succeeds_on(&attest, &pinned), "cosign 3 attest");
    // Told by `OCI-Subject` that the registry lists referrers, cosign wrote no fallback tag.
    assert_eq!(env.registry_tags("theirs").await, vec!["v1".to_string()]);
    assert_eq!(env.listed(&image, &digest).await.manifests.len(), 2);

    env.front.clear_requests();
    let verified = env
        .verifier()
        .verify(&image, &key_requirement(theirs, &[REPO_COND]), soon())
        .await;
    let verified = verified.as_ref().as_ref().unwrap();
    assert_eq!(verified.attestations.len(), 1);
    assert_eq!(
        env.fallback_requests(&digest),
        0,
        "{:?}",
        env.front.requests()
    );

    // What we write through the front, cosign 3 verifies through the front.
    let ours = PrivateKey::generate();
    let private = ours.to_encrypted_pem(PASSWORD.as_bytes()).unwrap();
    cosign.write_key_pair("ours", &private, &ours.public().to_pem());
    let (image, _, pinned) = env.image("ours", "v1").await;
    sign_image_bundle(&env.client, &image, &ours, soon())
        .await
        .unwrap();
    let predicate = provenance_predicate("https://github.com/org/repo");
    attest_image_bundle(&env.client, &image, &ours, SLSA1, predicate, soon())
        .await
        .unwrap();
    assert_eq!(env.registry_tags("ours").await, vec!["v1".to_string()]);
    env.front.clear_requests();
    assert!(cosign.verifies("ours.pub", &pinned), "cosign 3 verify");
    assert!(
        env.api_gets() > 0,
        "cosign 3 read the referrers API: {:?}",
        env.front.requests()
    );
    assert!(
        cosign.verifies_provenance("ours.pub", &pinned),
        "cosign 3 verify-attestation"
    );
    // And with another key it refuses.
    assert!(!cosign.verifies("cosign.pub", &pinned));
}

#[tokio::test]
async fn keyless_bundles_are_found_through_the_api() {
    let env = ApiEnv::start().await;
    let t0 = now();
    let mut ss = TestSigstore::around(t0);
    let (image, digest, _) = env.image("keyless", "v1").await;
    // Attached as cosign 3 does on a registry without the API (which also writes the fallback
    // tag); the front lists it from the manifest push.
    let bundle = ss.sign_image_bundle(&valid_leaf(&ss, t0), &digest, t0);
    let referrer = attach_referrer(&env.client, &image, &digest, &bundle).await;
    let listed = env.listed(&image, &digest).await;
    assert_eq!(listed.manifests.len(), 1, "{listed:?}");
    assert_eq!(listed.manifests[0].digest, referrer.as_str());

    env.front.clear_requests();
    let trusted = req(&ss, from_day_before(t0), release());
    let ok = verify_keyless_digest(&env.client, &image, &digest, &trusted, soon())
        .await
        .unwrap();
    assert_eq!(ok.key_ids, vec![format!("{SUBJECT} ({GITHUB})")]);
    assert!(env.api_gets() > 0, "{:?}", env.front.requests());
    assert_eq!(
        env.fallback_requests(&digest),
        0,
        "the fallback tag is not read when the API answers: {:?}",
        env.front.requests()
    );
}

#[tokio::test]
async fn a_referrer_the_api_lists_for_another_image_is_refused() {
    let env = ApiEnv::start().await;
    let key = PrivateKey::generate();
    let (a, a_digest, _) = env.image("pair", "a").await;
    let (b, b_digest, _) = env.image("pair", "b").await;
    sign_image_bundle(&env.client, &b, &key, soon())
        .await
        .unwrap();
    let req = key_requirement(key.public(), &[]);
    let nothing = env.verifier().verify(&a, &req, soon()).await;
    match nothing.as_ref() {
        Err(VerifyError::NoSignatureIn { looked, .. }) => {
            assert!(looked.contains("referrers API"), "{looked}");
        }
        other => panic!("an unsigned image has no signature, got {other:?}"),
    }

    // The API (lying, as a registry might) lists B's referrer for A as well.
    let b_referrer = env.listed(&b, &b_digest).await.manifests.remove(0);
    let descriptor = serde_json::to_value(&b_referrer).unwrap();
    env.front
        .list_referrer("pair", a_digest.as_str(), descriptor)
        .unwrap();
    assert_eq!(
        env.listed(&a, &a_digest).await.manifests,
        vec![b_referrer.clone()]
    );

    match env.verifier().verify(&a, &req, soon()).await.as_ref() {
        Err(e @ VerifyError::ReferrerOfAnother { at, subject, .. }) => {
            assert!(at.starts_with(&b_referrer.digest), "{at}");
            assert!(at.contains("referrers API"), "{at}");
            assert_eq!(subject, &b_digest.to_string());
            assert!(
                !e.is_transient(),
                "a fact about the image, not the registry"
            );
        }
        other => panic!("a referrer of another image must be refused, got {other:?}"),
    }
    // B itself still verifies with the same referrer: the refusal was about where it was listed.
    assert!(env.verifier().verify(&b, &req, soon()).await.is_ok());
}

#[tokio::test]
async fn the_fallback_entry_we_write_is_what_the_api_lists_for_the_same_manifest() {
    let env = ApiEnv::start().await;
    let key = PrivateKey::generate();
    let (image, digest, _) = env.image("both", "v1").await;
    // Written straight to the registry, which has no API: the fallback tag.
    let direct = client_for(&env.registry.addr());
    let on_registry: ImageRef = format!("{}/both:v1", env.registry.addr()).parse().unwrap();
    let predicate = provenance_predicate("https://github.com/org/repo");
    attest_image_bundle(&direct, &on_registry, &key, SLSA1, predicate, soon())
        .await
        .unwrap();
    let by_tag = direct
        .referrers(&on_registry, &digest, None, soon())
        .await
        .unwrap();
    assert!(
        matches!(by_tag.source, ReferrersSource::Tag { found: true, .. }),
        "{by_tag:?}"
    );
    assert_eq!(by_tag.manifests.len(), 1, "{by_tag:?}");
    let entry = &by_tag.manifests[0];

    // The same manifest pushed again through the front: the descriptor the spec asks a registry
    // with the API to list, which is also what the spec asks a client to put in the fallback index.
    let manifest = direct
        .get_manifest(&on_registry, &entry.digest, soon())
        .await
        .unwrap()
        .unwrap();
    env.client
        .put_manifest(
            &image,
            &entry.digest,
            &manifest.media_type,
            &manifest.bytes,
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(
        env.listed(&image, &digest).await.manifests,
        by_tag.manifests
    );
}
