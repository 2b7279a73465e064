//! Shared setup for the registry-backed verifier tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use portcullis_testkit::{Proxy, Registry};
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
        portcullis_testkit::push_image(&self.registry.addr(), repo, tag, seed)
            .await
            .unwrap();
        format!("{}/{repo}:{tag}", self.proxy.addr())
            .parse()
            .unwrap()
    }

    /// Pushes an image and returns its reference on the registry itself, bypassing the proxy
    /// (for tools such as cosign that probe TLS first, which the plain proxy does not answer).
    pub async fn push_direct(&self, repo: &str, tag: &str, seed: &[u8]) -> ImageRef {
        portcullis_testkit::push_image(&self.registry.addr(), repo, tag, seed)
            .await
            .unwrap();
        format!("{}/{repo}:{tag}", self.registry.addr())
            .parse()
            .unwrap()
    }

    /// A client and verifier that talk to the registry directly.
    pub fn direct(&self) -> (RegistryClient, Verifier) {
        let client = client_for(&self.registry.addr());
        (
            client.clone(),
            Verifier::new(client, CacheConfig::default()),
        )
    }

    pub fn verifier(&self) -> Verifier {
        Verifier::new(self.client.clone(), CacheConfig::default())
    }
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
