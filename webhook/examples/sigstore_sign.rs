//! `make demo` helper: signs images keyless with a private test Sigstore (the Fulcio-like CA and
//! Rekor-like log the tests use) and writes that Sigstore's `trusted_root.json`, so the demo
//! shows keyless authorities without reaching the public-good Sigstore.
//!
//!   sigstore_sign OUT_DIR IMAGE=SUBJECT...
//!
//! Each image (in a plain-HTTP loopback registry) gets a classic keyless `.sig`: a certificate for
//! SUBJECT issued by GitHub Actions' OIDC issuer, with the `source-repository-uri` claim taken
//! from a `https://github.com/OWNER/REPO/...` subject, logged with a SET and inclusion proof.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../verifier/tests/keyless_support/mod.rs"]
mod keyless_support;

use std::path::PathBuf;
use std::time::Duration;

use keyless_support::{DAY, GITHUB, LeafSpec, TestSigstore, now};
use portcullis_verifier::{ImageRef, RegistryClient, RegistryConfig};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .expect("usage: sigstore_sign OUT_DIR IMAGE=SUBJECT..."),
    );
    let t0 = now();
    let mut ss = TestSigstore::new((t0 - DAY, t0 + DAY));
    for arg in args {
        let (image, subject) = arg.split_once('=').expect("IMAGE=SUBJECT");
        let image: ImageRef = image.parse().unwrap();
        let client = RegistryClient::new(RegistryConfig {
            insecure: vec![image.registry().to_string()],
            ..RegistryConfig::default()
        })
        .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let digest = client.resolve(&image, deadline).await.unwrap();
        let repository = subject.split('/').take(5).collect::<Vec<_>>().join("/");
        let leaf = ss.issue(&LeafSpec {
            subject,
            issuer: GITHUB,
            not_before: t0 - 60,
            not_after: t0 + 540,
            claims: &[(12, &repository)],
        });
        ss.sign_image(&client, &image, &digest, &leaf, t0, None)
            .await;
        println!("{image}@{digest} signed keyless as {subject}");
    }
    let root = ss.write_trusted_root(&out, (Some(t0 - DAY), None));
    println!("trusted root: {}", root.display());
}
