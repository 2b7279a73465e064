//! Signed Certificate Timestamps embedded in Fulcio leaves: with a trusted root that names CT
//! logs, a leaf whose SCT a trusted test log signed over its precertificate entry verifies (in a
//! bundle and in a classic `.sig` layer), and a leaf without SCT, with an SCT from an unknown
//! log, over another TBSCertificate, or outside the log's window is rejected by name; a root
//! without CT logs skips the check. The corpus bundles' real SCTs verify against the production
//! root's CT logs; the 2021 classic signature, made before Fulcio embedded SCTs, does not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_testkit::sigstore::{
    DAY, GITHUB, Leaf, LeafSpec, SUBJECT, TestCtLog, TestSigstore, leaf, now, release, req_with,
};
use portcullis_verifier::cosign::SIGNATURE_ANNOTATION;
use portcullis_verifier::cosign::payload::SimpleSigning;
use portcullis_verifier::keyless::classic::verify_layer;
use portcullis_verifier::keyless::{
    BUNDLE_ANNOTATION, Bundle, CERTIFICATE_ANNOTATION, Identity, KeylessError, KeylessRequirement,
    SctError, StringMatcher, TrustedRoot, verify_bundle,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const ARTIFACT: &[u8] = b"release tarball";

fn spec(t0: i64) -> LeafSpec<'static> {
    LeafSpec {
        subject: SUBJECT,
        issuer: GITHUB,
        not_before: t0 - 60,
        not_after: t0 + 540,
        claims: &[],
    }
}

/// A leaf with one SCT by `log`, dated `t0`; `tamper` signs another TBSCertificate.
fn leaf_with_sct(ss: &TestSigstore, log: &TestCtLog, t0: i64, tamper: bool) -> Leaf {
    let at_ms = u64::try_from(t0).unwrap() * 1000 + 123;
    ss.issue_with_sct(&spec(t0), |precert, ca| {
        log.sct_extension(precert, ca, at_ms, tamper)
    })
}

fn verify_blob(
    ss: &mut TestSigstore,
    l: &Leaf,
    t0: i64,
    req: &KeylessRequirement,
) -> Result<(), KeylessError> {
    let bundle = ss.sign_blob(l, ARTIFACT, t0);
    let b = Bundle::from_json(bundle.to_string().as_bytes()).unwrap();
    verify_bundle(&b, &Sha256::digest(ARTIFACT).into(), req).map(|_| ())
}

/// A classic `.sig` layer signed by `l` and logged at `t0`, verified against `req`.
fn verify_classic(
    ss: &mut TestSigstore,
    l: &Leaf,
    t0: i64,
    req: &KeylessRequirement,
) -> Result<(), KeylessError> {
    let image = "registry.test/app".parse().unwrap();
    let digest = format!("sha256:{}", hex::encode([7u8; 32]))
        .parse()
        .unwrap();
    let payload = serde_json::to_vec(&SimpleSigning::new(&image, &digest)).unwrap();
    let sig = l.key.sign(&payload);
    let logged = ss.log(&l.pem, &sig, &Sha256::digest(&payload), t0, None);
    let rekor = json!({"SignedEntryTimestamp": B64.encode(&logged.set), "Payload": {
        "body": B64.encode(&logged.body), "integratedTime": logged.integrated_time,
        "logIndex": logged.log_index, "logID": hex::encode(&logged.log_id)}});
    let annotations: BTreeMap<String, String> = [
        (SIGNATURE_ANNOTATION, B64.encode(&sig)),
        (CERTIFICATE_ANNOTATION, l.pem.clone()),
        (BUNDLE_ANNOTATION, rekor.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    verify_layer(&payload, &annotations, req).map(|_| ())
}

fn is_sct(e: &KeylessError, want: fn(&SctError) -> bool) -> bool {
    matches!(e, KeylessError::Sct(s) if want(s)) && e.code() == "keyless-sct"
}

#[test]
fn embedded_scts_verify_and_bad_ones_are_named() {
    let t0 = now();
    let mut ss = TestSigstore::new((t0 - DAY, t0 + DAY));
    let ct = TestCtLog::new();
    let req = req_with(
        &ss,
        t0 - DAY,
        vec![ct.root_entry((Some(t0 - DAY), None))],
        vec![],
        release(),
    );

    let good = leaf_with_sct(&ss, &ct, t0, false);
    verify_blob(&mut ss, &good, t0, &req).unwrap();
    verify_classic(&mut ss, &good, t0, &req).unwrap();

    // No SCT at all, while the root names a CT log: rejected on both paths.
    let plain = leaf(&ss, t0, (-60, 540));
    for e in [
        verify_blob(&mut ss, &plain, t0, &req).unwrap_err(),
        verify_classic(&mut ss, &plain, t0, &req).unwrap_err(),
    ] {
        assert!(is_sct(&e, |s| matches!(s, SctError::Missing { .. })), "{e}");
    }

    // An SCT by a log the root does not name.
    let unknown = leaf_with_sct(&ss, &TestCtLog::new(), t0, false);
    let e = verify_blob(&mut ss, &unknown, t0, &req).unwrap_err();
    assert!(
        is_sct(&e, |s| matches!(s, SctError::UnknownLog { .. })),
        "{e}"
    );

    // An SCT the trusted log signed over a different TBSCertificate.
    let other_tbs = leaf_with_sct(&ss, &ct, t0, true);
    for e in [
        verify_blob(&mut ss, &other_tbs, t0, &req).unwrap_err(),
        verify_classic(&mut ss, &other_tbs, t0, &req).unwrap_err(),
    ] {
        assert!(
            is_sct(&e, |s| matches!(s, SctError::BadSignature { .. })),
            "{e}"
        );
    }

    // The log's key retired before the SCT was made.
    let retired = req_with(
        &ss,
        t0 - DAY,
        vec![ct.root_entry((Some(t0 - DAY), Some(t0 - 60)))],
        vec![],
        release(),
    );
    let e = verify_blob(&mut ss, &good, t0, &retired).unwrap_err();
    assert!(
        is_sct(&e, |s| matches!(s, SctError::LogNotValidAt { .. })),
        "{e}"
    );

    // A root without CT logs skips the check.
    let no_ct = req_with(&ss, t0 - DAY, vec![], vec![], release());
    verify_blob(&mut ss, &plain, t0, &no_ct).unwrap();
    verify_classic(&mut ss, &plain, t0, &no_ct).unwrap();
}

// === The corpus ===

fn read_json(dir: &std::path::Path, rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap()
}

fn check(
    dir: &std::path::Path,
    bundle: &str,
    root: &Value,
    subject: &str,
    issuer: &str,
    digest: &str,
) -> Result<(), KeylessError> {
    let req = KeylessRequirement {
        trusted_root: Arc::new(
            TrustedRoot::from_json(root.to_string().as_bytes(), "edited").unwrap(),
        ),
        identities: vec![Identity::new(
            StringMatcher::exact(subject),
            Some(StringMatcher::exact(issuer)),
        )],
        attestations: Vec::new(),
    };
    let b = Bundle::from_json(&std::fs::read(dir.join(bundle)).unwrap()).unwrap();
    let digest: [u8; 32] = hex::decode(digest).unwrap().try_into().unwrap();
    verify_bundle(&b, &digest, &req).map(|_| ())
}

#[test]
fn corpus_bundles_carry_scts_from_the_production_ct_log() {
    let dir = portcullis_testkit::corpus("cosign");
    let cases = [
        (
            "bundles/bundle_v03.json",
            "trust/production_trusted_root.json",
            "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0",
            "https://token.actions.githubusercontent.com",
            "c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172",
        ),
        (
            "bundles/oci-attestation.sigstore.json",
            "bundles/trusted_root_pgi.json",
            "cody@soyland.com",
            "https://github.com/login/oauth",
            "732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4",
        ),
    ];
    for (bundle, root, subject, issuer, digest) in cases {
        let root = read_json(&dir, root);
        assert_eq!(
            root["ctlogs"].as_array().unwrap().len(),
            2,
            "{bundle}: root has CT logs"
        );
        check(&dir, bundle, &root, subject, issuer, digest).unwrap();
        // Without the 2022 log the SCT's log is unknown.
        let mut only_old = root.clone();
        only_old["ctlogs"].as_array_mut().unwrap().truncate(1);
        let e = check(&dir, bundle, &only_old, subject, issuer, digest).unwrap_err();
        assert!(
            is_sct(&e, |s| matches!(s, SctError::UnknownLog { .. })),
            "{bundle}: {e}"
        );
        // The 2022 log id bound to the old log's key: the signature no longer verifies.
        let mut wrong_key = root.clone();
        wrong_key["ctlogs"][1]["publicKey"] = root["ctlogs"][0]["publicKey"].clone();
        wrong_key["ctlogs"][1]["publicKey"]["validFor"] = json!({"start": "2022-10-20T00:00:00Z"});
        let e = check(&dir, bundle, &wrong_key, subject, issuer, digest).unwrap_err();
        assert!(
            is_sct(&e, |s| matches!(s, SctError::BadSignature { .. })),
            "{bundle}: {e}"
        );
    }
}
