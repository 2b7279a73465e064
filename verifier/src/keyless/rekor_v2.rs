//! Rekor v2 log entry bodies (`apiVersion` 0.0.2 of `hashedrekord` and `dsse`), read into the
//! form [`super::rekor::check_body`] compares with the signature being verified.
//!
//! ```text
//! hashedrekord: {"spec":{"hashedRekordV002":{"data":{"algorithm":"SHA2_256","digest":B64},
//!                 "signature":{"content":B64,"verifier":VERIFIER}}}}
//! dsse:         {"spec":{"dsseV002":{"payloadHash":{"algorithm":"SHA2_256","digest":B64},
//!                 "signatures":[{"content":B64,"verifier":VERIFIER}]}}}
//! VERIFIER:     {"x509Certificate":{"rawBytes":B64 DER}} or {"publicKey":{"rawBytes":B64 SPKI}},
//!               with "keyDetails"
//! ```
//!
//! Unlike v1, hashes and verifiers are base64 of bytes (not hex, not PEM). A DSSE envelope may be
//! logged either way: as `dsse` (its payload's hash) or, as sigstore-python and sigstore-go do, as
//! a `hashedrekord` whose digest is the hash of the envelope's PAE and whose signature is the
//! envelope's. `keyDetails` is not compared: the signature has verified with the signer's own
//! key, and the logged signer must be that very certificate or key. These entries carry no
//! integrated time and no SET; what proves their time is the caller's concern.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use super::rekor::{ExpectedContent, LoggedBody, LoggedSignature};

/// The body of a v0.0.2 entry of `kind`; `None` when the kind is unknown or cannot log
/// `content`.
pub(super) fn parse(kind: &str, spec: &Value, content: ExpectedContent<'_>) -> Option<LoggedBody> {
    let (field, want, hash, signatures): (_, _, &Value, Vec<&Value>) = match (kind, content) {
        ("hashedrekord", ExpectedContent::MessageSha256(d)) => {
            let spec = &spec["hashedRekordV002"];
            (
                "artifact sha256",
                d,
                &spec["data"],
                vec![&spec["signature"]],
            )
        }
        ("hashedrekord", ExpectedContent::DsseEnvelope { pae_sha256, .. }) => {
            let spec = &spec["hashedRekordV002"];
            (
                "DSSE envelope PAE sha256",
                pae_sha256,
                &spec["data"],
                vec![&spec["signature"]],
            )
        }
        (
            "dsse",
            ExpectedContent::DsseEnvelope {
                payload_sha256: d, ..
            }
            | ExpectedContent::DssePayloadSha256(d),
        ) => {
            let spec = &spec["dsseV002"];
            (
                "DSSE payload sha256",
                d,
                &spec["payloadHash"],
                spec["signatures"]
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default(),
            )
        }
        _ => return None,
    };
    let algorithm = hash["algorithm"].as_str().unwrap_or_default();
    let shown = hash["digest"].as_str().unwrap_or_default();
    let logged = B64.decode(shown).unwrap_or_default();
    let signatures = signatures
        .into_iter()
        .map(|s| LoggedSignature {
            signature: bytes(&s["content"]),
            signer: signer(&s["verifier"]),
        })
        .collect();
    Some(LoggedBody::new(
        field,
        want,
        (algorithm, &logged, &hex::encode(&logged)),
        signatures,
    ))
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    v.as_str().and_then(|t| B64.decode(t).ok())
}

/// The DER of the logged certificate or public key.
fn signer(verifier: &Value) -> Option<Vec<u8>> {
    let cert = &verifier["x509Certificate"]["rawBytes"];
    let key = &verifier["publicKey"]["rawBytes"];
    match (cert.is_null(), key.is_null()) {
        (false, true) => bytes(cert),
        (true, false) => bytes(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::rekor::{Expected, RekorError, check_body};
    use super::*;

    fn hashedrekord(digest: &[u8], sig: &[u8], cert: &[u8]) -> Vec<u8> {
        serde_json::json!({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
            "data": {"algorithm": "SHA2_256", "digest": B64.encode(digest)},
            "signature": {"content": B64.encode(sig), "verifier": {
                "keyDetails": "PKIX_ECDSA_P256_SHA_256", "x509Certificate": {"rawBytes": B64.encode(cert)}}}}}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn hashedrekord_logs_a_message_or_an_envelope_pae() {
        let body = hashedrekord(&[7; 32], b"sig", b"cert");
        let message = Expected {
            signature: b"sig",
            signer: b"cert",
            content: ExpectedContent::MessageSha256(&[7; 32]),
        };
        assert_eq!(check_body(&body, &message), Ok(()));
        let envelope = Expected {
            content: ExpectedContent::DsseEnvelope {
                payload_sha256: &[1; 32],
                pae_sha256: &[7; 32],
            },
            ..message
        };
        assert_eq!(check_body(&body, &envelope), Ok(()));
        let other = Expected {
            content: ExpectedContent::MessageSha256(&[8; 32]),
            ..message
        };
        assert!(matches!(
            check_body(&body, &other),
            Err(RekorError::BodyMismatch { field, .. }) if field == "artifact sha256"
        ));
        let other_signer = Expected {
            signer: b"other",
            ..message
        };
        assert!(matches!(
            check_body(&body, &other_signer),
            Err(RekorError::BodyMismatch { field, .. }) if field.starts_with("signer")
        ));
        let other_sig = Expected {
            signature: b"other",
            ..message
        };
        assert!(matches!(
            check_body(&body, &other_sig),
            Err(RekorError::BodyMismatch { field, .. }) if field == "signature"
        ));
    }

    #[test]
    fn dsse_logs_the_payload_hash_with_a_key_verifier() {
        let body = serde_json::json!({"apiVersion": "0.0.2", "kind": "dsse", "spec": {"dsseV002": {
            "payloadHash": {"algorithm": "SHA2_256", "digest": B64.encode([1; 32])},
            "signatures": [{"content": B64.encode(b"sig"), "verifier": {
                "keyDetails": "PKIX_ECDSA_P256_SHA_256", "publicKey": {"rawBytes": B64.encode(b"spki")}}}]}}})
        .to_string()
        .into_bytes();
        let exp = Expected {
            signature: b"sig",
            signer: b"spki",
            content: ExpectedContent::DsseEnvelope {
                payload_sha256: &[1; 32],
                pae_sha256: &[7; 32],
            },
        };
        assert_eq!(check_body(&body, &exp), Ok(()));
        let message = Expected {
            content: ExpectedContent::MessageSha256(&[1; 32]),
            ..exp
        };
        assert!(matches!(
            check_body(&body, &message),
            Err(RekorError::UnsupportedKind { entry_kind, version }) if entry_kind == "dsse" && version == "0.0.2"
        ));
        let sha384 = String::from_utf8(body)
            .unwrap()
            .replace("SHA2_256", "SHA2_384");
        assert!(matches!(
            check_body(sha384.as_bytes(), &exp),
            Err(RekorError::BodyMismatch { actual, .. }) if actual.starts_with("SHA2_384:")
        ));
    }
}
