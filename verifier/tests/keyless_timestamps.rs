//! RFC 3161 timestamps in Sigstore bundles: a timestamp from a trusted test TSA over the
//! bundle's signature verifies and is reported; one signed by a TSA the root does not name, over
//! other bytes, outside the TSA's window, altered, or at a time the certificate was not valid is
//! rejected by name. The corpus v0.3 bundle's real timestamp verifies against the production
//! root, and fails once altered or outside the TSA's window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_testkit::sigstore::{
    DAY, Stamp, TestSigstore, TestTsa, attach_timestamp, bundle_signature, leaf, now, release,
    req_with,
};
use portcullis_verifier::keyless::{
    Bundle, CertError, Identity, KeylessError, KeylessRequirement, StringMatcher, TimestampError,
    TrustedRoot, VerifiedTimestamp, verify_bundle,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const ARTIFACT: &[u8] = b"release tarball";

fn sha() -> [u8; 32] {
    Sha256::digest(ARTIFACT).into()
}

fn verify(
    bundle: &Value,
    req: &KeylessRequirement,
) -> Result<Vec<VerifiedTimestamp>, KeylessError> {
    let b = Bundle::from_json(bundle.to_string().as_bytes()).unwrap();
    verify_bundle(&b, &sha(), req).map(|v| v.timestamps)
}

fn stamp(gen_time: i64) -> Stamp<'static> {
    Stamp {
        gen_time,
        imprint_of: None,
        embed_cert: false,
    }
}

#[test]
fn trusted_timestamps_verify_and_bad_ones_are_named() {
    let t0 = now();
    let mut ss = TestSigstore::new((t0 - DAY, t0 + DAY));
    let bundle = ss.sign_blob(&leaf(&ss, t0, (-60, 540)), ARTIFACT, t0);
    let sig = bundle_signature(&bundle);
    let tsa = TestTsa::new("test-tsa", (t0 - DAY, t0 + DAY));
    let req = req_with(
        &ss,
        t0 - DAY,
        vec![],
        vec![tsa.root_entry((Some(t0 - DAY), None))],
        release(),
    );
    let stamped = |tsa: &TestTsa, s: &Stamp<'_>| {
        let mut b = bundle.clone();
        attach_timestamp(&mut b, &tsa.response(&sig, s));
        b
    };

    // Valid, with or without the TSA certificate inside the token; none is fine too.
    let expected = vec![VerifiedTimestamp {
        gen_time: t0 + 5,
        authority: "O=portcullis-test, CN=test-tsa".into(),
    }];
    assert_eq!(
        verify(&stamped(&tsa, &stamp(t0 + 5)), &req).unwrap(),
        expected
    );
    let embedded = Stamp {
        embed_cert: true,
        ..stamp(t0 + 5)
    };
    assert_eq!(verify(&stamped(&tsa, &embedded), &req).unwrap(), expected);
    assert_eq!(verify(&bundle, &req).unwrap(), vec![]);

    // Signed by a TSA the trusted root does not name, its certificate shipped or not.
    let rogue = TestTsa::new("rogue-tsa", (t0 - DAY, t0 + DAY));
    for embed_cert in [false, true] {
        let s = Stamp {
            embed_cert,
            ..stamp(t0 + 5)
        };
        let e = verify(&stamped(&rogue, &s), &req).unwrap_err();
        assert!(
            matches!(
                &e,
                KeylessError::Timestamp(TimestampError::UntrustedSigner { .. })
            ),
            "{e}"
        );
        assert_eq!(e.code(), "keyless-timestamp");
    }

    // A messageImprint of other bytes than the bundle's signature.
    let other = Stamp {
        imprint_of: Some(b"some other signature"),
        ..stamp(t0 + 5)
    };
    let e = verify(&stamped(&tsa, &other), &req).unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Timestamp(TimestampError::ImprintMismatch { .. })
        ),
        "{e}"
    );

    // genTime outside the TSA's validFor in the trusted root.
    let closed = req_with(
        &ss,
        t0 - DAY,
        vec![],
        vec![tsa.root_entry((Some(t0 - DAY), Some(t0 - 60)))],
        release(),
    );
    let e = verify(&stamped(&tsa, &stamp(t0 + 5)), &closed).unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Timestamp(TimestampError::AuthorityNotValidAt { .. })
        ),
        "{e}"
    );

    // Tampered: the TSTInfo's genTime rewritten, then the signature bytes flipped.
    let mut resp = tsa.response(&sig, &stamp(t0 + 5));
    let when = time::OffsetDateTime::from_unix_timestamp(t0 + 5).unwrap();
    let text = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        when.year(),
        when.month() as u8,
        when.day(),
        when.hour(),
        when.minute(),
        when.second()
    );
    let at = resp
        .windows(text.len())
        .position(|w| w == text.as_bytes())
        .unwrap();
    resp[at + 13] = if resp[at + 13] == b'0' { b'1' } else { b'0' };
    let mut b = bundle.clone();
    attach_timestamp(&mut b, &resp);
    let e = verify(&b, &req).unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Timestamp(TimestampError::ContentAltered { .. })
        ),
        "{e}"
    );
    let mut resp = tsa.response(&sig, &stamp(t0 + 5));
    let last = resp.len() - 1;
    resp[last] ^= 0x01;
    attach_timestamp(&mut b, &resp);
    let e = verify(&b, &req).unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Timestamp(TimestampError::BadSignature { .. })
        ),
        "{e}"
    );
    attach_timestamp(&mut b, &resp[..resp.len() - 3]);
    let e = verify(&b, &req).unwrap_err();
    assert!(
        matches!(e, KeylessError::Timestamp(TimestampError::Malformed { .. })),
        "{e}"
    );

    // A trusted time at which the certificate (valid until t0 + 540) had expired.
    let e = verify(&stamped(&tsa, &stamp(t0 + 600)), &req).unwrap_err();
    assert!(
        matches!(e, KeylessError::Certificate(CertError::NotValidAt { at, .. }) if at == t0 + 600),
        "{e}"
    );

    // A root without timestamp authorities cannot check any: the log's time alone counts.
    let no_tsa = req_with(&ss, t0 - DAY, vec![], vec![], release());
    assert_eq!(
        verify(&stamped(&rogue, &stamp(t0 + 5)), &no_tsa).unwrap(),
        vec![]
    );
}

// === The corpus ===

const V03_DIGEST: &str = "c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const V03_SUBJECT: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";

fn v03(
    dir: &std::path::Path,
    root: Value,
    edit: impl FnOnce(&mut Value),
) -> Result<Vec<VerifiedTimestamp>, KeylessError> {
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("bundles/bundle_v03.json")).unwrap())
            .unwrap();
    edit(&mut doc);
    let req = KeylessRequirement {
        trusted_root: Arc::new(
            TrustedRoot::from_json(root.to_string().as_bytes(), "edited").unwrap(),
        ),
        identities: vec![Identity::new(
            StringMatcher::exact(V03_SUBJECT),
            Some(StringMatcher::exact(
                "https://token.actions.githubusercontent.com",
            )),
        )],
        attestations: Vec::new(),
    };
    let b = Bundle::from_json(doc.to_string().as_bytes()).unwrap();
    let digest: [u8; 32] = hex::decode(V03_DIGEST).unwrap().try_into().unwrap();
    verify_bundle(&b, &digest, &req).map(|v| v.timestamps)
}

#[test]
fn corpus_bundle_timestamp_verifies_against_the_production_tsa() {
    let dir = portcullis_testkit::corpus("cosign");
    let prod: Value = serde_json::from_slice(
        &std::fs::read(dir.join("trust/production_trusted_root.json")).unwrap(),
    )
    .unwrap();
    let stamps = v03(&dir, prod.clone(), |_| {}).unwrap();
    assert_eq!(
        stamps,
        vec![VerifiedTimestamp {
            gen_time: 1775719409,
            authority: "O=sigstore.dev, CN=sigstore-tsa-selfsigned".into(),
        }]
    );

    // One byte of the token's signature changed.
    let e = v03(&dir, prod.clone(), |d| {
        let t = &mut d["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
            ["signedTimestamp"];
        let mut der = B64.decode(t.as_str().unwrap()).unwrap();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        *t = B64.encode(der).into();
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Timestamp(TimestampError::BadSignature { .. })
        ),
        "{e}"
    );

    // The production TSA's window starting after the timestamp.
    let mut late = prod.clone();
    late["timestampAuthorities"][0]["validFor"]["start"] = "2026-05-01T00:00:00Z".into();
    let e = v03(&dir, late, |_| {}).unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Timestamp(TimestampError::AuthorityNotValidAt { .. })
        ),
        "{e}"
    );

    // The staging TSA is another authority.
    let staging: Value = serde_json::from_slice(
        &std::fs::read(dir.join("trust/staging_trusted_root.json")).unwrap(),
    )
    .unwrap();
    let mut swapped = prod;
    swapped["timestampAuthorities"] = staging["timestampAuthorities"].clone();
    let e = v03(&dir, swapped, |_| {}).unwrap_err();
    assert!(
        matches!(
            e,
            KeylessError::Timestamp(TimestampError::UntrustedSigner { .. })
        ),
        "{e}"
    );
}
