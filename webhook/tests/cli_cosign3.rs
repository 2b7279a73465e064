//! `portcullis verify --key` / `verify-attestation --key` on what the real cosign 3.1 writes
//! (`cosign sign|attest --key --signing-config`: Sigstore bundles stored as OCI referrers, here
//! under the `sha256-<hex>` fallback tag of a loopback registry without the referrers API), and
//! the one-line reasons when nothing is there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::path::Path;
use std::process::{Command, Output};

use cli_support::{fails_with, ok, portcullis, portcullis_with, stderr};
use portcullis_testkit::{Registry, push_image};

const PASSWORD: &str = "cli-cosign3-pw";

/// Runs the pinned cosign 3 in `dir` (its HOME) on `image` in the plain-HTTP registry.
fn cosign3(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(portcullis_testkit::tool("cosign3"))
        .args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("HOME", dir)
        .env("SIGSTORE_NO_CACHE", "true")
        .output()
        .unwrap();
    assert!(out.status.success(), "cosign3 {args:?}: {}", stderr(&out));
    out
}

fn provenance(dir: &Path) -> String {
    let path = dir.join("provenance.json");
    let doc = serde_json::json!({
        "buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"repository": "https://github.com/org/repo"}},
            "resolvedDependencies": []},
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}, "metadata": {"invocationId": "7"}}
    });
    std::fs::write(&path, doc.to_string()).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn portcullis_verifies_what_cosign3_signs_and_attests_with_a_key() {
    let registry = Registry::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
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
    cosign3(d, &["generate-key-pair"]);
    cosign3(
        d,
        &[
            "signing-config",
            "create",
            "--no-default-fulcio",
            "--no-default-oidc",
            "--no-default-rekor",
            "--no-default-tsa",
            "--out",
            "sc.json",
        ],
    );
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

    let sign = ["sign", "--key", "cosign.key", "--signing-config", "sc.json"];
    cosign3(d, &[&sign[..], &insecure, &[target.as_str()]].concat());
    let out = ok(&portcullis(d, &[&verify[..], &[image.as_str()]].concat()));
    assert!(
        out.starts_with(&format!("Verified {image}@{digest} signed by ")),
        "{out}"
    );

    let predicate = provenance(d);
    let attest = [
        "attest",
        "--key",
        "cosign.key",
        "--signing-config",
        "sc.json",
        "--type",
        "slsaprovenance1",
        "--predicate",
        &predicate,
    ];
    cosign3(d, &[&attest[..], &insecure, &[target.as_str()]].concat());
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
    let wrong = portcullis(
        d,
        &[
            "verify",
            "--key",
            "other.pub",
            "--allow-http-registry",
            &image,
        ],
    );
    fails_with(
        &wrong,
        "signed by 0 of the 1 required trusted key(s) (1 signature(s) found)",
    );
}

/// Runs cosign 3 on `image` and says whether it succeeded (its stderr is printed when not).
fn cosign3_accepts(dir: &Path, args: &[&str], image: &str) -> bool {
    let insecure = ["--allow-insecure-registry", "--allow-http-registry"];
    let out = Command::new(portcullis_testkit::tool("cosign3"))
        .args([args, &insecure, &[image]].concat())
        .current_dir(dir)
        .env("HOME", dir)
        .env("SIGSTORE_NO_CACHE", "true")
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!("cosign3 {args:?}: {}", stderr(&out));
    }
    out.status.success()
}

#[tokio::test]
async fn cosign3_verifies_the_bundles_portcullis_writes_with_bundle_format_new() {
    let registry = Registry::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
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

    let verify = ["verify", "--key", "ours.pub", "--insecure-ignore-tlog"];
    assert!(
        cosign3_accepts(d, &verify, &pinned),
        "cosign 3 verify of our bundle"
    );
    let wrong = ["verify", "--key", "other.pub", "--insecure-ignore-tlog"];
    assert!(
        !cosign3_accepts(d, &wrong, &pinned),
        "cosign 3 must refuse another key"
    );
    ok(&portcullis(
        d,
        &[
            "verify",
            "--key",
            "ours.pub",
            "--allow-http-registry",
            &image,
        ],
    ));

    let predicate = provenance(d);
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
    let verify_att = [
        "verify-attestation",
        "--key",
        "ours.pub",
        "--type",
        "slsaprovenance1",
        "--insecure-ignore-tlog",
    ];
    assert!(
        cosign3_accepts(d, &verify_att, &pinned),
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
