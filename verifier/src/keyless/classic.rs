//! Keyless signatures in cosign's classic `.sig` format: a simple-signing layer whose
//! annotations carry the signature, the Fulcio certificate (`dev.sigstore.cosign/certificate`),
//! its chain (`dev.sigstore.cosign/chain`) and the Rekor bundle (`dev.sigstore.cosign/bundle`:
//! SignedEntryTimestamp + logged entry).
//!
//! A layer verifies when its signature verifies with the certificate's key, the SET verifies with
//! a trusted log's key, the logged `hashedrekord`/`rekord` body names this signature, certificate
//! and payload hash, the certificate chains to a trusted Fulcio CA at the integrated time, its
//! identity matches one of the requirement's, and the payload names the image digest; when the
//! trusted root names CT logs, the certificate must carry a verifying SCT ([`super::sct`]). The
//! chain annotation is never trusted (trust comes from the trusted root only). A layer without a
//! Rekor bundle fails closed: this verifier does not look entries up online.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::cert::Certificate;
use super::identity::{CertIdentity, check_any};
use super::rekor::{Expected, ExpectedContent, RekorBundle, check_body};
use super::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, KeylessError, KeylessRequirement, malformed,
};
use crate::cosign::payload::SimpleSigning;
use crate::cosign::{SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE};
use crate::error::VerifyError;
use crate::reference::Digest;
use crate::registry::manifest::Descriptor;

/// One verified keyless signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeylessSignature {
    pub identity: CertIdentity,
    /// The trusted CA that issued the certificate.
    pub ca: String,
    /// The log (base URL) that logged the signature, and where.
    pub log: String,
    pub log_index: i64,
    /// When the log integrated the entry (Unix seconds): the time everything was checked at.
    pub integrated_time: i64,
    /// The image digest the payload names.
    pub digest: String,
}

impl KeylessSignature {
    /// `subject (issuer)`, as reported in [`Verified::key_ids`].
    pub fn signer(&self) -> String {
        format!(
            "{} ({})",
            self.identity.subject(),
            self.identity.issuer.as_deref().unwrap_or("no issuer")
        )
    }
}

/// The Fulcio certificate a classic keyless layer (`.sig` or `.att`) carries.
pub(super) fn layer_certificate(
    annotations: &BTreeMap<String, String>,
) -> Result<Certificate, KeylessError> {
    let pem = annotations
        .get(CERTIFICATE_ANNOTATION)
        .ok_or(KeylessError::NoCertificate { layers: 1 })?;
    Ok(Certificate::from_pem(pem)?)
}

/// The Rekor bundle (SET + logged entry) a classic keyless layer carries.
pub(super) fn layer_rekor_bundle(
    annotations: &BTreeMap<String, String>,
) -> Result<RekorBundle, KeylessError> {
    let text = annotations
        .get(BUNDLE_ANNOTATION)
        .ok_or_else(|| KeylessError::NoLogEntry {
            what: format!("no {BUNDLE_ANNOTATION} annotation"),
        })?;
    serde_json::from_str(text).map_err(|e| malformed("Rekor bundle annotation", e))
}

/// Verifies one simple-signing layer (`payload` + its annotations); the payload digest is
/// returned, not compared.
pub fn verify_layer(
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
    req: &KeylessRequirement,
) -> Result<KeylessSignature, KeylessError> {
    let root = req.trusted_root.as_ref();
    let cert = layer_certificate(annotations)?;
    let sig = annotations
        .get(SIGNATURE_ANNOTATION)
        .and_then(|s| B64.decode(s.trim()).ok())
        .ok_or_else(|| malformed("signature annotation", "missing or not base64"))?;
    let key = cert.key()?;
    if !key.verify(payload, &sig, key.default_hash())? {
        return Err(KeylessError::Signature {
            what: "simple-signing payload".into(),
        });
    }
    let bundle = layer_rekor_bundle(annotations)?;
    let (log, body) = bundle.verify(root)?;
    let payload_hash = Sha256::digest(payload);
    check_body(
        &body,
        &Expected {
            signature: &sig,
            signer: cert.der(),
            content: ExpectedContent::MessageSha256(&payload_hash),
        },
    )?;
    let at = bundle.payload.integrated_time;
    let ca = cert.verify_leaf(root, at)?;
    super::sct::verify_embedded(&cert, ca, root)?;
    check_any(&req.identities, cert.identity())?;
    let parsed =
        SimpleSigning::parse(payload).map_err(|e| malformed("simple-signing payload", e))?;
    Ok(KeylessSignature {
        identity: cert.identity().clone(),
        ca: ca.name.clone(),
        log: log.base_url.clone(),
        log_index: bundle.payload.log_index,
        integrated_time: at,
        digest: parsed.digest().to_string(),
    })
}

/// Verifies the `.sig` layers of `digest` (of `image`, named in errors): every keyless layer
/// that verifies and names `digest`, or the failure of the one that got furthest.
pub fn verify_signature_layers(
    image: &str,
    digest: &Digest,
    layers: &[(Descriptor, Vec<u8>)],
    req: &KeylessRequirement,
) -> Result<Vec<KeylessSignature>, VerifyError> {
    let mut verified = Vec::new();
    let mut best: Option<KeylessError> = None;
    let mut found = 0;
    let simple: Vec<_> = layers
        .iter()
        .filter(|(d, _)| d.media_type == SIMPLESIGNING_MEDIA_TYPE)
        .collect();
    for (desc, payload) in &simple {
        if !desc.annotations.contains_key(CERTIFICATE_ANNOTATION) {
            continue;
        }
        found += 1;
        let outcome = verify_layer(payload, &desc.annotations, req).and_then(|sig| {
            if sig.digest == digest.as_str() {
                Ok(sig)
            } else {
                Err(KeylessError::ContentMismatch {
                    expected: digest.to_string(),
                    actual: sig.digest,
                })
            }
        });
        match outcome {
            Ok(sig) => verified.push(sig),
            Err(e) => {
                if best.as_ref().is_none_or(|b| e.progress() > b.progress()) {
                    best = Some(e);
                }
            }
        }
    }
    if !verified.is_empty() {
        return Ok(verified);
    }
    Err(match best {
        Some(KeylessError::ContentMismatch { actual, .. }) => VerifyError::DigestMismatch {
            image: image.into(),
            signed: actual,
            actual: digest.to_string(),
        },
        Some(source) => VerifyError::KeylessRejected {
            image: image.into(),
            found,
            source,
        },
        None => VerifyError::KeylessRejected {
            image: image.into(),
            found,
            source: KeylessError::NoCertificate {
                layers: simple.len(),
            },
        },
    })
}
