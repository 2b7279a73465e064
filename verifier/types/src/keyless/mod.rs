//! Keyless verification's values: what a [`KeylessRequirement`] accepts (signer [`Identity`]s
//! matched by [`StringMatcher`]s and Fulcio [`Claim`]s), the parsed offline trust material
//! ([`TrustedRoot`]: Fulcio CAs with their X.509 [`Certificate`]s, Rekor and CT log keys as
//! [`VerificationKey`]s, timestamp authorities), and why a keyless signature was rejected
//! ([`KeylessError`] and the stage errors in [`errors`]).
//!
//! Parsing is here so a policy engine can validate trust roots and identities when policies load;
//! checking signatures, log entries, proofs and timestamps against them is `portcullis-verifier`'s
//! job (its `keyless` module re-exports everything here).

pub mod cert;
pub mod claims;
pub mod errors;
pub mod identity;
pub mod pkix;
#[doc(hidden)]
pub mod root_json;
pub mod trust;

use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::requirement::AttestationRequirement;

pub use cert::{CertError, Certificate};
pub use errors::{BundleError, BundleVersion, MerkleError, RekorError, SctError, TimestampError};
pub use identity::{CertIdentity, Claim, Identity, IdentityMismatch, StringMatcher};
pub use pkix::{PkixError, VerificationKey};
pub use trust::{TrustError, TrustedRoot};

/// What keyless signatures of an image must satisfy.
#[derive(Debug, Clone)]
pub struct KeylessRequirement {
    /// Fulcio CAs and Rekor logs to trust.
    pub trusted_root: Arc<TrustedRoot>,
    /// Accepted signer identities: a signature passes when any one matches.
    pub identities: Vec<Identity>,
    /// Attestations the image must carry, each signed keylessly by an accepted identity.
    pub attestations: Vec<AttestationRequirement>,
}

impl KeylessRequirement {
    /// A stable digest of everything that affects the verdict (trusted root content + identities).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"keyless\n");
        h.update(self.trusted_root.fingerprint.as_bytes());
        for id in &self.identities {
            h.update(b"\n");
            h.update(id.to_string().as_bytes());
        }
        if !self.attestations.is_empty() {
            h.update(b"\n");
            crate::requirement::hash_attestations(&mut h, &self.attestations);
        }
        hex::encode(h.finalize())
    }
}

/// Why a keyless signature or bundle did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "stage", content = "error", rename_all = "camelCase")]
pub enum KeylessError {
    #[error("certificate: {0}")]
    Certificate(#[from] CertError),
    #[error("identity: {0}")]
    Identity(#[from] IdentityMismatch),
    #[error("transparency log: {0}")]
    Log(#[from] RekorError),
    #[error("inclusion proof: {0}")]
    Proof(#[from] MerkleError),
    #[error("key: {0}")]
    Key(#[from] PkixError),
    #[error("bundle: {0}")]
    Bundle(#[from] BundleError),
    #[error("RFC 3161 timestamp: {0}")]
    Timestamp(#[from] TimestampError),
    #[error("certificate transparency: {0}")]
    Sct(#[from] SctError),
    #[error("signature does not verify with the certificate's key ({what})")]
    Signature { what: String },
    #[error("signed content is about {actual}, not {expected}")]
    ContentMismatch { expected: String, actual: String },
    #[error("malformed {what}: {cause}")]
    Malformed { what: String, cause: String },
    #[error(
        "{layers} signature layer(s), none with a certificate (signed with a key, not keyless?)"
    )]
    NoCertificate { layers: usize },
    #[error("no transparency log entry ({what}); offline verification needs the log's proof")]
    NoLogEntry { what: String },
    #[error("not supported: {what}")]
    Unsupported { what: String },
}

impl KeylessError {
    /// A short stable name for metrics and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            KeylessError::Certificate(_) => "keyless-certificate",
            KeylessError::Identity(_) => "keyless-identity",
            KeylessError::Log(_) => "keyless-tlog",
            KeylessError::Proof(_) => "keyless-inclusion-proof",
            KeylessError::Key(_) => "keyless-key",
            KeylessError::Bundle(_) => "malformed",
            KeylessError::Timestamp(_) => "keyless-timestamp",
            KeylessError::Sct(_) => "keyless-sct",
            KeylessError::Signature { .. } => "keyless-signature",
            KeylessError::ContentMismatch { .. } => "keyless-content-mismatch",
            KeylessError::Malformed { .. } => "malformed",
            KeylessError::NoCertificate { .. } => "keyless-no-certificate",
            KeylessError::NoLogEntry { .. } => "keyless-no-tlog-entry",
            KeylessError::Unsupported { .. } => "keyless-unsupported",
        }
    }

    /// How far verification got before this failure: when several signatures fail, the one
    /// that got furthest explains the verdict best (a wrong identity beats a wrong CA).
    pub fn progress(&self) -> u8 {
        match self {
            KeylessError::NoCertificate { .. } => 0,
            KeylessError::Malformed { .. }
            | KeylessError::Bundle(_)
            | KeylessError::Unsupported { .. } => 1,
            KeylessError::Key(_) | KeylessError::Signature { .. } => 2,
            KeylessError::NoLogEntry { .. }
            | KeylessError::Log(_)
            | KeylessError::Proof(_)
            | KeylessError::Timestamp(_) => 3,
            KeylessError::Certificate(_) | KeylessError::Sct(_) => 4,
            KeylessError::ContentMismatch { .. } => 5,
            KeylessError::Identity(_) => 6,
        }
    }
}

/// Unix seconds as RFC 3339 (UTC), for messages.
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{t}"))
}

/// RFC 3339 text as Unix seconds (fractions dropped).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|d| d.unix_timestamp())
}

/// Every PEM block in `text` as (label, DER), in order; text around the blocks is ignored.
/// The decoding is x509-parser's (lenient about line widths and surrounding text, as cosign's
/// Go `encoding/pem` is).
pub fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
        .map(|block| {
            block
                .map(|p| (p.label, p.contents))
                .map_err(|e| format!("PEM: {e}"))
        })
        .collect()
}

/// Single PEM blocks, for certificates and keys.
pub mod pem {
    /// The DER of the single PEM block labelled `label` in `text`.
    pub fn decode_one(text: &str, label: &str) -> Result<Vec<u8>, String> {
        let mut blocks = super::pem_blocks(text)?;
        match blocks.len() {
            1 if blocks[0].0 == label => Ok(blocks.remove(0).1),
            1 => Err(format!(
                "PEM block is {:?}, expected {label:?}",
                blocks[0].0
            )),
            n => Err(format!("expected one PEM {label:?} block, found {n}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_serialise_with_their_stage_and_code() {
        let e = crate::VerifyError::KeylessRejected {
            image: "r/app:v1".into(),
            found: 1,
            source: KeylessError::Certificate(CertError::NotValidAt {
                subject: "a@b.c".into(),
                not_before: 0,
                not_after: 600,
                at: 601,
            }),
        };
        assert_eq!(e.code(), "keyless-certificate");
        assert!(!e.is_transient());
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "keylessRejected");
        assert_eq!(v["source"]["stage"], "certificate");
        assert_eq!(v["source"]["error"]["kind"], "notValidAt");
        assert_eq!(v["source"]["error"]["at"], 601);
        assert!(e.to_string().starts_with("r/app:v1: no valid keyless signature (1 with a certificate found): certificate: a@b.c: valid 1970-01-01T00:00:00Z"), "{e}");
    }

    #[test]
    fn times_and_pem() {
        assert_eq!(parse_rfc3339("2021-03-07T03:20:29Z"), Some(1615087229));
        assert_eq!(parse_rfc3339("2022-12-31T23:59:59.999Z"), Some(1672531199));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(rfc3339(1615087229), "2021-03-07T03:20:29Z");
        let pem = "x\n-----BEGIN A-----\nAAEC\n-----END A-----\n-----BEGIN B-----\nAw==\n-----END B-----\n";
        let blocks = pem_blocks(pem).unwrap();
        assert_eq!(
            blocks,
            vec![("A".into(), vec![0, 1, 2]), ("B".into(), vec![3])]
        );
        assert!(pem::decode_one(pem, "A").is_err(), "two blocks");
        assert!(pem_blocks("-----BEGIN A-----\nAAEC\n").is_err());
    }
}
