//! Signatures by trusted keys: verifying one image digest against a [`KeyRequirement`] (cosign
//! `.sig` signatures and `.att` attestations), straight from the registry, without a cache (the
//! cached service is [`crate::cached`]; keyless signatures are [`crate::keyless`]).
//!
//! Round trips for a signed image: one GET for the `.sig` manifest and one GET per signature
//! layer, fetched concurrently; with attestations, one more GET for the `.att` manifest (in
//! parallel with the `.sig` one) and one per attestation layer of a required type.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::future::join_all;
use tokio::time::Instant;

use crate::cosign::dsse::Envelope;
use crate::cosign::payload::SimpleSigning;
use crate::cosign::{
    Artifact, DSSE_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION, SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE, artifact_ref,
};
use crate::error::{RegistryError, VerifyError};
use crate::reference::{Digest, ImageRef};
use crate::registry::RegistryClient;
use crate::registry::manifest::{Descriptor, ImageManifest};
use crate::requirement::{AttestationRequirement, KeyRequirement, Verified, VerifiedAttestation};

/// Verifies `digest` (of `image`) against `req`.
pub async fn verify_digest(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    req: &KeyRequirement,
    deadline: Instant,
) -> Result<Verified, VerifyError> {
    let name = image.to_string();
    let registry_err = |source: RegistryError| VerifyError::Registry {
        image: name.clone(),
        source,
    };
    let (sig_layers, att_layers) =
        fetch_classic(registry, image, digest, &req.attestations, deadline).await;
    let sig_layers = sig_layers.map_err(registry_err)?;
    let Some(sig_layers) = sig_layers else {
        return Err(VerifyError::NoSignature {
            image: name,
            tag: crate::cosign::artifact_tag(digest, Artifact::Signature),
        });
    };
    let key_ids = check_signatures(&name, digest, req, &sig_layers)?;
    let att_layers = att_layers.map_err(registry_err)?.unwrap_or_default();
    let attestations = req
        .attestations
        .iter()
        .map(|want| check_attestation(&name, digest, req, want, &att_layers))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Verified {
        digest: digest.clone(),
        key_ids,
        attestations,
    })
}

/// A layer descriptor with its blob.
pub(crate) type Layer = (Descriptor, Vec<u8>);

/// The artifact's layers that pass `keep`, or `None` when there is no artifact manifest.
/// Layers of cosign's classic `.sig` tag, and of its `.att` tag when `attestations` are
/// required (only those of a required predicate type, or unannotated), fetched concurrently.
/// `None`: no such tag.
pub(crate) async fn fetch_classic(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    attestations: &[AttestationRequirement],
    deadline: Instant,
) -> (Layers, Layers) {
    tokio::join!(
        fetch_layers(
            registry,
            image,
            digest,
            Artifact::Signature,
            deadline,
            |_| true
        ),
        async {
            if attestations.is_empty() {
                return Ok(None);
            }
            fetch_layers(
                registry,
                image,
                digest,
                Artifact::Attestation,
                deadline,
                |l| {
                    l.annotations
                        .get(PREDICATE_TYPE_ANNOTATION)
                        .is_none_or(|t| attestations.iter().any(|a| &a.predicate_type == t))
                },
            )
            .await
        }
    )
}

type Layers = Result<Option<Vec<Layer>>, RegistryError>;

pub(crate) async fn fetch_layers(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    kind: Artifact,
    deadline: Instant,
    keep: impl Fn(&Descriptor) -> bool,
) -> Result<Option<Vec<Layer>>, RegistryError> {
    let target = artifact_ref(image, digest, kind);
    let Some(fetched) = registry
        .get_manifest(&target, target.reference(), deadline)
        .await?
    else {
        return Ok(None);
    };
    let manifest: ImageManifest =
        serde_json::from_slice(&fetched.bytes).map_err(|e| RegistryError::Protocol {
            registry: image.registry().into(),
            what: format!("manifest {target}"),
            cause: e.to_string(),
        })?;
    let wanted: Vec<Descriptor> = manifest.layers.into_iter().filter(|l| keep(l)).collect();
    let blobs = join_all(
        wanted
            .iter()
            .map(|l| registry.get_blob(&target, &l.digest, deadline)),
    )
    .await;
    let mut out = Vec::with_capacity(wanted.len());
    for (desc, blob) in wanted.into_iter().zip(blobs) {
        out.push((desc, blob?));
    }
    Ok(Some(out))
}

/// Returns the ids of trusted keys with a valid signature on a payload for `digest`.
fn check_signatures(
    image: &str,
    digest: &Digest,
    req: &KeyRequirement,
    layers: &[Layer],
) -> Result<Vec<String>, VerifyError> {
    let mut signed = vec![false; req.keys.len()];
    let mut mismatch: Option<String> = None;
    let mut malformed: Option<String> = None;
    let mut found = 0;
    for (desc, payload) in layers {
        if desc.media_type != SIMPLESIGNING_MEDIA_TYPE {
            continue;
        }
        found += 1;
        let Some(sig) = desc
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .and_then(|s| B64.decode(s).ok())
        else {
            malformed.get_or_insert_with(|| {
                format!("layer {} has no base64 signature annotation", desc.digest)
            });
            continue;
        };
        let valid: Vec<usize> = (0..req.keys.len())
            .filter(|&i| req.keys[i].verify(payload, &sig))
            .collect();
        if valid.is_empty() {
            continue;
        }
        match SimpleSigning::parse(payload) {
            Ok(p) if p.digest() == digest.as_str() => {
                valid.into_iter().for_each(|i| signed[i] = true)
            }
            Ok(p) => {
                mismatch.get_or_insert_with(|| p.digest().to_string());
            }
            Err(cause) => {
                malformed.get_or_insert(cause);
            }
        }
    }
    let valid = signed.iter().filter(|s| **s).count();
    if valid >= req.threshold.max(1) {
        return Ok(req
            .keys
            .iter()
            .zip(&signed)
            .filter(|(_, s)| **s)
            .map(|(k, _)| k.id().to_string())
            .collect());
    }
    if valid == 0 {
        if let Some(signed) = mismatch {
            return Err(VerifyError::DigestMismatch {
                image: image.into(),
                signed,
                actual: digest.to_string(),
            });
        }
        if let Some(cause) = malformed {
            return Err(VerifyError::Malformed {
                image: image.into(),
                what: "signature".into(),
                cause,
            });
        }
    }
    Err(VerifyError::ThresholdNotMet {
        image: image.into(),
        found,
        valid,
        threshold: req.threshold.max(1),
    })
}

/// Finds one attestation of the wanted type, signed by a trusted key, about `digest`, whose
/// predicate meets every condition. The most specific failure wins when none does.
fn check_attestation(
    image: &str,
    digest: &Digest,
    req: &KeyRequirement,
    want: &AttestationRequirement,
    layers: &[Layer],
) -> Result<VerifiedAttestation, VerifyError> {
    let mut best = VerifyError::AttestationMissing {
        image: image.into(),
        predicate_type: want.predicate_type.clone(),
    };
    for (desc, body) in layers {
        if desc.media_type != DSSE_MEDIA_TYPE {
            continue;
        }
        let Ok(env) = serde_json::from_slice::<Envelope>(body) else {
            continue;
        };
        let Ok(signers) = env.verified_by(&req.keys) else {
            continue;
        };
        if signers.is_empty() {
            continue;
        }
        let Ok(statement) = env.statement() else {
            continue;
        };
        if statement.predicate_type != want.predicate_type {
            continue;
        }
        if !statement.is_about(digest) {
            if matches!(best, VerifyError::AttestationMissing { .. }) {
                best = VerifyError::SubjectMismatch {
                    image: image.into(),
                    predicate_type: want.predicate_type.clone(),
                    subjects: statement.subject_digests(),
                    actual: digest.to_string(),
                };
            }
            continue;
        }
        match want
            .conditions
            .iter()
            .try_for_each(|c| c.evaluate(&statement.predicate))
        {
            Ok(()) => {
                return Ok(VerifiedAttestation {
                    predicate_type: want.predicate_type.clone(),
                    key_ids: signers
                        .iter()
                        .map(|&i| req.keys[i].id().to_string())
                        .collect(),
                    conditions: want.conditions.iter().map(ToString::to_string).collect(),
                });
            }
            Err(failure) => {
                best = VerifyError::ConditionFailed {
                    image: image.into(),
                    predicate_type: want.predicate_type.clone(),
                    failure,
                };
            }
        }
    }
    Err(best)
}
