//! Rekor SETs and classic keyless signature layers from the cosign corpus: the 2021 keyless
//! vector verifies for `flavio@castelli.me` with the corpus's Rekor key and Fulcio root, and
//! every derived negative (other key, unknown log, flipped byte, wrong identity, other body,
//! CA outside its window, missing bundle) fails with its own named error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::cosign::SIGNATURE_ANNOTATION;
use portcullis_verifier::keyless::classic::verify_layer;
use portcullis_verifier::keyless::rekor::{RekorBundle, RekorError};
use portcullis_verifier::keyless::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CertError, Identity, IdentityMismatch, KeylessError,
    KeylessRequirement, SctError, StringMatcher, TrustedRoot, TrustedRootFile,
};
use serde_json::json;

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

/// Fulcio v1 root + the public-good Rekor key, from the corpus's PEM files.
fn pem_root(dir: &Path) -> TrustedRoot {
    TrustedRoot::from_pem_parts(
        "corpus PEM",
        &[&read(dir, "vectors/trust/fulcio_root_v1_2021.pem")],
        &[&read(dir, "vectors/trust/rekor.pub")],
    )
    .unwrap()
}

/// A trusted root whose only log has the public-good log id but `key_pem`'s key.
fn impostor_root(dir: &Path, key_pem: &str) -> TrustedRoot {
    let der = portcullis_verifier::keyless::VerificationKey::from_pem(key_pem).unwrap();
    let logid = hex::decode(read(dir, "vectors/trust/rekor.pub.logid").trim()).unwrap();
    let doc = json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{"baseUrl": "https://impostor", "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": B64.encode(der.spki_der()), "keyDetails": "PKIX_ECDSA_P256_SHA_256"},
            "logId": {"keyId": B64.encode(logid)}}],
    });
    TrustedRoot::from_json(doc.to_string().as_bytes(), "impostor").unwrap()
}

fn bundle(dir: &Path, rel: &str) -> RekorBundle {
    serde_json::from_str(&read(dir, rel)).unwrap()
}

#[test]
fn rekor_bundle_set_valid_with_rekor_pub_only() {
    let dir = portcullis_testkit::corpus("cosign");
    let b = bundle(&dir, "vectors/rekor-bundle-set/rekor_bundle.json");
    let pem = pem_root(&dir);
    let (log, body) = b.verify(&pem).unwrap();
    assert_eq!(log.base_url, "log key 0");
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains(r#""kind":"rekord""#)
    );
    let prod = TrustedRoot::from_file(&dir.join("trust/production_trusted_root.json")).unwrap();
    assert_eq!(
        b.verify(&prod).unwrap().0.base_url,
        "https://rekor.sigstore.dev"
    );

    let other = read(&dir, "vectors/simple-signing-key/cosign.pub");
    let e = b.verify(&impostor_root(&dir, &other)).unwrap_err();
    assert!(matches!(e, RekorError::BadSet { .. }), "{e}");
    let only_other = TrustedRoot::from_pem_parts("other", &[], &[&other]).unwrap();
    let e = b.verify(&only_other).unwrap_err();
    assert!(
        matches!(&e, RekorError::UnknownLog { log_id } if log_id.starts_with("c0d23d6a")),
        "{e}"
    );

    // Any change to what the SET covers breaks it.
    let mut moved = b.clone();
    moved.payload.integrated_time += 1;
    assert!(matches!(
        moved.verify(&prod),
        Err(RekorError::BadSet { .. })
    ));
    let mut moved = b.clone();
    moved.payload.log_index += 1;
    assert!(matches!(
        moved.verify(&prod),
        Err(RekorError::BadSet { .. })
    ));
    let mut flipped = b.clone();
    let mut set = B64.decode(&b.signed_entry_timestamp).unwrap();
    set[12] ^= 0x01;
    flipped.signed_entry_timestamp = B64.encode(set);
    assert!(matches!(
        flipped.verify(&prod),
        Err(RekorError::BadSet { .. })
    ));
}

struct Layer {
    payload: Vec<u8>,
    annotations: BTreeMap<String, String>,
}

fn keyless_layer(dir: &Path) -> Layer {
    let d = "vectors/simple-signing-keyless";
    let annotations = [
        (
            SIGNATURE_ANNOTATION,
            read(dir, &format!("{d}/signature.b64")).trim().to_string(),
        ),
        (CERTIFICATE_ANNOTATION, read(dir, &format!("{d}/cert.pem"))),
        (
            BUNDLE_ANNOTATION,
            read(dir, &format!("{d}/rekor_bundle.json")),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Layer {
        payload: std::fs::read(dir.join(format!("{d}/payload.json"))).unwrap(),
        annotations,
    }
}

fn req(root: TrustedRoot, identities: Vec<Identity>) -> KeylessRequirement {
    KeylessRequirement {
        trusted_root: Arc::new(root),
        identities,
        attestations: Vec::new(),
    }
}

fn flavio() -> Identity {
    Identity::new(StringMatcher::exact("flavio@castelli.me"), None)
}

#[test]
fn simple_signing_keyless_verifies_for_its_identity() {
    let dir = portcullis_testkit::corpus("cosign");
    let l = keyless_layer(&dir);
    let sig = verify_layer(
        &l.payload,
        &l.annotations,
        &req(pem_root(&dir), vec![flavio()]),
    )
    .unwrap();
    assert_eq!(sig.identity.subject(), "flavio@castelli.me");
    assert_eq!(sig.integrated_time, 1634714717);
    assert_eq!(sig.log_index, 783607);
    assert_eq!(sig.ca, "O=sigstore.dev, CN=sigstore");
    assert_eq!(
        sig.digest,
        "sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e"
    );
    let mut prod = TrustedRoot::from_file(&dir.join("trust/production_trusted_root.json")).unwrap();
    let regex = Identity::new(
        StringMatcher::regex(r"^flavio@castelli\.me$").unwrap(),
        None,
    );
    // The 2021 certificate predates embedded SCTs, and the production root names CT logs.
    let e = verify_layer(
        &l.payload,
        &l.annotations,
        &req(prod.clone(), vec![regex.clone()]),
    )
    .unwrap_err();
    assert!(
        matches!(e, KeylessError::Sct(SctError::Missing { .. })),
        "{e}"
    );
    prod.ctlogs.clear();
    assert!(verify_layer(&l.payload, &l.annotations, &req(prod, vec![regex])).is_ok());
}

#[test]
fn simple_signing_keyless_negatives_are_named() {
    let dir = portcullis_testkit::corpus("cosign");
    let l = keyless_layer(&dir);
    let check = |layer: &Layer, root: TrustedRoot, ids: Vec<Identity>| {
        verify_layer(&layer.payload, &layer.annotations, &req(root, ids)).unwrap_err()
    };

    let e = check(
        &l,
        pem_root(&dir),
        vec![Identity::new(
            StringMatcher::exact("mallory@example.com"),
            None,
        )],
    );
    assert!(
        matches!(&e, KeylessError::Identity(IdentityMismatch { field, .. }) if field == "subject"),
        "{e}"
    );
    let gh = Identity::new(
        StringMatcher::exact("flavio@castelli.me"),
        Some(StringMatcher::exact("https://github.com/login/oauth")),
    );
    let e = check(&l, pem_root(&dir), vec![gh]);
    assert!(
        matches!(&e, KeylessError::Identity(IdentityMismatch { field, .. }) if field == "issuer"),
        "{e}"
    );
    let e = check(&l, pem_root(&dir), vec![]);
    assert!(
        matches!(e, KeylessError::Identity(_)),
        "no identity configured fails closed: {e}"
    );

    let other = read(&dir, "vectors/simple-signing-key/cosign.pub");
    let e = check(&l, impostor_root(&dir, &other), vec![flavio()]);
    assert!(
        matches!(e, KeylessError::Log(RekorError::BadSet { .. })),
        "{e}"
    );
    let e = check(
        &l,
        TrustedRoot::from_pem_parts(
            "x",
            &[&read(&dir, "vectors/trust/fulcio_root_v1_2021.pem")],
            &[&other],
        )
        .unwrap(),
        vec![flavio()],
    );
    assert!(
        matches!(e, KeylessError::Log(RekorError::UnknownLog { .. })),
        "{e}"
    );
    let e = check(
        &l,
        TrustedRoot::from_pem_parts(
            "x",
            &[&read(&dir, "vectors/trust/fulcio_root_v2_2021-10.pem")],
            &[&read(&dir, "vectors/trust/rekor.pub")],
        )
        .unwrap(),
        vec![flavio()],
    );
    assert!(
        matches!(
            e,
            KeylessError::Certificate(CertError::UntrustedIssuer { .. })
        ),
        "{e}"
    );
    let mut doc: serde_json::Value =
        serde_json::from_str(&read(&dir, "trust/production_trusted_root.json")).unwrap();
    doc["certificateAuthorities"][0]["validFor"]["start"] = "2021-10-21T00:00:00Z".into();
    let late_ca = TrustedRoot::from_json(doc.to_string().as_bytes(), "late").unwrap();
    let e = check(&l, late_ca, vec![flavio()]);
    assert!(
        matches!(e, KeylessError::Certificate(CertError::CaNotValidAt { .. })),
        "{e}"
    );

    let mut tampered = keyless_layer(&dir);
    tampered.payload[20] ^= 0x01;
    let e = check(&tampered, pem_root(&dir), vec![flavio()]);
    assert!(matches!(e, KeylessError::Signature { .. }), "{e}");
    let mut sig_flipped = keyless_layer(&dir);
    let mut sig = B64
        .decode(&sig_flipped.annotations[SIGNATURE_ANNOTATION])
        .unwrap();
    sig[10] ^= 0x01;
    sig_flipped
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), B64.encode(sig));
    let e = check(&sig_flipped, pem_root(&dir), vec![flavio()]);
    assert!(matches!(e, KeylessError::Signature { .. }), "{e}");

    // A genuine SET, but over somebody else's entry.
    let mut swapped = keyless_layer(&dir);
    swapped.annotations.insert(
        BUNDLE_ANNOTATION.into(),
        read(&dir, "vectors/rekor-bundle-set/rekor_bundle.json"),
    );
    let e = check(&swapped, pem_root(&dir), vec![flavio()]);
    assert!(
        matches!(e, KeylessError::Log(RekorError::BodyMismatch { .. })),
        "{e}"
    );
    let mut unlogged = keyless_layer(&dir);
    unlogged.annotations.remove(BUNDLE_ANNOTATION);
    let e = check(&unlogged, pem_root(&dir), vec![flavio()]);
    assert!(matches!(e, KeylessError::NoLogEntry { .. }), "{e}");
    let mut certless = keyless_layer(&dir);
    certless.annotations.remove(CERTIFICATE_ANNOTATION);
    let e = check(&certless, pem_root(&dir), vec![flavio()]);
    assert!(matches!(e, KeylessError::NoCertificate { .. }), "{e}");
}
