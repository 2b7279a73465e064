//! `make bench` part: what keyless verification costs, beside key-based verification and the
//! raw ECDSA floor, all measured in this run.
//!
//! - floor: one raw ECDSA P-256 signature verification;
//! - offline bundle: `verify_bundle` on a Sigstore v0.3 bundle (certificate chain to the Fulcio
//!   CA, identity, SET, RFC 6962 inclusion proof and signed checkpoint, message signature);
//! - cold image: first verification of never-seen images against a loopback registry, signed
//!   with a key vs keyless (classic `.sig` with certificate, chain and Rekor bundle);
//! - warm: a cached keyless verdict.
//!
//! The private test Sigstore (`portcullis_testkit::sigstore`) signs everything. Every loop is
//! bounded by a count. Needs `docker-registry` (installed by `make bootstrap`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use portcullis_testkit::sigstore::{DAY, TestSigstore, leaf, now, release, req};
use portcullis_testkit::{Registry, push_image};
use portcullis_verifier::cosign::sign::sign_image;
use portcullis_verifier::keyless::bundle::Bundle;
use portcullis_verifier::keyless::bundle_verify::verify_bundle;
use portcullis_verifier::{
    CacheConfig, Digest, ImageRef, KeyRequirement, PrivateKey, RegistryClient, RegistryConfig,
    Verifier,
};
use sha2::{Digest as _, Sha256};

const IMAGES: usize = 30;
const OFFLINE_CALLS: usize = 1_000;
const WARM_CALLS: usize = 20_000;
const FLOOR_CALLS: usize = 1_000;

fn show(label: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    let (p50, p99) = (at(0.5), at(0.99));
    println!(
        "{label:<52} median {:>9.1} µs   p99 {:>9.1} µs   (n={})",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        samples.len()
    );
    p50
}

fn timed<T>(n: usize, mut f: impl FnMut(usize) -> T) -> Vec<Duration> {
    (0..n)
        .map(|i| {
            let t = Instant::now();
            std::hint::black_box(f(i));
            t.elapsed()
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let registry = Registry::start()
        .await
        .expect("docker-registry (run make bootstrap)");
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec![registry.addr()],
        ..RegistryConfig::default()
    })
    .unwrap();
    let soon = || tokio::time::Instant::now() + Duration::from_secs(30);
    let t0 = now();
    let mut ss = TestSigstore::new((t0 - DAY, t0 + DAY));
    let keyless = req(&ss, (Some(t0 - DAY), None), release());
    let key = PrivateKey::generate();
    let keyed = KeyRequirement {
        keys: vec![key.public()],
        threshold: 1,
        attestations: Vec::new(),
        format: Default::default(),
    };

    // Floor.
    let msg = b"floor payload of a typical simple-signing size ..................................";
    let sig = key.sign(msg);
    let public = key.public();
    let floor = timed(FLOOR_CALLS, |_| assert!(public.verify(msg, &sig)));

    // Offline: one v0.3 bundle, verified again and again (no cache at this level).
    let artifact = b"release artifact".repeat(64);
    let cert = leaf(&ss, t0, (-60, 540));
    let bundle_json = ss.sign_blob(&cert, &artifact, t0).to_string();
    let digest: [u8; 32] = Sha256::digest(&artifact).into();
    let offline = timed(OFFLINE_CALLS, |_| {
        let bundle = Bundle::from_json(bundle_json.as_bytes()).unwrap();
        verify_bundle(&bundle, &digest, &keyless).unwrap()
    });

    // Images: half signed with the key, half keyless.
    let mut keyed_images = Vec::new();
    let mut keyless_images = Vec::new();
    for i in 0..IMAGES {
        for (repo, out) in [
            ("keyed", &mut keyed_images),
            ("keyless", &mut keyless_images),
        ] {
            let d: Digest = push_image(
                &registry.addr(),
                repo,
                &format!("v{i}"),
                format!("{repo}-{i}").as_bytes(),
            )
            .await
            .unwrap()
            .parse()
            .unwrap();
            let image: ImageRef = format!("{}/{repo}:v{i}", registry.addr()).parse().unwrap();
            if repo == "keyed" {
                sign_image(&client, &image, &key, soon()).await.unwrap();
            } else {
                ss.sign_image(&client, &image, &d, &cert, t0, None).await;
            }
            out.push(image);
        }
    }
    let mut cold_keyed = Vec::new();
    let mut cold_keyless = Vec::new();
    for (a, b) in keyed_images.iter().zip(&keyless_images) {
        let v = Verifier::new(client.clone(), CacheConfig::default());
        let t = Instant::now();
        assert!(v.verify(a, &keyed, soon()).await.is_ok());
        cold_keyed.push(t.elapsed());
        let t = Instant::now();
        let verdict = v.verify_keyless(b, &keyless, soon()).await;
        cold_keyless.push(t.elapsed());
        assert!(verdict.is_ok(), "{verdict:?}");
    }

    // Warm: one verifier, every keyless verdict cached after the first pass.
    let v = Verifier::new(client.clone(), CacheConfig::default());
    for image in &keyless_images {
        assert!(v.verify_keyless(image, &keyless, soon()).await.is_ok());
    }
    let mut warm = Vec::with_capacity(WARM_CALLS);
    for i in 0..WARM_CALLS {
        let t = Instant::now();
        let verdict = v
            .verify_keyless(&keyless_images[i % IMAGES], &keyless, soon())
            .await;
        warm.push(t.elapsed());
        assert!(verdict.is_ok());
    }

    println!("== keyless verification (release build, loopback docker-registry) ==");
    let floor50 = show("floor: raw ECDSA P-256 verify", floor);
    let offline50 = show(
        "offline bundle: chain + SET + inclusion proof + sig",
        offline,
    );
    let keyed50 = show("cold verify, key-based signature (registry)", cold_keyed);
    let keyless50 = show("cold verify, keyless signature (registry)", cold_keyless);
    show("warm verify, keyless (cached verdict)", warm);
    println!(
        "offline bundle = {:.1}x the floor (4 ECDSA verifications: chain, SET, checkpoint, signature); \
         cold keyless = {:.2}x cold key-based",
        offline50.as_secs_f64() / floor50.as_secs_f64(),
        keyless50.as_secs_f64() / keyed50.as_secs_f64()
    );
    drop(registry);
}
