//! `make bench` part: verification cost, printed beside its floor measured in the same run.
//!
//! - floor: one raw ECDSA P-256 signature verification (what a verification cannot go below);
//! - warm: `Verifier::verify` on a cached verdict (tag cache and verdict cache hit);
//! - cold: first verification of never-seen images against a loopback registry, with the number
//!   of registry round trips each needed (counted at a proxy), signature only and with an
//!   attestation.
//!
//! Every loop is bounded by a count. Needs `docker-registry` (installed by `make bootstrap`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_testkit::{Proxy, Registry, push_image};
use portcullis_verifier::cosign::sign::{attest_image, sign_image};
use portcullis_verifier::{
    AttestationRequirement, CacheConfig, Condition, ImageRef, KeyRequirement, PrivateKey,
    RegistryClient, RegistryConfig, Verifier,
};

const IMAGES: usize = 40;
const WARM_CALLS: usize = 20_000;
const FLOOR_CALLS: usize = 2_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn show(label: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "{label:<44} median {:>9.1} µs   p99 {:>9.1} µs   (n={})",
        us(p50),
        us(p99),
        samples.len()
    );
    (p50, p99)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() {
    let registry = Registry::start()
        .await
        .expect("docker-registry (run make bootstrap)");
    let proxy = Proxy::start(registry.addr().parse().unwrap())
        .await
        .unwrap();
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec![proxy.addr()],
        ..RegistryConfig::default()
    })
    .unwrap();
    let key = PrivateKey::generate();
    let soon = || tokio::time::Instant::now() + Duration::from_secs(30);

    // Floor: raw ECDSA P-256 verification.
    let msg =
        b"floor payload of a typical simple-signing size .....................................";
    let sig = key.sign(msg);
    let public = key.public();
    let floor: Vec<Duration> = (0..FLOOR_CALLS)
        .map(|_| {
            let t = Instant::now();
            assert!(public.verify(msg, &sig));
            t.elapsed()
        })
        .collect();

    let mut images: Vec<ImageRef> = Vec::new();
    for i in 0..IMAGES {
        push_image(
            &registry.addr(),
            "bench",
            &format!("v{i}"),
            format!("bench-{i}").as_bytes(),
        )
        .await
        .unwrap();
        let image: ImageRef = format!("{}/bench:v{i}", proxy.addr()).parse().unwrap();
        sign_image(&client, &image, &key, soon()).await.unwrap();
        attest_image(&client, &image, &key, "https://slsa.dev/provenance/v1",
            serde_json::json!({"buildDefinition": {"externalParameters": {"workflow": {"repository": "https://github.com/org/repo"}}}}),
            soon()).await.unwrap();
        images.push(image);
    }
    let sig_only = Arc::new(KeyRequirement {
        keys: vec![key.public()],
        threshold: 1,
        attestations: vec![],
        format: Default::default(),
    });
    let with_att = Arc::new(KeyRequirement {
        keys: vec![key.public()],
        threshold: 1,
        attestations: vec![AttestationRequirement {
            predicate_type: "https://slsa.dev/provenance/v1".into(),
            conditions: vec![Condition::parse("$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo").unwrap()],
        }],
        format: Default::default(),
    });

    // Cold: a fresh verifier per image, so every call goes to the registry.
    let mut cold = Vec::new();
    let mut cold_att = Vec::new();
    let mut trips = Vec::new();
    let mut trips_att = Vec::new();
    for image in &images {
        for (req, lat, rt) in [
            (&sig_only, &mut cold, &mut trips),
            (&with_att, &mut cold_att, &mut trips_att),
        ] {
            let v = Verifier::new(client.clone(), CacheConfig::default());
            proxy.clear_requests();
            let t = Instant::now();
            assert!(v.verify(image, req, soon()).await.is_ok());
            lat.push(t.elapsed());
            rt.push(proxy.requests().len());
        }
    }

    // Warm: one verifier, everything cached after the first pass.
    let v = Verifier::new(client.clone(), CacheConfig::default());
    for image in &images {
        assert!(v.verify(image, &with_att, soon()).await.is_ok());
    }
    proxy.clear_requests();
    let mut warm = Vec::with_capacity(WARM_CALLS);
    for i in 0..WARM_CALLS {
        let t = Instant::now();
        let verdict = v.verify(&images[i % IMAGES], &with_att, soon()).await;
        warm.push(t.elapsed());
        assert!(verdict.is_ok());
    }
    assert_eq!(
        proxy.requests().len(),
        0,
        "warm calls must not reach the registry"
    );

    println!("== verifier (release build, loopback docker-registry behind a counting proxy) ==");
    let (floor50, _) = show("floor: raw ECDSA P-256 verify", floor);
    let (warm50, _) = show("warm verify (cached verdict)", warm);
    show("cold verify, signature (loopback registry)", cold);
    show("cold verify, signature + SLSA attestation", cold_att);
    let max = |v: &[usize]| v.iter().copied().max().unwrap_or(0);
    println!(
        "registry round trips per cold verify: signature {} (target <= 3), with attestation {} (target <= 5)",
        max(&trips),
        max(&trips_att)
    );
    println!(
        "warm median is {:.4} of the floor median: a cache hit does no crypto and no I/O",
        warm50.as_secs_f64() / floor50.as_secs_f64()
    );
    drop(proxy);
    drop(registry);
}
