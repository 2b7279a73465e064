//! `portcullis verify --key` / `verify-attestation --key` on what the real cosign 3.1 writes
//! (`cosign sign|attest --key --signing-config`: Sigstore bundles stored as OCI referrers, here
//! under the `sha256-<hex>` fallback tag of a loopback registry without the referrers API), and
//! the one-line reasons when nothing is there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use cli_support::{fails_with, ok, portcullis, portcullis_with, stderr, verify_with_key};
use portcullis_testkit::cosign::{Cosign, PASSWORD, provenance};
use portcullis_testkit::{Registry, push_image};

#[tokio::test]
async fn portcullis_verifies_what_cosign3_signs_and_attests_with_a_key() {
    let registry = Registry::start().await.unwrap();
    let cosign = Cosign::v3();
    let d = cosign.dir();
    let digest = push_image(&registry.addr(), "cli3/app", "1.0", b"cosign3")
        .await
        .unwrap();
    let image = format!("{}/cli3/app:1.0", registry.addr());
    // cosign signs the digest, as a pipeline would.
    let target = format!("{}/cli3/app@{digest}", registry.addr());
    let insecure = [
        "--allow-insecure-registry",
        "--allow-http-registry",
        "--yes",
    ];
    cosign.ok(&["generate-key-pair"]);
    let config = cosign.offline_signing_config();
    let verify = ["verify", "--key", "cosign.pub", "--allow-http-registry"];
    let attested = [
        "verify-attestation",
        "--key",
        "cosign.pub",
        "--allow-http-registry",
        "--type",
        "slsaprovenance1",
        "--condition",
        "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo",
    ];

    // Nothing attached yet: each command says what it missed and every place it looked.
    let unsigned = portcullis(d, &[&verify[..], &[image.as_str()]].concat());
    fails_with(&unsigned, "no signature found (looked in tag");
    let err = stderr(&unsigned);
    assert!(
        err.contains(".sig (layers application/vnd.dev.cosign.simplesigning.v1+json)"),
        "{err}"
    );
    assert!(
        err.contains("(artifact type application/vnd.dev.sigstore.bundle.v0.3+json)"),
        "{err}"
    );
    let unattested = portcullis(d, &[&attested[..], &[image.as_str()]].concat());
    fails_with(
        &unattested,
        "no https://slsa.dev/provenance/v1 attestation by an accepted signer (looked in",
    );
    assert!(
        !stderr(&unattested).contains("no signature found"),
        "{}",
        stderr(&unattested)
    );

    let sign = ["sign", "--key", "cosign.key", "--signing-config", config];
    cosign.ok(&[&sign[..], &insecure, &[target.as_str()]].concat());
    let out = ok(&portcullis(d, &[&verify[..], &[image.as_str()]].concat()));
    assert!(
        out.starts_with(&format!("Verified {image}@{digest} signed by ")),
        "{out}"
    );

    let predicate = provenance(d, "https://github.com/org/repo");
    let attest = [
        "attest",
        "--key",
        "cosign.key",
        "--signing-config",
        config,
        "--type",
        "slsaprovenance1",
        "--predicate",
        &predicate,
    ];
    cosign.ok(&[&attest[..], &insecure, &[target.as_str()]].concat());
    let out = ok(&portcullis(d, &[&attested[..], &[image.as_str()]].concat()));
    assert!(
        out.contains("attestation https://slsa.dev/provenance/v1 (1 condition(s) met)"),
        "{out}"
    );

    // Another key finds the bundle and does not trust it.
    ok(&portcullis_with(
        d,
        &["keygen", "--output-key-prefix", "other"],
        &[("PORTCULLIS_PASSWORD", PASSWORD)],
    ));
    let wrong = verify_with_key(d, "other.pub", &image);
    fails_with(
        &wrong,
        "signed by 0 of the 1 required trusted key(s) (1 signature(s) found)",
    );
}

#[tokio::test]
async fn cosign3_verifies_the_bundles_portcullis_writes_with_bundle_format_new() {
    let registry = Registry::start().await.unwrap();
    let cosign = Cosign::v3();
    let d = cosign.dir();
    let digest = push_image(&registry.addr(), "cli3/ours", "1.0", b"ours-new")
        .await
        .unwrap();
    let image = format!("{}/cli3/ours:1.0", registry.addr());
    let pinned = format!("{}/cli3/ours@{digest}", registry.addr());
    let with_password =
        |args: &[&str]| portcullis_with(d, args, &[("PORTCULLIS_PASSWORD", PASSWORD)]);
    ok(&with_password(&["keygen", "--output-key-prefix", "ours"]));
    ok(&with_password(&["keygen", "--output-key-prefix", "other"]));
    let sign = [
        "sign",
        "--key",
        "ours.key",
        "--allow-http-registry",
        "--bundle-format",
        "new",
        &image,
    ];
    let signed = with_password(&sign);
    ok(&signed);
    assert!(
        stderr(&signed).contains("cli3/ours@sha256:"),
        "{}",
        stderr(&signed)
    );
    let again = with_password(&sign);
    ok(&again);
    assert!(
        stderr(&again).contains("(already present)"),
        "{}",
        stderr(&again)
    );

    assert!(
        cosign.verifies("ours.pub", &pinned),
        "cosign 3 verify of our bundle"
    );
    assert!(
        !cosign.verifies("other.pub", &pinned),
        "cosign 3 must refuse another key"
    );
    ok(&verify_with_key(d, "ours.pub", &image));

    let predicate = provenance(d, "https://github.com/org/repo");
    ok(&with_password(&[
        "attest",
        "--key",
        "ours.key",
        "--allow-http-registry",
        "--bundle-format",
        "new",
        "--type",
        "slsaprovenance1",
        "--predicate",
        &predicate,
        &image,
    ]));
    assert!(
        cosign.verifies_provenance("ours.pub", &pinned),
        "cosign 3 verify-attestation of our bundle"
    );
    ok(&portcullis(
        d,
        &[
            "verify-attestation",
            "--key",
            "ours.pub",
            "--allow-http-registry",
            "--type",
            "slsaprovenance1",
            &image,
        ],
    ));
}
