//! The private test Sigstore speaks real Sigstore: the pinned `cosign` accepts its trusted root,
//! its v0.3 blob bundles and its classic keyless image signatures for the right identity, and
//! rejects a wrong identity and a tampered inclusion proof — so what the keyless tests prove
//! against it carries over to bundles and signatures cosign produces.
//!
//! SCTs are not made by the test CA, so cosign runs with `--insecure-ignore-sct`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_testkit::sigstore::{GITHUB, SUBJECT, TestSigstore, now, valid_leaf};
use support::{Env, soon};

fn cosign(cosign: &Path, dir: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Output {
    Command::new(cosign)
        .args(args)
        .current_dir(dir)
        .env("SIGSTORE_NO_CACHE", "1")
        .env("TUF_ROOT", dir.join("tuf"))
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

fn why(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cosign_verifies_test_sigstore_blob_bundles() {
    let bin = portcullis_testkit::tool("cosign");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t0 = now();
    let mut ss = TestSigstore::around(t0);
    let root = ss.write_root_for(d, t0);
    let l = valid_leaf(&ss, t0);
    for i in 0..3u8 {
        let _ = ss.sign_blob(&l, &[i], t0);
    }
    std::fs::write(d.join("artifact.txt"), b"interop").unwrap();
    let bundle = ss.sign_blob(&l, b"interop", t0);
    std::fs::write(d.join("good.json"), bundle.to_string()).unwrap();
    let mut bad = bundle.clone();
    let h = &mut bad["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0];
    let mut raw = B64.decode(h.as_str().unwrap()).unwrap();
    raw[0] ^= 1;
    *h = B64.encode(raw).into();
    std::fs::write(d.join("bad.json"), bad.to_string()).unwrap();

    let verify = |bundle: &str, identity: &str| {
        cosign(
            &bin,
            d,
            &[
                "verify-blob",
                "--new-bundle-format",
                "--trusted-root",
                &root,
                "--bundle",
                bundle,
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                GITHUB,
                "--insecure-ignore-sct",
                "artifact.txt",
            ],
            &[],
        )
    };
    let out = verify("good.json", SUBJECT);
    assert!(
        out.status.success(),
        "cosign rejected a good bundle: {}",
        why(&out)
    );
    let out = verify("good.json", "someone@example.com");
    assert!(!out.status.success(), "wrong identity accepted");
    let out = verify("bad.json", SUBJECT);
    assert!(!out.status.success(), "tampered inclusion proof accepted");
}

#[tokio::test]
async fn cosign_verifies_test_sigstore_classic_image_signatures() {
    let bin = portcullis_testkit::tool("cosign");
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = env.push_direct("keyless/interop", "v1", b"interop").await;
    let (client, _) = env.direct();
    let digest = client.resolve(&image, soon()).await.unwrap();
    let t0 = now();
    let mut ss = TestSigstore::around(t0);
    // cosign's classic path reads its trust from these variables, not from --trusted-root.
    std::fs::write(d.join("rekor.pub"), ss.log_key.public().to_pem()).unwrap();
    std::fs::write(d.join("fulcio.pem"), ss.ca_pem()).unwrap();
    let (rekor, fulcio) = (d.join("rekor.pub"), d.join("fulcio.pem"));
    let trust = [
        ("SIGSTORE_REKOR_PUBLIC_KEY", rekor.as_path()),
        ("SIGSTORE_ROOT_FILE", fulcio.as_path()),
    ];
    let l = valid_leaf(&ss, t0);
    ss.sign_image(&client, &image, &digest, &l, t0, None).await;

    let image = format!("{}@{digest}", image.name());
    let verify = |identity: &str| {
        cosign(
            &bin,
            d,
            &[
                "verify",
                "--allow-http-registry",
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                GITHUB,
                "--insecure-ignore-sct",
                &image,
            ],
            &trust,
        )
    };
    let out = verify(SUBJECT);
    assert!(
        out.status.success(),
        "cosign rejected a good signature: {}",
        why(&out)
    );
    let out = verify("someone@example.com");
    assert!(!out.status.success(), "wrong identity accepted");
}
