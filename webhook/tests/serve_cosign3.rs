//! The admission path with what today's cosign writes: an image signed by the real cosign 3.1
//! (`cosign sign --key --signing-config`, a Sigstore bundle stored as an OCI referrer under the
//! `sha256-<hex>` fallback tag of a loopback registry without the referrers API) is admitted and
//! pinned to its digest by the real `portcullis serve` over TLS; the same kind of image unsigned is
//! denied, and the reason names both places looked (the classic `.sig` tag and the referrers
//! fallback tag, with their media types).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use std::path::Path;
use std::process::Command;

use portcullis_testkit::{Registry, push_image};
use serde_json::{Value, json};
use serve_support::*;

const PASSWORD: &str = "serve-cosign3-pw";

/// Runs the pinned cosign 3 in `dir` (its HOME); panics with its stderr when it fails.
fn cosign3(dir: &Path, args: &[&str]) {
    let out = Command::new(portcullis_testkit::tool("cosign3"))
        .args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("HOME", dir)
        .env("SIGSTORE_NO_CACHE", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cosign3 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pod_running(image: &str) -> Value {
    let mut pod = compliant_pod();
    pod["spec"]["containers"][0]["image"] = json!(image);
    pod
}

fn policy(public_pem: &str) -> String {
    let indented: String = public_pem
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    format!(
        "apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {{name: cosign3-images}}
spec:
  mode: enforce
  images: [\"127.0.0.1:*/**\"]
  authorities:
    keys:
      - name: release
        pem: |
{indented}"
    )
}

#[tokio::test]
async fn an_image_signed_by_cosign3_is_admitted_and_pinned_and_an_unsigned_one_denied() {
    let registry = Registry::start().await.unwrap();
    let host = registry.addr();
    let keys = tempfile::tempdir().unwrap();
    let k = keys.path();
    cosign3(k, &["generate-key-pair"]);
    cosign3(
        k,
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
    let digest = push_image(&host, "team/app", "1.0", b"cosign3-signed")
        .await
        .unwrap();
    let unsigned_digest = push_image(&host, "team/app", "unsigned", b"unsigned")
        .await
        .unwrap();
    cosign3(
        k,
        &[
            "sign",
            "--key",
            "cosign.key",
            "--signing-config",
            "sc.json",
            "--allow-insecure-registry",
            "--allow-http-registry",
            "--yes",
            &format!("{host}/team/app@{digest}"),
        ],
    );

    let work = Workdir::new();
    let public = std::fs::read_to_string(k.join("cosign.pub")).unwrap();
    std::fs::write(work.policies.join("cosign3.yaml"), policy(&public)).unwrap();
    let server = work.start(&["--allow-http-registry", &host]);
    let mut api = Client::connect(server.admission, &work.pki.ca_pem())
        .await
        .unwrap();

    let pod = pod_running(&format!("{host}/team/app:1.0"));
    let image = api.admit_and_pin(&server, "c3-signed", &pod).await;
    assert_eq!(image, format!("{host}/team/app:1.0@{digest}"));

    let unsigned = pod_running(&format!("{host}/team/app:unsigned"));
    let denied = api
        .review(
            "/validate?timeout=10s",
            &review_for("c3-unsigned", &unsigned),
        )
        .await;
    assert_eq!(denied["allowed"], false, "{denied}");
    let message = denied["status"]["message"].as_str().unwrap();
    let hex = unsigned_digest.trim_start_matches("sha256:");
    for needle in [
        "cosign3-images",
        "no signature found",
        &format!(
            "tag {host}/team/app:sha256-{hex}.sig (layers application/vnd.dev.cosign.simplesigning.v1+json)"
        ),
        &format!(
            "referrers tag {host}/team/app:sha256-{hex} (absent) (artifact type application/vnd.dev.sigstore.bundle.v0.3+json)"
        ),
    ] {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
}
