//! The `portcullis` supply-chain commands as a user runs them, against a real loopback registry
//! and, where present, the real cosign: exit codes, one-line reasons, JSON output, and key files
//! that cross over with cosign's `generate-key-pair`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::path::Path;
use std::process::{Command, Output};

use cli_support::{fails_with, ok, portcullis_with, stderr, verify_with_key};
use portcullis_testkit::cosign::provenance;
use portcullis_testkit::{Registry, push_image};
use tempfile::TempDir;

const PASSWORD: &str = "cli-test-pw";

/// Runs `portcullis` in `dir` with the test keys' password.
fn portcullis(dir: &Path, args: &[&str]) -> Output {
    portcullis_with(dir, args, &[("PORTCULLIS_PASSWORD", PASSWORD)])
}

/// A registry holding the image `cli/app:TAG`, a working directory, and the image's reference.
async fn registry_with_image(tag: &str) -> (Registry, TempDir, String) {
    let registry = Registry::start().await.unwrap();
    push_image(&registry.addr(), "cli/app", tag, tag.as_bytes())
        .await
        .unwrap();
    let image = format!("{}/cli/app:{tag}", registry.addr());
    (registry, tempfile::tempdir().unwrap(), image)
}

#[tokio::test]
async fn keygen_sign_attest_verify_round_trip() {
    let (_registry, dir, image) = registry_with_image("1.0").await;
    let d = dir.path();

    ok(&portcullis(
        d,
        &["keygen", "--output-key-prefix", "release"],
    ));
    let again = portcullis(d, &["keygen", "--output-key-prefix", "release"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("release.key exists"),
        "{}",
        stderr(&again)
    );
    ok(&portcullis(d, &["keygen", "--output-key-prefix", "other"]));

    let unsigned = verify_with_key(d, "release.pub", &image);
    fails_with(&unsigned, "no signature found");

    let sign = portcullis(
        d,
        &[
            "sign",
            "--key",
            "release.key",
            "--allow-http-registry",
            "--yes",
            "--tlog-upload=false",
            &image,
        ],
    );
    ok(&sign);
    let verified = portcullis(
        d,
        &[
            "verify",
            "--key",
            "release.pub",
            "--allow-http-registry",
            "--output",
            "json",
            &image,
        ],
    );
    ok(&verified);
    let json: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert!(json["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(json["keyIds"].as_array().unwrap().len(), 1);
    let by_digest = format!(
        "{}@{}",
        image.rsplit_once(':').unwrap().0,
        json["digest"].as_str().unwrap()
    );
    let text = verify_with_key(d, "release.pub", &by_digest);
    ok(&text);
    assert_eq!(
        String::from_utf8_lossy(&text.stdout)
            .lines()
            .next()
            .unwrap(),
        format!(
            "Verified {by_digest} signed by {}",
            &json["keyIds"][0].as_str().unwrap()[..12]
        ),
        "a digest reference is printed once"
    );

    let wrong = verify_with_key(d, "other.pub", &image);
    fails_with(&wrong, "signed by 0 of the 1 required trusted key(s)");
    let two = portcullis(
        d,
        &[
            "verify",
            "--key",
            "release.pub",
            "--key",
            "other.pub",
            "--threshold",
            "2",
            "--allow-http-registry",
            &image,
        ],
    );
    assert_eq!(two.status.code(), Some(1), "2 of 2 not met with one signer");

    let predicate = provenance(d, "https://github.com/org/repo");
    let attest = portcullis(
        d,
        &[
            "attest",
            "--key",
            "release.key",
            "--type",
            "slsaprovenance1",
            "--predicate",
            &predicate,
            "--allow-http-registry",
            &image,
        ],
    );
    ok(&attest);
    let cond =
        "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo";
    let verify_attestation = |condition: &str, extra: &[&str]| {
        let args = [
            "verify-attestation",
            "--key",
            "release.pub",
            "--type",
            "slsaprovenance1",
            "--condition",
            condition,
            "--allow-http-registry",
        ];
        portcullis(d, &[&args[..], extra, &[&image]].concat())
    };
    let pass = verify_attestation(cond, &["--output", "json"]);
    ok(&pass);
    let json: serde_json::Value = serde_json::from_slice(&pass.stdout).unwrap();
    assert_eq!(
        json["attestations"][0]["predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(json["attestations"][0]["conditions"][0], cond);

    let other =
        "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/other";
    fails_with(
        &verify_attestation(other, &[]),
        "expected == https://github.com/org/other, found https://github.com/org/repo",
    );

    let bad_cond = portcullis(
        d,
        &[
            "verify-attestation",
            "--key",
            "release.pub",
            "--condition",
            "repository == x",
            "--allow-http-registry",
            &image,
        ],
    );
    assert!(!bad_cond.status.success());
    assert!(
        stderr(&bad_cond).contains("expected 'JSONPATH OP VALUE'"),
        "{}",
        stderr(&bad_cond)
    );
}

#[tokio::test]
async fn registry_down_and_plain_http_mistakes_are_named() {
    let (mut registry, dir, image) = registry_with_image("1.0").await;
    let d = dir.path();
    assert!(portcullis(d, &["keygen"]).status.success());

    let https = portcullis(
        d,
        &["verify", "--key", "cosign.pub", "--timeout", "5s", &image],
    );
    fails_with(&https, &format!("registry {}", registry.addr()));

    registry.stop().await.unwrap();
    let down = portcullis(
        d,
        &[
            "verify",
            "--key",
            "cosign.pub",
            "--allow-http-registry",
            "--timeout",
            "5s",
            &image,
        ],
    );
    fails_with(&down, &format!("registry {} unreachable", registry.addr()));
}

#[tokio::test]
async fn cosign_generated_keys_work_with_portcullis() {
    let cosign = portcullis_testkit::tool("cosign");
    let (_registry, dir, image) = registry_with_image("2.0").await;
    let d = dir.path();
    let keypair = Command::new(&cosign)
        .arg("generate-key-pair")
        .current_dir(d)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("HOME", d)
        .output()
        .unwrap();
    ok(&keypair);
    let sign = portcullis(
        d,
        &[
            "sign",
            "--key",
            "cosign.key",
            "--allow-http-registry",
            &image,
        ],
    );
    ok(&sign);
    ok(&verify_with_key(d, "cosign.pub", &image));

    let wrong_pw = portcullis_with(
        d,
        &[
            "sign",
            "--key",
            "cosign.key",
            "--allow-http-registry",
            &image,
        ],
        &[("PORTCULLIS_PASSWORD", "not-it")],
    );
    assert!(!wrong_pw.status.success());
    assert!(
        stderr(&wrong_pw).contains("wrong password"),
        "{}",
        stderr(&wrong_pw)
    );
}
