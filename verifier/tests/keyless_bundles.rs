//! Sigstore bundles from the corpus, verified offline against a trusted root: the v0.3 image
//! signature bundle for its subject and GitHub identity, the `cosign attest` bundle for its
//! subject, and cosign's legacy blob bundle by digest — and every alteration (other digest,
//! payloadType, statement fields, identity, audit path, checkpoint, SET, version rules) fails
//! with its own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::keyless::bundle::{BundleVersion, Content, Signer};
use portcullis_verifier::keyless::rekor::RekorError;
use portcullis_verifier::keyless::{
    Bundle, BundleError, Claim, Identity, KeylessError, KeylessRequirement, MerkleError,
    StringMatcher, TrustedRoot, TrustedRootFile, verify_bundle,
};
use serde_json::Value;

const V03_DIGEST: &str = "c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const V03_SUBJECT: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
const GITHUB: &str = "https://token.actions.githubusercontent.com";

fn digest(hex_text: &str) -> [u8; 32] {
    hex::decode(hex_text).unwrap().try_into().unwrap()
}

fn root(dir: &Path, rel: &str) -> Arc<TrustedRoot> {
    Arc::new(TrustedRoot::from_file(&dir.join(rel)).unwrap())
}

fn doc(dir: &Path, rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap()
}

fn parse(v: &Value) -> Result<Bundle, BundleError> {
    Bundle::from_json(v.to_string().as_bytes())
}

fn v03_req(dir: &Path) -> KeylessRequirement {
    KeylessRequirement {
        trusted_root: root(dir, "trust/production_trusted_root.json"),
        identities: vec![Identity::new(
            StringMatcher::exact(V03_SUBJECT),
            Some(StringMatcher::exact(GITHUB)),
        )],
        attestations: Vec::new(),
    }
}

/// Verifies an edited copy of bundle_v03.json for its own digest.
fn v03_edited(dir: &Path, edit: impl FnOnce(&mut Value)) -> Result<(), KeylessError> {
    let mut v = doc(dir, "bundles/bundle_v03.json");
    edit(&mut v);
    verify_bundle(&parse(&v)?, &digest(V03_DIGEST), &v03_req(dir)).map(|_| ())
}

/// Re-encodes the DSSE payload after editing the statement.
fn edit_statement(v: &mut Value, edit: impl FnOnce(&mut Value)) {
    let env = &mut v["dsseEnvelope"];
    let mut st: Value =
        serde_json::from_slice(&B64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    edit(&mut st);
    env["payload"] = B64.encode(st.to_string()).into();
}

#[test]
fn bundle_v03_verifies_for_its_subject_and_identity() {
    let dir = portcullis_testkit::corpus("cosign");
    let b = parse(&doc(&dir, "bundles/bundle_v03.json")).unwrap();
    assert_eq!(b.version, BundleVersion::V03);
    assert!(matches!(b.signer, Signer::Certificate(_)));
    assert!(matches!(b.content, Content::Dsse(_)));
    assert!(b.has_timestamps);
    let e = &b.tlog_entries[0];
    assert!(e.set.is_some() && e.proof.is_some());

    let v = verify_bundle(&b, &digest(V03_DIGEST), &v03_req(&dir)).unwrap();
    assert_eq!(v.identity.subject(), V03_SUBJECT);
    assert_eq!(v.integrated_time, 1775719409);
    assert_eq!(v.log_index, 1261105807);
    assert_eq!(v.log, "https://rekor.sigstore.dev");
    assert_eq!(
        v.statement.unwrap().predicate_type,
        "https://sigstore.dev/cosign/sign/v1"
    );

    // GitHub claims narrow the identity.
    let mut req = v03_req(&dir);
    req.identities[0] = req.identities[0]
        .clone()
        .with_claim(
            Claim::SourceRepositoryRef,
            StringMatcher::exact("refs/tags/v1.34.0"),
        )
        .with_claim(
            Claim::SourceRepositoryUri,
            StringMatcher::exact("https://github.com/kubewarden/kubewarden-controller"),
        );
    assert!(verify_bundle(&b, &digest(V03_DIGEST), &req).is_ok());
    req.identities[0] = req.identities[0].clone().with_claim(
        Claim::SourceRepositoryRef,
        StringMatcher::exact("refs/tags/v9"),
    );
    let e = verify_bundle(&b, &digest(V03_DIGEST), &req).unwrap_err();
    assert!(
        matches!(&e, KeylessError::Identity(m) if m.field == "source-repository-ref"),
        "{e}"
    );
    // Trusted by the PGI root too (same public-good instance); not by staging.
    let mut pgi = v03_req(&dir);
    pgi.trusted_root = root(&dir, "bundles/trusted_root_pgi.json");
    assert!(verify_bundle(&b, &digest(V03_DIGEST), &pgi).is_ok());
    pgi.trusted_root = root(&dir, "trust/staging_trusted_root.json");
    let e = verify_bundle(&b, &digest(V03_DIGEST), &pgi).unwrap_err();
    assert!(
        matches!(e, KeylessError::Log(RekorError::UnknownLog { .. })),
        "{e}"
    );
}

#[test]
fn bundle_v03_rejects_other_digests_alterations_and_identities() {
    let dir = portcullis_testkit::corpus("cosign");
    let b = parse(&doc(&dir, "bundles/bundle_v03.json")).unwrap();
    let e = verify_bundle(&b, &[7; 32], &v03_req(&dir)).unwrap_err();
    assert!(matches!(e, KeylessError::ContentMismatch { .. }), "{e}");

    let e = v03_edited(&dir, |v| {
        v["dsseEnvelope"]["payloadType"] = "application/json".into()
    })
    .unwrap_err();
    assert!(matches!(e, KeylessError::Signature { .. }), "{e}");
    for (field, value) in [
        ("_type", "https://in-toto.io/Statement/v0.1"),
        ("predicateType", "https://slsa.dev/provenance/v1"),
    ] {
        let e = v03_edited(&dir, |v| edit_statement(v, |st| st[field] = value.into())).unwrap_err();
        assert!(matches!(e, KeylessError::Signature { .. }), "{field}: {e}");
    }

    let mut req = v03_req(&dir);
    req.identities = vec![Identity::new(
        StringMatcher::exact(V03_SUBJECT),
        Some(StringMatcher::exact("https://accounts.google.com")),
    )];
    let e = verify_bundle(&b, &digest(V03_DIGEST), &req).unwrap_err();
    assert!(
        matches!(&e, KeylessError::Identity(m) if m.field == "issuer"),
        "{e}"
    );
    req.identities = vec![Identity::new(
        StringMatcher::regex("^https://github.com/kubewarden/policy-server/").unwrap(),
        Some(StringMatcher::exact(GITHUB)),
    )];
    let e = verify_bundle(&b, &digest(V03_DIGEST), &req).unwrap_err();
    assert!(
        matches!(&e, KeylessError::Identity(m) if m.field == "subject"),
        "{e}"
    );

    let entry = "/verificationMaterial/tlogEntries/0";
    let e = v03_edited(&dir, |v| {
        let h = v
            .pointer_mut(&format!("{entry}/inclusionProof/hashes/3"))
            .unwrap();
        let mut raw = B64.decode(h.as_str().unwrap()).unwrap();
        raw[0] ^= 0x01;
        *h = B64.encode(raw).into();
    })
    .unwrap_err();
    assert!(
        matches!(e, KeylessError::Proof(MerkleError::RootMismatch { .. })),
        "{e}"
    );
    let e = v03_edited(&dir, |v| {
        v.pointer_mut(&format!("{entry}/inclusionProof/hashes"))
            .unwrap()
            .as_array_mut()
            .unwrap()
            .pop();
    })
    .unwrap_err();
    assert!(
        matches!(e, KeylessError::Proof(MerkleError::WrongPathLength { .. })),
        "{e}"
    );
    let e = v03_edited(&dir, |v| {
        let cp = v
            .pointer_mut(&format!("{entry}/inclusionProof/checkpoint/envelope"))
            .unwrap();
        let text = cp.as_str().unwrap().replace(
            "\n\n\u{2014} rekor.sigstore.dev wNI9aj",
            "\n\n\u{2014} rekor.sigstore.dev wNI9ajBF",
        );
        *cp = text.into();
    })
    .unwrap_err();
    assert!(matches!(e, KeylessError::Proof(_)), "{e}");
    let e = v03_edited(&dir, |v| {
        let cp = v
            .pointer_mut(&format!("{entry}/inclusionProof/checkpoint/envelope"))
            .unwrap();
        let text = cp.as_str().unwrap().replacen("\n\n", "\nextra line\n\n", 1);
        *cp = text.into();
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Proof(MerkleError::CheckpointBadSignature { .. })
        ),
        "{e}"
    );
    let e = v03_edited(&dir, |v| {
        let set = v
            .pointer_mut(&format!("{entry}/inclusionPromise/signedEntryTimestamp"))
            .unwrap();
        let mut raw = B64.decode(set.as_str().unwrap()).unwrap();
        raw[12] ^= 0x01;
        *set = B64.encode(raw).into();
    })
    .unwrap_err();
    assert!(
        matches!(e, KeylessError::Log(RekorError::BadSet { .. })),
        "{e}"
    );
    let e = v03_edited(&dir, |v| {
        v.pointer_mut(&format!("{entry}/integratedTime"))
            .unwrap()
            .clone_from(&"1775719999".into());
    })
    .unwrap_err();
    assert!(
        matches!(e, KeylessError::Log(RekorError::BadSet { .. })),
        "{e}"
    );
}

#[test]
fn bundle_versions_enforce_their_log_proofs() {
    let dir = portcullis_testkit::corpus("cosign");
    let as_version = |media: &str, chain: bool, drop: Option<&str>| {
        let mut v = doc(&dir, "bundles/bundle_v03.json");
        v["mediaType"] = media.into();
        if chain {
            let m = v["verificationMaterial"].as_object_mut().unwrap();
            let cert = m.remove("certificate").unwrap();
            m.insert(
                "x509CertificateChain".into(),
                serde_json::json!({"certificates": [cert]}),
            );
        }
        if let Some(field) = drop {
            v["verificationMaterial"]["tlogEntries"][0]
                .as_object_mut()
                .unwrap()
                .remove(field);
        }
        parse(&v)
    };
    let v01 = "application/vnd.dev.sigstore.bundle+json;version=0.1";
    let v02 = "application/vnd.dev.sigstore.bundle+json;version=0.2";
    let b = as_version(v01, true, Some("inclusionProof")).unwrap();
    assert_eq!(b.version, BundleVersion::V01);
    assert!(
        verify_bundle(&b, &digest(V03_DIGEST), &v03_req(&dir)).is_ok(),
        "v0.1 needs only the SET"
    );
    assert!(matches!(
        as_version(v01, true, Some("inclusionPromise")),
        Err(BundleError::Missing { .. })
    ));
    let b = as_version(v02, true, None).unwrap();
    assert!(verify_bundle(&b, &digest(V03_DIGEST), &v03_req(&dir)).is_ok());
    assert!(matches!(
        as_version(v02, true, Some("inclusionProof")),
        Err(BundleError::Missing { .. })
    ));
    assert!(matches!(
        as_version(super_v03(), false, Some("inclusionProof")),
        Err(BundleError::Missing { .. })
    ));
    assert!(matches!(
        as_version("application/json", false, None),
        Err(BundleError::MediaType { .. })
    ));
    // A v0.3 entry without a SET proves no time: its RFC 3161 timestamp is the time of signing
    // (as sigstore-python 4.5 accepts it too); without the timestamp it fails closed.
    let b = as_version(super_v03(), false, Some("inclusionPromise")).unwrap();
    let v = verify_bundle(&b, &digest(V03_DIGEST), &v03_req(&dir)).unwrap();
    assert_eq!((v.integrated_time, v.timestamps.len()), (0, 1));
    let mut unstamped = b.clone();
    unstamped.timestamps.clear();
    let e = verify_bundle(&unstamped, &digest(V03_DIGEST), &v03_req(&dir)).unwrap_err();
    assert!(
        matches!(e, KeylessError::Log(RekorError::NoTrustedTime { .. })),
        "{e}"
    );
}

fn super_v03() -> &'static str {
    "application/vnd.dev.sigstore.bundle.v0.3+json"
}

#[test]
fn cosign_attest_bundle_verifies_against_the_pgi_root() {
    let dir = portcullis_testkit::corpus("cosign");
    let b = parse(&doc(&dir, "bundles/oci-attestation.sigstore.json")).unwrap();
    let subject = digest("732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4");
    let req = KeylessRequirement {
        trusted_root: root(&dir, "bundles/trusted_root_pgi.json"),
        identities: vec![Identity::new(
            StringMatcher::exact("cody@soyland.com"),
            Some(StringMatcher::exact("https://github.com/login/oauth")),
        )],
        attestations: Vec::new(),
    };
    let v = verify_bundle(&b, &subject, &req).unwrap();
    assert_eq!(v.integrated_time, 1740770291);
    let st = v.statement.unwrap();
    assert_eq!(
        st.predicate_type,
        "https://cosign.sigstore.dev/attestation/v1"
    );
    assert_eq!(st.predicate["Data"], "{\"foo\": \"bar\"}\n");
    let e = verify_bundle(&b, &digest(V03_DIGEST), &req).unwrap_err();
    assert!(matches!(e, KeylessError::ContentMismatch { .. }), "{e}");
    let mut other = req.clone();
    other.identities = vec![Identity::new(
        StringMatcher::exact("cody@soyland.com"),
        Some(StringMatcher::exact(GITHUB)),
    )];
    assert!(matches!(
        verify_bundle(&b, &subject, &other),
        Err(KeylessError::Identity(_))
    ));
}

#[test]
fn legacy_blob_bundle_verifies_by_digest() {
    let dir = portcullis_testkit::corpus("cosign");
    let b = Bundle::from_json(
        &std::fs::read(dir.join("vectors/sign-blob-legacy-bundle/artifact.bundle")).unwrap(),
    )
    .unwrap();
    assert_eq!(b.version, BundleVersion::CosignLegacy);
    let artifact = digest("4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1");
    let req = KeylessRequirement {
        trusted_root: root(&dir, "trust/production_trusted_root.json"),
        identities: vec![Identity::new(
            StringMatcher::exact("daniel.bevenius@gmail.com"),
            Some(StringMatcher::exact("https://github.com/login/oauth")),
        )],
        attestations: Vec::new(),
    };
    let v = verify_bundle(&b, &artifact, &req).unwrap();
    assert_eq!(v.integrated_time, 1669361833);
    assert_eq!(v.ca, "O=sigstore.dev, CN=sigstore");
    let e = verify_bundle(&b, &[1; 32], &req).unwrap_err();
    assert!(matches!(e, KeylessError::Signature { .. }), "{e}");
}
