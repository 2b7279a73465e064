//! The setting of the registry-backed keyless tests: a loopback registry ([`Env`]) and a
//! private Sigstore whose CA is valid a day either side of the test's start, with the steps
//! those tests share — push an image, sign or attest it keylessly, attach a bundle as a
//! referrer, build a requirement, verify.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_verifier::keyless::{Identity, KeylessRequirement, verify_keyless_digest};
use portcullis_verifier::{Digest, ImageRef, Verified, VerifyError};
use serde_json::Value;

use super::support::{Env, soon};
use portcullis_testkit::sigstore::{
    Leaf, TestSigstore, attach_referrer, from_day_before, leaf, now, req, valid_leaf,
};

pub struct KeylessEnv {
    pub env: Env,
    pub ss: TestSigstore,
    /// When the test started: certificates, log times and CA windows are set relative to it.
    pub t0: i64,
    /// The CA window the trusted root states: from a day before `t0`, with no end.
    pub window: (Option<i64>, Option<i64>),
    /// The repository [`Self::image`] pushes to.
    pub repo: &'static str,
}

impl KeylessEnv {
    /// A registry and a fresh Sigstore (a panic naming the fix when docker-registry is missing).
    pub async fn start(repo: &'static str) -> Self {
        let env = Env::start().await;
        let t0 = now();
        Self {
            env,
            ss: TestSigstore::around(t0),
            t0,
            window: from_day_before(t0),
            repo,
        }
    }

    /// Pushes a distinct image tagged `tag` and returns it with its digest.
    pub async fn image(&self, tag: &str) -> (ImageRef, Digest) {
        let image = self.env.push(self.repo, tag, tag.as_bytes()).await;
        let digest = self.env.client.resolve(&image, soon()).await.unwrap();
        (image, digest)
    }

    /// A leaf for the release workflow valid `window` (seconds relative to `t0`).
    pub fn leaf(&self, window: (i64, i64)) -> Leaf {
        leaf(&self.ss, self.t0, window)
    }

    /// A leaf for the release workflow valid from a minute before `t0` to nine minutes after.
    pub fn valid_leaf(&self) -> Leaf {
        valid_leaf(&self.ss, self.t0)
    }

    /// Signs `digest` as `leaf` in cosign's classic format, logged at `t0`.
    pub async fn sign(&mut self, image: &ImageRef, digest: &Digest, leaf: &Leaf) {
        self.ss
            .sign_image(&self.env.client, image, digest, leaf, self.t0, None)
            .await;
    }

    /// Pushes an image tagged `tag` and signs it as `leaf` ([`Self::sign`]).
    pub async fn signed_image(&mut self, tag: &str, leaf: &Leaf) -> (ImageRef, Digest) {
        let (image, digest) = self.image(tag).await;
        self.sign(&image, &digest, leaf).await;
        (image, digest)
    }

    /// Attests `digest` as `leaf` in cosign's classic `.att` format, logged at `t0`.
    pub async fn attest(
        &mut self,
        image: &ImageRef,
        digest: &Digest,
        leaf: &Leaf,
        predicate_type: &str,
        predicate: Value,
    ) {
        self.ss
            .attest_image(
                &self.env.client,
                image,
                digest,
                leaf,
                predicate_type,
                predicate,
                self.t0,
            )
            .await;
    }

    /// Attaches `bundle` to `digest` as a referrer; returns the referrer manifest's digest.
    pub async fn attach(&self, image: &ImageRef, digest: &Digest, bundle: &Value) -> Digest {
        attach_referrer(&self.env.client, image, digest, bundle).await
    }

    /// Signs `digest` as `leaf` the cosign v3 way (a DSSE bundle logged at `t0`) and attaches
    /// the bundle as a referrer; returns the referrer manifest's digest.
    pub async fn attach_signature(
        &mut self,
        image: &ImageRef,
        digest: &Digest,
        leaf: &Leaf,
    ) -> Digest {
        let bundle = self.ss.sign_image_bundle(leaf, digest, self.t0);
        self.attach(image, digest, &bundle).await
    }

    /// A requirement trusting this Sigstore (its CA within [`Self::window`]) and accepting
    /// `identity`.
    pub fn req(&self, identity: Identity) -> KeylessRequirement {
        req(&self.ss, self.window, identity)
    }

    /// Verifies `digest` against `requirement` through the registry, uncached.
    pub async fn verify(
        &self,
        image: &ImageRef,
        digest: &Digest,
        requirement: &KeylessRequirement,
    ) -> Result<Verified, VerifyError> {
        verify_keyless_digest(&self.env.client, image, digest, requirement, soon()).await
    }
}
