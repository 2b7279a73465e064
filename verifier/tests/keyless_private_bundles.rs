//! Sigstore v0.3 blob bundles made by the private test Sigstore: a keyless bundle verifies for
//! its artifact and identity, and fails by name for a tampered inclusion proof or checkpoint,
//! a certificate outside the log time, a CA outside its window, a changed digest or signature;
//! a key-signed bundle verifies with its key, with or without its log checked, in Rekor v1 and
//! Rekor v2 form (then its time is a timestamp's, and without one it is refused).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_testkit::sigstore::{
    DAY, DsseAs, TestLogV2, TestSigstore, TestTsa, leaf, now, release, req,
};
use portcullis_verifier::PrivateKey;
use portcullis_verifier::keyless::{
    Bundle, CertError, KeylessError, MerkleError, RekorError, TrustedRoot, VerificationKey,
    verify_bundle, verify_bundle_with_key,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const ARTIFACT: &[u8] = b"release tarball";

fn parse(v: &Value) -> Bundle {
    Bundle::from_json(v.to_string().as_bytes()).unwrap()
}

fn sha() -> [u8; 32] {
    Sha256::digest(ARTIFACT).into()
}

/// A Sigstore whose log already holds a few entries, so proofs have real audit paths.
fn sigstore(t0: i64) -> TestSigstore {
    let mut ss = TestSigstore::new((t0 - DAY, t0 + DAY));
    let l = leaf(&ss, t0, (-60, 540));
    for i in 0..5u8 {
        let _ = ss.sign_blob(&l, &[i], t0);
    }
    ss
}

#[test]
fn keyless_bundle_verifies_and_tampered_inclusion_proofs_fail() {
    let t0 = now();
    let mut ss = sigstore(t0);
    let bundle = ss.sign_blob(&leaf(&ss, t0, (-60, 540)), ARTIFACT, t0);
    let r = req(&ss, (Some(t0 - DAY), None), release());
    let v = verify_bundle(&parse(&bundle), &sha(), &r).unwrap();
    assert_eq!((v.log_index, v.integrated_time), (5, t0));
    assert_eq!(v.log, "https://rekor.test");
    let e = verify_bundle(&parse(&bundle), &[0; 32], &r).unwrap_err();
    assert!(matches!(e, KeylessError::ContentMismatch { .. }), "{e}");

    let tampered = |edit: &dyn Fn(&mut Value)| {
        let mut b = bundle.clone();
        edit(&mut b["verificationMaterial"]["tlogEntries"][0]);
        verify_bundle(&parse(&b), &sha(), &r).unwrap_err()
    };
    let e = tampered(&|e| {
        let h = &mut e["inclusionProof"]["hashes"][1];
        let mut raw = B64.decode(h.as_str().unwrap()).unwrap();
        raw[31] ^= 0x80;
        *h = B64.encode(raw).into();
    });
    assert!(
        matches!(e, KeylessError::Proof(MerkleError::RootMismatch { .. })),
        "{e}"
    );
    let e = tampered(&|e| e["inclusionProof"]["logIndex"] = "4".into());
    assert!(
        matches!(e, KeylessError::Proof(MerkleError::RootMismatch { .. })),
        "{e}"
    );
    let e = tampered(&|e| e["inclusionProof"]["treeSize"] = "7".into());
    assert!(matches!(e, KeylessError::Proof(_)), "{e}");
    // A self-consistent one-leaf proof to a root the log never signed.
    let e = tampered(&|e| {
        let body = B64
            .decode(e["canonicalizedBody"].as_str().unwrap())
            .unwrap();
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(&body);
        e["inclusionProof"]["rootHash"] = B64.encode(h.finalize()).into();
        e["inclusionProof"]["hashes"] = serde_json::json!([]);
        e["inclusionProof"]["treeSize"] = "1".into();
        e["inclusionProof"]["logIndex"] = "0".into();
    });
    assert!(
        matches!(
            e,
            KeylessError::Proof(MerkleError::CheckpointMismatch { .. })
        ),
        "{e}"
    );
    // The checkpoint re-signed by someone else.
    let e = tampered(&|e| {
        let cp = e["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap()
            .to_string();
        let (note, _) = cp.split_once("\n\n").unwrap();
        let note = format!("{note}\n");
        let mut sig = B64.decode(e["logId"]["keyId"].as_str().unwrap()).unwrap()[..4].to_vec();
        sig.extend(PrivateKey::generate().sign(note.as_bytes()));
        let forged = format!("{note}\n\u{2014} rekor.test {}\n", B64.encode(sig));
        e["inclusionProof"]["checkpoint"]["envelope"] = forged.into();
    });
    assert!(
        matches!(
            e,
            KeylessError::Proof(MerkleError::CheckpointBadSignature { .. })
        ),
        "{e}"
    );
}

#[test]
fn keyless_bundle_times_identities_and_signatures_are_checked() {
    let t0 = now();
    let mut ss = sigstore(t0);
    let r = req(&ss, (Some(t0 - DAY), None), release());
    let expired = ss.sign_blob(&leaf(&ss, t0, (-4200, -3600)), ARTIFACT, t0);
    let e = verify_bundle(&parse(&expired), &sha(), &r).unwrap_err();
    assert!(
        matches!(e, KeylessError::Certificate(CertError::NotValidAt { .. })),
        "{e}"
    );

    let good = ss.sign_blob(&leaf(&ss, t0, (-60, 540)), ARTIFACT, t0);
    let closed = req(&ss, (Some(t0 - DAY), Some(t0 - 60)), release());
    let e = verify_bundle(&parse(&good), &sha(), &closed).unwrap_err();
    assert!(
        matches!(e, KeylessError::Certificate(CertError::CaNotValidAt { .. })),
        "{e}"
    );
    let mut someone = release();
    someone.subject = portcullis_verifier::keyless::StringMatcher::exact("someone@example.com");
    let e = verify_bundle(&parse(&good), &sha(), &req(&ss, (None, None), someone)).unwrap_err();
    assert!(matches!(e, KeylessError::Identity(_)), "{e}");

    let mut forged = good.clone();
    let mut sig = B64
        .decode(forged["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    let n = sig.len();
    sig[n - 3] ^= 0x01;
    forged["messageSignature"]["signature"] = B64.encode(&sig).into();
    let e = verify_bundle(&parse(&forged), &sha(), &r).unwrap_err();
    assert!(matches!(e, KeylessError::Signature { .. }), "{e}");
    let mut other_digest = good.clone();
    other_digest["messageSignature"]["messageDigest"]["digest"] = B64.encode([9u8; 32]).into();
    let e = verify_bundle(&parse(&other_digest), &sha(), &r).unwrap_err();
    assert!(matches!(e, KeylessError::ContentMismatch { .. }), "{e}");
}

#[test]
fn key_signed_bundles_verify_with_their_key() {
    let t0 = now();
    let mut ss = sigstore(t0);
    let key = PrivateKey::generate();
    let bundle = parse(&ss.sign_blob_with_key(&key, ARTIFACT, t0));
    let vk = VerificationKey::from_pem(&key.public().to_pem()).unwrap();
    let r = req(&ss, (None, None), release());
    let root = r.trusted_root.as_ref();
    let v = verify_bundle_with_key(&bundle, &sha(), &vk, Some(root)).unwrap();
    assert_eq!(
        (v.log.as_str(), v.integrated_time),
        ("https://rekor.test", t0)
    );
    let unlogged = verify_bundle_with_key(&bundle, &sha(), &vk, None).unwrap();
    assert_eq!(unlogged.log, "", "log not checked when no root is given");

    let other = VerificationKey::from_pem(&PrivateKey::generate().public().to_pem()).unwrap();
    let e = verify_bundle_with_key(&bundle, &sha(), &other, Some(root)).unwrap_err();
    assert!(matches!(e, KeylessError::Signature { .. }), "{e}");
    let stranger = req(
        &TestSigstore::new((t0 - DAY, t0 + DAY)),
        (None, None),
        release(),
    );
    let e = verify_bundle_with_key(&bundle, &sha(), &vk, Some(&stranger.trusted_root)).unwrap_err();
    assert!(
        matches!(e, KeylessError::Log(RekorError::UnknownLog { .. })),
        "{e}"
    );
    let e = verify_bundle(&bundle, &sha(), &r).unwrap_err();
    assert!(matches!(e, KeylessError::Unsupported { .. }), "{e}");
}

#[test]
fn key_signed_rekor_v2_bundles_verify_with_their_key_and_timestamp() {
    let t0 = now();
    let mut ss = sigstore(t0);
    let key = PrivateKey::generate();
    let vk = VerificationKey::from_pem(&key.public().to_pem()).unwrap();
    let mut log = TestLogV2::new("log2026-1.rekor.test");
    let mut bundle = ss.sign_blob_with_key(&key, ARTIFACT, t0);
    log.relog_key(&mut bundle, DsseAs::Dsse, vk.spki_der());
    let tsa = TestTsa::new("test-tsa", (t0 - DAY, t0 + DAY));
    let mut doc = ss.trusted_root((None, None));
    doc["tlogs"]
        .as_array_mut()
        .unwrap()
        .push(log.root_entry((Some(t0 - DAY), None)));
    doc["timestampAuthorities"] = serde_json::json!([tsa.root_entry((Some(t0 - DAY), None))]);
    let root = TrustedRoot::from_json(doc.to_string().as_bytes(), "v2 root").unwrap();

    let e = verify_bundle_with_key(&parse(&bundle), &sha(), &vk, Some(&root)).unwrap_err();
    assert!(
        matches!(e, KeylessError::Log(RekorError::NoTrustedTime { .. })),
        "{e}"
    );
    tsa.stamp_bundle(&mut bundle, t0);
    let v = verify_bundle_with_key(&parse(&bundle), &sha(), &vk, Some(&root)).unwrap();
    assert_eq!(v.log, "https://log2026-1.rekor.test");
    assert_eq!((v.integrated_time, v.timestamps[0].gen_time), (0, t0));
    // The logged key must be the one verifying.
    let other = PrivateKey::generate();
    let mut wrong = ss.sign_blob_with_key(&key, ARTIFACT, t0);
    let other_spki = VerificationKey::from_pem(&other.public().to_pem()).unwrap();
    log.relog_key(&mut wrong, DsseAs::Dsse, other_spki.spki_der());
    tsa.stamp_bundle(&mut wrong, t0);
    let e = verify_bundle_with_key(&parse(&wrong), &sha(), &vk, Some(&root)).unwrap_err();
    assert!(
        matches!(&e, KeylessError::Log(RekorError::BodyMismatch { field, .. }) if field.starts_with("signer")),
        "{e}"
    );
}
