//! Signatures by trusted keys: verifying one image digest against a [`KeyRequirement`], straight
//! from the registry, without a cache (the cached service is [`crate::cached`]; keyless
//! signatures are [`crate::keyless`]).
//!
//! Candidates come from the same discovery as keyless ones ([`crate::keyless::discovery::find`]):
//! cosign's classic `sha256-<hex>.sig` / `.att` tags and Sigstore bundles stored as OCI
//! referrers (what `cosign sign --key` / `attest --key` 3.x write). Each candidate goes through
//! the signer check (a trusted key), then the subject digest, then, for attestations, the
//! predicate conditions ([`crate::key_attestations`]). A requirement may accept only one of the
//! two formats ([`SignatureFormat`](crate::SignatureFormat)); then the other is not looked at.
//! A key-signed bundle's log entry is not checked, as a classic key signature's is not
//! (`cosign verify --insecure-ignore-tlog`).
//!
//! Round trips: when the requirement accepts both formats, the classic tags (the `.sig` manifest,
//! and the `.att` manifest when attestations are required) and the referrers (the referrers API,
//! and on a registry not yet known to have it the fallback tag too, at the same time: see
//! [`RegistryClient::referrers`]) are asked at once; then one GET per signature layer and per
//! referrer manifest, then one per bundle blob. The classic tags are judged as soon as they are
//! in: a classic signature that satisfies the requirement answers then, as it did before bundles
//! existed, and what is still pending of the referrers is dropped; otherwise the classic tags and
//! the bundles are judged together. So after the tag's digest, a classic signature costs two
//! round trips (manifests, layers) and a bundle three (listing, referrer manifest, bundle blob),
//! as on the keyless path. A requirement accepting one format asks only for that one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::future::join_all;
use tokio::time::Instant;

use crate::cosign::payload::SimpleSigning;
use crate::cosign::{
    Artifact, PREDICATE_TYPE_ANNOTATION, SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE,
    artifact_ref,
};
use crate::error::{RegistryError, VerifyError};
use crate::head_start::first_then;
use crate::key_attestations::check_attestation;
use crate::keyless::bundle::{Bundle, Content, Signer};
use crate::keyless::discovery::{
    EntryFailure, Found, artifact_sha256, find_classic, is_signature, referrer_bundles,
};
use crate::keyless::{KeylessError, VerificationKey, verify_bundle_with_key};
use crate::keys::PublicKey;
use crate::reference::{Digest, ImageRef};
use crate::registry::RegistryClient;
use crate::registry::manifest::{Descriptor, ImageManifest};
use crate::requirement::{AttestationRequirement, KeyRequirement, Verified};

/// Verifies `digest` (of `image`) against `req`: signatures by `req.threshold` trusted keys
/// (classic or bundle) and every required attestation.
pub async fn verify_digest(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    req: &KeyRequirement,
    deadline: Instant,
) -> Result<Verified, VerifyError> {
    let name = image.to_string();
    let keys = BundleKeys::new(&req.keys);
    let unreadable = |source| VerifyError::Registry {
        image: name.clone(),
        source,
    };
    // Boxed: both are alive at once here, and inline they would make every caller's future
    // (and the stack it is polled on) several times larger.
    let classic = Box::pin(find_classic(
        registry,
        image,
        digest,
        &req.attestations,
        deadline,
    ));
    let referrers = Box::pin(referrer_bundles(registry, image, digest, deadline));
    let found = match (req.format.classic(), req.format.bundle()) {
        (true, false) => classic.await.map_err(unreadable)?,
        (false, _) => {
            let mut found = Found::default();
            found.add_referrers(digest, referrers.await);
            found
        }
        (true, true) => {
            // Both asked at once; the classic tags judged first, so a classic signature that
            // satisfies `req` answers without waiting for the referrers (which are dropped).
            let (classic, referrers) = first_then(classic, referrers).await;
            let mut found = classic.map_err(unreadable)?;
            let verdict = check(&name, digest, req, &keys, &found);
            if verdict.is_ok() {
                return verdict;
            }
            // Not satisfied by the classic tags: judge them and the referrers together.
            found.add_referrers(digest, referrers.get().await);
            found
        }
    };
    check(&name, digest, req, &keys, &found)
}

/// Every candidate in `found` through the signer, subject and condition checks.
fn check(
    name: &str,
    digest: &Digest,
    req: &KeyRequirement,
    keys: &BundleKeys,
    found: &Found,
) -> Result<Verified, VerifyError> {
    let signatures = check_signatures(name, digest, req, keys, found);
    let mut attestations = req
        .attestations
        .iter()
        .map(|want| check_attestation(name, digest, req, keys, want, found));
    match signatures {
        // Nothing signed the image: when an attestation is missing or rejected too (as for
        // `verify-attestation` on an image that has nothing), that is the more telling answer.
        Err(nothing @ VerifyError::NoSignatureIn { .. }) => {
            attestations.try_for_each(|a| a.map(drop))?;
            Err(nothing)
        }
        Err(e) => Err(e),
        Ok(key_ids) => Ok(Verified {
            digest: digest.clone(),
            key_ids,
            attestations: attestations.collect::<Result<Vec<_>, _>>()?,
        }),
    }
}

/// The trusted keys as bundle verification keys (index-aligned with the requirement's keys).
pub(crate) struct BundleKeys(Vec<Option<VerificationKey>>);

impl BundleKeys {
    pub(crate) fn new(keys: &[PublicKey]) -> Self {
        Self(
            keys.iter()
                .map(|k| VerificationKey::from_spki_der(&k.to_der()).ok())
                .collect(),
        )
    }

    /// The index of the trusted key a bundle names as its signer (cosign's hint: base64 of the
    /// SHA-256 of the key's DER, which is the key id), if any.
    pub(crate) fn hinted(&self, bundle: &Bundle, keys: &[PublicKey]) -> Option<usize> {
        let Signer::PublicKey { hint } = &bundle.signer else {
            return None;
        };
        let id = hex::encode(B64.decode(hint).ok()?);
        keys.iter().position(|k| k.id() == id)
    }

    /// What each trusted key makes of `bundle` over `artifact`.
    pub(crate) fn verify(
        &self,
        bundle: &Bundle,
        artifact: &[u8; 32],
    ) -> Vec<Result<crate::keyless::VerifiedBundle, KeylessError>> {
        self.0
            .iter()
            .map(|k| match k {
                Some(k) => verify_bundle_with_key(bundle, artifact, k, None),
                None => Err(KeylessError::Unsupported {
                    what: "trusted key unusable for bundles".into(),
                }),
            })
            .collect()
    }
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

/// What the signature candidates showed, for the verdict and for the most telling failure.
#[derive(Default)]
struct Tally {
    found: usize,
    mismatch: Option<String>,
    invalid: Option<(String, String)>,
    malformed: Option<String>,
    /// A listed referrer whose manifest names another image: (where, its subject).
    elsewhere: Option<(String, String)>,
}

/// Returns the ids of trusted keys with a valid signature (classic layer or bundle) on `digest`.
fn check_signatures(
    image: &str,
    digest: &Digest,
    req: &KeyRequirement,
    keys: &BundleKeys,
    found: &Found,
) -> Result<Vec<String>, VerifyError> {
    let mut signed = vec![false; req.keys.len()];
    let mut tally = Tally::default();
    if let Some(layers) = &found.sig_layers {
        classic_signatures(digest, req, layers, &mut signed, &mut tally);
    }
    let mut unreadable: Option<&RegistryError> = None;
    let artifact = artifact_sha256(digest);
    for rb in &found.bundles {
        let bundle = match &rb.bundle {
            Err(EntryFailure::Registry(e)) => {
                unreadable.get_or_insert(e);
                continue;
            }
            Err(EntryFailure::OtherSubject { subject, .. }) => {
                let at = rb.place.clone();
                tally.elsewhere.get_or_insert((at, subject.clone()));
                continue;
            }
            Err(EntryFailure::Keyless(e)) => {
                tally.found += 1;
                tally
                    .malformed
                    .get_or_insert_with(|| format!("bundle {}: {e}", rb.place));
                continue;
            }
            Ok(b) if !is_signature(b) => continue,
            Ok(b) => b,
        };
        tally.found += 1;
        let artifact = match &artifact {
            Ok(a) => a,
            Err(e) => {
                tally.malformed.get_or_insert_with(|| e.to_string());
                continue;
            }
        };
        let mut verified = false;
        for (i, outcome) in keys.verify(bundle, artifact).into_iter().enumerate() {
            match outcome {
                Ok(_) => {
                    signed[i] = true;
                    verified = true;
                }
                // A DSSE statement is only read once its signature verified.
                Err(KeylessError::ContentMismatch { actual, .. })
                    if matches!(bundle.content, Content::Dsse(_)) =>
                {
                    verified = true;
                    tally.mismatch.get_or_insert(actual);
                }
                Err(KeylessError::Signature { .. } | KeylessError::ContentMismatch { .. }) => {}
                Err(e) => {
                    tally
                        .malformed
                        .get_or_insert_with(|| format!("bundle {}: {e}", rb.place));
                }
            }
        }
        if let (false, Some(i)) = (verified, keys.hinted(bundle, &req.keys)) {
            let key = req.keys[i].short_id().to_string();
            tally.invalid.get_or_insert((rb.place.clone(), key));
        }
    }
    let valid = signed.iter().filter(|s| **s).count();
    let threshold = req.threshold.max(1);
    if valid >= threshold {
        return Ok(req
            .keys
            .iter()
            .zip(&signed)
            .filter(|(_, s)| **s)
            .map(|(k, _)| k.id().to_string())
            .collect());
    }
    // Not enough, and some places could not be read: not an answer about the image.
    if let Some(source) = found.listing_failed.as_ref().or(unreadable)
        && valid == 0
        && tally.mismatch.is_none()
        && tally.invalid.is_none()
    {
        return Err(VerifyError::Registry {
            image: image.into(),
            source: source.clone(),
        });
    }
    if valid == 0 {
        if let Some(signed) = tally.mismatch {
            return Err(VerifyError::DigestMismatch {
                image: image.into(),
                signed,
                actual: digest.to_string(),
            });
        }
        if let Some((at, key)) = tally.invalid {
            return Err(VerifyError::SignatureInvalid {
                image: image.into(),
                what: "signature bundle".into(),
                at,
                key,
            });
        }
        if let Some(cause) = tally.malformed {
            return Err(VerifyError::Malformed {
                image: image.into(),
                what: "signature".into(),
                cause,
            });
        }
        if let (0, Some((at, subject))) = (tally.found, tally.elsewhere) {
            return Err(VerifyError::ReferrerOfAnother {
                image: image.into(),
                at,
                subject,
                actual: digest.to_string(),
            });
        }
        if tally.found == 0 {
            return Err(VerifyError::NoSignatureIn {
                image: image.into(),
                looked: found.looked.clone(),
            });
        }
    }
    Err(VerifyError::ThresholdNotMet {
        image: image.into(),
        found: tally.found,
        valid,
        threshold,
    })
}

/// Classic `.sig` simple-signing layers: marks the keys that signed a payload for `digest`.
fn classic_signatures(
    digest: &Digest,
    req: &KeyRequirement,
    layers: &[Layer],
    signed: &mut [bool],
    tally: &mut Tally,
) {
    for (desc, payload) in layers {
        if desc.media_type != SIMPLESIGNING_MEDIA_TYPE {
            continue;
        }
        tally.found += 1;
        let Some(sig) = desc
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .and_then(|s| B64.decode(s).ok())
        else {
            tally.malformed.get_or_insert_with(|| {
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
                tally.mismatch.get_or_insert_with(|| p.digest().to_string());
            }
            Err(cause) => {
                tally.malformed.get_or_insert(cause);
            }
        }
    }
}
