//! DSSE envelopes (Dead Simple Signing Envelope) carrying in-toto Statements, as `cosign attest`
//! writes them.
//!
//! The signature covers the pre-authentication encoding
//! `"DSSEv1" SP len(type) SP type SP len(body) SP body`, never the raw payload, so a payload type
//! cannot be swapped without breaking the signature. Both in-toto Statement v0.1 and v1 are read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::keys::{PrivateKey, PublicKey};
use crate::reference::{Digest, ImageRef};

pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload_type: String,
    /// Base64 of the payload bytes.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the DER ECDSA signature over the PAE.
    pub sig: String,
}

/// An in-toto Statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub subject: Vec<Subject>,
    #[serde(default)]
    pub predicate: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub name: String,
    pub digest: std::collections::BTreeMap<String, String>,
}

/// Pre-authentication encoding (DSSE v1).
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs an in-toto statement into an envelope.
    pub fn sign_statement(statement: &Statement, key: &PrivateKey) -> Result<Self, String> {
        let body = serde_json::to_vec(statement).map_err(|e| e.to_string())?;
        let sig = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &body));
        Ok(Self {
            payload_type: IN_TOTO_PAYLOAD_TYPE.into(),
            payload: B64.encode(body),
            signatures: vec![EnvelopeSignature {
                keyid: String::new(),
                sig: B64.encode(sig),
            }],
        })
    }

    /// The payload bytes.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, String> {
        B64.decode(&self.payload)
            .map_err(|e| format!("envelope payload is not base64: {e}"))
    }

    /// The trusted keys (by index into `keys`) with a valid signature on this envelope.
    pub fn verified_by(&self, keys: &[PublicKey]) -> Result<Vec<usize>, String> {
        let payload = self.payload_bytes()?;
        let msg = pae(&self.payload_type, &payload);
        let sigs: Vec<Vec<u8>> = self
            .signatures
            .iter()
            .filter_map(|s| B64.decode(&s.sig).ok())
            .collect();
        Ok(keys
            .iter()
            .enumerate()
            .filter(|(_, k)| sigs.iter().any(|s| k.verify(&msg, s)))
            .map(|(i, _)| i)
            .collect())
    }

    /// The statement inside an in-toto envelope.
    pub fn statement(&self) -> Result<Statement, String> {
        if self.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(format!(
                "payload type {:?}, expected {IN_TOTO_PAYLOAD_TYPE:?}",
                self.payload_type
            ));
        }
        let st: Statement = serde_json::from_slice(&self.payload_bytes()?)
            .map_err(|e| format!("in-toto statement: {e}"))?;
        if st.statement_type != STATEMENT_V01 && st.statement_type != STATEMENT_V1 {
            return Err(format!("unknown statement _type {:?}", st.statement_type));
        }
        Ok(st)
    }
}

impl Statement {
    /// A v0.1 statement about `image` at `digest` (what cosign 2.x writes).
    pub fn new(image: &ImageRef, digest: &Digest, predicate_type: &str, predicate: Value) -> Self {
        Self {
            statement_type: STATEMENT_V01.into(),
            predicate_type: predicate_type.into(),
            subject: vec![Subject {
                name: image.name(),
                digest: [("sha256".to_string(), digest.hex().to_string())].into(),
            }],
            predicate,
        }
    }

    /// Whether any subject names this digest.
    pub fn is_about(&self, digest: &Digest) -> bool {
        self.subject
            .iter()
            .any(|s| s.digest.get("sha256").is_some_and(|h| h == digest.hex()))
    }

    /// The subjects' digests, for messages.
    pub fn subject_digests(&self) -> String {
        let all: Vec<String> = self
            .subject
            .iter()
            .flat_map(|s| s.digest.iter().map(|(alg, h)| format!("{alg}:{h}")))
            .collect();
        if all.is_empty() {
            "no subject".into()
        } else {
            all.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pae_matches_the_spec_example() {
        // From the DSSE protocol description.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn sign_verify_and_tamper() {
        let key = PrivateKey::generate();
        let img: ImageRef = "127.0.0.1:5000/app:v1".parse().unwrap();
        let d = Digest::of(b"img");
        let st = Statement::new(&img, &d, "https://slsa.dev/provenance/v1", json!({"a": 1}));
        let env = Envelope::sign_statement(&st, &key).unwrap();
        assert_eq!(
            env.verified_by(&[PrivateKey::generate().public(), key.public()])
                .unwrap(),
            vec![1]
        );
        assert!(env.statement().unwrap().is_about(&d));
        assert!(!env.statement().unwrap().is_about(&Digest::of(b"other")));

        let mut swapped = env.clone();
        swapped.payload_type = "application/json".into();
        assert!(swapped.verified_by(&[key.public()]).unwrap().is_empty());

        let mut tampered = env.clone();
        let other = Statement::new(
            &img,
            &Digest::of(b"evil"),
            "https://slsa.dev/provenance/v1",
            json!({}),
        );
        tampered.payload = B64.encode(serde_json::to_vec(&other).unwrap());
        assert!(tampered.verified_by(&[key.public()]).unwrap().is_empty());
    }
}
