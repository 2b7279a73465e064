//! End to end with real image verification: the real `portcullis serve` binary over TLS, a real
//! loopback registry (`docker-registry`, behind the testkit's fault-injecting proxy), images
//! pushed and signed in the test. A signed image is admitted and pinned to its digest by
//! `/mutate`; an unsigned one is denied with the reason; a registry slower than the request's
//! `?timeout=` minus the margin fails closed with a deadline reason; the verifier's registry
//! and cache counters reach `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use std::time::Duration;

use portcullis_testkit::{Proxy, Registry, push_image};
use portcullis_verifier::{ImageRef, PrivateKey, RegistryClient, RegistryConfig};
use serde_json::{Value, json};
use serve_support::*;

fn pod_running(image: &str) -> Value {
    let mut pod = compliant_pod();
    pod["spec"]["containers"][0]["image"] = json!(image);
    pod
}

#[tokio::test]
async fn signed_images_are_admitted_and_pinned_unsigned_and_slow_ones_denied() {
    let registry = Registry::start().await.unwrap();
    let proxy = Proxy::start(
        registry
            .url()
            .trim_start_matches("http://")
            .parse()
            .unwrap(),
    )
    .await
    .unwrap();
    let host = proxy.addr();

    // Images: one signed, one unsigned, one only reached while the registry is slow.
    let key = PrivateKey::generate();
    let digest = push_image(&host, "team/app", "1.0", b"signed")
        .await
        .unwrap();
    push_image(&host, "team/app", "unsigned", b"unsigned")
        .await
        .unwrap();
    push_image(&host, "team/slow", "1.0", b"slow")
        .await
        .unwrap();
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec![host.clone()],
        ..RegistryConfig::default()
    })
    .unwrap();
    let signed: ImageRef = format!("{host}/team/app:1.0").parse().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    portcullis_verifier::cosign::sign::sign_image(&client, &signed, &key, deadline)
        .await
        .unwrap();

    let work = Workdir::new();
    std::fs::write(
        work.policies.join("signed-images.yaml"),
        key_policy(&key, "signed-images", "127.0.0.1:*/**", "enforce"),
    )
    .unwrap();
    let server = work.start(&["--allow-http-registry", &host]);
    let mut api = work.connect(&server).await;

    // Signed: admitted, and /mutate pins the digest that was verified.
    let pod = pod_running(&format!("{host}/team/app:1.0"));
    let image = api.admit_and_pin(&server, "reg-signed", &pod).await;
    assert_eq!(image, format!("{host}/team/app:1.0@{digest}"));

    // Unsigned: denied, saying why.
    let unsigned = pod_running(&format!("{host}/team/app:unsigned"));
    let denied = api
        .review(
            "/validate?timeout=10s",
            &review_for("reg-unsigned", &unsigned),
        )
        .await;
    assert_eq!(denied["allowed"], false, "{denied}");
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("signed-images") && message.contains("signature"),
        "{message}"
    );

    // Slow registry: 2 s timeout minus the 1 s default margin leaves 1 s; every registry
    // response takes 5 s. Fails closed with a deadline reason naming the registry.
    proxy.set_delay(Duration::from_secs(5));
    let slow = pod_running(&format!("{host}/team/slow:1.0"));
    let denied = api
        .review("/validate?timeout=2s", &review_for("reg-slow", &slow))
        .await;
    proxy.set_delay(Duration::ZERO);
    assert_eq!(denied["allowed"], false, "{denied}");
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(message.contains("did not finish within"), "{message}");
    assert!(message.contains(&host), "{message}");

    // The signed image again: answered from the verdict cache.
    let again = api
        .review("/validate?timeout=10s", &review_for("reg-again", &pod))
        .await;
    assert_eq!(again["allowed"], true);

    let metrics = server.metrics().await;
    for needle in [
        &format!("portcullis_registry_requests_total{{registry=\"{host}\",status=\"200\"}}"),
        "portcullis_verification_cache_total{result=\"hit\"}",
        "portcullis_verification_cache_total{result=\"miss\"}",
        "portcullis_image_verifications_total{result=\"verified\"}",
        "portcullis_image_verifications_total{result=\"no-signature\"}",
    ] {
        assert!(metrics.contains(needle), "{needle} not in\n{metrics}");
    }
    for counted in [
        "portcullis_verification_cache_total{result=\"hit\"}",
        "portcullis_verification_cache_total{result=\"miss\"}",
    ] {
        assert!(
            metric_value(&metrics, counted) >= Some(1.0),
            "{counted} never counted:\n{metrics}"
        );
    }
    drop(proxy);
    drop(registry);
}
