//! Rekor (v1) log entries: the SignedEntryTimestamp that proves an entry was logged at its
//! integrated time, and the check that the logged body is the signature being verified.
//!
//! The SET is the log's signature over the canonical JSON
//! `{"body":<base64 body>,"integratedTime":<int>,"logID":<hex>,"logIndex":<int>}` (keys sorted,
//! no spaces), by the key of the log whose id is `logID`. A valid SET alone proves nothing about
//! *this* signature: the body must also name the same signature bytes, the same certificate and
//! the same content (artifact digest, or DSSE payload hash). Supported kinds: `hashedrekord` and
//! `rekord` 0.0.1 (message signatures), `dsse` 0.0.1 and `intoto` 0.0.2 (envelopes), and Rekor
//! v2's `hashedrekord` and `dsse` 0.0.2 (read by the `rekor_v2` module), which carry no SET.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::trust::{TransparencyLog, TrustedRoot};

pub use portcullis_verifier_types::keyless::errors::RekorError;

/// cosign's `dev.sigstore.cosign/bundle` annotation (and `rekorBundle` of a blob bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekorBundle {
    /// Base64 of the SET.
    #[serde(rename = "SignedEntryTimestamp")]
    pub signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    pub payload: RekorPayload,
}

/// The logged entry a SET covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RekorPayload {
    /// Base64 of the canonical entry body.
    pub body: String,
    pub integrated_time: i64,
    pub log_index: i64,
    /// Hex log id.
    #[serde(rename = "logID")]
    pub log_id: String,
}

/// The SET's signed document; field order is the canonical (sorted) key order.
#[derive(Serialize)]
struct SetDocument<'a> {
    body: &'a str,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: &'a str,
    #[serde(rename = "logIndex")]
    log_index: i64,
}

fn malformed(what: &str, cause: impl std::fmt::Display) -> RekorError {
    RekorError::Malformed {
        what: what.into(),
        cause: cause.to_string(),
    }
}

/// The trusted log named `log_id`, trusted at `at`.
pub fn find_log<'r>(
    root: &'r TrustedRoot,
    log_id: &[u8],
    at: i64,
) -> Result<&'r TransparencyLog, RekorError> {
    let log = root.tlog(log_id).ok_or_else(|| RekorError::UnknownLog {
        log_id: hex::encode(log_id),
    })?;
    if !log.valid_for.contains(at) {
        return Err(RekorError::LogNotValidAt {
            log: log.base_url.clone(),
            valid_for: log.valid_for.to_string(),
            at,
        });
    }
    Ok(log)
}

/// Verifies a SET over (body, integrated time, log index, log id) and returns the log.
pub fn verify_set<'r>(
    root: &'r TrustedRoot,
    payload: &RekorPayload,
    set: &[u8],
) -> Result<&'r TransparencyLog, RekorError> {
    let log_id = hex::decode(&payload.log_id).map_err(|e| malformed("logID", e))?;
    let log = find_log(root, &log_id, payload.integrated_time)?;
    let doc = serde_json::to_vec(&SetDocument {
        body: &payload.body,
        integrated_time: payload.integrated_time,
        log_id: &hex::encode(&log_id),
        log_index: payload.log_index,
    })
    .map_err(|e| malformed("SET document", e))?;
    match log.key.verify(&doc, set, log.key.default_hash()) {
        Ok(true) => Ok(log),
        Ok(false) => Err(RekorError::BadSet {
            log: log.base_url.clone(),
        }),
        Err(source) => Err(RekorError::Key {
            log: log.base_url.clone(),
            source,
        }),
    }
}

impl RekorBundle {
    /// Verifies the SET; returns the log and the decoded body.
    pub fn verify<'r>(
        &self,
        root: &'r TrustedRoot,
    ) -> Result<(&'r TransparencyLog, Vec<u8>), RekorError> {
        let set = B64
            .decode(self.signed_entry_timestamp.trim())
            .map_err(|e| malformed("SignedEntryTimestamp", e))?;
        let log = verify_set(root, &self.payload, &set)?;
        let body = B64
            .decode(&self.payload.body)
            .map_err(|e| malformed("entry body", e))?;
        Ok((log, body))
    }
}

/// What the logged body must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The raw signature bytes (DER ECDSA).
    pub signature: &'a [u8],
    /// DER of the signer: the leaf certificate (keyless) or SubjectPublicKeyInfo (key).
    pub signer: &'a [u8],
    pub content: ExpectedContent<'a>,
}

/// The signed content as the log records it.
#[derive(Debug, Clone, Copy)]
pub enum ExpectedContent<'a> {
    /// SHA-256 of the signed message (`hashedrekord`, `rekord`).
    MessageSha256(&'a [u8]),
    /// SHA-256 of a DSSE envelope's payload (`dsse` 0.0.1, `intoto` 0.0.2: cosign's classic
    /// attestations).
    DssePayloadSha256(&'a [u8]),
    /// A DSSE envelope of a Sigstore bundle, which Rekor v1 logs as `dsse` 0.0.1 (payload hash)
    /// and Rekor v2 as `dsse` 0.0.2 (payload hash) or as `hashedrekord` 0.0.2 over its PAE.
    DsseEnvelope {
        payload_sha256: &'a [u8],
        pae_sha256: &'a [u8],
    },
}

/// One logged signature and its signer (DER of a certificate or SubjectPublicKeyInfo); `None`
/// where unreadable.
pub(super) struct LoggedSignature {
    pub(super) signature: Option<Vec<u8>>,
    pub(super) signer: Option<Vec<u8>>,
}

/// A logged body reduced to what is compared: the content hash and the signatures.
pub(super) struct LoggedBody {
    /// What the hash is of, for messages.
    pub(super) content_field: &'static str,
    /// The hash the expected content must have, as SHA-256 bytes.
    pub(super) want: Vec<u8>,
    /// `algorithm:hex` as logged, for messages; `None` when it is SHA-256 of `want`.
    pub(super) mismatch: Option<String>,
    pub(super) signatures: Vec<LoggedSignature>,
}

/// Checks that `body` (decoded canonical entry) logs exactly the `expected` signature.
pub fn check_body(body: &[u8], expected: &Expected<'_>) -> Result<(), RekorError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| malformed("entry body", e))?;
    let kind = v["kind"].as_str().unwrap_or_default();
    let version = v["apiVersion"].as_str().unwrap_or_default();
    let logged = match version {
        "0.0.2" if kind != "intoto" => super::rekor_v2::parse(kind, &v["spec"], expected.content),
        _ => parse_v1(kind, version, &v["spec"], expected.content),
    }
    .ok_or_else(|| RekorError::UnsupportedKind {
        entry_kind: kind.into(),
        version: version.into(),
    })?;
    if let Some(actual) = logged.mismatch {
        return Err(RekorError::BodyMismatch {
            field: logged.content_field.into(),
            expected: hex::encode(&logged.want),
            actual,
        });
    }
    let mut sig_seen = false;
    for logged in logged.signatures {
        if logged.signature.as_deref() != Some(expected.signature) {
            continue;
        }
        sig_seen = true;
        let signer = logged.signer.ok_or_else(|| {
            malformed(
                "logged verifier",
                "not a certificate or public key (base64 of PEM, or DER)",
            )
        })?;
        if signer == expected.signer {
            return Ok(());
        }
    }
    Err(if sig_seen {
        RekorError::BodyMismatch {
            field: "signer (certificate or key)".into(),
            expected: "the signature's certificate".into(),
            actual: "another certificate or key".into(),
        }
    } else {
        RekorError::BodyMismatch {
            field: "signature".into(),
            expected: B64.encode(expected.signature),
            actual: "another signature".into(),
        }
    })
}

impl LoggedBody {
    /// A body whose content hash `logged` (by `algorithm`, shown as `shown`) must be the
    /// SHA-256 `want`.
    pub(super) fn new(
        content_field: &'static str,
        want: &[u8],
        (algorithm, logged, shown): (&str, &[u8], &str),
        signatures: Vec<LoggedSignature>,
    ) -> Self {
        let sha256 = matches!(algorithm, "sha256" | "SHA2_256");
        Self {
            content_field,
            want: want.to_vec(),
            mismatch: (!sha256 || logged != want).then(|| format!("{algorithm}:{shown}")),
            signatures,
        }
    }
}

/// A Rekor v1 body (`hashedrekord`/`rekord`/`dsse` 0.0.1, `intoto` 0.0.2); `None` when the kind
/// does not fit the content.
fn parse_v1(
    kind: &str,
    version: &str,
    spec: &Value,
    content: ExpectedContent<'_>,
) -> Option<LoggedBody> {
    let (field, want, hash, sigs): (_, _, &Value, Vec<(&Value, &Value)>) =
        match (kind, version, content) {
            ("hashedrekord" | "rekord", "0.0.1", ExpectedContent::MessageSha256(d)) => (
                "artifact sha256",
                d,
                &spec["data"]["hash"],
                vec![(
                    &spec["signature"]["content"],
                    &spec["signature"]["publicKey"]["content"],
                )],
            ),
            (
                "dsse",
                "0.0.1",
                ExpectedContent::DssePayloadSha256(d)
                | ExpectedContent::DsseEnvelope {
                    payload_sha256: d, ..
                },
            ) => (
                "DSSE payload sha256",
                d,
                &spec["payloadHash"],
                spec["signatures"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|s| (&s["signature"], &s["verifier"]))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            // cosign's classic keyless `attest`: Rekor stores each DSSE signature base64-encoded
            // a second time (the envelope's base64 text as bytes), see `intoto_signature`.
            (
                "intoto",
                "0.0.2",
                ExpectedContent::DssePayloadSha256(d)
                | ExpectedContent::DsseEnvelope {
                    payload_sha256: d, ..
                },
            ) => (
                "DSSE payload sha256",
                d,
                &spec["content"]["payloadHash"],
                spec["content"]["envelope"]["signatures"]
                    .as_array()
                    .map(|a| a.iter().map(|s| (&s["sig"], &s["publicKey"])).collect())
                    .unwrap_or_default(),
            ),
            _ => return None,
        };
    let alg = hash["algorithm"].as_str().unwrap_or_default();
    let text = hash["value"].as_str().unwrap_or_default();
    let logged = hex::decode(text).unwrap_or_default();
    let signatures = sigs
        .into_iter()
        .map(|(sig, verifier)| {
            let sig = sig.as_str().unwrap_or_default();
            let sig = if kind == "intoto" {
                intoto_signature(sig)
            } else {
                B64.decode(sig).ok()
            };
            LoggedSignature {
                signature: sig,
                signer: pem_signer(verifier),
            }
        })
        .collect();
    Some(LoggedBody::new(
        field,
        want,
        (alg, &logged, text),
        signatures,
    ))
}

/// The DER of the first block of a base64-encoded PEM verifier (Rekor v1).
fn pem_signer(verifier: &Value) -> Option<Vec<u8>> {
    let pem = verifier
        .as_str()
        .and_then(|p| B64.decode(p).ok())
        .and_then(|p| String::from_utf8(p).ok())?;
    super::pem_blocks(&pem)
        .ok()?
        .into_iter()
        .next()
        .map(|(_, der)| der)
}

/// An `intoto` v0.0.2 signature: base64 of the envelope's base64 signature text.
fn intoto_signature(logged: &str) -> Option<Vec<u8>> {
    let inner = B64.decode(logged).ok()?;
    B64.decode(inner.trim_ascii()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_document_is_canonical() {
        let doc = serde_json::to_string(&SetDocument {
            body: "Ym9keQ==",
            integrated_time: 1,
            log_id: "ab",
            log_index: 2,
        })
        .unwrap();
        assert_eq!(
            doc,
            r#"{"body":"Ym9keQ==","integratedTime":1,"logID":"ab","logIndex":2}"#
        );
    }

    #[test]
    fn unknown_kind_and_content_mismatch() {
        let body = br#"{"apiVersion":"0.0.2","kind":"intoto","spec":{}}"#;
        let exp = Expected {
            signature: b"s",
            signer: b"c",
            content: ExpectedContent::MessageSha256(&[0; 32]),
        };
        assert!(matches!(
            check_body(body, &exp),
            Err(RekorError::UnsupportedKind { .. })
        ));
        let body = br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"00"}}}}"#;
        assert!(matches!(
            check_body(body, &exp),
            Err(RekorError::BodyMismatch { field, .. }) if field == "artifact sha256"
        ));
    }
}
