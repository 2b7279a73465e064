//! What an image must satisfy to be signed by trusted keys ([`KeyRequirement`]), the attestations
//! it must carry, and what verification proved ([`Verified`]).
//!
//! These are the values the policy engine hands to the verifier and gets back. A requirement is
//! built once when policies load; its [`KeyRequirement::fingerprint`] keys the verdict cache, so two
//! policies asking the same thing of one digest share one verification.

use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::condition::Condition;
use crate::error::VerifyError;
use crate::keys::PublicKey;
use crate::reference::Digest;

/// Well-known predicate types, by the names `cosign attest --type` accepts.
pub fn predicate_type_uri(name: &str) -> &str {
    match name {
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "spdx" => "https://spdx.dev/Document",
        "spdxjson" => "https://spdx.dev/Document",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        other => other,
    }
}

/// An attestation an image must carry.
#[derive(Debug, Clone)]
pub struct AttestationRequirement {
    /// Predicate type URI (use [`predicate_type_uri`] to map cosign's short names).
    pub predicate_type: String,
    /// All must hold on the predicate of at least one attestation of this type.
    pub conditions: Vec<Condition>,
}

/// Which signature formats a key-based authority accepts (policy `signatureFormat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SignatureFormat {
    /// cosign's classic `.sig`/`.att` tags and Sigstore bundles stored as OCI referrers.
    #[default]
    Any,
    /// Only the classic `.sig`/`.att` tags (cosign 2 and `portcullis sign`); referrers are not
    /// looked at.
    Classic,
    /// Only Sigstore bundles stored as OCI referrers (cosign 3); the classic tags are not looked at.
    Bundle,
}

impl SignatureFormat {
    /// Whether the classic tags are looked at.
    pub fn classic(self) -> bool {
        self != SignatureFormat::Bundle
    }

    /// Whether referrer bundles are looked at.
    pub fn bundle(self) -> bool {
        self != SignatureFormat::Classic
    }
}

/// What an image digest must satisfy to pass by trusted keys (the keyless counterpart is
/// [`crate::KeylessRequirement`]).
#[derive(Debug, Clone)]
pub struct KeyRequirement {
    /// Trusted keys; signatures by other keys are ignored.
    pub keys: Vec<PublicKey>,
    /// How many distinct trusted keys must have signed (at least 1).
    pub threshold: usize,
    /// Attestations, each signed by at least one trusted key.
    pub attestations: Vec<AttestationRequirement>,
    /// Which formats count (signatures and attestations alike).
    pub format: SignatureFormat,
}

impl KeyRequirement {
    /// A stable digest of everything that affects the verdict: keys, threshold, attestation
    /// types and conditions. Policy names are deliberately excluded.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        let mut ids: Vec<&str> = self.keys.iter().map(PublicKey::id).collect();
        ids.sort_unstable();
        for id in ids {
            h.update(id.as_bytes());
            h.update(b"\n");
        }
        h.update(format!("threshold={}\n", self.threshold).as_bytes());
        if self.format != SignatureFormat::Any {
            h.update(format!("format={:?}\n", self.format).as_bytes());
        }
        hash_attestations(&mut h, &self.attestations);
        hex::encode(h.finalize())
    }
}

/// Feeds attestation types and conditions into a requirement fingerprint.
pub(crate) fn hash_attestations(h: &mut Sha256, attestations: &[AttestationRequirement]) {
    for a in attestations {
        h.update(format!("att={}\n", a.predicate_type).as_bytes());
        for c in &a.conditions {
            h.update(serde_json::to_vec(c.spec()).unwrap_or_default());
            h.update(b"\n");
        }
    }
}

/// A verified attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedAttestation {
    pub predicate_type: String,
    pub key_ids: Vec<String>,
    /// The conditions that held, as written.
    pub conditions: Vec<String>,
}

/// What verification proved about one digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    pub digest: Digest,
    /// Ids of the trusted keys with a valid signature.
    pub key_ids: Vec<String>,
    pub attestations: Vec<VerifiedAttestation>,
}

/// The outcome of verifying an image against a requirement; shared, since it is cached.
pub type Verdict = Arc<Result<Verified, VerifyError>>;
