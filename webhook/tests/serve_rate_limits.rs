//! End to end under a registry's rate limit: the real `portcullis serve` binary over TLS, a real
//! loopback registry behind the testkit proxy. A review whose registry is paused past its
//! deadline is denied at once with a reason naming the 429 and the registry; its verification
//! waits the pause out in the background and caches its verdict, so the controller's retry is
//! admitted without a registry request; `/metrics` counts the pause and the background run.
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
async fn a_rate_limited_review_is_denied_naming_the_429_and_its_retry_is_admitted_from_the_cache() {
    let registry = Registry::start().await.unwrap();
    let upstream = registry
        .url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(upstream).await.unwrap();
    let host = proxy.addr();
    let key = PrivateKey::generate();
    push_image(&host, "team/app", "1.0", b"throttled")
        .await
        .unwrap();
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec![host.clone()],
        ..RegistryConfig::default()
    })
    .unwrap();
    let image: ImageRef = format!("{host}/team/app:1.0").parse().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    portcullis_verifier::cosign::sign::sign_image(&client, &image, &key, deadline)
        .await
        .unwrap();

    let work = Workdir::new();
    std::fs::write(
        work.policies.join("signed-images.yaml"),
        key_policy(&key, "signed-images", "127.0.0.1:*/**", "enforce"),
    )
    .unwrap();
    let server = work.start(&[
        "--allow-http-registry",
        &host,
        "--background-verifications",
        "4",
        "--background-lifetime",
        "30s",
        "--registry-max-concurrency",
        "2",
    ]);
    let mut api = work.connect(&server).await;

    // The first registry request is refused for 3 s; the review has 2 s minus the 1 s margin.
    proxy.clear_requests();
    proxy.fail_next(1, 429, Some(3));
    let pod = pod_running(&format!("{host}/team/app:1.0"));
    let denied = api
        .review("/validate?timeout=2s", &review_for("rl-first", &pod))
        .await;
    assert_eq!(denied["allowed"], false, "{denied}");
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("registry {host} answered 429 (rate limited)"))
            && message.contains("ms more, past the deadline")
            && message.contains("retry in 3 s, when the registry's rate-limit pause ends"),
        "{message}"
    );

    // The verification waits the pause out and finishes in the background.
    let finished = "portcullis_background_verifications_total{result=\"finished\"}";
    let mut metrics = String::new();
    for _ in 0..150 {
        metrics = server.metrics().await;
        if metric_value(&metrics, finished) >= Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric_value(&metrics, finished), Some(1.0), "{metrics}");
    for (counted, want) in [
        (
            "portcullis_background_verifications_total{result=\"started\"}",
            1.0,
        ),
        (
            "portcullis_background_verifications_total{result=\"dropped\"}",
            0.0,
        ),
        (
            &format!("portcullis_registry_pauses_total{{registry=\"{host}\"}}") as &str,
            1.0,
        ),
    ] {
        assert_eq!(
            metric_value(&metrics, counted),
            Some(want),
            "{counted}:\n{metrics}"
        );
    }

    // The controller's retry: admitted from the cache, no registry request.
    proxy.clear_requests();
    let again = api
        .review("/validate?timeout=2s", &review_for("rl-retry", &pod))
        .await;
    assert_eq!(again["allowed"], true, "{again}");
    assert_eq!(proxy.requests(), Vec::<(String, String)>::new());
    drop(proxy);
    drop(registry);
}
