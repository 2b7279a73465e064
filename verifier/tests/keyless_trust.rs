//! Offline trust for keyless verification: Sigstore `trusted_root.json` files load with every
//! log, CA and window they name (and broken ones are refused by name), and real Fulcio leaves
//! from the corpus chain to the right CA only inside the right time windows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::keyless::cert::CertError;
use portcullis_verifier::keyless::{
    Certificate, TrustError, TrustedRoot, TrustedRootFile, parse_rfc3339,
};
use serde_json::Value;

fn corpus() -> PathBuf {
    portcullis_testkit::corpus("cosign")
}

fn root(dir: &Path, rel: &str) -> TrustedRoot {
    TrustedRoot::from_file(&dir.join(rel)).unwrap()
}

fn edited(dir: &Path, rel: &str, edit: impl FnOnce(&mut Value)) -> Result<TrustedRoot, TrustError> {
    let mut doc: Value = serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap();
    edit(&mut doc);
    TrustedRoot::from_json(&serde_json::to_vec(&doc).unwrap(), "edited")
}

/// The leaf certificate of a Sigstore bundle in the corpus.
fn bundle_leaf(dir: &Path, rel: &str) -> Certificate {
    let doc: Value = serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap();
    let raw = doc["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .unwrap();
    Certificate::from_der(&B64.decode(raw).unwrap()).unwrap()
}

#[test]
fn production_trusted_root_loads_every_log_ca_and_window() {
    let dir = corpus();
    let r = root(&dir, "trust/production_trusted_root.json");
    assert_eq!(r.tlogs.len(), 2);
    let rekor = &r.tlogs[0];
    assert_eq!(rekor.base_url, "https://rekor.sigstore.dev");
    let logid = std::fs::read_to_string(dir.join("vectors/trust/rekor.pub.logid")).unwrap();
    assert_eq!(hex::encode(&rekor.log_id), logid.trim());
    assert_eq!(
        rekor.key.id().to_vec(),
        rekor.log_id,
        "Rekor v1 log id = SHA-256 of its key"
    );
    assert_eq!(rekor.key.algorithm(), "ECDSA P-256");
    assert_eq!(rekor.valid_for.start, parse_rfc3339("2021-01-12T11:53:27Z"));
    assert_eq!(rekor.valid_for.end, None);
    assert_eq!(r.tlogs[1].key.algorithm(), "Ed25519", "Rekor v2 key loads");
    assert!(r.tlog(&rekor.log_id).is_some());
    assert!(r.tlog(&[0; 32]).is_none());

    assert_eq!(r.certificate_authorities.len(), 2);
    let (v1, v2) = (&r.certificate_authorities[0], &r.certificate_authorities[1]);
    assert_eq!(v1.name, "O=sigstore.dev, CN=sigstore");
    assert_eq!(v1.chain.len(), 1);
    assert_eq!(v1.valid_for.end, parse_rfc3339("2022-12-31T23:59:59Z"));
    assert_eq!(v2.chain.len(), 2, "intermediate + root");
    assert_eq!(
        v2.chain[0].subject,
        "O=sigstore.dev, CN=sigstore-intermediate"
    );
    assert_eq!(v2.valid_for.end, None);
    assert_eq!(r.ctlogs.len(), 2);
    assert_eq!(r.timestamp_authorities.len(), 1);
    assert_eq!(r.timestamp_authorities[0].chain.len(), 2);
}

#[test]
fn pgi_trusted_root_loads() {
    let dir = corpus();
    let r = root(&dir, "bundles/trusted_root_pgi.json");
    assert_eq!(r.tlogs.len(), 1);
    assert_eq!(r.certificate_authorities.len(), 2);
    assert_eq!(r.ctlogs.len(), 2);
    assert!(r.timestamp_authorities.is_empty());
    assert_eq!(
        r.certificate_authorities[0].valid_for.start,
        parse_rfc3339("2021-03-07T03:20:29Z")
    );
}

#[test]
fn broken_trusted_roots_are_refused_by_name() {
    let dir = corpus();
    let prod = "trust/production_trusted_root.json";
    let missing = TrustedRoot::from_file(&dir.join("trust/nope.json")).unwrap_err();
    assert!(matches!(missing, TrustError::Read { .. }), "{missing}");
    let e = edited(&dir, prod, |d| d["mediaType"] = "application/json".into()).unwrap_err();
    assert!(matches!(e, TrustError::MediaType { .. }), "{e}");
    let e = edited(&dir, prod, |d| {
        d["tlogs"][0]["publicKey"]["rawBytes"] = "!!".into()
    })
    .unwrap_err();
    assert!(
        matches!(e, TrustError::Base64 { ref field, .. } if field == "publicKey.rawBytes"),
        "{e}"
    );
    let e = edited(&dir, prod, |d| {
        d["tlogs"][0]["publicKey"]["rawBytes"] = "AAAA".into()
    })
    .unwrap_err();
    assert!(matches!(e, TrustError::Key { .. }), "{e}");
    let e = edited(&dir, prod, |d| {
        d["ctlogs"][0]["publicKey"]["validFor"]["start"] = "soon".into()
    })
    .unwrap_err();
    assert!(matches!(e, TrustError::Time { .. }), "{e}");
    // The intermediate no longer signed by the root that follows it.
    let e = edited(&dir, prod, |d| {
        let chain = &mut d["certificateAuthorities"][1]["certChain"]["certificates"];
        let mut der = B64.decode(chain[0]["rawBytes"].as_str().unwrap()).unwrap();
        let n = der.len();
        der[n - 10] ^= 0x01; // inside the signature value
        chain[0]["rawBytes"] = B64.encode(der).into();
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            TrustError::Certificate {
                source: CertError::BadSignature { .. },
                ..
            }
        ),
        "{e}"
    );
    let e = edited(&dir, prod, |d| {
        d["certificateAuthorities"][0]["certChain"]["certificates"] = Value::Array(vec![])
    })
    .unwrap_err();
    assert!(matches!(e, TrustError::Certificate { .. }), "{e}");
}

#[test]
fn fulcio_2021_leaf_chains_to_the_v1_root_only_inside_its_windows() {
    let dir = corpus();
    let r = root(&dir, "trust/production_trusted_root.json");
    let pem = std::fs::read_to_string(dir.join("vectors/simple-signing-keyless/cert.pem")).unwrap();
    let leaf = Certificate::from_pem(&pem).unwrap();
    assert_eq!(
        leaf.identity().subjects,
        vec!["flavio@castelli.me".to_string()]
    );
    assert_eq!(
        leaf.identity().issuer,
        None,
        "2021 certificates predate the issuer extension"
    );
    let logged = 1634714717; // the Rekor entry's integrated time
    let ca = leaf.verify_leaf(&r, logged).unwrap();
    assert_eq!(ca.name, "O=sigstore.dev, CN=sigstore");
    assert!(std::ptr::eq(ca, &r.certificate_authorities[0]));

    let e = leaf.verify_leaf(&r, leaf.not_after + 1).unwrap_err();
    assert!(matches!(e, CertError::NotValidAt { .. }), "{e}");
    let e = leaf.verify_leaf(&r, leaf.not_before - 1).unwrap_err();
    assert!(matches!(e, CertError::NotValidAt { .. }), "{e}");

    // The v1 CA's window ends before the signature was logged.
    let early = edited(&dir, "trust/production_trusted_root.json", |d| {
        d["certificateAuthorities"][0]["validFor"]["end"] = "2021-06-01T00:00:00Z".into();
    })
    .unwrap();
    let e = leaf.verify_leaf(&early, logged).unwrap_err();
    assert!(matches!(e, CertError::CaNotValidAt { .. }), "{e}");
    // Only the 2022 CA: nobody issued this leaf.
    let only_v2 = edited(&dir, "trust/production_trusted_root.json", |d| {
        d["certificateAuthorities"]
            .as_array_mut()
            .unwrap()
            .remove(0);
    })
    .unwrap();
    let e = leaf.verify_leaf(&only_v2, logged).unwrap_err();
    assert!(matches!(e, CertError::UntrustedIssuer { .. }), "{e}");

    // A byte of the leaf's signature changed: no CA signed it any more.
    let mut der = leaf.der().to_vec();
    let n = der.len();
    der[n - 5] ^= 0x01;
    let tampered = Certificate::from_der(&der).unwrap();
    let e = tampered.verify_leaf(&r, logged).unwrap_err();
    assert!(matches!(e, CertError::UntrustedIssuer { .. }), "{e}");
}

#[test]
fn github_actions_leaf_chains_through_the_intermediate_and_names_its_claims() {
    let dir = corpus();
    let leaf = bundle_leaf(&dir, "bundles/bundle_v03.json");
    let id = leaf.identity();
    assert_eq!(
        id.subject(),
        "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0"
    );
    assert_eq!(
        id.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
    assert_eq!(
        id.claims["source-repository-uri"],
        "https://github.com/kubewarden/kubewarden-controller"
    );
    assert_eq!(id.claims["source-repository-ref"], "refs/tags/v1.34.0");
    assert_eq!(
        id.claims["github-workflow-repository"],
        "kubewarden/kubewarden-controller"
    );
    assert_eq!(id.claims["build-trigger"], "push");
    let logged = 1775719409;
    for rel in [
        "trust/production_trusted_root.json",
        "bundles/trusted_root_pgi.json",
    ] {
        let r = root(&dir, rel);
        let ca = leaf.verify_leaf(&r, logged).unwrap();
        assert_eq!(
            ca.chain[0].subject, "O=sigstore.dev, CN=sigstore-intermediate",
            "{rel}"
        );
    }
    let pgi = bundle_leaf(&dir, "bundles/oci-attestation.sigstore.json");
    assert_eq!(pgi.identity().subject(), "cody@soyland.com");
    assert_eq!(
        pgi.identity().issuer.as_deref(),
        Some("https://github.com/login/oauth")
    );
    let r = root(&dir, "bundles/trusted_root_pgi.json");
    assert!(
        pgi.verify_leaf(&r, parse_rfc3339("2025-02-28T19:18:11Z").unwrap())
            .is_ok()
    );
    let e = pgi
        .verify_leaf(&r, parse_rfc3339("2025-02-28T19:30:00Z").unwrap())
        .unwrap_err();
    assert!(matches!(e, CertError::NotValidAt { .. }), "{e}");
}

#[test]
fn staging_root_loads_with_its_rsa_ct_key_unusable() {
    let dir = corpus();
    let r = root(&dir, "trust/staging_trusted_root.json");
    assert_eq!(r.ctlogs[0].key.algorithm(), "PKCS1_RSA_PKCS1V5");
    assert!(
        r.ctlogs[0]
            .key
            .verify(
                b"m",
                b"s",
                portcullis_verifier::keyless::pkix::HashAlg::Sha256
            )
            .is_err()
    );
    assert_eq!(r.tlogs[0].base_url, "https://rekor.sigstage.dev");
    assert_eq!(r.tlogs[0].key.algorithm(), "ECDSA P-256");
    assert_ne!(
        r.fingerprint,
        root(&dir, "trust/production_trusted_root.json").fingerprint
    );
}
