//! Rekor v2 bundles from Sigstore's staging instance (`hashedrekord` 0.0.2 entries, no SET, an
//! inclusion proof to an Ed25519-signed checkpoint, the time from an RFC 3161 timestamp)
//! verified offline against the staging trusted root: the message signature over its blob and
//! the DSSE envelope (logged as a `hashedrekord` over its PAE, its checkpoint cosigned by three
//! witnesses the root does not name) for its subject. Every alteration fails with its own
//! reason: the checkpoint's signature, origin or signer, the proof's root hash or audit path,
//! the logged body, the artifact, a log or TSA window that misses the timestamp (both ends
//! inclusive), and a bundle or root without a usable timestamp.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::keyless::checkpoint::note_key_id;
use portcullis_verifier::keyless::rekor::RekorError;
use portcullis_verifier::keyless::{
    Bundle, Identity, KeylessError, KeylessRequirement, MerkleError, StringMatcher, TimestampError,
    TrustedRoot, VerifiedBundle, rfc3339, verify_bundle,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const BLOB: &str = "bundles/rekor-v2/staging-rekor-v2.txt";
const BLOB_BUNDLE: &str = "bundles/rekor-v2/staging-rekor-v2.txt.sigstore.json";
const DSSE_BUNDLE: &str = "bundles/rekor-v2/a.dsse.staging-rekor-v2.txt.sigstore.json";
const DSSE_SUBJECT: &str = "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";
const DSSE_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const STAGING_ROOT: &str = "trust/staging_trusted_root.json";
const ALPHA1: &str = "https://log2025-alpha1.rekor.sigstage.dev";
/// The blob bundle's timestamp: 2025-06-09T11:57:38Z.
const BLOB_TIME: i64 = 1_749_470_258;

fn doc(dir: &Path, rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap()
}

fn req(root: &Value, subject: &str, issuer: &str) -> KeylessRequirement {
    KeylessRequirement {
        trusted_root: Arc::new(
            TrustedRoot::from_json(root.to_string().as_bytes(), "staging root").unwrap(),
        ),
        identities: vec![Identity::new(
            StringMatcher::exact(subject),
            Some(StringMatcher::exact(issuer)),
        )],
        attestations: Vec::new(),
    }
}

fn blob_digest(dir: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(dir.join(BLOB)).unwrap()).into()
}

/// Verifies the blob bundle, both edited, against the staging root.
fn blob(
    dir: &Path,
    edit_bundle: impl FnOnce(&mut Value),
    edit_root: impl FnOnce(&mut Value),
) -> Result<VerifiedBundle, KeylessError> {
    let mut b = doc(dir, BLOB_BUNDLE);
    edit_bundle(&mut b);
    let mut root = doc(dir, STAGING_ROOT);
    edit_root(&mut root);
    let bundle = Bundle::from_json(b.to_string().as_bytes())?;
    verify_bundle(
        &bundle,
        &blob_digest(dir),
        &req(&root, "jku@goto.fi", "https://github.com/login/oauth"),
    )
}

fn entry(b: &mut Value) -> &mut Value {
    &mut b["verificationMaterial"]["tlogEntries"][0]
}

fn proof(b: &mut Value) -> &mut Value {
    &mut entry(b)["inclusionProof"]
}

fn checkpoint(b: &mut Value) -> &mut Value {
    &mut entry(b)["inclusionProof"]["checkpoint"]["envelope"]
}

/// Replaces the first `from` in the checkpoint's note with `to`.
fn replace_in_note(b: &mut Value, from: &str, to: &str) {
    let note = checkpoint(b).as_str().unwrap().replacen(from, to, 1);
    *checkpoint(b) = note.into();
}

/// Flips one bit of base64 `text` (its decoded byte `at`).
fn flip_b64(text: &str, at: usize) -> String {
    let mut raw = B64.decode(text).unwrap();
    raw[at] ^= 1;
    B64.encode(raw)
}

/// Edits signature line `line` (0 = the log's) of the checkpoint.
fn edit_signature_line(b: &mut Value, line: usize, edit: impl FnOnce(&str, &str) -> String) {
    let note = checkpoint(b).as_str().unwrap().to_string();
    let (text, sigs) = note.rsplit_once("\n\n").unwrap();
    let mut lines: Vec<String> = sigs.lines().map(str::to_string).collect();
    let (name, sig) = lines[line]
        .strip_prefix("\u{2014} ")
        .unwrap()
        .split_once(' ')
        .unwrap();
    lines[line] = format!("\u{2014} {}", edit(name, sig));
    *checkpoint(b) = format!("{text}\n\n{}\n", lines.join("\n")).into();
}

/// Sets `validFor` of the staging root's `kind` entry whose URL contains `url`.
fn window(root: &mut Value, kind: &str, url: &str, start: i64, end: i64) {
    let entries = root[kind].as_array_mut().unwrap();
    let e = entries
        .iter_mut()
        .find(|e| {
            e["baseUrl"]
                .as_str()
                .or(e["uri"].as_str())
                .unwrap_or("")
                .contains(url)
        })
        .unwrap();
    let valid = serde_json::json!({"start": rfc3339(start), "end": rfc3339(end)});
    match kind {
        "tlogs" => e["publicKey"]["validFor"] = valid,
        _ => e["validFor"] = valid,
    }
}

#[test]
fn staging_blob_bundle_verifies_with_its_timestamp_as_the_time() {
    let dir = portcullis_testkit::corpus("cosign");
    let b = Bundle::from_json(&std::fs::read(dir.join(BLOB_BUNDLE)).unwrap()).unwrap();
    let e = &b.tlog_entries[0];
    assert_eq!(
        (e.kind.as_str(), e.version.as_str()),
        ("hashedrekord", "0.0.2")
    );
    assert!(e.set.is_none() && e.integrated_time == 0);

    let v = blob(&dir, |_| {}, |_| {}).unwrap();
    assert_eq!(v.identity.subject(), "jku@goto.fi");
    assert_eq!((v.log.as_str(), v.log_index), (ALPHA1, 645));
    assert_eq!(v.integrated_time, 0, "Rekor v2 proves no time itself");
    assert_eq!(v.timestamps.len(), 1);
    assert_eq!(v.timestamps[0].gen_time, BLOB_TIME);
    assert_eq!(
        v.timestamps[0].authority,
        "O=sigstore.dev, CN=sigstore-tsa-selfsigned"
    );
}

#[test]
fn staging_dsse_bundle_verifies_for_its_subject_ignoring_witness_cosignatures() {
    let dir = portcullis_testkit::corpus("cosign");
    let root = doc(&dir, STAGING_ROOT);
    let r = req(
        &root,
        DSSE_IDENTITY,
        "https://token.actions.githubusercontent.com",
    );
    let subject: [u8; 32] = hex::decode(DSSE_SUBJECT).unwrap().try_into().unwrap();
    let verify = |edit: &dyn Fn(&mut Value)| {
        let mut b = doc(&dir, DSSE_BUNDLE);
        edit(&mut b);
        verify_bundle(&Bundle::from_json(b.to_string().as_bytes())?, &subject, &r)
    };
    let v = verify(&|_| {}).unwrap();
    assert_eq!(v.log, "https://log2025-alpha3.rekor.sigstage.dev");
    assert_eq!(v.integrated_time, 0);
    assert_eq!(v.timestamps.len(), 1);
    let st = v.statement.unwrap();
    assert_eq!(st.predicate_type, "https://slsa.dev/provenance/v1");

    // A witness the root does not name: its (altered) cosignature is not even checked.
    let ok = verify(&|b| edit_signature_line(b, 1, |n, s| format!("{n} {}", flip_b64(s, 10))));
    assert!(ok.is_ok(), "{ok:?}");
    // The log's own signature is.
    let e = verify(&|b| edit_signature_line(b, 0, |n, s| format!("{n} {}", flip_b64(s, 10))))
        .unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Proof(MerkleError::CheckpointBadSignature { .. })
        ),
        "{e}"
    );
    // Another subject: the statement is not about it.
    let e = verify_bundle(
        &Bundle::from_json(&std::fs::read(dir.join(DSSE_BUNDLE)).unwrap()).unwrap(),
        &[0; 32],
        &r,
    )
    .unwrap_err();
    assert!(matches!(e, KeylessError::ContentMismatch { .. }), "{e}");
}

#[test]
fn altered_checkpoints_fail_each_with_its_reason() {
    let dir = portcullis_testkit::corpus("cosign");
    let keep = |_: &mut Value| {};
    // One bit of the log's signature (past the 4-byte key id).
    let e = blob(
        &dir,
        |b| edit_signature_line(b, 0, |n, s| format!("{n} {}", flip_b64(s, 20))),
        keep,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Proof(MerkleError::CheckpointBadSignature { .. })
        ),
        "{e}"
    );
    // The key id: no signature by the log is left.
    let e = blob(
        &dir,
        |b| edit_signature_line(b, 0, |n, s| format!("{n} {}", flip_b64(s, 0))),
        keep,
    )
    .unwrap_err();
    assert!(
        matches!(&e, KeylessError::Proof(MerkleError::CheckpointUnsigned { key_id, .. }) if key_id == "f30d5a99"),
        "{e}"
    );
    // The signer's name: another key under the C2SP rules, so not the log's signature.
    let e = blob(
        &dir,
        |b| {
            edit_signature_line(b, 0, |_, s| {
                format!("log2025-alpha2.rekor.sigstage.dev {s}")
            })
        },
        keep,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Proof(MerkleError::CheckpointUnsigned { .. })
        ),
        "{e}"
    );
    // The origin line names another log.
    let e = blob(&dir, |b| replace_in_note(b, "alpha1", "alpha9"), keep).unwrap_err();
    assert!(
        matches!(e, KeylessError::Proof(MerkleError::CheckpointOrigin { .. })),
        "{e}"
    );
    // The signed text itself (its tree size).
    let e = blob(&dir, |b| replace_in_note(b, "\n646\n", "\n647\n"), keep).unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Proof(MerkleError::CheckpointBadSignature { .. })
        ),
        "{e}"
    );
}

#[test]
fn altered_proofs_bodies_and_artifacts_fail_each_with_its_reason() {
    let dir = portcullis_testkit::corpus("cosign");
    let keep = |_: &mut Value| {};
    // The proof's root hash no longer matches the signed checkpoint.
    let e = blob(
        &dir,
        |b| {
            let root = flip_b64(proof(b)["rootHash"].as_str().unwrap(), 0);
            proof(b)["rootHash"] = root.into();
        },
        keep,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Proof(MerkleError::CheckpointMismatch { .. })
        ),
        "{e}"
    );
    // One hash of the audit path.
    let e = blob(
        &dir,
        |b| {
            let h = flip_b64(proof(b)["hashes"][1].as_str().unwrap(), 31);
            proof(b)["hashes"][1] = h.into();
        },
        keep,
    )
    .unwrap_err();
    assert!(
        matches!(e, KeylessError::Proof(MerkleError::RootMismatch { .. })),
        "{e}"
    );
    // A logged body for another signature.
    let e = blob(
        &dir,
        |b| {
            let body = B64
                .decode(entry(b)["canonicalizedBody"].as_str().unwrap())
                .unwrap();
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            let sig = &mut v["spec"]["hashedRekordV002"]["signature"]["content"];
            *sig = flip_b64(sig.as_str().unwrap(), 5).into();
            entry(b)["canonicalizedBody"] = B64.encode(v.to_string()).into();
        },
        keep,
    )
    .unwrap_err();
    assert!(
        matches!(&e, KeylessError::Log(RekorError::BodyMismatch { field, .. }) if field == "signature"),
        "{e}"
    );
    // One byte of the artifact.
    let mut bytes = std::fs::read(dir.join(BLOB)).unwrap();
    bytes[0] ^= 1;
    let b = Bundle::from_json(&std::fs::read(dir.join(BLOB_BUNDLE)).unwrap()).unwrap();
    let r = req(
        &doc(&dir, STAGING_ROOT),
        "jku@goto.fi",
        "https://github.com/login/oauth",
    );
    let e = verify_bundle(&b, &Sha256::digest(&bytes).into(), &r).unwrap_err();
    assert!(matches!(e, KeylessError::ContentMismatch { .. }), "{e}");
    // The same without the digest the bundle records: the signature itself fails.
    let e = blob(
        &dir,
        |b| {
            b["messageSignature"]
                .as_object_mut()
                .unwrap()
                .remove("messageDigest");
        },
        keep,
    );
    assert!(e.is_ok(), "the recorded digest is optional: {e:?}");
    let mut b = doc(&dir, BLOB_BUNDLE);
    b["messageSignature"]
        .as_object_mut()
        .unwrap()
        .remove("messageDigest");
    let b = Bundle::from_json(b.to_string().as_bytes()).unwrap();
    let e = verify_bundle(&b, &Sha256::digest(&bytes).into(), &r).unwrap_err();
    assert!(matches!(e, KeylessError::Signature { .. }), "{e}");
}

#[test]
fn log_and_tsa_windows_must_contain_the_timestamp_inclusively() {
    let dir = portcullis_testkit::corpus("cosign");
    let keep = |_: &mut Value| {};
    let t = BLOB_TIME;
    // Both ends inclusive: a window that starts or ends exactly at the timestamp holds.
    for (start, end) in [(t, t + 60), (t - 60, t)] {
        blob(&dir, keep, |r| window(r, "tlogs", "alpha1", start, end)).unwrap();
        blob(&dir, keep, |r| {
            window(
                r,
                "timestampAuthorities",
                "timestamp.sigstage.dev",
                start,
                end,
            )
        })
        .unwrap();
    }
    for (start, end) in [(t + 1, t + 60), (t - 60, t - 1)] {
        let e = blob(&dir, keep, |r| window(r, "tlogs", "alpha1", start, end)).unwrap_err();
        assert!(
            matches!(&e, KeylessError::Log(RekorError::LogNotValidAt { log, at, .. }) if log == ALPHA1 && *at == t),
            "{e}"
        );
        let e = blob(&dir, keep, |r| {
            window(
                r,
                "timestampAuthorities",
                "timestamp.sigstage.dev",
                start,
                end,
            )
        })
        .unwrap_err();
        assert!(
            matches!(e, KeylessError::Timestamp(TimestampError::AuthorityNotValidAt { gen_time, .. }) if gen_time == t),
            "{e}"
        );
    }
}

#[test]
fn without_a_trusted_timestamp_a_rekor_v2_entry_proves_no_time() {
    let dir = portcullis_testkit::corpus("cosign");
    let keep = |_: &mut Value| {};
    let e = blob(
        &dir,
        |b| {
            b["verificationMaterial"]
                .as_object_mut()
                .unwrap()
                .remove("timestampVerificationData");
        },
        keep,
    )
    .unwrap_err();
    assert!(
        matches!(&e, KeylessError::Log(RekorError::NoTrustedTime { why, .. }) if why.contains("timestampVerificationData")),
        "{e}"
    );
    let e = blob(&dir, keep, |r| {
        r["timestampAuthorities"] = Value::Array(vec![])
    })
    .unwrap_err();
    assert!(
        matches!(&e, KeylessError::Log(RekorError::NoTrustedTime { why, .. }) if why.contains("no timestamp authority")),
        "{e}"
    );
    // A root without the log.
    let e = blob(&dir, keep, |r| {
        r["tlogs"]
            .as_array_mut()
            .unwrap()
            .retain(|l| !l["baseUrl"].as_str().unwrap().contains("alpha1"))
    })
    .unwrap_err();
    assert!(
        matches!(e, KeylessError::Log(RekorError::UnknownLog { .. })),
        "{e}"
    );
}

#[test]
fn a_rekor_tiles_trusted_root_names_its_ed25519_log() {
    let dir = portcullis_testkit::corpus("cosign");
    let path = dir.join("bundles/rekor-v2/trustedroot.v1.local_tlog_ed25519_rekor-tiles.json");
    let root = TrustedRoot::from_json(&std::fs::read(path).unwrap(), "rekor-tiles root").unwrap();
    let log = &root.tlogs[0];
    assert_eq!(log.key.algorithm(), "Ed25519");
    assert_eq!(log.origin(), Some("localhost:3003"));
    // Its log id is the key's SHA-256 (as in Rekor v1); checkpoints name the key C2SP's way.
    assert_eq!(log.log_id, log.key.id().to_vec());
    assert_eq!(
        hex::encode(note_key_id("localhost:3003", &log.key).unwrap()),
        "3673cc31"
    );
    assert_eq!(root.timestamp_authorities.len(), 1);
}
