//! The setting most keyless tests start from: a fresh [`TestSigstore`] whose CA is valid a day
//! either side of the test's start `t0`, a trusted root stating that CA from a day before `t0`,
//! and, for the registry-backed tests, a loopback registry with a plain-HTTP client.

use std::path::Path;

use portcullis_verifier::{Digest, ImageRef, RegistryClient, RegistryConfig};

use super::{DAY, Leaf, TestSigstore, leaf, now};
use crate::{Registry, push_image};

impl TestSigstore {
    /// A Sigstore whose CA is valid a day either side of `t0`.
    pub fn around(t0: i64) -> Self {
        Self::new((t0 - DAY, t0 + DAY))
    }

    /// Writes a trusted root stating the CA from a day before `t0` ([`from_day_before`]) into
    /// `dir` and returns its path as text, for a command line.
    pub fn write_root_for(&self, dir: &Path, t0: i64) -> String {
        let path = self.write_trusted_root(dir, from_day_before(t0));
        path.display().to_string()
    }
}

/// The CA window most trusted roots state: from a day before `t0`, with no end.
pub fn from_day_before(t0: i64) -> (Option<i64>, Option<i64>) {
    (Some(t0 - DAY), None)
}

/// A leaf for the release workflow valid from a minute before `t0` to nine minutes after.
pub fn valid_leaf(ss: &TestSigstore, t0: i64) -> Leaf {
    leaf(ss, t0, (-60, 540))
}

/// A client for the plain-HTTP registry at `addr`.
pub fn plain_http_client(addr: &str) -> RegistryClient {
    RegistryClient::new(RegistryConfig {
        insecure: vec![addr.to_string()],
        ..RegistryConfig::default()
    })
    .unwrap()
}

/// A loopback registry, a client to it and a Sigstore [around](TestSigstore::around) `t0`.
pub struct KeylessRegistry {
    pub registry: Registry,
    pub client: RegistryClient,
    pub ss: TestSigstore,
    /// When the test started: certificates, log times and CA windows are set relative to it.
    pub t0: i64,
}

impl KeylessRegistry {
    /// Starts the registry (a panic naming the fix when docker-registry is missing).
    pub async fn start() -> Self {
        let registry = Registry::start().await.unwrap();
        let client = plain_http_client(&registry.addr());
        let t0 = now();
        Self {
            registry,
            client,
            ss: TestSigstore::around(t0),
            t0,
        }
    }

    /// Pushes a distinct image `repo:tag` and returns its reference, as text and parsed, and its
    /// digest.
    pub async fn push(&self, repo: &str, tag: &str) -> (String, ImageRef, Digest) {
        let addr = self.registry.addr();
        let seed = format!("{repo}:{tag}");
        let digest = push_image(&addr, repo, tag, seed.as_bytes()).await.unwrap();
        let text = format!("{addr}/{repo}:{tag}");
        (text.clone(), text.parse().unwrap(), digest.parse().unwrap())
    }

    /// [`TestSigstore::write_root_for`] `t0`.
    pub fn write_root(&self, dir: &Path) -> String {
        self.ss.write_root_for(dir, self.t0)
    }

    /// [`valid_leaf`] at `t0`.
    pub fn valid_leaf(&self) -> Leaf {
        valid_leaf(&self.ss, self.t0)
    }

    /// Signs `digest` as `leaf` in cosign's classic format, logged at `t0`.
    pub async fn sign(&mut self, image: &ImageRef, digest: &Digest, leaf: &Leaf) {
        let (client, t0) = (&self.client, self.t0);
        self.ss
            .sign_image(client, image, digest, leaf, t0, None)
            .await;
    }
}
