//! `make bench` part: verification cost, printed beside its floor measured in the same run.
//!
//! - floor: one raw ECDSA P-256 signature verification (what a verification cannot go below);
//! - warm: `Verifier::verify` on a cached verdict (tag cache and verdict cache hit), for a classic
//!   signature with an attestation and for a cosign 3 bundle;
//! - cold: first verification of never-seen images against a loopback registry (distribution
//!   2.8, so bundles are listed under the `sha256-<hex>` fallback tag): a classic signature, with
//!   a classic SLSA attestation, and a bundle signature (cosign 3's format, as `portcullis sign
//!   --bundle-format new` writes it);
//! - the registry requests and round trips (sequential waves) each cold verification needs,
//!   counted at a proxy: on a registry the client has not seen (it asks the referrers API and
//!   the fallback tag together) and on one it knows. Round trips are counted in a pass of their
//!   own with the proxy delaying each response, so that requests sent together overlap there;
//!   the timed passes run without the delay.
//!
//! Every loop is bounded by a count. Needs `docker-registry` (installed by `make bootstrap`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_testkit::{Proxy, Registry, push_image};
use portcullis_verifier::cosign::bundle_write::sign_image_bundle;
use portcullis_verifier::cosign::sign::{attest_image, sign_image};
use portcullis_verifier::{
    AttestationRequirement, CacheConfig, Condition, ImageRef, KeyRequirement, PrivateKey,
    RegistryClient, RegistryConfig, Verifier,
};

const IMAGES: usize = 40;
const WARM_CALLS: usize = 20_000;
const FLOOR_CALLS: usize = 2_000;
/// Cold verifications per case in the counting pass (with the proxy delay).
const COUNTED: usize = 5;
/// The proxy's delay in the counting pass: requests sent together overlap by at least this.
const COUNT_DELAY: Duration = Duration::from_millis(20);

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

fn new_client(proxy: &Proxy) -> RegistryClient {
    RegistryClient::new(RegistryConfig {
        insecure: vec![proxy.addr()],
        ..RegistryConfig::default()
    })
    .unwrap()
}

/// The most requests and round trips any cold verification of `images` (the first `COUNTED`)
/// took, each with a new verifier on `client()`, the proxy delaying every response.
async fn count_cold(
    proxy: &Proxy,
    images: &[ImageRef],
    req: &Arc<KeyRequirement>,
    client: impl Fn() -> RegistryClient,
) -> (usize, usize) {
    let (mut requests, mut round_trips) = (0, 0);
    proxy.set_delay(COUNT_DELAY);
    for image in images.iter().take(COUNTED) {
        let v = Verifier::new(client(), CacheConfig::default());
        proxy.clear_requests();
        let soon = tokio::time::Instant::now() + Duration::from_secs(30);
        assert!(v.verify(image, req, soon).await.is_ok());
        requests = requests.max(proxy.requests().len());
        round_trips = round_trips.max(proxy.round_trips());
    }
    proxy.set_delay(Duration::ZERO);
    (requests, round_trips)
}

#[tokio::main]
async fn main() {
    let registry = Registry::start()
        .await
        .expect("docker-registry (run make bootstrap)");
    let proxy = Proxy::start(registry.addr().parse().unwrap())
        .await
        .unwrap();
    let client = new_client(&proxy);
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
    let mut bundled: Vec<ImageRef> = Vec::new();
    for i in 0..IMAGES {
        push_image(
            &registry.addr(),
            "bundled",
            &format!("v{i}"),
            format!("bundled-{i}").as_bytes(),
        )
        .await
        .unwrap();
        let image: ImageRef = format!("{}/bundled:v{i}", proxy.addr()).parse().unwrap();
        sign_image_bundle(&client, &image, &key, soon())
            .await
            .unwrap();
        bundled.push(image);
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

    // Cold: a fresh verifier per image, so every call goes to the registry (the client, which
    // signed the images, knows the registry lacks the referrers API).
    let cases = [
        ("signature", &images, &sig_only),
        ("signature + SLSA attestation", &images, &with_att),
        ("bundle (cosign 3, fallback tag)", &bundled, &sig_only),
    ];
    let mut cold: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    for i in 0..IMAGES {
        for ((_, imgs, req), lat) in cases.iter().zip(&mut cold) {
            let v = Verifier::new(client.clone(), CacheConfig::default());
            let t = Instant::now();
            assert!(v.verify(&imgs[i], req, soon()).await.is_ok());
            lat.push(t.elapsed());
        }
    }

    // Requests and round trips per cold verification: on a registry the client has not seen,
    // and on one it knows.
    let mut counted = Vec::new();
    for (_, imgs, req) in &cases {
        let unseen = count_cold(&proxy, imgs, req, || new_client(&proxy)).await;
        let known = count_cold(&proxy, imgs, req, || client.clone()).await;
        counted.push((unseen, known));
    }

    // Warm: one verifier, everything cached after the first pass.
    let v = Verifier::new(client.clone(), CacheConfig::default());
    for (image, bundle) in images.iter().zip(&bundled) {
        assert!(v.verify(image, &with_att, soon()).await.is_ok());
        assert!(v.verify(bundle, &sig_only, soon()).await.is_ok());
    }
    proxy.clear_requests();
    let mut warm = Vec::with_capacity(WARM_CALLS);
    let mut warm_bundle = Vec::with_capacity(WARM_CALLS);
    for i in 0..WARM_CALLS {
        let t = Instant::now();
        let verdict = v.verify(&images[i % IMAGES], &with_att, soon()).await;
        warm.push(t.elapsed());
        assert!(verdict.is_ok());
        let t = Instant::now();
        let verdict = v.verify(&bundled[i % IMAGES], &sig_only, soon()).await;
        warm_bundle.push(t.elapsed());
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
    let (warm_bundle50, _) = show("warm verify, bundle (cached verdict)", warm_bundle);
    for ((label, _, _), lat) in cases.iter().zip(cold) {
        show(&format!("cold verify, {label}"), lat);
    }
    println!(
        "registry cost per cold verify (max of {COUNTED}; round trips with a {} ms proxy delay):",
        COUNT_DELAY.as_millis()
    );
    let targets = [Some(3), None, Some(4)];
    for (((label, _, _), ((req_new, rt_new), (req_known, rt_known))), target) in
        cases.iter().zip(&counted).zip(targets)
    {
        let target = target.map_or(String::new(), |t| format!(" (target <= {t})"));
        println!(
            "  {label:<34} registry unseen: {req_new} requests, {rt_new} round trips{target}; \
             known: {req_known} requests, {rt_known} round trips"
        );
    }
    for (label, w50) in [("warm", warm50), ("warm bundle", warm_bundle50)] {
        println!(
            "{label} median is {:.4} of the floor median: a cache hit does no crypto and no I/O",
            w50.as_secs_f64() / floor50.as_secs_f64()
        );
    }
    drop(proxy);
    drop(registry);
}
