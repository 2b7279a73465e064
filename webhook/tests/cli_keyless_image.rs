//! `portcullis verify` keyless, as a user runs it: `--certificate-identity[-regexp]
//! --certificate-oidc-issuer[-regexp] --trusted-root FILE` instead of `--key`, on an image signed
//! by a private test Sigstore in a real loopback registry. Exit 0 only for the right identity,
//! otherwise exit 1 with one line saying why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use cli_support::{fails_with, ok, portcullis};
use portcullis_testkit::sigstore::{GITHUB, KeylessRegistry, SUBJECT, TestSigstore};

#[tokio::test]
async fn verify_keyless_image_in_a_registry() {
    let mut k = KeylessRegistry::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (image_text, image, digest) = k.push("cli/keyless", "1.0").await;
    let root = k.write_root(d);

    let run = |command: &str, root: &str, extra: &[&str]| {
        let mut args = vec![command, "--trusted-root", root, "--allow-http-registry"];
        args.extend_from_slice(extra);
        args.push(&image_text);
        portcullis(d, &args)
    };
    let verify = |extra: &[&str]| run("verify", &root, extra);
    let exact = [
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer",
        GITHUB,
    ];
    fails_with(&verify(&exact), "no signature found");
    let leaf = k.valid_leaf();
    k.sign(&image, &digest, &leaf).await;

    let line = ok(&verify(&exact));
    assert_eq!(
        line,
        format!("Verified {image_text}@{digest} signed by {SUBJECT} ({GITHUB})")
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&verify(&[&exact[..], &["--output", "json"]].concat()))).unwrap();
    assert_eq!(json["keyIds"][0], format!("{SUBJECT} ({GITHUB})"));
    ok(&verify(&[
        "--certificate-identity-regexp",
        "^https://github\\.com/acme/app/",
        "--certificate-oidc-issuer",
        GITHUB,
        "--certificate-github-workflow-repository",
        "acme/app",
        "--certificate-github-workflow-ref",
        "refs/tags/v1",
    ]));

    fails_with(
        &verify(&[
            "--certificate-identity",
            "https://github.com/acme/other/.github/workflows/x.yml@refs/heads/main",
            "--certificate-oidc-issuer",
            GITHUB,
        ]),
        "subject",
    );
    fails_with(
        &verify(&[
            "--certificate-identity",
            SUBJECT,
            "--certificate-oidc-issuer",
            "https://accounts.google.com",
        ]),
        "issuer",
    );
    fails_with(
        &verify(
            &[
                &exact[..],
                &["--certificate-github-workflow-repository", "acme/other"],
            ]
            .concat(),
        ),
        "github-workflow-repository",
    );
    fails_with(
        &verify(&[&exact[..], &["--insecure-ignore-tlog"]].concat()),
        "--insecure-ignore-tlog",
    );
    let stranger = TestSigstore::around(k.t0);
    let other_dir = tempfile::tempdir().unwrap();
    let other_root = stranger
        .write_trusted_root(other_dir.path(), (None, None))
        .display()
        .to_string();
    fails_with(
        &run("verify", &other_root, &exact),
        "not a transparency log of the trusted root",
    );
    fails_with(
        &run("verify-attestation", &root, &exact),
        "no https://cosign.sigstore.dev/attestation/v1 attestation by an accepted signer",
    );
    let both = portcullis(
        d,
        &[
            "verify",
            "--key",
            "k.pub",
            "--certificate-identity",
            SUBJECT,
            &image_text,
        ],
    );
    assert_eq!(
        both.status.code(),
        Some(2),
        "--key and keyless flags conflict"
    );
}
