//! Shared setup for the registry-backed verifier tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use portcullis_testkit::{Proxy, Registry};
use portcullis_verifier::cosign::sign::{Attached, sign_image};
use portcullis_verifier::registry::FetchedManifest;
use portcullis_verifier::{
    CacheConfig, ImageRef, KeyRequirement, PrivateKey, RegistryClient, RegistryConfig, Verifier,
};
use tokio::time::Instant;

/// A registry with a counting proxy in front.
pub struct Env {
    pub registry: Registry,
    pub proxy: Proxy,
    pub client: RegistryClient,
}

impl Env {
    /// Starts both; panics naming the fix when docker-registry is missing (`make bootstrap`).
    pub async fn start() -> Self {
        let registry = Registry::start().await.unwrap();
        let upstream = registry.addr().parse().unwrap();
        let proxy = Proxy::start(upstream).await.unwrap();
        let client = client_for(&proxy.addr());
        Self {
            registry,
            proxy,
            client,
        }
    }

    /// Pushes an image through the registry directly (not counted by the proxy) and returns
    /// its reference through the proxy.
    pub async fn push(&self, repo: &str, tag: &str, seed: &[u8]) -> ImageRef {
        self.push_named_on(&self.proxy.addr(), repo, tag, seed)
            .await
    }

    /// Pushes an image and returns its reference on the registry itself, bypassing the proxy
    /// (for tools such as cosign that probe TLS first, which the plain proxy does not answer).
    pub async fn push_direct(&self, repo: &str, tag: &str, seed: &[u8]) -> ImageRef {
        self.push_named_on(&self.registry.addr(), repo, tag, seed)
            .await
    }

    /// Pushes an image to the registry and names it on `host` (the proxy or the registry).
    async fn push_named_on(&self, host: &str, repo: &str, tag: &str, seed: &[u8]) -> ImageRef {
        portcullis_testkit::push_image(&self.registry.addr(), repo, tag, seed)
            .await
            .unwrap();
        format!("{host}/{repo}:{tag}").parse().unwrap()
    }

    /// A client and verifier that talk to the registry directly.
    pub fn direct(&self) -> (RegistryClient, Verifier) {
        let client = client_for(&self.registry.addr());
        (
            client.clone(),
            Verifier::new(client, CacheConfig::default()),
        )
    }

    /// The manifest under `at`'s tag or digest; panics when there is none.
    pub async fn manifest(&self, at: &ImageRef) -> FetchedManifest {
        self.client
            .get_manifest(at, at.reference(), soon())
            .await
            .unwrap()
            .unwrap()
    }

    /// Stores `bytes` as the manifest under `at`'s tag.
    pub async fn put_manifest(&self, at: &ImageRef, media_type: &str, bytes: &[u8]) {
        self.client
            .put_manifest(at, at.reference(), media_type, bytes, soon())
            .await
            .unwrap();
    }

    /// Copies the manifest under `from`'s tag to `to`'s tag, as someone moving a signature or
    /// an attestation onto another image would.
    pub async fn copy_manifest(&self, from: &ImageRef, to: &ImageRef) {
        let m = self.manifest(from).await;
        self.put_manifest(to, &m.media_type, &m.bytes).await;
    }

    pub fn verifier(&self) -> Verifier {
        Verifier::new(self.client.clone(), CacheConfig::default())
    }
}

/// The start of most verification tests: an [`Env`] holding `repo:tag` (content `seed`, named
/// through the proxy), signed by a fresh key, and what signing attached (`digest` is the image's).
pub async fn signed_image(
    repo: &str,
    tag: &str,
    seed: &[u8],
) -> (Env, PrivateKey, ImageRef, Attached) {
    let env = Env::start().await;
    let key = PrivateKey::generate();
    let image = env.push(repo, tag, seed).await;
    let signed = sign_image(&env.client, &image, &key, soon()).await.unwrap();
    (env, key, image, signed)
}

pub fn client_for(addr: &str) -> RegistryClient {
    RegistryClient::new(RegistryConfig {
        insecure: vec![addr.to_string()],
        backoff: Duration::from_millis(20),
        ..RegistryConfig::default()
    })
    .unwrap()
}

pub fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

pub fn requirement(keys: &[&PrivateKey], threshold: usize) -> Arc<KeyRequirement> {
    Arc::new(KeyRequirement {
        keys: keys.iter().map(|k| k.public()).collect(),
        threshold,
        attestations: Vec::new(),
        format: Default::default(),
    })
}
