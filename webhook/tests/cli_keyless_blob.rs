//! `portcullis verify-blob --bundle` as a user runs it, offline: the corpus's real Sigstore
//! bundles (v0.3 image signature, `cosign attest` bundle, legacy `sign-blob` bundle) against
//! their trusted roots, and bundles from a private test Sigstore, keyless and with `--key`.
//! Exit 0 only when verified, otherwise exit 1 with one line saying why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use cli_support::{fails_with, ok, portcullis};
use portcullis_testkit::sigstore::{GITHUB, SUBJECT, TestSigstore, now, valid_leaf};
use portcullis_verifier::PrivateKey;

const V03_DIGEST: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const V03_SUBJECT: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";

#[test]
fn verify_blob_checks_the_corpus_bundles() {
    let c = portcullis_testkit::corpus("cosign");
    let f = |rel: &str| c.join(rel).display().to_string();
    let (v03, prod) = (
        f("bundles/bundle_v03.json"),
        f("trust/production_trusted_root.json"),
    );
    let d = c.as_path();
    let keyless =
        |bundle: &str, id: &str, issuer: &str, root: &str, artifact: &str, extra: &[&str]| {
            let mut args = vec![
                "verify-blob",
                "--bundle",
                bundle,
                "--certificate-identity",
                id,
                "--certificate-oidc-issuer",
                issuer,
                "--trusted-root",
                root,
            ];
            args.extend_from_slice(extra);
            args.push(artifact);
            portcullis(d, &args)
        };
    let line = ok(&keyless(&v03, V03_SUBJECT, GITHUB, &prod, V03_DIGEST, &[]));
    assert!(
        line.starts_with(&format!(
            "Verified OK: {V03_DIGEST} signed by subject \"{V03_SUBJECT}\""
        )),
        "{line}"
    );
    assert!(
        line.contains("logged by https://rekor.sigstore.dev at 2026-04-09T07:23:29Z"),
        "{line}"
    );
    let other = format!("sha256:{}", "0".repeat(64));
    fails_with(
        &keyless(&v03, V03_SUBJECT, GITHUB, &prod, &other, &[]),
        "signed content is about",
    );
    fails_with(
        &keyless(
            &v03,
            V03_SUBJECT,
            "https://accounts.google.com",
            &prod,
            V03_DIGEST,
            &[],
        ),
        "issuer",
    );
    fails_with(
        &keyless(&v03, "someone@example.com", GITHUB, &prod, V03_DIGEST, &[]),
        "subject",
    );
    let regex = portcullis(
        d,
        &[
            "verify-blob",
            "--bundle",
            &v03,
            "--certificate-identity-regexp",
            "^https://github.com/kubewarden/",
            "--certificate-oidc-issuer-regexp",
            "^https://token\\.actions\\.",
            "--certificate-github-workflow-ref",
            "refs/tags/v1.34.0",
            "--trusted-root",
            &prod,
            V03_DIGEST,
        ],
    );
    ok(&regex);
    let wrong_ref = ["--certificate-github-workflow-ref", "refs/tags/v0.1"];
    fails_with(
        &keyless(&v03, V03_SUBJECT, GITHUB, &prod, V03_DIGEST, &wrong_ref),
        "github-workflow-ref",
    );
    // A required flag left out is named.
    let full = [
        "verify-blob",
        "--bundle",
        &v03,
        "--certificate-identity",
        V03_SUBJECT,
        "--certificate-oidc-issuer",
        GITHUB,
        "--trusted-root",
        &prod,
        V03_DIGEST,
    ];
    for flag in ["--trusted-root", "--certificate-oidc-issuer"] {
        let at = full.iter().position(|arg| *arg == flag).unwrap();
        let without = [&full[..at], &full[at + 2..]].concat();
        fails_with(&portcullis(d, &without), flag);
    }
    fails_with(
        &portcullis(
            d,
            &[
                "verify-blob",
                "--bundle",
                &v03,
                "--key",
                &f("vectors/trust/rekor.pub"),
                "--trusted-root",
                &prod,
                V03_DIGEST,
            ],
        ),
        "signature does not verify",
    );

    let legacy = f("vectors/sign-blob-legacy-bundle/artifact.bundle");
    let legacy_digest = "sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1";
    ok(&keyless(
        &legacy,
        "daniel.bevenius@gmail.com",
        "https://github.com/login/oauth",
        &prod,
        legacy_digest,
        &[],
    ));
    let att = keyless(
        &f("bundles/oci-attestation.sigstore.json"),
        "cody@soyland.com",
        "https://github.com/login/oauth",
        &f("bundles/trusted_root_pgi.json"),
        "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4",
        &["--output", "json"],
    );
    let doc: serde_json::Value = serde_json::from_str(&ok(&att)).unwrap();
    assert_eq!(
        doc["statement"]["predicateType"],
        "https://cosign.sigstore.dev/attestation/v1"
    );
    assert_eq!(doc["identity"]["subjects"][0], "cody@soyland.com");
}

#[test]
fn verify_blob_with_test_bundles_keyless_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t0 = now();
    let mut ss = TestSigstore::around(t0);
    let root = ss.write_root_for(d, t0);
    std::fs::write(d.join("artifact.txt"), b"release notes").unwrap();
    let bundle = ss.sign_blob(&valid_leaf(&ss, t0), b"release notes", t0);
    std::fs::write(d.join("artifact.sigstore.json"), bundle.to_string()).unwrap();
    let args = [
        "verify-blob",
        "--bundle",
        "artifact.sigstore.json",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer",
        GITHUB,
        "--trusted-root",
        &root,
    ];
    ok(&portcullis(d, &[&args[..], &["artifact.txt"]].concat()));
    std::fs::write(d.join("other.txt"), b"release notes!").unwrap();
    fails_with(
        &portcullis(d, &[&args[..], &["other.txt"]].concat()),
        "signed content is about",
    );

    let key = PrivateKey::generate();
    std::fs::write(d.join("k.pub"), key.public().to_pem()).unwrap();
    let keyed = ss.sign_blob_with_key(&key, b"release notes", t0);
    std::fs::write(d.join("keyed.json"), keyed.to_string()).unwrap();
    let with_log = ok(&portcullis(
        d,
        &[
            "verify-blob",
            "--bundle",
            "keyed.json",
            "--key",
            "k.pub",
            "--trusted-root",
            &root,
            "artifact.txt",
        ],
    ));
    assert!(
        with_log.contains("signed by the given key; logged by https://rekor.test"),
        "{with_log}"
    );
    fails_with(
        &portcullis(
            d,
            &[
                "verify-blob",
                "--bundle",
                "keyed.json",
                "--key",
                "k.pub",
                "artifact.txt",
            ],
        ),
        "--insecure-ignore-tlog",
    );
    let skipped = ok(&portcullis(
        d,
        &[
            "verify-blob",
            "--bundle",
            "keyed.json",
            "--key",
            "k.pub",
            "--insecure-ignore-tlog",
            "artifact.txt",
        ],
    ));
    assert!(
        skipped.contains("transparency log not checked"),
        "{skipped}"
    );
    let both = portcullis(
        d,
        &[
            "verify-blob",
            "--bundle",
            "keyed.json",
            "--key",
            "k.pub",
            "--certificate-identity",
            SUBJECT,
            "artifact.txt",
        ],
    );
    assert_eq!(
        both.status.code(),
        Some(2),
        "--key and keyless flags conflict"
    );
}

#[test]
fn verify_blob_checks_a_rekor_v2_bundle_by_its_checkpoint_and_timestamp() {
    let c = portcullis_testkit::corpus("cosign");
    let f = |rel: &str| c.join(rel).display().to_string();
    let (artifact, bundle, root) = (
        f("bundles/rekor-v2/staging-rekor-v2.txt"),
        f("bundles/rekor-v2/staging-rekor-v2.txt.sigstore.json"),
        f("trust/staging_trusted_root.json"),
    );
    let run = |bundle: &str, artifact: &str| {
        portcullis(
            c.as_path(),
            &[
                "verify-blob",
                "--bundle",
                bundle,
                "--certificate-identity",
                "jku@goto.fi",
                "--certificate-oidc-issuer",
                "https://github.com/login/oauth",
                "--trusted-root",
                &root,
                artifact,
            ],
        )
    };
    let line = ok(&run(&bundle, &artifact));
    assert!(
        line.contains(
            "logged by https://log2025-alpha1.rekor.sigstage.dev (index 645), timestamped at 2025-06-09T11:57:38Z by O=sigstore.dev, CN=sigstore-tsa-selfsigned"
        ),
        "{line}"
    );
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.txt");
    std::fs::write(&other, b"not the signed text").unwrap();
    fails_with(
        &run(&bundle, other.to_str().unwrap()),
        "signed content is about",
    );
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    doc["verificationMaterial"]
        .as_object_mut()
        .unwrap()
        .remove("timestampVerificationData");
    let unstamped = dir.path().join("unstamped.sigstore.json");
    std::fs::write(&unstamped, doc.to_string()).unwrap();
    fails_with(
        &run(unstamped.to_str().unwrap(), &artifact),
        "has no signed entry timestamp, so the log proves no time (Rekor v2)",
    );
}
