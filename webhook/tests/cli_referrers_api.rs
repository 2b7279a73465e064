//! `portcullis sign|attest --bundle-format new` and `verify|verify-attestation --key` on a
//! registry with the OCI 1.1 referrers API: the real loopback registry (distribution 2.8, which
//! lacks it) behind the testkit's spec-shaped referrers front. The bundles are listed by the API
//! and no `sha256-<hex>` fallback tag is written; portcullis and the real cosign 3.1 verify them
//! through the API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use cli_support::{ok, portcullis, portcullis_with};
use portcullis_testkit::cosign::{Cosign, PASSWORD, provenance};
use portcullis_testkit::{Proxy, Registry, http_get, push_image};

// Two workers: portcullis and cosign run as blocking child processes while the front answers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_written_on_a_registry_with_the_api_are_listed_by_it_and_verify() {
    let registry = Registry::start().await.unwrap();
    let front = Proxy::with_referrers_api(registry.addr().parse().unwrap())
        .await
        .unwrap();
    let cosign = Cosign::v3();
    let d = cosign.dir();
    let digest = push_image(&registry.addr(), "cliapi/app", "1.0", b"api")
        .await
        .unwrap();
    let image = format!("{}/cliapi/app:1.0", front.addr());
    let pinned = format!("{}/cliapi/app@{digest}", front.addr());
    let with_password =
        |args: &[&str]| portcullis_with(d, args, &[("PORTCULLIS_PASSWORD", PASSWORD)]);
    ok(&with_password(&["keygen", "--output-key-prefix", "ours"]));

    let new_format = [
        "--key",
        "ours.key",
        "--allow-http-registry",
        "--bundle-format",
        "new",
    ];
    ok(&with_password(
        &[&["sign"], &new_format[..], &[&image]].concat(),
    ));
    let predicate = provenance(d, "https://github.com/org/repo");
    let attest = [
        "--type",
        "slsaprovenance1",
        "--predicate",
        &predicate,
        &image,
    ];
    ok(&with_password(
        &[&["attest"], &new_format[..], &attest[..]].concat(),
    ));

    // The registry itself holds the image's tag only; the API lists both bundles.
    let registry_addr = registry.addr().parse().unwrap();
    let (status, tags) = http_get(registry_addr, "/v2/cliapi/app/tags/list")
        .await
        .unwrap();
    assert_eq!(status, 200, "{tags}");
    let tags: serde_json::Value = serde_json::from_str(&tags).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["1.0"]));
    let (status, listed) = http_get(
        front.socket_addr(),
        &format!("/v2/cliapi/app/referrers/{digest}"),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{listed}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["manifests"].as_array().unwrap().len(), 2, "{listed}");

    front.clear_requests();
    let verify = ["--key", "ours.pub", "--allow-http-registry"];
    ok(&portcullis(
        d,
        &[&["verify"], &verify[..], &[&image]].concat(),
    ));
    let condition =
        "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo";
    let attested = [
        "--type",
        "slsaprovenance1",
        "--condition",
        condition,
        &image,
    ];
    let out = ok(&portcullis(
        d,
        &[&["verify-attestation"], &verify[..], &attested[..]].concat(),
    ));
    assert!(out.contains("(1 condition(s) met)"), "{out}");
    let fallback = format!("/manifests/sha256-{}", digest.trim_start_matches("sha256:"));
    // Each command, a process of its own that does not know the registry yet, asks the fallback
    // tag once, beside its first API request, and then only the API. The registry holds no such
    // tag (above): what verified was read through the API.
    assert_eq!(
        front.count(|_, p| p.ends_with(&fallback)),
        2,
        "once per command: {:?}",
        front.requests()
    );
    assert!(
        front.count(|m, p| m == "GET" && p.contains("/referrers/")) >= 2,
        "{:?}",
        front.requests()
    );

    assert!(cosign.verifies("ours.pub", &pinned), "cosign 3 verify");
    assert!(
        cosign.verifies_provenance("ours.pub", &pinned),
        "cosign 3 verify-attestation"
    );
}
