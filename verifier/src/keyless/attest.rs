//! Keyless attestations: in-toto statements signed with a Fulcio certificate, from cosign's
//! classic `sha256-<hex>.att` tag (a DSSE envelope layer whose annotations carry the
//! certificate, chain and Rekor bundle, as keyless `cosign attest` writes it) or from DSSE
//! Sigstore bundles found as referrers ([`super::discovery`]).
//!
//! An attestation counts when its DSSE signature verifies with the certificate's key, the log
//! proves it (a SET over an `intoto` or `dsse` entry naming this signature, certificate and
//! payload), the certificate chains to a trusted CA at the log's time, the signer passes the
//! identity policy, its statement is about the image digest, and every condition holds on its
//! predicate (the last two steps are [`check_statement`], shared with key-based attestations). When
//! none does, the most telling failure is reported: a failed condition over a
//! wrong subject over a rejected signer over nothing found.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use super::bundle::Content;
use super::bundle_verify::{dsse_signature, verify_bundle};
use super::classic::{layer_certificate, layer_rekor_bundle};
use super::discovery::{EntryFailure, Found, artifact_sha256, signer};
use super::identity::check_any;
use super::rekor::{Expected, ExpectedContent, check_body};
use super::{CERTIFICATE_ANNOTATION, KeylessError, KeylessRequirement, malformed};
use crate::cosign::DSSE_MEDIA_TYPE;
use crate::cosign::dsse::{Envelope, Statement};
use crate::error::VerifyError;
use crate::key_attestations::{check_statement, rank};
use crate::reference::Digest;
use crate::requirement::{AttestationRequirement, VerifiedAttestation};

/// A verified keyless DSSE layer: who signed it and what it says.
#[derive(Debug, Clone)]
pub struct KeylessStatement {
    /// `subject (issuer)` of the certificate.
    pub signer: String,
    pub statement: Statement,
}

/// Verifies one classic `.att` layer (`envelope` + its annotations) up to and including the
/// signer's identity; the statement's subject and predicate are the caller's to check.
pub fn verify_attestation_layer(
    envelope: &[u8],
    annotations: &BTreeMap<String, String>,
    req: &KeylessRequirement,
) -> Result<KeylessStatement, KeylessError> {
    let root = req.trusted_root.as_ref();
    let cert = layer_certificate(annotations)?;
    let env: Envelope =
        serde_json::from_slice(envelope).map_err(|e| malformed("DSSE envelope", e))?;
    let (payload, signature) = dsse_signature(&env, cert.key()?)?;
    let bundle = layer_rekor_bundle(annotations)?;
    let (_log, body) = bundle.verify(root)?;
    let payload_hash = Sha256::digest(&payload);
    check_body(
        &body,
        &Expected {
            signature: &signature,
            signer: cert.der(),
            content: ExpectedContent::DssePayloadSha256(&payload_hash),
        },
    )?;
    cert.verify_leaf(root, bundle.payload.integrated_time)?;
    check_any(&req.identities, cert.identity())?;
    let statement = env
        .statement()
        .map_err(|cause| malformed("in-toto statement", cause))?;
    Ok(KeylessStatement {
        signer: signer(cert.identity()),
        statement,
    })
}

/// The predicate type a DSSE envelope claims (unverified: only to pick candidates).
fn claimed_type(env: &Envelope) -> Option<String> {
    env.statement().ok().map(|s| s.predicate_type)
}

/// One verified attestation of `want`'s type about `digest` meeting its conditions, from the
/// classic `.att` layers or the referrer bundles in `found`.
pub(crate) fn check_attestation(
    image: &str,
    digest: &Digest,
    req: &KeylessRequirement,
    want: &AttestationRequirement,
    found: &Found,
) -> Result<VerifiedAttestation, VerifyError> {
    let mut best = VerifyError::AttestationNotFound {
        image: image.into(),
        predicate_type: want.predicate_type.clone(),
        looked: found.looked.clone(),
    };
    let mut consider = |e: VerifyError| {
        if rank(&e) > rank(&best) {
            best = e;
        }
    };
    let rejected = |at: &str, source: KeylessError| VerifyError::KeylessAttestationRejected {
        image: image.into(),
        predicate_type: want.predicate_type.clone(),
        at: at.into(),
        source: Box::new(source),
    };
    let mut candidates: Vec<(String, Result<KeylessStatement, KeylessError>)> = Vec::new();
    for (desc, blob) in &found.att_layers {
        if desc.media_type != DSSE_MEDIA_TYPE
            || !desc.annotations.contains_key(CERTIFICATE_ANNOTATION)
        {
            continue;
        }
        let claimed = serde_json::from_slice::<Envelope>(blob)
            .ok()
            .and_then(|e| claimed_type(&e));
        if claimed.as_deref().is_some_and(|t| t != want.predicate_type) {
            continue;
        }
        let at = format!("layer {} of {}", desc.digest, found.att_place);
        candidates.push((at, verify_attestation_layer(blob, &desc.annotations, req)));
    }
    let artifact = artifact_sha256(digest);
    for rb in &found.bundles {
        let bundle = match &rb.bundle {
            Ok(b) => b,
            Err(EntryFailure::Keyless(e)) => {
                consider(rejected(&rb.place, e.clone()));
                continue;
            }
            Err(EntryFailure::Registry(_) | EntryFailure::OtherSubject { .. }) => continue,
        };
        let Content::Dsse(env) = &bundle.content else {
            continue;
        };
        if claimed_type(env).is_none_or(|t| t != want.predicate_type) {
            continue;
        }
        let outcome = artifact
            .clone()
            .and_then(|a| verify_bundle(bundle, &a, req));
        let outcome = match outcome {
            Ok(v) => match v.statement {
                Some(statement) => Ok(KeylessStatement {
                    signer: signer(&v.identity),
                    statement,
                }),
                None => Err(malformed("bundle", "DSSE bundle without a statement")),
            },
            Err(KeylessError::ContentMismatch { actual, .. }) => {
                consider(VerifyError::SubjectMismatch {
                    image: image.into(),
                    predicate_type: want.predicate_type.clone(),
                    subjects: actual,
                    actual: digest.to_string(),
                });
                continue;
            }
            Err(e) => Err(e),
        };
        candidates.push((rb.place.clone(), outcome));
    }
    for (at, outcome) in candidates {
        let verified = match outcome {
            Ok(v) => v,
            Err(e) => {
                consider(rejected(&at, e));
                continue;
            }
        };
        let st = &verified.statement;
        if st.predicate_type != want.predicate_type {
            continue;
        }
        match check_statement(image, digest, want, st) {
            Ok(()) => {
                return Ok(VerifiedAttestation {
                    predicate_type: want.predicate_type.clone(),
                    key_ids: vec![verified.signer],
                    conditions: want.conditions.iter().map(ToString::to_string).collect(),
                });
            }
            Err(e) => consider(e),
        }
    }
    // Nothing usable found, but the referrers could not be listed: not an answer about the image.
    if let (VerifyError::AttestationNotFound { .. }, Some(source)) = (&best, &found.listing_failed)
    {
        return Err(VerifyError::Registry {
            image: image.into(),
            source: source.clone(),
        });
    }
    Err(best)
}
