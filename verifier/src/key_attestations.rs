//! Attestations by trusted keys: in-toto statements in DSSE envelopes, from cosign's classic
//! `sha256-<hex>.att` layers or from Sigstore bundles found as OCI referrers (what
//! `cosign attest --key` 3.x writes), both listed by [`crate::keyless::discovery::find`].
//!
//! Each candidate of the wanted predicate type goes through the same steps as a signature: the
//! signer check (a trusted key verifies the DSSE signature), then the subject (the statement is
//! about the image digest), then the predicate conditions ([`check_statement`], shared with
//! keyless attestations). When none passes, the most telling failure is reported: a failed
//! condition over a wrong subject over an altered envelope over nothing found (which names every
//! place looked).

use crate::cosign::DSSE_MEDIA_TYPE;
use crate::cosign::dsse::{Envelope, Statement};
use crate::error::VerifyError;
use crate::key_signatures::BundleKeys;
use crate::keyless::KeylessError;
use crate::keyless::bundle::Content;
use crate::keyless::discovery::{Found, artifact_sha256};
use crate::reference::Digest;
use crate::requirement::{AttestationRequirement, KeyRequirement, VerifiedAttestation};

/// A statement whose DSSE signature verified, with the indexes of the keys that signed it.
struct Signed {
    signers: Vec<usize>,
    statement: Statement,
}

/// The attestation failure that got furthest, the one reported: "not found" until a candidate
/// fails further on.
pub(crate) struct Furthest(VerifyError);

impl Furthest {
    pub(crate) fn not_found(image: &str, want: &AttestationRequirement, found: &Found) -> Self {
        Self(VerifyError::AttestationNotFound {
            image: image.into(),
            predicate_type: want.predicate_type.clone(),
            looked: found.looked.clone(),
        })
    }

    /// Keeps `e` when it is more telling than the failure kept so far.
    pub(crate) fn consider(&mut self, e: VerifyError) {
        if rank(&e) > rank(&self.0) {
            self.0 = e;
        }
    }

    /// The failure to report; "not found" while the referrers could not be listed is no answer
    /// about the image, so the listing's error is reported instead.
    pub(crate) fn into_error(self, image: &str, found: &Found) -> VerifyError {
        match (self.0, &found.listing_failed) {
            (VerifyError::AttestationNotFound { .. }, Some(source)) => VerifyError::Registry {
                image: image.into(),
                source: source.clone(),
            },
            (best, _) => best,
        }
    }
}

/// How telling a failure is.
fn rank(e: &VerifyError) -> u8 {
    match e {
        VerifyError::ConditionFailed { .. } => 30,
        VerifyError::SubjectMismatch { .. } => 20,
        VerifyError::SignatureInvalid { .. } => 15,
        VerifyError::KeylessAttestationRejected { source, .. } => 10 + source.progress(),
        _ => 0,
    }
}

/// The steps after the signer check, for key and keyless attestations alike: the statement is
/// about `digest`, and every condition of `want` holds on its predicate (ages measured now).
pub(crate) fn check_statement(
    image: &str,
    digest: &Digest,
    want: &AttestationRequirement,
    statement: &Statement,
) -> Result<(), VerifyError> {
    if !statement.is_about(digest) {
        return Err(VerifyError::SubjectMismatch {
            image: image.into(),
            predicate_type: want.predicate_type.clone(),
            subjects: statement.subject_digests(),
            actual: digest.to_string(),
        });
    }
    // The verifier is the layer that reads the registry, so it also reads the clock: `age(...)`
    // conditions are measured at the moment the attestation is checked (the condition types
    // and the policy engine read no clock).
    let now = std::time::SystemTime::now();
    want.conditions
        .iter()
        .try_for_each(|c| c.evaluate_at(&statement.predicate, now))
        .map_err(|failure| VerifyError::ConditionFailed {
            image: image.into(),
            predicate_type: want.predicate_type.clone(),
            failure,
        })
}

/// Finds one attestation of the wanted type, signed by a trusted key, about `digest`, whose
/// predicate meets every condition.
pub(crate) fn check_attestation(
    image: &str,
    digest: &Digest,
    req: &KeyRequirement,
    keys: &BundleKeys,
    want: &AttestationRequirement,
    found: &Found,
) -> Result<VerifiedAttestation, VerifyError> {
    let mut best = Furthest::not_found(image, want, found);
    let mut candidates = classic_candidates(req, want, found);
    candidates.extend(bundle_candidates(
        image, digest, req, keys, want, found, &mut best,
    ));
    for signed in candidates {
        if signed.statement.predicate_type != want.predicate_type {
            continue;
        }
        match check_statement(image, digest, want, &signed.statement) {
            Ok(()) => {
                let key_ids = signed.signers.iter().map(|&i| req.keys[i].id().to_string());
                return Ok(VerifiedAttestation::met(want, key_ids.collect()));
            }
            Err(e) => best.consider(e),
        }
    }
    Err(best.into_error(image, found))
}

/// Classic `.att` layers whose envelope a trusted key signed.
fn classic_candidates(
    req: &KeyRequirement,
    want: &AttestationRequirement,
    found: &Found,
) -> Vec<Signed> {
    let mut out = Vec::new();
    for (desc, body) in &found.att_layers {
        if desc.media_type != DSSE_MEDIA_TYPE {
            continue;
        }
        let Ok(env) = serde_json::from_slice::<Envelope>(body) else {
            continue;
        };
        let signers = env.verified_by(&req.keys).unwrap_or_default();
        if signers.is_empty() {
            continue;
        }
        if let Ok(statement) = env.statement()
            && statement.predicate_type == want.predicate_type
        {
            out.push(Signed { signers, statement });
        }
    }
    out
}

/// Referrer bundles holding a DSSE statement of the wanted type whose signature a trusted key
/// verifies; a bundle about another digest, or naming a trusted key that does not verify it, is
/// kept in `best` when it is the furthest failure.
fn bundle_candidates(
    image: &str,
    digest: &Digest,
    req: &KeyRequirement,
    keys: &BundleKeys,
    want: &AttestationRequirement,
    found: &Found,
    best: &mut Furthest,
) -> Vec<Signed> {
    let Ok(artifact) = artifact_sha256(digest) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for rb in &found.bundles {
        let Ok(bundle) = &rb.bundle else {
            continue;
        };
        let Content::Dsse(env) = &bundle.content else {
            continue;
        };
        // The claimed type only picks candidates; it is trusted once the signature verified.
        if env
            .statement()
            .map_or(true, |s| s.predicate_type != want.predicate_type)
        {
            continue;
        }
        let mut signers = Vec::new();
        let mut statement = None;
        let mut verified = false;
        for (i, outcome) in keys.verify(bundle, &artifact).into_iter().enumerate() {
            match outcome {
                Ok(v) => {
                    verified = true;
                    signers.push(i);
                    statement = statement.or(v.statement);
                }
                Err(KeylessError::ContentMismatch { actual, .. }) => {
                    verified = true;
                    best.consider(VerifyError::SubjectMismatch {
                        image: image.into(),
                        predicate_type: want.predicate_type.clone(),
                        subjects: actual,
                        actual: digest.to_string(),
                    });
                }
                Err(_) => {}
            }
        }
        if let (false, Some(i)) = (verified, keys.hinted(bundle, &req.keys)) {
            best.consider(VerifyError::SignatureInvalid {
                image: image.into(),
                what: format!("{} attestation", want.predicate_type),
                at: rb.place.clone(),
                key: req.keys[i].short_id().to_string(),
            });
        }
        if let Some(statement) = statement {
            out.push(Signed { signers, statement });
        }
    }
    out
}
