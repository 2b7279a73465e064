//! Interoperability with the real cosign 2.5 binary, both ways: what cosign signs and attests
//! verifies here, and what we sign and attest verifies with `cosign verify[-attestation]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use portcullis_testkit::cosign::{Cosign, PASSWORD, provenance, provenance_predicate};
use portcullis_verifier::cosign::sign::{attest_image, sign_image};
use portcullis_verifier::{
    AttestationRequirement, Condition, KeyRequirement, PrivateKey, PublicKey, VerifyError,
};
use support::{Env, requirement, soon};

#[tokio::test]
async fn cosign_signed_and_attested_images_verify_here() {
    let cosign = Cosign::v2();
    let env = Env::start().await;
    let (client, verifier) = env.direct();
    assert!(cosign.run(&["generate-key-pair"]).status.success());
    let pem = std::fs::read_to_string(cosign.dir().join("cosign.pub")).unwrap();
    let cosign_pub = PublicKey::from_pem(&pem, "cosign.pub").unwrap();

    let image = env.push_direct("interop", "v1", b"cosign-signed").await;
    let digest = client.resolve(&image, soon()).await.unwrap();
    let pinned = image.with_digest(digest.clone()).to_string();
    let args = [
        "sign",
        "--key",
        "cosign.key",
        "--tlog-upload=false",
        "--yes",
    ];
    assert!(cosign.succeeds_on(&args, &pinned));

    let req = std::sync::Arc::new(KeyRequirement {
        keys: vec![cosign_pub.clone()],
        threshold: 1,
        attestations: vec![],
        format: Default::default(),
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

    let predicate = provenance(cosign.dir(), "https://github.com/org/repo");
    let args = [
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
    assert!(cosign.succeeds_on(&args, &pinned));
    let with = |cond: &str| {
        std::sync::Arc::new(KeyRequirement {
            keys: vec![cosign_pub.clone()],
            threshold: 1,
            attestations: vec![AttestationRequirement {
                predicate_type: "https://slsa.dev/provenance/v1".into(),
                conditions: vec![Condition::parse(cond).unwrap()],
            }],
            format: Default::default(),
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
    let cosign = Cosign::v2();
    let env = Env::start().await;
    let (client, verifier) = env.direct();
    // Our key file format, read by cosign.
    let key = PrivateKey::generate();
    let private = key.to_encrypted_pem(PASSWORD.as_bytes()).unwrap();
    cosign.write_key_pair("ours", &private, &key.public().to_pem());

    let image = env
        .push_direct("interop", "ours", b"portcullis-signed")
        .await;
    let signed = sign_image(&client, &image, &key, soon()).await.unwrap();
    let pinned = image.with_digest(signed.digest.clone()).to_string();
    let verify = ["verify", "--key", "ours.pub", "--insecure-ignore-tlog"];
    let out = cosign.on(&verify, &pinned);
    assert!(out.status.success(), "cosign verify of our signature");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed[0]["critical"]["image"]["docker-manifest-digest"],
        signed.digest.to_string()
    );

    let predicate = provenance_predicate("https://github.com/org/repo");
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
    assert!(
        cosign.verifies_provenance("ours.pub", &pinned),
        "cosign verify-attestation of ours"
    );

    // cosign with another key must refuse ours.
    assert!(cosign.run(&["generate-key-pair"]).status.success());
    assert!(!cosign.verifies("cosign.pub", &pinned));

    // A cosign key signs with our code, and our key signs with cosign.
    let cosign_key = PrivateKey::from_pem(
        &std::fs::read_to_string(cosign.dir().join("cosign.key")).unwrap(),
        PASSWORD.as_bytes(),
    )
    .unwrap();
    let image2 = env.push_direct("interop", "crossed", b"crossed").await;
    sign_image(&client, &image2, &cosign_key, soon())
        .await
        .unwrap();
    let d2 = client.resolve(&image2, soon()).await.unwrap();
    let pinned2 = image2.with_digest(d2).to_string();
    assert!(
        cosign.verifies("cosign.pub", &pinned2),
        "cosign key used by us, verified by cosign"
    );
    let s2 = ["sign", "--key", "ours.key", "--tlog-upload=false", "--yes"];
    assert!(
        cosign.succeeds_on(&s2, &pinned2),
        "cosign signs with our key file"
    );
    let both = requirement(&[&key, &cosign_key], 2);
    assert!(
        verifier.verify(&image2, &both, soon()).await.is_ok(),
        "both signatures in one .sig"
    );
}
