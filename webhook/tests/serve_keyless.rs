//! Keyless authorities end to end: the real `portcullis serve` binary with
//! `--trusted-root test=FILE` and a `ClusterImagePolicy` accepting one GitHub workflow identity,
//! a real loopback registry, images signed by a private test Sigstore (Fulcio-like CA, Rekor-like
//! log). The right identity is admitted and pinned; another identity and an unsigned image are
//! denied with the reason; a broken trusted root is reported and the last good set stays.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use portcullis_testkit::sigstore::{GITHUB, KeylessRegistry, LeafSpec};
use serde_json::{Value, json};
use serve_support::*;

fn pod_running(image: &str) -> Value {
    let mut pod = compliant_pod();
    pod["spec"]["containers"][0]["image"] = json!(image);
    pod
}

const KEYLESS_POLICY: &str = r#"apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: release-workflow}
spec:
  images: ["127.0.0.1:*/**"]
  authorities:
    keyless:
      trustedRoot: test
      identities:
        - subjectRegExp: ^https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v
          issuer: https://token.actions.githubusercontent.com
          claims:
            source-repository-uri: https://github.com/acme/app
"#;

#[tokio::test]
async fn keyless_identities_are_admitted_and_pinned_others_denied() {
    let mut k = KeylessRegistry::start().await;
    let host = k.registry.addr();

    // Signed by the release workflow; by another repository's workflow; not at all.
    let (_, release, release_digest) = k.push("acme/app", "1.0").await;
    let (_, fork, fork_digest) = k.push("acme/fork", "1.0").await;
    let (plain, _, _) = k.push("acme/plain", "1.0").await;
    let release_leaf = k.valid_leaf();
    k.sign(&release, &release_digest, &release_leaf).await;
    let fork_leaf = k.ss.issue(&LeafSpec {
        subject: "https://github.com/mallory/fork/.github/workflows/release.yml@refs/tags/v1",
        issuer: GITHUB,
        not_before: k.t0 - 60,
        not_after: k.t0 + 540,
        claims: &[(12, "https://github.com/mallory/fork")],
    });
    k.sign(&fork, &fork_digest, &fork_leaf).await;

    let work = Workdir::new();
    let root = k.write_root(work.dir.path());
    std::fs::write(work.policies.join("release-workflow.yaml"), KEYLESS_POLICY).unwrap();
    let trust = format!("test={root}");
    let server = work.start(&["--allow-http-registry", &host, "--trusted-root", &trust]);
    let mut api = work.connect(&server).await;

    // The release workflow's image: admitted, and /mutate pins the verified digest.
    let pod = pod_running(&release.to_string());
    let image = api.admit_and_pin(&server, "kl-ok", &pod).await;
    assert_eq!(image, format!("{release}@{release_digest}"));

    // Another workflow: denied, naming the identity that did not match and the fix.
    let denied = api
        .review(
            "/validate?timeout=10s",
            &review_for("kl-fork", &pod_running(&fork.to_string())),
        )
        .await;
    assert_eq!(denied["allowed"], false, "{denied}");
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("release-workflow")
            && message.contains("mallory/fork")
            && message.contains("accepted identities"),
        "{message}"
    );

    // Unsigned: denied.
    let unsigned = api
        .review(
            "/validate?timeout=10s",
            &review_for("kl-plain", &pod_running(&plain)),
        )
        .await;
    assert_eq!(unsigned["allowed"], false, "{unsigned}");
    assert!(
        unsigned["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no signature"),
        "{unsigned}"
    );

    // A broken trusted root: reported, and the last good set (with the good root) stays.
    std::fs::write(&root, "{ not json").unwrap();
    let body = server.reload_error_reported("trusted root test").await;
    assert_eq!(body.0, 200, "{}", body.1);
    let again = api
        .review("/validate?timeout=10s", &review_for("kl-again", &pod))
        .await;
    assert_eq!(again["allowed"], true, "{again}");
}

#[tokio::test]
async fn a_policy_naming_an_unconfigured_trusted_root_does_not_load() {
    let work = Workdir::new();
    std::fs::write(work.policies.join("release-workflow.yaml"), KEYLESS_POLICY).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("evaluate")
        .arg("--policy")
        .arg(&work.policies)
        .arg(work.policies.join("release-workflow.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trustedRoot \"test\" is not configured")
            && err.contains("--trusted-root test=FILE"),
        "{err}"
    );
}
