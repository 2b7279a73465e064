//! `portcullis verify` keyless, as a user runs it: `--certificate-identity[-regexp]
//! --certificate-oidc-issuer[-regexp] --trusted-root FILE` instead of `--key`, on an image signed
//! by a private test Sigstore in a real loopback registry. Exit 0 only for the right identity,
//! otherwise exit 1 with one line saying why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::time::Duration;

use cli_support::{fails_with, ok, portcullis};
use portcullis_testkit::sigstore::{DAY, GITHUB, SUBJECT, TestSigstore, leaf, now};
use portcullis_testkit::{Registry, push_image};
use portcullis_verifier::{RegistryClient, RegistryConfig};

#[tokio::test]
async fn verify_keyless_image_in_a_registry() {
    let registry = Registry::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    push_image(&registry.addr(), "cli/keyless", "1.0", b"cli-keyless")
        .await
        .unwrap();
    let image_text = format!("{}/cli/keyless:1.0", registry.addr());
    let image: portcullis_verifier::ImageRef = image_text.parse().unwrap();
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec![registry.addr()],
        ..RegistryConfig::default()
    })
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let digest = client.resolve(&image, deadline).await.unwrap();
    let t0 = now();
    let mut ss = TestSigstore::new((t0 - DAY, t0 + DAY));
    let root = ss
        .write_trusted_root(d, (Some(t0 - DAY), None))
        .display()
        .to_string();

    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--trusted-root", &root, "--allow-http-registry"];
        args.extend_from_slice(extra);
        args.push(&image_text);
        portcullis(d, &args)
    };
    let exact = [
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer",
        GITHUB,
    ];
    fails_with(&verify(&exact), "no signature found");
    ss.sign_image(
        &client,
        &image,
        &digest,
        &leaf(&ss, t0, (-60, 540)),
        t0,
        None,
    )
    .await;

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
    let stranger = TestSigstore::new((t0 - DAY, t0 + DAY));
    let other_dir = tempfile::tempdir().unwrap();
    let other_root = stranger
        .write_trusted_root(other_dir.path(), (None, None))
        .display()
        .to_string();
    fails_with(
        &portcullis(
            d,
            &[
                "verify",
                "--trusted-root",
                &other_root,
                "--allow-http-registry",
                "--certificate-identity",
                SUBJECT,
                "--certificate-oidc-issuer",
                GITHUB,
                &image_text,
            ],
        ),
        "not a transparency log of the trusted root",
    );
    let att = portcullis(
        d,
        &[
            "verify-attestation",
            "--trusted-root",
            &root,
            "--allow-http-registry",
            "--certificate-identity",
            SUBJECT,
            "--certificate-oidc-issuer",
            GITHUB,
            &image_text,
        ],
    );
    fails_with(
        &att,
        "no https://cosign.sigstore.dev/attestation/v1 attestation by an accepted keyless signer",
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
