//! Which registries have the OCI 1.1 referrers API: a client asks the API and the `sha256-<hex>`
//! fallback tag together (one round trip) the first time it lists referrers on a registry, and
//! from then on only the one that worked; an error about the repository or digest teaches it
//! nothing. Against the real loopback registry (CNCF distribution 2.8, no API) and the testkit's
//! referrers front over it, each behind a counting proxy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use portcullis_testkit::{Proxy, Registry, push_image};
use portcullis_verifier::cosign::bundle_write::sign_image_bundle;
use portcullis_verifier::registry::referrers::ReferrersSource;
use portcullis_verifier::{Digest, ImageRef, PrivateKey, RegistryClient};
use support::{client_for, soon};

/// Long enough that requests sent together overlap at the proxy, so round trips are counted.
const DELAY: Duration = Duration::from_millis(50);

struct Counted {
    _registry: Registry,
    proxy: Proxy,
    image: ImageRef,
    digest: Digest,
}

impl Counted {
    /// A signed (bundle) image on a registry with (`api`) or without the referrers API.
    async fn start(api: bool) -> Self {
        let registry = Registry::start().await.unwrap();
        let upstream = registry.addr().parse().unwrap();
        let proxy = match api {
            true => Proxy::with_referrers_api(upstream).await.unwrap(),
            false => Proxy::start(upstream).await.unwrap(),
        };
        push_image(&registry.addr(), "probe", "v1", b"probe")
            .await
            .unwrap();
        let image: ImageRef = format!("{}/probe:v1", proxy.addr()).parse().unwrap();
        // Signed with a client of its own, so the clients under test know nothing yet.
        let signer = client_for(&proxy.addr());
        let key = PrivateKey::generate();
        let signed = sign_image_bundle(&signer, &image, &key, soon())
            .await
            .unwrap();
        Self {
            _registry: registry,
            proxy,
            image,
            digest: signed.digest,
        }
    }

    /// Lists the referrers with `client`: (API GETs, fallback tag GETs, round trips, source).
    async fn list(&self, client: &RegistryClient) -> (usize, usize, usize, ReferrersSource) {
        self.proxy.clear_requests();
        self.proxy.set_delay(DELAY);
        let listed = client
            .referrers(&self.image, &self.digest, None, soon())
            .await
            .unwrap();
        self.proxy.set_delay(Duration::ZERO);
        assert_eq!(listed.manifests.len(), 1, "{listed:?}");
        let tag = format!("/manifests/sha256-{}", self.digest.hex());
        (
            self.proxy.count(|_, p| p.contains("/referrers/")),
            self.proxy.count(|_, p| p.ends_with(&tag)),
            self.proxy.round_trips(),
            listed.source,
        )
    }
}

#[tokio::test]
async fn without_the_api_both_are_asked_once_then_only_the_fallback_tag() {
    let env = Counted::start(false).await;
    let client = client_for(&env.proxy.addr());
    let (api, tag, trips, source) = env.list(&client).await;
    assert_eq!((api, tag), (1, 1), "{:?}", env.proxy.requests());
    assert_eq!(trips, 1, "asked together: {:?}", env.proxy.requests());
    assert!(matches!(source, ReferrersSource::Tag { found: true, .. }));

    let (api, tag, trips, _) = env.list(&client).await;
    assert_eq!((api, tag, trips), (0, 1, 1), "{:?}", env.proxy.requests());
    // Clones share what was learned; another client starts from nothing.
    let (api, tag, _, _) = env.list(&client.clone()).await;
    assert_eq!((api, tag), (0, 1));
    let (api, tag, _, _) = env.list(&client_for(&env.proxy.addr())).await;
    assert_eq!((api, tag), (1, 1));
}

#[tokio::test]
async fn with_the_api_both_are_asked_once_then_only_the_api() {
    let env = Counted::start(true).await;
    let client = client_for(&env.proxy.addr());
    let (api, tag, trips, source) = env.list(&client).await;
    assert_eq!((api, tag), (1, 1), "{:?}", env.proxy.requests());
    assert_eq!(trips, 1, "asked together: {:?}", env.proxy.requests());
    assert!(matches!(source, ReferrersSource::Api { .. }), "{source:?}");

    let (api, tag, trips, source) = env.list(&client).await;
    assert_eq!((api, tag, trips), (1, 0, 1), "{:?}", env.proxy.requests());
    assert!(matches!(source, ReferrersSource::Api { .. }));
}

#[tokio::test]
async fn an_error_about_the_repository_teaches_nothing() {
    let env = Counted::start(false).await;
    let client = client_for(&env.proxy.addr());
    // Both requests answered `404 NAME_UNKNOWN`, as a registry with the API would for an
    // unknown repository: the listing is empty, and the API is not written off.
    env.proxy.clear_requests();
    env.proxy.fail_next(2, 404, None);
    let listed = client
        .referrers(&env.image, &env.digest, None, soon())
        .await
        .unwrap();
    assert!(listed.manifests.is_empty(), "{listed:?}");
    assert_eq!(env.proxy.requests().len(), 2, "{:?}", env.proxy.requests());
    let (api, tag, _, _) = env.list(&client).await;
    assert_eq!(
        (api, tag),
        (1, 1),
        "still unknown: {:?}",
        env.proxy.requests()
    );
    // The registry's own plain 404 for the API path does teach it.
    let (api, tag, _, _) = env.list(&client).await;
    assert_eq!((api, tag), (0, 1));
}
