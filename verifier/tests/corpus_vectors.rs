//! The shared upstream corpora give their documented verdicts: cosign simple-signing vectors
//! (valid / wrong key / tampered payload) and SLSA statements (parse, classify, conditions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::cosign::dsse::Statement;
use portcullis_verifier::cosign::payload::SimpleSigning;
use portcullis_verifier::{Condition, PublicKey};

fn key(dir: &std::path::Path, name: &str) -> PublicKey {
    let pem = std::fs::read_to_string(dir.join(name)).unwrap();
    PublicKey::from_pem(&pem, name).unwrap()
}

#[test]
fn simple_signing_key_vectors() {
    let cosign = portcullis_testkit::corpus("cosign");
    let dir = cosign.join("vectors/simple-signing-key");
    let payload = std::fs::read(dir.join("payload.json")).unwrap();
    let sig = B64
        .decode(
            std::fs::read_to_string(dir.join("signature.b64"))
                .unwrap()
                .trim(),
        )
        .unwrap();

    assert!(
        key(&dir, "cosign.pub").verify(&payload, &sig),
        "valid with cosign.pub"
    );
    assert!(
        !key(&dir, "wrong.pub").verify(&payload, &sig),
        "invalid with wrong.pub"
    );
    assert!(!key(&cosign.join("vectors/trust"), "rekor.pub").verify(&payload, &sig));
    for i in [0, payload.len() / 2, payload.len() - 1] {
        let mut tampered = payload.clone();
        tampered[i] ^= 0x01;
        assert!(
            !key(&dir, "cosign.pub").verify(&tampered, &sig),
            "tampered byte {i}"
        );
    }
    let mut flipped = sig.clone();
    flipped[10] ^= 0x01;
    assert!(!key(&dir, "cosign.pub").verify(&payload, &flipped));

    let parsed = SimpleSigning::parse(&payload).unwrap();
    assert_eq!(
        parsed.critical.identity.docker_reference,
        "registry-testing.svc.lan/busybox"
    );
    assert!(parsed.digest().starts_with("sha256:f3cfc9d0"));
    assert!(parsed.digest().ends_with("b06b"));
}

/// Every statement in the SLSA corpus parses, is classified by predicate type, and a builder-id
/// condition built from INDEX.csv holds for it and fails for another builder.
#[test]
fn slsa_statements_parse_and_conditions_evaluate() {
    let slsa = portcullis_testkit::corpus("slsa");
    let index = std::fs::read_to_string(slsa.join("INDEX.csv")).unwrap();
    let mut checked = 0;
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let (file, kind, builder) = (cols[0], cols[1], cols[5]);
        let text = std::fs::read_to_string(slsa.join(file)).unwrap();
        if file.ends_with(".jsonc") {
            assert!(
                serde_json::from_str::<serde_json::Value>(&text).is_err(),
                "{file} is JSONC"
            );
            continue;
        }
        if kind != "statement" {
            continue;
        }
        let parsed = serde_json::from_str::<Statement>(&text);
        if file.starts_with("v1-draft/") {
            // Drafts are not SLSA v1: either no _type or a `?draft` predicate type.
            assert!(
                parsed.map_or(true, |s| s.predicate_type.contains("draft")),
                "{file} must not pass as SLSA v1"
            );
            continue;
        }
        let st = parsed.unwrap_or_else(|e| panic!("{file}: {e}"));
        let path = match st.predicate_type.as_str() {
            "https://slsa.dev/provenance/v0.2" => "$.builder.id",
            "https://slsa.dev/provenance/v1" => "$.runDetails.builder.id",
            other => panic!("{file}: unexpected predicate type {other}"),
        };
        assert!(!st.subject.is_empty(), "{file} has subjects");
        let holds = Condition::parse(&format!("{path} == {builder}")).unwrap();
        assert_eq!(holds.evaluate(&st.predicate), Ok(()), "{file}");
        let other =
            Condition::parse(&format!("{path} == https://example.com/other-builder")).unwrap();
        let failure = other.evaluate(&st.predicate).unwrap_err();
        assert_eq!(failure.actual, builder, "{file}");
        checked += 1;
    }
    println!("slsa statements checked: {checked}");
    assert!(checked >= 15, "only {checked} statements checked");
}

/// A builder-id policy rejects the provenance produced by a fork's builder.
#[test]
fn fork_builder_is_rejected_by_builder_policy() {
    let slsa = portcullis_testkit::corpus("slsa");
    let text = std::fs::read_to_string(slsa.join(
        "v0.2/signed-statements/slsa-verifier__binary-linux-amd64-expired-cert.statement.json",
    ))
    .unwrap();
    let st: Statement = serde_json::from_str(&text).unwrap();
    let trusted = Condition::parse(
        "$.builder.id =~ ^https://github\\.com/slsa-framework/slsa-github-generator/",
    )
    .unwrap();
    let failure = trusted.evaluate(&st.predicate).unwrap_err();
    assert!(
        failure.actual.starts_with("https://github.com/asraa/"),
        "{failure}"
    );
}
