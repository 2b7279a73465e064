//! `portcullis verify-attestation` keyless, as a user runs it: `--certificate-identity …
//! --certificate-oidc-issuer … --trusted-root FILE --type T --condition …` on images in a real
//! loopback registry, attested by a private test Sigstore in cosign's classic keyless `.att`
//! format and as Sigstore bundles attached as OCI referrers. Exit 0 only when the signature and
//! the attestation verify, otherwise exit 1 with one line saying why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use cli_support::{fails_with, ok, portcullis};
use portcullis_testkit::sigstore::{
    GITHUB, KeylessRegistry, LeafSpec, SUBJECT, attach_referrer, statement,
};
use serde_json::json;

const SLSA: &str = "https://slsa.dev/provenance/v1";

#[tokio::test]
async fn verify_attestation_keyless_in_a_registry() {
    let mut k = KeylessRegistry::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = k.write_root(d);
    let l = k.valid_leaf();
    let predicate = json!({"buildDefinition": {"buildType": "https://acme/build/v1"},
        "runDetails": {"builder": {"id": "https://github.com/acme/builder"}}});

    let (classic, image, digest) = k.push("cli/attested", "classic").await;
    let (bundled, image2, digest2) = k.push("cli/attested", "bundled").await;
    let (foreign, image3, digest3) = k.push("cli/attested", "foreign").await;
    let (client, ss, t0) = (&k.client, &mut k.ss, k.t0);

    // Classic: `.sig` and `.att` tags.
    ss.sign_image(client, &image, &digest, &l, t0, None).await;
    ss.attest_image(client, &image, &digest, &l, SLSA, predicate.clone(), t0)
        .await;
    // cosign v3: both as referrer bundles, found through the tag fallback.
    let sig = ss.sign_image_bundle(&l, &digest2, t0);
    attach_referrer(client, &image2, &digest2, &sig).await;
    let att = ss.sign_statement(&l, &statement(&digest2, SLSA, Some(predicate.clone())), t0);
    attach_referrer(client, &image2, &digest2, &att).await;
    // Signed by the release workflow, attested by someone else.
    ss.sign_image(client, &image3, &digest3, &l, t0, None).await;
    let mallory = ss.issue(&LeafSpec {
        subject: "https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1",
        issuer: GITHUB,
        not_before: t0 - 60,
        not_after: t0 + 540,
        claims: &[],
    });
    ss.attest_image(client, &image3, &digest3, &mallory, SLSA, predicate, t0)
        .await;

    let run = |image: &str, extra: &[&str]| {
        let mut args = vec![
            "verify-attestation",
            "--trusted-root",
            &root,
            "--allow-http-registry",
        ];
        args.extend_from_slice(extra);
        args.push(image);
        portcullis(d, &args)
    };
    let who = [
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer",
        GITHUB,
    ];
    let holds = [
        "--type",
        "slsaprovenance1",
        "--condition",
        "$.runDetails.builder.id == https://github.com/acme/builder",
    ];
    for (text, digest) in [(&classic, &digest), (&bundled, &digest2)] {
        let out = ok(&run(text, &[&who[..], &holds[..]].concat()));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            format!("Verified {text}@{digest} signed by {SUBJECT} ({GITHUB})")
        );
        assert_eq!(
            lines[1],
            format!("  attestation {SLSA} (1 condition(s) met)")
        );
    }
    // `verify` finds the referrer signature as well.
    let verify = portcullis(
        d,
        &[
            &["verify", "--trusted-root", &root, "--allow-http-registry"][..],
            &who[..],
            &[bundled.as_str()][..],
        ]
        .concat(),
    );
    ok(&verify);

    for text in [&classic, &bundled] {
        fails_with(
            &run(
                text,
                &[
                    &who[..],
                    &[
                        "--type",
                        "slsaprovenance1",
                        "--condition",
                        "$.runDetails.builder.id == https://github.com/evil/builder",
                    ][..],
                ]
                .concat(),
            ),
            "attestation condition failed",
        );
        fails_with(
            &run(text, &[&who[..], &["--type", "spdxjson"][..]].concat()),
            "no https://spdx.dev/Document attestation by an accepted signer (looked in",
        );
        fails_with(
            &run(
                text,
                &[
                    &[
                        "--certificate-identity",
                        "https://github.com/acme/other/.github/workflows/x.yml@refs/heads/main",
                        "--certificate-oidc-issuer",
                        GITHUB,
                    ][..],
                    &holds[..],
                ]
                .concat(),
            ),
            "subject",
        );
    }
    fails_with(
        &run(&foreign, &[&who[..], &holds[..]].concat()),
        "attestation in layer",
    );
    fails_with(&run(&foreign, &[&who[..], &holds[..]].concat()), "mallory");
}
