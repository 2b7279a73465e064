//! The `portcullis` supply-chain commands as a user runs them, against a real loopback registry
//! and, where present, the real cosign: exit codes, one-line reasons, JSON output, and key files
//! that cross over with cosign's `generate-key-pair`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use portcullis_testkit::{Registry, push_image};

const PASSWORD: &str = "cli-test-pw";

fn portcullis(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(dir)
        .env("PORTCULLIS_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

fn provenance(dir: &Path, repo: &str) -> String {
    let path = dir.join("provenance.json");
    let doc = serde_json::json!({
        "buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"repository": repo, "ref": "refs/heads/main", "path": "release.yml"}},
            "resolvedDependencies": []},
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}, "metadata": {"invocationId": "7"}}
    });
    std::fs::write(&path, doc.to_string()).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn keygen_sign_attest_verify_round_trip() {
    let registry = Registry::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    push_image(&registry.addr(), "cli/app", "1.0", b"cli-app")
        .await
        .unwrap();
    let image = format!("{}/cli/app:1.0", registry.addr());

    assert!(
        portcullis(d, &["keygen", "--output-key-prefix", "release"])
            .status
            .success()
    );
    let again = portcullis(d, &["keygen", "--output-key-prefix", "release"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("release.key exists"),
        "{}",
        stderr(&again)
    );
    assert!(
        portcullis(d, &["keygen", "--output-key-prefix", "other"])
            .status
            .success()
    );

    let unsigned = portcullis(
        d,
        &[
            "verify",
            "--key",
            "release.pub",
            "--allow-http-registry",
            &image,
        ],
    );
    assert_eq!(unsigned.status.code(), Some(1));
    let line = stderr(&unsigned);
    assert_eq!(line.lines().count(), 1, "one-line reason: {line}");
    assert!(line.contains("no signature found"), "{line}");

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
    assert!(sign.status.success(), "{}", stderr(&sign));
    let ok = portcullis(
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
    assert!(ok.status.success(), "{}", stderr(&ok));
    let json: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert!(json["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(json["keyIds"].as_array().unwrap().len(), 1);
    let by_digest = format!(
        "{}@{}",
        image.rsplit_once(':').unwrap().0,
        json["digest"].as_str().unwrap()
    );
    let text = portcullis(
        d,
        &[
            "verify",
            "--key",
            "release.pub",
            "--allow-http-registry",
            &by_digest,
        ],
    );
    assert!(text.status.success(), "{}", stderr(&text));
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
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("signed by 0 of the 1 required trusted key(s)"),
        "{}",
        stderr(&wrong)
    );
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
    assert!(attest.status.success(), "{}", stderr(&attest));
    let cond =
        "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo";
    let pass = portcullis(
        d,
        &[
            "verify-attestation",
            "--key",
            "release.pub",
            "--type",
            "slsaprovenance1",
            "--condition",
            cond,
            "--allow-http-registry",
            "--output",
            "json",
            &image,
        ],
    );
    assert!(pass.status.success(), "{}", stderr(&pass));
    let json: serde_json::Value = serde_json::from_slice(&pass.stdout).unwrap();
    assert_eq!(
        json["attestations"][0]["predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(
        json["attestations"][0]["conditions"][0],
        "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo"
    );

    let fail = portcullis(
        d,
        &[
            "verify-attestation",
            "--key",
            "release.pub",
            "--type",
            "slsaprovenance1",
            "--condition",
            "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/other",
            "--allow-http-registry",
            &image,
        ],
    );
    assert_eq!(fail.status.code(), Some(1));
    let line = stderr(&fail);
    assert!(
        line.contains(
            "expected == https://github.com/org/other, found https://github.com/org/repo"
        ),
        "{line}"
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
    let mut registry = Registry::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    push_image(&registry.addr(), "cli/app", "1.0", b"cli-down")
        .await
        .unwrap();
    let image = format!("{}/cli/app:1.0", registry.addr());
    assert!(portcullis(d, &["keygen"]).status.success());

    let https = portcullis(
        d,
        &["verify", "--key", "cosign.pub", "--timeout", "5s", &image],
    );
    assert_eq!(https.status.code(), Some(1));
    assert!(
        stderr(&https).contains(&format!("registry {}", registry.addr())),
        "{}",
        stderr(&https)
    );

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
    assert_eq!(down.status.code(), Some(1));
    assert!(
        stderr(&down).contains(&format!("registry {} unreachable", registry.addr())),
        "{}",
        stderr(&down)
    );
}

#[tokio::test]
async fn cosign_generated_keys_work_with_portcullis() {
    let cosign = portcullis_testkit::tool("cosign");
    let registry = Registry::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keypair = Command::new(&cosign)
        .arg("generate-key-pair")
        .current_dir(d)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("HOME", d)
        .output()
        .unwrap();
    assert!(keypair.status.success(), "{}", stderr(&keypair));
    push_image(&registry.addr(), "cli/app", "2.0", b"cosign-key")
        .await
        .unwrap();
    let image = format!("{}/cli/app:2.0", registry.addr());
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
    assert!(sign.status.success(), "{}", stderr(&sign));
    assert!(
        portcullis(
            d,
            &[
                "verify",
                "--key",
                "cosign.pub",
                "--allow-http-registry",
                &image
            ]
        )
        .status
        .success()
    );

    let wrong_pw = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "sign",
            "--key",
            "cosign.key",
            "--allow-http-registry",
            &image,
        ])
        .current_dir(d)
        .env("PORTCULLIS_PASSWORD", "not-it")
        .output()
        .unwrap();
    assert!(!wrong_pw.status.success());
    assert!(
        stderr(&wrong_pw).contains("wrong password"),
        "{}",
        stderr(&wrong_pw)
    );
}
