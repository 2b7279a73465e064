//! Image signatures and attestations whose bundles carry Rekor v2 entries, from the private
//! test Sigstore and its Rekor v2 log (Ed25519 checkpoints, no SET) and TSA, attached as OCI
//! referrers on a real loopback registry and verified through the same path as any bundle: a
//! cosign v3 image-signature bundle logged as `dsse` 0.0.2 or as `hashedrekord` 0.0.2 over its
//! PAE, a message-signature bundle over the manifest, and a SLSA attestation with its
//! conditions. Without a timestamp, or with the v2 log out of its window at the timestamp, the
//! referrer is rejected with that reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod keyless_env;
mod support;

use std::sync::Arc;

use keyless_env::KeylessEnv;
use portcullis_testkit::sigstore::{DAY, DsseAs, TestLogV2, TestTsa, release, statement};
use portcullis_verifier::keyless::rekor::RekorError;
use portcullis_verifier::keyless::{KeylessError, KeylessRequirement, TrustedRoot};
use portcullis_verifier::{AttestationRequirement, Condition, VerifyError};
use serde_json::{Value, json};

const SLSA: &str = "https://slsa.dev/provenance/v1";

/// The test Sigstore's root with the v2 log (valid `log_window`) and the TSA added.
fn req_v2(
    k: &KeylessEnv,
    log: &TestLogV2,
    log_window: (Option<i64>, Option<i64>),
    tsa: &TestTsa,
) -> KeylessRequirement {
    let mut doc = k.ss.trusted_root(k.window);
    doc["tlogs"]
        .as_array_mut()
        .unwrap()
        .push(log.root_entry(log_window));
    doc["timestampAuthorities"] = json!([tsa.root_entry((Some(k.t0 - DAY), None))]);
    KeylessRequirement {
        trusted_root: Arc::new(
            TrustedRoot::from_json(doc.to_string().as_bytes(), "v2 root").unwrap(),
        ),
        identities: vec![release()],
        attestations: Vec::new(),
    }
}

/// Re-logs `bundle` in `log` and timestamps its signature at `t0` by `tsa`.
fn as_v2(t0: i64, log: &mut TestLogV2, tsa: &TestTsa, mut bundle: Value, how: DsseAs) -> Value {
    log.relog(&mut bundle, how);
    tsa.stamp_bundle(&mut bundle, t0);
    bundle
}

#[tokio::test]
async fn rekor_v2_image_signatures_and_attestations_verify_as_referrers() {
    let mut k = KeylessEnv::start("rekorv2/app").await;
    let mut log = TestLogV2::new("log2026-1.rekor.test");
    let tsa = TestTsa::new("test-tsa", (k.t0 - DAY, k.t0 + DAY));
    let l = k.valid_leaf();
    let base = req_v2(&k, &log, (Some(k.t0 - DAY), None), &tsa);

    for (tag, how) in [("dsse", DsseAs::Dsse), ("pae", DsseAs::HashedRekord)] {
        let (img, digest) = k.image(tag).await;
        let signed = k.ss.sign_image_bundle(&l, &digest, k.t0);
        let bundle = as_v2(k.t0, &mut log, &tsa, signed, how);
        let kind = &bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"];
        assert_eq!(kind["version"], "0.0.2");
        k.attach(&img, &digest, &bundle).await;
        let ok = k.verify(&img, &digest, &base).await.unwrap();
        assert_eq!(ok.key_ids.len(), 1, "{tag}");
    }

    // A message signature over the manifest, logged as hashedrekord 0.0.2.
    let (img, digest) = k.image("message").await;
    let manifest = k
        .env
        .client
        .get_manifest(&img, digest.as_str(), support::soon())
        .await
        .unwrap()
        .unwrap();
    let signed = k.ss.sign_blob(&l, &manifest.bytes, k.t0);
    let bundle = as_v2(k.t0, &mut log, &tsa, signed, DsseAs::Dsse);
    k.attach(&img, &digest, &bundle).await;
    k.verify(&img, &digest, &base).await.unwrap();

    // A signed image with a SLSA attestation, both in v2 form; its condition is checked.
    let (img, digest) = k.image("attested").await;
    let sig = as_v2(
        k.t0,
        &mut log,
        &tsa,
        k.ss.sign_image_bundle(&l, &digest, k.t0),
        DsseAs::Dsse,
    );
    k.attach(&img, &digest, &sig).await;
    let provenance = json!({"buildDefinition": {"buildType": "https://acme/build/v1"},
        "runDetails": {"builder": {"id": "https://github.com/acme/builder"}}});
    let st = statement(&digest, SLSA, Some(provenance));
    let att = as_v2(
        k.t0,
        &mut log,
        &tsa,
        k.ss.sign_statement(&l, &st, k.t0),
        DsseAs::Dsse,
    );
    k.attach(&img, &digest, &att).await;
    let wanting = |condition: &str| KeylessRequirement {
        attestations: vec![AttestationRequirement {
            predicate_type: SLSA.into(),
            conditions: vec![Condition::parse(condition).unwrap()],
        }],
        ..base.clone()
    };
    let ok = k
        .verify(
            &img,
            &digest,
            &wanting("$.runDetails.builder.id == https://github.com/acme/builder"),
        )
        .await
        .unwrap();
    assert_eq!(ok.attestations.len(), 1);
    let denied = k
        .verify(
            &img,
            &digest,
            &wanting("$.runDetails.builder.id == https://github.com/evil/builder"),
        )
        .await;
    assert!(
        matches!(&denied, Err(VerifyError::ConditionFailed { predicate_type, .. }) if predicate_type == SLSA),
        "{denied:?}"
    );
}

#[tokio::test]
async fn rekor_v2_referrers_without_a_trusted_time_are_rejected_with_that_reason() {
    let mut k = KeylessEnv::start("rekorv2/untimed").await;
    let mut log = TestLogV2::new("log2026-2.rekor.test");
    let tsa = TestTsa::new("test-tsa", (k.t0 - DAY, k.t0 + DAY));
    let l = k.valid_leaf();

    // No timestamp at all.
    let (img, digest) = k.image("unstamped").await;
    let mut bundle = k.ss.sign_image_bundle(&l, &digest, k.t0);
    log.relog(&mut bundle, DsseAs::Dsse);
    k.attach(&img, &digest, &bundle).await;
    let base = req_v2(&k, &log, (Some(k.t0 - DAY), None), &tsa);
    let outcome = k.verify(&img, &digest, &base).await;
    match &outcome {
        Err(VerifyError::ReferrerRejected { source, .. })
            if matches!(
                source.as_ref(),
                KeylessError::Log(RekorError::NoTrustedTime { .. })
            ) => {}
        other => panic!("expected no trusted time, got {other:?}"),
    }

    // Stamped, but the v2 log's window ends a second before the timestamp.
    let (img, digest) = k.image("late").await;
    let signed = k.ss.sign_image_bundle(&l, &digest, k.t0);
    let bundle = as_v2(k.t0, &mut log, &tsa, signed, DsseAs::Dsse);
    k.attach(&img, &digest, &bundle).await;
    let closed = req_v2(&k, &log, (Some(k.t0 - DAY), Some(k.t0 - 1)), &tsa);
    let outcome = k.verify(&img, &digest, &closed).await;
    match &outcome {
        Err(VerifyError::ReferrerRejected { source, .. }) if matches!(source.as_ref(), KeylessError::Log(RekorError::LogNotValidAt { at, .. }) if *at == k.t0) =>
            {}
        other => panic!("expected the log out of its window, got {other:?}"),
    }
    // The same bundle with the window ending at the timestamp verifies (inclusive end).
    let open = req_v2(&k, &log, (Some(k.t0 - DAY), Some(k.t0)), &tsa);
    k.verify(&img, &digest, &open).await.unwrap();
}
