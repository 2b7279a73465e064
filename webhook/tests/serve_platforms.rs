//! End to end for multi-platform images: the real `portcullis serve` binary over TLS, a real
//! loopback registry, two-platform indexes pushed and signed in the test, and a policy with
//! `platforms: [linux/amd64, linux/arm64]` and `platformSignatures: indexOrPlatforms`. An index
//! whose platform manifests are signed (the index is not) is admitted and pinned to the index
//! digest; one with only its linux/amd64 manifest signed is denied naming the linux/arm64
//! manifest by digest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use std::time::Duration;

use portcullis_testkit::{Registry, push_index};
use portcullis_verifier::{ImageRef, PrivateKey, RegistryClient, RegistryConfig};
use serde_json::{Value, json};
use serve_support::*;

fn pod_running(image: &str) -> Value {
    let mut pod = compliant_pod();
    pod["spec"]["containers"][0]["image"] = json!(image);
    pod
}

/// The digest of the index entry for `arch`.
async fn child(client: &RegistryClient, image: &ImageRef, arch: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let index = client
        .get_manifest(image, image.reference(), deadline)
        .await
        .unwrap()
        .unwrap();
    let json: Value = serde_json::from_slice(&index.bytes).unwrap();
    json["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn platform_signatures_admit_an_index_and_a_missing_one_is_named() {
    let registry = Registry::start().await.unwrap();
    let host = registry.addr();
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec![host.clone()],
        ..RegistryConfig::default()
    })
    .unwrap();
    let key = PrivateKey::generate();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let sign = |image: ImageRef| {
        let (client, key) = (&client, &key);
        async move {
            portcullis_verifier::cosign::sign::sign_image(client, &image, key, deadline)
                .await
                .unwrap();
        }
    };

    // Both platform manifests signed, the index not.
    let both_digest = push_index(&host, "team/both", "1.0", b"both")
        .await
        .unwrap();
    let both: ImageRef = format!("{host}/team/both:1.0").parse().unwrap();
    for arch in ["amd64", "arm64"] {
        let d = child(&client, &both, arch).await;
        sign(both.with_digest(d.parse().unwrap())).await;
    }
    // Only linux/amd64 signed.
    push_index(&host, "team/half", "1.0", b"half")
        .await
        .unwrap();
    let half: ImageRef = format!("{host}/team/half:1.0").parse().unwrap();
    sign(half.with_digest(child(&client, &half, "amd64").await.parse().unwrap())).await;
    let arm64 = child(&client, &half, "arm64").await;

    let work = Workdir::new();
    let policy = format!(
        "{}    platforms: [linux/amd64, linux/arm64]\n    platformSignatures: indexOrPlatforms\n",
        key_policy(&key, "multi", "127.0.0.1:*/**", "enforce")
    );
    std::fs::write(work.policies.join("multi.yaml"), policy).unwrap();
    let server = work.start(&["--allow-http-registry", &host]);
    let mut api = work.connect(&server).await;

    let image = api
        .admit_and_pin(
            &server,
            "both",
            &pod_running(&format!("{host}/team/both:1.0")),
        )
        .await;
    assert_eq!(
        image,
        format!("{host}/team/both:1.0@{both_digest}"),
        "pinned to the index"
    );

    let denied = api
        .review(
            "/validate?timeout=10s",
            &review_for("half", &pod_running(&format!("{host}/team/half:1.0"))),
        )
        .await;
    assert_eq!(denied["allowed"], false, "{denied}");
    let message = denied["status"]["message"].as_str().unwrap();
    let want = format!(
        "multi/verifyImage: container \"web\" (spec.containers[0].image): {host}/team/half:1.0: platform linux/arm64 manifest {arm64} is not verified, nor is the index (the policy accepts a verified index or else every listed platform manifest verified): {host}/team/half:1.0@{arm64}: no signature found (looked in "
    );
    assert!(message.contains(&want), "{message}\nlacks\n{want}");
    assert!(
        message.contains("sign the linux/arm64 manifest too"),
        "{message}"
    );
    drop(registry);
}
