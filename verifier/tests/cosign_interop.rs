//! Interoperability with the real cosign 2.5 binary, both ways: what cosign signs and attests
//! verifies here, and what we sign and attest verifies with `cosign verify[-attestation]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::Command;

use portcullis_verifier::cosign::sign::{attest_image, sign_image};
use portcullis_verifier::{
    AttestationRequirement, Condition, KeyRequirement, PrivateKey, PublicKey, VerifyError,
};
use support::{Env, requirement, soon};

const PASSWORD: &str = "interop-pw";

fn cosign(bin: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("HOME", dir)
        .env("SIGSTORE_NO_CACHE", "true")
        .output()
        .expect("cosign runs");
    if !out.status.success() {
        eprintln!("cosign {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

fn insecure_flags() -> [&'static str; 2] {
    ["--allow-insecure-registry", "--allow-http-registry"]
}

fn provenance(dir: &Path, repo: &str) -> String {
    let path = dir.join(format!("provenance-{}.json", repo.len()));
    let predicate = serde_json::json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"repository": repo, "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}},
            "resolvedDependencies": []
        },
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}, "metadata": {"invocationId": "42"}}
    });
    std::fs::write(&path, serde_json::to_vec(&predicate).unwrap()).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn cosign_signed_and_attested_images_verify_here() {
    let bin = portcullis_testkit::tool("cosign");
    let env = Env::start().await;
    let (client, verifier) = env.direct();
    let dir = tempfile::tempdir().unwrap();
    assert!(
        cosign(&bin, dir.path(), &["generate-key-pair"])
            .status
            .success()
    );
    let pem = std::fs::read_to_string(dir.path().join("cosign.pub")).unwrap();
    let cosign_pub = PublicKey::from_pem(&pem, "cosign.pub").unwrap();

    let image = env.push_direct("interop", "v1", b"cosign-signed").await;
    let digest = client.resolve(&image, soon()).await.unwrap();
    let pinned = image.with_digest(digest.clone()).to_string();
    let mut args = vec![
        "sign",
        "--key",
        "cosign.key",
        "--tlog-upload=false",
        "--yes",
    ];
    args.extend(insecure_flags());
    args.push(&pinned);
    assert!(cosign(&bin, dir.path(), &args).status.success());

    let req = std::sync::Arc::new(KeyRequirement {
        keys: vec![cosign_pub.clone()],
        threshold: 1,
        attestations: vec![],
    });
    let verdict = verifier.verify(&image, &req, soon()).await;
    assert_eq!(
        verdict.as_ref().as_ref().unwrap().key_ids,
        vec![cosign_pub.id().to_string()]
    );
    let other = requirement(&[&PrivateKey::generate()], 1);
    assert!(matches!(
        verifier.verify(&image, &other, soon()).await.as_ref(),
        Err(VerifyError::ThresholdNotMet { .. })
    ));

    let predicate = provenance(dir.path(), "https://github.com/org/repo");
    let mut args = vec![
        "attest",
        "--key",
        "cosign.key",
        "--type",
        "slsaprovenance1",
        "--predicate",
        &predicate,
        "--tlog-upload=false",
        "--yes",
    ];
    args.extend(insecure_flags());
    args.push(&pinned);
    assert!(cosign(&bin, dir.path(), &args).status.success());
    let with = |cond: &str| {
        std::sync::Arc::new(KeyRequirement {
            keys: vec![cosign_pub.clone()],
            threshold: 1,
            attestations: vec![AttestationRequirement {
                predicate_type: "https://slsa.dev/provenance/v1".into(),
                conditions: vec![Condition::parse(cond).unwrap()],
            }],
        })
    };
    let ok = verifier.verify(&image, &with("$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo"), soon()).await;
    assert!(ok.is_ok(), "{ok:?}");
    let bad = verifier
        .verify(
            &image,
            &with("$.runDetails.builder.id == https://evil.example"),
            soon(),
        )
        .await;
    assert!(
        matches!(bad.as_ref(), Err(VerifyError::ConditionFailed { .. })),
        "{bad:?}"
    );
}

#[tokio::test]
async fn our_signatures_and_attestations_verify_with_cosign() {
    let bin = portcullis_testkit::tool("cosign");
    let env = Env::start().await;
    let (client, verifier) = env.direct();
    let dir = tempfile::tempdir().unwrap();
    // Our key file format, read by cosign.
    let key = PrivateKey::generate();
    std::fs::write(
        dir.path().join("ours.key"),
        key.to_encrypted_pem(PASSWORD.as_bytes()).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.path().join("ours.pub"), key.public().to_pem()).unwrap();

    let image = env
        .push_direct("interop", "ours", b"portcullis-signed")
        .await;
    let signed = sign_image(&client, &image, &key, soon()).await.unwrap();
    let pinned = image.with_digest(signed.digest.clone()).to_string();
    let mut verify = vec!["verify", "--key", "ours.pub", "--insecure-ignore-tlog"];
    verify.extend(insecure_flags());
    verify.push(&pinned);
    let out = cosign(&bin, dir.path(), &verify);
    assert!(out.status.success(), "cosign verify of our signature");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed[0]["critical"]["image"]["docker-manifest-digest"],
        signed.digest.to_string()
    );

    let predicate: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(provenance(dir.path(), "https://github.com/org/repo")).unwrap(),
    )
    .unwrap();
    attest_image(
        &client,
        &image,
        &key,
        "https://slsa.dev/provenance/v1",
        predicate,
        soon(),
    )
    .await
    .unwrap();
    let mut verify_att = vec![
        "verify-attestation",
        "--key",
        "ours.pub",
        "--type",
        "slsaprovenance1",
        "--insecure-ignore-tlog",
    ];
    verify_att.extend(insecure_flags());
    verify_att.push(&pinned);
    assert!(
        cosign(&bin, dir.path(), &verify_att).status.success(),
        "cosign verify-attestation of ours"
    );

    // cosign with another key must refuse ours.
    assert!(
        cosign(&bin, dir.path(), &["generate-key-pair"])
            .status
            .success()
    );
    let mut wrong = vec!["verify", "--key", "cosign.pub", "--insecure-ignore-tlog"];
    wrong.extend(insecure_flags());
    wrong.push(&pinned);
    assert!(!cosign(&bin, dir.path(), &wrong).status.success());

    // A cosign key signs with our code, and our key signs with cosign.
    let cosign_key = PrivateKey::from_pem(
        &std::fs::read_to_string(dir.path().join("cosign.key")).unwrap(),
        PASSWORD.as_bytes(),
    )
    .unwrap();
    let image2 = env.push_direct("interop", "crossed", b"crossed").await;
    sign_image(&client, &image2, &cosign_key, soon())
        .await
        .unwrap();
    let d2 = client.resolve(&image2, soon()).await.unwrap();
    let pinned2 = image2.with_digest(d2).to_string();
    let mut v2 = vec!["verify", "--key", "cosign.pub", "--insecure-ignore-tlog"];
    v2.extend(insecure_flags());
    v2.push(&pinned2);
    assert!(
        cosign(&bin, dir.path(), &v2).status.success(),
        "cosign key used by us, verified by cosign"
    );
    let mut s2 = vec!["sign", "--key", "ours.key", "--tlog-upload=false", "--yes"];
    s2.extend(insecure_flags());
    s2.push(&pinned2);
    assert!(
        cosign(&bin, dir.path(), &s2).status.success(),
        "cosign signs with our key file"
    );
    let both = requirement(&[&key, &cosign_key], 2);
    assert!(
        verifier.verify(&image2, &both, soon()).await.is_ok(),
        "both signatures in one .sig"
    );
}
