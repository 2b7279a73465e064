//! `portcullis provenance` and `portcullis attest --provenance`: the predicate GitHub Actions'
//! variables give, attached to an image in a loopback registry and verified by the real cosign
//! 3.1 (`verify-attestation --type slsaprovenance1`), cosign 2.5 (classic `.att`), and our own
//! policy conditions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use cli_support::{fails_with, ok, portcullis_with};
use portcullis_testkit::cosign::{Cosign, PASSWORD};
use portcullis_testkit::{Registry, push_image};
use serde_json::Value;

/// The variables of a real GitHub Actions run (loosebazooka/aa-test run 11941425487, whose
/// provenance is in testdata/corpora/slsa), with the signing key's password.
const RUN: [(&str, &str); 13] = [
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_EVENT_NAME", "workflow_dispatch"),
    ("GITHUB_REF", "refs/heads/main"),
    ("GITHUB_REPOSITORY", "loosebazooka/aa-test"),
    ("GITHUB_REPOSITORY_ID", "891715444"),
    ("GITHUB_REPOSITORY_OWNER_ID", "1304826"),
    ("GITHUB_RUN_ATTEMPT", "1"),
    ("GITHUB_RUN_ID", "11941425487"),
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_SHA", "ebff8dfbd609b7b22237c7719ce07f2dc7934f5f"),
    (
        "GITHUB_WORKFLOW_REF",
        "loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main",
    ),
    ("RUNNER_ENVIRONMENT", "github-hosted"),
    ("PORTCULLIS_PASSWORD", PASSWORD),
];

#[test]
fn provenance_writes_a_statement_for_a_file_to_the_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("app.tar.gz"), b"abc").unwrap();
    ok(&portcullis_with(
        d,
        &["provenance", "--statement", "-o", "out.json", "app.tar.gz"],
        &RUN,
    ));
    let statement: Value =
        serde_json::from_slice(&std::fs::read(d.join("out.json")).unwrap()).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["subject"][0]["name"], "app.tar.gz");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        statement["predicate"]["runDetails"]["metadata"]["invocationId"],
        "https://github.com/loosebazooka/aa-test/actions/runs/11941425487/attempts/1"
    );

    let outside = portcullis_with(d, &["provenance", "--from", "flags"], &RUN);
    fails_with(&outside, "--builder-id is required outside GitHub Actions");
    let empty = portcullis_with(d, &["provenance", "--statement"], &RUN);
    fails_with(&empty, "--statement needs at least one SUBJECT");
}

#[tokio::test]
async fn attested_provenance_verifies_with_cosign_3_and_2_and_our_conditions() {
    let registry = Registry::start().await.unwrap();
    let cosign3 = Cosign::v3();
    let d = cosign3.dir();
    let run = |args: &[&str]| portcullis_with(d, args, &RUN);
    ok(&run(&["keygen", "--output-key-prefix", "ci"]));
    let mut images = Vec::new();
    for (name, format) in [("new", "new"), ("classic", "classic")] {
        let digest = push_image(
            &registry.addr(),
            &format!("prov/{name}"),
            "1.0",
            name.as_bytes(),
        )
        .await
        .unwrap();
        let image = format!("{}/prov/{name}:1.0", registry.addr());
        let sign = [
            "sign",
            "--key",
            "ci.key",
            "--allow-http-registry",
            "--bundle-format",
        ];
        ok(&run(&[&sign[..], &[format, image.as_str()]].concat()));
        ok(&run(&[
            "attest",
            "--key",
            "ci.key",
            "--allow-http-registry",
            "--bundle-format",
            format,
            "--provenance",
            "--dependency",
            &format!("BASE=oci://{}/prov/base@{digest}", registry.addr()),
            &image,
        ]));
        images.push((image, format!("{}/prov/{name}@{digest}", registry.addr())));
    }
    let (new, classic) = (&images[0], &images[1]);
    assert!(
        cosign3.verifies_provenance("ci.pub", &new.1),
        "cosign 3.1, bundle"
    );
    let cosign2 = Cosign::v2();
    std::fs::copy(d.join("ci.pub"), cosign2.dir().join("ci.pub")).unwrap();
    assert!(
        cosign2.verifies_provenance("ci.pub", &classic.1),
        "cosign 2.5, classic .att"
    );

    let verify = |image: &str, conditions: &[&str]| {
        let mut args = vec![
            "verify-attestation",
            "--key",
            "ci.pub",
            "--allow-http-registry",
            "--type",
            "slsaprovenance1",
        ];
        for c in conditions {
            args.extend(["--condition", c]);
        }
        args.push(image);
        run(&args)
    };
    let release = [
        "$.buildDefinition.buildType == https://actions.github.io/buildtypes/workflow/v1",
        "$.buildDefinition.externalParameters.workflow.repository == https://github.com/loosebazooka/aa-test",
        "$.buildDefinition.resolvedDependencies[0].digest.gitCommit == ebff8dfbd609b7b22237c7719ce07f2dc7934f5f",
        "$.runDetails.builder.id == https://github.com/loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main",
    ];
    for (image, _) in &images {
        let out = ok(&verify(image, &release));
        assert!(out.contains("(4 condition(s) met)"), "{out}");
    }
    let fork = verify(
        &new.0,
        &[
            "$.buildDefinition.externalParameters.workflow.repository == https://github.com/acme/app",
        ],
    );
    fails_with(&fork, "https://github.com/loosebazooka/aa-test");
}

#[test]
fn attest_refuses_provenance_flags_it_cannot_honour() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = "127.0.0.1:9/app:1.0";
    let wrong_type = portcullis_with(
        d,
        &[
            "attest",
            "--key",
            "k",
            "--provenance",
            "--type",
            "cyclonedx",
            image,
        ],
        &RUN,
    );
    fails_with(
        &wrong_type,
        "--provenance attaches https://slsa.dev/provenance/v1",
    );
    let stray = portcullis_with(
        d,
        &[
            "attest",
            "--key",
            "k",
            "--predicate",
            "p.json",
            "--commit",
            "abc",
            image,
        ],
        &RUN,
    );
    fails_with(&stray, "need --provenance");
}
