//! `make demo` and `make pipeline` helper: signs and attests images keyless with a private test
//! Sigstore (the Fulcio-like CA and Rekor-like log the tests use) and writes that Sigstore's
//! `trusted_root.json`, so keyless authorities are exercised without the public-good Sigstore.
//!
//!   sigstore_sign OUT_DIR [--runner-environment ENV] [[--attest TYPE=FILE]... IMAGE=SUBJECT]...
//!
//! Each `IMAGE=SUBJECT` (an image in a plain-HTTP loopback registry) gets a classic keyless
//! `.sig`, and one classic keyless `.att` per `--attest` given before it: a certificate for
//! SUBJECT issued by GitHub Actions' OIDC issuer, carrying the `source-repository-uri` claim
//! taken from a `https://github.com/OWNER/REPO/...` subject (and `runner-environment` when
//! given), logged with a SET and an inclusion proof. One run is one Sigstore: everything it signs
//! verifies against the one trusted root it writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use portcullis_testkit::sigstore::{DAY, GITHUB, LeafSpec, TestSigstore, now};
use portcullis_verifier::{ImageRef, RegistryClient, RegistryConfig};
use serde_json::Value;

const USAGE: &str = "usage: sigstore_sign OUT_DIR [--runner-environment ENV] [[--attest TYPE=FILE]... IMAGE=SUBJECT]...";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().expect(USAGE));
    std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let t0 = now();
    let mut ss = TestSigstore::new((t0 - DAY, t0 + DAY));
    let mut runner = None;
    let mut attestations: Vec<(String, Value)> = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runner-environment" => runner = Some(args.next().expect(USAGE)),
            "--attest" => {
                let spec = args.next().expect(USAGE);
                let (kind, file) = spec.split_once('=').expect("--attest TYPE=FILE");
                let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
                let predicate =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                attestations.push((kind.to_string(), predicate));
            }
            _ => {
                let (image, subject) = arg.split_once('=').expect(USAGE);
                let image: ImageRef = image.parse().unwrap();
                let client = RegistryClient::new(RegistryConfig {
                    insecure: vec![image.registry().to_string()],
                    ..RegistryConfig::default()
                })
                .unwrap();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                let digest = client.resolve(&image, deadline).await.unwrap();
                let repository = subject.split('/').take(5).collect::<Vec<_>>().join("/");
                let mut claims: Vec<(u64, &str)> = vec![(12, &repository)];
                if let Some(env) = &runner {
                    claims.push((11, env));
                }
                let leaf = ss.issue(&LeafSpec {
                    subject,
                    issuer: GITHUB,
                    not_before: t0 - 60,
                    not_after: t0 + 540,
                    claims: &claims,
                });
                ss.sign_image(&client, &image, &digest, &leaf, t0, None)
                    .await;
                for (kind, predicate) in attestations.drain(..) {
                    let predicate_type = portcullis_verifier::predicate_type_uri(&kind);
                    ss.attest_image(
                        &client,
                        &image,
                        &digest,
                        &leaf,
                        predicate_type,
                        predicate,
                        t0,
                    )
                    .await;
                    println!("{image}@{digest} attested keyless ({kind}) as {subject}");
                }
                println!("{image}@{digest} signed keyless as {subject}");
            }
        }
    }
    assert!(
        attestations.is_empty(),
        "--attest must come before an IMAGE=SUBJECT"
    );
    let root = ss.write_trusted_root(&out, (Some(t0 - DAY), None));
    println!("trusted root: {}", root.display());
}
