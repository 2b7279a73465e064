//! What a cold verification costs in registry round trips (sequential waves of requests, counted
//! at the testkit's proxy; see `portcullis_testkit::round_trips`), for each way an image can be
//! signed: a classic key signature (3: the tag, the `.sig` manifest with the referrers listing
//! asked beside it, the signature layer), with a classic SLSA attestation (still 3), a cosign 3
//! bundle on a registry without the referrers API (4: the tag, the `.sig` with the API and the
//! fallback tag beside it, the referrer manifest, the bundle blob) and through the referrers API
//! (4). Each verification is cold: a new verifier, and a client that has never listed referrers
//! on the registry, unless the test says the registry is known. The proxy delays each response
//! so that requests the client sends together overlap there, and the counts are the client's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use portcullis_testkit::cosign::provenance_predicate;
use portcullis_testkit::{Proxy, Registry, push_image};
use portcullis_verifier::cosign::bundle_write::{attest_image_bundle, sign_image_bundle};
use portcullis_verifier::cosign::sign::{attest_image, sign_image};
use portcullis_verifier::{
    AttestationRequirement, CacheConfig, Condition, Digest, ImageRef, KeyRequirement, PrivateKey,
    RegistryClient, SignatureFormat, Verifier, VerifyError,
};
use support::{client_for, soon};

const SLSA1: &str = "https://slsa.dev/provenance/v1";
const REPO_COND: &str =
    "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo";
/// Long enough that requests sent together overlap at the proxy on a busy machine.
const DELAY: Duration = Duration::from_millis(50);

/// The loopback registry behind a counting proxy (with or without the referrers API front).
struct Site {
    registry: Registry,
    proxy: Proxy,
    /// The client images are signed with (it may learn the registry; the verifying ones do not).
    signer: RegistryClient,
    key: PrivateKey,
}

/// One verification as the proxy saw it.
#[derive(Debug)]
struct Cost {
    requests: usize,
    round_trips: usize,
}

impl Site {
    async fn start(referrers_api: bool) -> Self {
        let registry = Registry::start().await.unwrap();
        let upstream = registry.addr().parse().unwrap();
        let proxy = match referrers_api {
            true => Proxy::with_referrers_api(upstream).await.unwrap(),
            false => Proxy::start(upstream).await.unwrap(),
        };
        let signer = client_for(&proxy.addr());
        Self {
            registry,
            proxy,
            signer,
            key: PrivateKey::generate(),
        }
    }

    /// Pushes `repo:v1` and names it through the proxy.
    async fn image(&self, repo: &str) -> (ImageRef, Digest) {
        let digest = push_image(&self.registry.addr(), repo, "v1", repo.as_bytes())
            .await
            .unwrap();
        let image = format!("{}/{repo}:v1", self.proxy.addr()).parse().unwrap();
        (image, digest.parse().unwrap())
    }

    /// A client that knows nothing of the registry yet.
    fn new_client(&self) -> RegistryClient {
        client_for(&self.proxy.addr())
    }

    /// Verifies `image` against `req` with a new verifier on `client`, counting at the proxy.
    async fn verify(
        &self,
        client: &RegistryClient,
        image: &ImageRef,
        req: &Arc<KeyRequirement>,
    ) -> (Result<(), VerifyError>, Cost) {
        let verifier = Verifier::new(client.clone(), CacheConfig::default());
        self.proxy.clear_requests();
        self.proxy.set_delay(DELAY);
        let verdict = verifier.verify(image, req, soon()).await;
        self.proxy.set_delay(Duration::ZERO);
        let cost = Cost {
            requests: self.proxy.requests().len(),
            round_trips: self.proxy.round_trips(),
        };
        let verdict = verdict.as_ref().as_ref().map(drop).map_err(Clone::clone);
        (verdict, cost)
    }

    /// (round trips, requests) of a verification of `image` that must succeed.
    async fn verified_cost(
        &self,
        client: &RegistryClient,
        image: &ImageRef,
        attestation: bool,
    ) -> (usize, usize) {
        let (verdict, cost) = self
            .verify(client, image, &self.requirement(attestation))
            .await;
        verdict.unwrap();
        (cost.round_trips, cost.requests)
    }

    fn requirement(&self, attestation: bool) -> Arc<KeyRequirement> {
        let attestations = match attestation {
            true => vec![AttestationRequirement {
                predicate_type: SLSA1.into(),
                conditions: vec![Condition::parse(REPO_COND).unwrap()],
            }],
            false => Vec::new(),
        };
        Arc::new(KeyRequirement {
            keys: vec![self.key.public()],
            threshold: 1,
            attestations,
            format: SignatureFormat::Any,
        })
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.proxy.requests()
    }
}

#[tokio::test]
async fn a_classic_signature_costs_three_round_trips_cold() {
    let site = Site::start(false).await;
    let (image, _) = site.image("classic").await;
    sign_image(&site.signer, &image, &site.key, soon())
        .await
        .unwrap();

    let client = site.new_client();
    // The tag; the `.sig` manifest, the referrers API and the fallback tag; the signature layer.
    assert_eq!(
        site.verified_cost(&client, &image, false).await,
        (3, 5),
        "{:?}",
        site.requests()
    );

    // The registry known to lack the API: the API is no longer asked, the round trips the same.
    assert_eq!(
        site.verified_cost(&client, &image, false).await,
        (3, 4),
        "{:?}",
        site.requests()
    );
}

#[tokio::test]
async fn a_classic_signature_and_attestation_cost_three_round_trips_cold() {
    let site = Site::start(false).await;
    let (image, _) = site.image("attested").await;
    sign_image(&site.signer, &image, &site.key, soon())
        .await
        .unwrap();
    let predicate = provenance_predicate("https://github.com/org/repo");
    attest_image(&site.signer, &image, &site.key, SLSA1, predicate, soon())
        .await
        .unwrap();

    // The tag; `.sig`, `.att`, the API and the fallback tag; both layers.
    assert_eq!(
        site.verified_cost(&site.new_client(), &image, true).await,
        (3, 7),
        "{:?}",
        site.requests()
    );
}

#[tokio::test]
async fn a_bundle_without_the_referrers_api_costs_four_round_trips_cold() {
    let site = Site::start(false).await;
    let (image, digest) = site.image("bundle").await;
    sign_image_bundle(&site.signer, &image, &site.key, soon())
        .await
        .unwrap();
    assert_eq!(
        site.signer
            .referrers(&image, &digest, None, soon())
            .await
            .unwrap()
            .manifests
            .len(),
        1,
        "listed under the fallback tag"
    );

    let client = site.new_client();
    // The tag; `.sig` (absent), the API (absent) and the fallback tag; the referrer manifest;
    // the bundle blob.
    assert_eq!(
        site.verified_cost(&client, &image, false).await,
        (4, 6),
        "{:?}",
        site.requests()
    );
    assert_eq!(
        site.verified_cost(&client, &image, false).await,
        (4, 5),
        "{:?}",
        site.requests()
    );

    // A bundle attestation as well: one more manifest and blob, in the same waves.
    let predicate = provenance_predicate("https://github.com/org/repo");
    attest_image_bundle(&site.signer, &image, &site.key, SLSA1, predicate, soon())
        .await
        .unwrap();
    assert_eq!(
        site.verified_cost(&site.new_client(), &image, true).await,
        (4, 9),
        "{:?}",
        site.requests()
    );
}

#[tokio::test]
async fn a_bundle_through_the_referrers_api_costs_four_round_trips_cold() {
    let site = Site::start(true).await;
    let (image, _) = site.image("api").await;
    sign_image_bundle(&site.signer, &image, &site.key, soon())
        .await
        .unwrap();

    let client = site.new_client();
    // The tag; `.sig` (absent), the API and the fallback tag (absent); the referrer manifest;
    // the bundle blob.
    assert_eq!(
        site.verified_cost(&client, &image, false).await,
        (4, 6),
        "{:?}",
        site.requests()
    );
    // Known to have the API: the fallback tag is no longer asked.
    assert_eq!(
        site.verified_cost(&client, &image, false).await,
        (4, 5),
        "{:?}",
        site.requests()
    );
    assert!(
        !site
            .requests()
            .iter()
            .any(|(_, p)| p.contains("/manifests/sha256-") && !p.ends_with(".sig")),
        "{:?}",
        site.requests()
    );
}

#[tokio::test]
async fn an_unsigned_image_is_denied_naming_both_places_looked() {
    let site = Site::start(false).await;
    let (image, digest) = site.image("unsigned").await;
    let (verdict, cost) = site
        .verify(&site.new_client(), &image, &site.requirement(false))
        .await;
    let err = verdict.unwrap_err();
    assert!(matches!(err, VerifyError::NoSignatureIn { .. }), "{err:?}");
    let message = err.to_string();
    let tag = format!("{}/unsigned:sha256-{}", site.proxy.addr(), digest.hex());
    assert!(message.contains(&format!("tag {tag}.sig")), "{message}");
    assert!(
        message.contains(&format!("referrers tag {tag} (absent)")),
        "{message}"
    );
    // The tag; then `.sig`, the API and the fallback tag, all absent.
    assert_eq!(
        (cost.round_trips, cost.requests),
        (2, 4),
        "{:?}",
        site.requests()
    );
}
