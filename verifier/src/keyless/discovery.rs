//! Finding an image's signatures and attestations wherever cosign puts them ([`find`], for key
//! and keyless authorities alike), and verifying keyless ones: the classic `sha256-<hex>.sig` /
//! `.att` tags, and Sigstore bundles stored as OCI 1.1 referrers (cosign 3's default format: a
//! manifest with artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`, one layer holding
//! the bundle JSON, and the image as `subject`), listed by the referrers API or its
//! `sha256-<hex>` tag fallback. cosign 3.1 lists its bundles in the fallback index with the
//! artifact type `application/vnd.oci.empty.v1+json` (its config's media type), so entries of
//! that type, or of none, are fetched too and kept when their manifest is a bundle.
//!
//! A referrer bundle counts as a signature when it is a message signature over the image digest
//! or a DSSE in-toto statement of predicate type `https://sigstore.dev/cosign/sign/v1` whose
//! subject is the image digest; other DSSE bundles are attestations ([`super::attest`]). Each is
//! checked with the same bundle verifier, trusted root and identity policy as everything else.
//!
//! Round trips: the `.sig` manifest, the referrers API (and, on a registry not yet known to have
//! it, the fallback tag) and, with attestations required, the `.att` manifest, all concurrently;
//! then one GET per referrer manifest and one per signature or bundle blob. The unsigned parts
//! (index entries, the referrer manifest's `subject`) only route the search: a referrer whose
//! manifest is missing or names another subject is reported, never trusted. Verification passes
//! when any signature verifies; otherwise the failure that got furthest is reported, naming
//! where it was found, or every place looked at when nothing was found.

use futures::future::join_all;
use tokio::time::Instant;

use super::attest::check_attestation;
use super::bundle::{Bundle, Content, MEDIA_TYPE_V03};
use super::bundle_verify::verify_bundle;
use super::classic::{KeylessSignature, verify_signature_layers};
use super::identity::CertIdentity;
use super::{KeylessError, KeylessRequirement};
use crate::cosign::{Artifact, DSSE_MEDIA_TYPE, SIMPLESIGNING_MEDIA_TYPE, artifact_tag};
use crate::error::{RegistryError, VerifyError};
use crate::key_signatures::{Layer, fetch_classic};
use crate::reference::{Digest, ImageRef};
use crate::registry::RegistryClient;
use crate::registry::referrers::{ArtifactManifest, IndexEntry};
use crate::requirement::{AttestationRequirement, Verified};

/// The artifact type (and layer media type) of a Sigstore bundle referrer.
pub const BUNDLE_ARTIFACT_TYPE: &str = MEDIA_TYPE_V03;
/// The predicate type of cosign's image-signature statements in DSSE bundles.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The OCI empty descriptor's media type: the artifact type cosign 3.1 gives its bundles in
/// the referrers fallback index.
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Why a listed referrer could not be used.
#[derive(Debug, Clone)]
pub enum EntryFailure {
    /// Its manifest or blob could not be read (or names no subject).
    Registry(RegistryError),
    /// Its manifest names another image as its subject (`error` says so as a registry error,
    /// for the keyless path, which reports it as one).
    OtherSubject {
        subject: String,
        error: RegistryError,
    },
    /// Its bundle could not be parsed.
    Keyless(KeylessError),
}

/// A referrer bundle, or why it could not be read, named by its manifest digest and listing.
#[derive(Debug, Clone)]
pub struct ReferrerBundle {
    /// `sha256:… (referrers tag repo:sha256-…)`, for messages.
    pub place: String,
    pub bundle: Result<Bundle, EntryFailure>,
}

/// Everything found for one digest (`Default`: nothing looked at yet).
#[derive(Default)]
pub(crate) struct Found {
    /// Human list of the places looked at.
    pub looked: String,
    pub sig_layers: Option<Vec<Layer>>,
    pub att_layers: Vec<Layer>,
    /// Where the `.att` layers came from.
    pub att_place: String,
    pub bundles: Vec<ReferrerBundle>,
    /// The referrers listing itself failed: nothing verified may not mean nothing exists.
    pub listing_failed: Option<RegistryError>,
}

/// Verifies `digest` (of `image`) against keyless `req`: at least one signature (classic `.sig`
/// layer or referrer bundle) by an accepted identity, and every required attestation.
/// [`Verified::key_ids`] holds each verified signer as `subject (issuer)`.
pub async fn verify_keyless_digest(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    req: &KeylessRequirement,
    deadline: Instant,
) -> Result<Verified, VerifyError> {
    let name = image.to_string();
    let found = find(registry, image, digest, &req.attestations, deadline)
        .await
        .map_err(|source| VerifyError::Registry {
            image: name.clone(),
            source,
        })?;
    let key_ids = check_signatures(&name, digest, req, &found)?;
    let attestations = req
        .attestations
        .iter()
        .map(|want| check_attestation(&name, digest, req, want, &found))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Verified {
        digest: digest.clone(),
        key_ids,
        attestations,
    })
}

/// Fetches the classic artifacts (the `.att` tag only when `attestations` are required) and the
/// referrer bundles concurrently: the candidates every authority then checks.
pub(crate) async fn find(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    attestations: &[AttestationRequirement],
    deadline: Instant,
) -> Result<Found, RegistryError> {
    let (classic, refs) = tokio::join!(
        find_classic(registry, image, digest, attestations, deadline),
        referrer_bundles(registry, image, digest, deadline),
    );
    let mut found = classic?;
    found.add_referrers(digest, refs);
    Ok(found)
}

/// The classic artifacts only (`.sig`, and `.att` when `attestations` are required), for callers
/// that judge these before the referrers ([`Found::add_referrers`]).
pub(crate) async fn find_classic(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    attestations: &[AttestationRequirement],
    deadline: Instant,
) -> Result<Found, RegistryError> {
    let (sig, att) = fetch_classic(registry, image, digest, attestations, deadline).await;
    let sig_place = format!(
        "tag {}:{}",
        image.name(),
        artifact_tag(digest, Artifact::Signature)
    );
    let att_place = format!(
        "tag {}:{}",
        image.name(),
        artifact_tag(digest, Artifact::Attestation)
    );
    let looked = if attestations.is_empty() {
        format!("{sig_place} (layers {SIMPLESIGNING_MEDIA_TYPE})")
    } else {
        format!(
            "{sig_place} (layers {SIMPLESIGNING_MEDIA_TYPE}), {att_place} (layers {DSSE_MEDIA_TYPE})"
        )
    };
    Ok(Found {
        looked,
        sig_layers: sig?,
        att_layers: att?.unwrap_or_default(),
        att_place,
        bundles: Vec::new(),
        listing_failed: None,
    })
}

impl Found {
    /// Adds the referrer bundles of `digest` as [`referrer_bundles`] found them (or failed to).
    pub(crate) fn add_referrers(&mut self, digest: &Digest, refs: Listed) {
        let place = match refs {
            Ok((place, bundles)) => {
                self.bundles = bundles;
                place
            }
            Err(e) => {
                self.listing_failed = Some(e);
                format!("referrers of {digest}")
            }
        };
        if !self.looked.is_empty() {
            self.looked.push_str(", ");
        }
        self.looked
            .push_str(&format!("{place} (artifact type {BUNDLE_ARTIFACT_TYPE})"));
    }
}

/// The bundle referrers of a digest and where they were listed, or why they could not be.
pub(crate) type Listed = Result<(String, Vec<ReferrerBundle>), RegistryError>;

/// Lists the bundle referrers of `digest` and fetches each one's manifest and bundle blob.
pub(crate) async fn referrer_bundles(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    deadline: Instant,
) -> Listed {
    // Unfiltered: the fallback index of cosign 3.1 does not give its bundles their type.
    let refs = registry.referrers(image, digest, None, deadline).await?;
    let source = refs.source.to_string();
    let fetches = refs
        .manifests
        .iter()
        .filter(|entry| may_be_bundle(entry))
        .map(|entry| async {
            let place = format!("{} (listed by {source})", entry.digest);
            let bundle =
                referrer_bundle(registry, image, digest, &entry.digest, &source, deadline).await;
            bundle.map(|bundle| ReferrerBundle { place, bundle })
        });
    let bundles = join_all(fetches).await.into_iter().flatten().collect();
    Ok((source.clone(), bundles))
}

/// Whether a listed referrer may be a bundle: typed as one, or untyped (cosign 3.1's fallback
/// index). Other types (SBOMs, notation signatures) are not fetched.
fn may_be_bundle(entry: &IndexEntry) -> bool {
    entry
        .artifact_type
        .as_deref()
        .is_none_or(|t| t == BUNDLE_ARTIFACT_TYPE || t == OCI_EMPTY)
}

/// The bundle a referrer manifest holds; `None` when the manifest turns out to be another kind
/// of artifact (an untyped entry that is no bundle), which is no candidate at all.
async fn referrer_bundle(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    manifest_digest: &str,
    source: &str,
    deadline: Instant,
) -> Option<Result<Bundle, EntryFailure>> {
    let fetched = fetch_referrer_bundle(registry, image, digest, manifest_digest, source, deadline);
    match fetched.await {
        Ok(Some(bundle)) => Some(Ok(bundle)),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    }
}

async fn fetch_referrer_bundle(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    manifest_digest: &str,
    source: &str,
    deadline: Instant,
) -> Result<Option<Bundle>, EntryFailure> {
    let what = format!("referrer manifest {manifest_digest} (listed by {source})");
    let protocol = |cause: String| {
        EntryFailure::Registry(RegistryError::Protocol {
            registry: image.registry().into(),
            what: what.clone(),
            cause,
        })
    };
    let fetched = registry
        .get_manifest(image, manifest_digest, deadline)
        .await
        .map_err(EntryFailure::Registry)?
        .ok_or_else(|| {
            EntryFailure::Registry(RegistryError::NotFound {
                registry: image.registry().into(),
                what: what.clone(),
            })
        })?;
    let manifest: ArtifactManifest =
        serde_json::from_slice(&fetched.bytes).map_err(|e| protocol(e.to_string()))?;
    let typed_bundle = manifest.artifact_type.as_deref() == Some(BUNDLE_ARTIFACT_TYPE);
    let bundle_layer = manifest
        .layers
        .iter()
        .find(|l| l.media_type == BUNDLE_ARTIFACT_TYPE);
    let Some(layer) = bundle_layer else {
        if typed_bundle {
            return Err(protocol(format!("no {BUNDLE_ARTIFACT_TYPE} layer")));
        }
        return Ok(None);
    };
    match manifest.subject.as_ref().map(|s| s.digest.as_str()) {
        Some(s) if s == digest.as_str() => {}
        Some(other) => {
            let error = RegistryError::Protocol {
                registry: image.registry().into(),
                what: what.clone(),
                cause: format!("subject is {other}, not {digest}"),
            };
            return Err(EntryFailure::OtherSubject {
                subject: other.to_string(),
                error,
            });
        }
        None => return Err(protocol("no subject".into())),
    }
    let blob = registry
        .get_blob(image, &layer.digest, deadline)
        .await
        .map_err(EntryFailure::Registry)?;
    Bundle::from_json(&blob)
        .map(Some)
        .map_err(|e| EntryFailure::Keyless(e.into()))
}

/// `subject (issuer)`, as [`KeylessSignature::signer`] writes it.
pub(crate) fn signer(identity: &CertIdentity) -> String {
    format!(
        "{} ({})",
        identity.subject(),
        identity.issuer.as_deref().unwrap_or("no issuer")
    )
}

/// The image digest as the SHA-256 bundles are verified against.
pub(crate) fn artifact_sha256(digest: &Digest) -> Result<[u8; 32], KeylessError> {
    hex::decode(digest.hex())
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| super::malformed("image digest", format!("{digest} is not sha256")))
}

/// Whether a bundle is a signature of an image (rather than an attestation about it).
pub(crate) fn is_signature(bundle: &Bundle) -> bool {
    match &bundle.content {
        Content::MessageSignature { .. } => true,
        Content::Dsse(env) => env
            .statement()
            .map_or(true, |s| s.predicate_type == COSIGN_SIGN_PREDICATE),
    }
}

/// The verified signers, or the failure that got furthest (naming where it was).
fn check_signatures(
    image: &str,
    digest: &Digest,
    req: &KeylessRequirement,
    found: &Found,
) -> Result<Vec<String>, VerifyError> {
    let mut signers = Vec::new();
    let mut classic_err = None;
    if let Some(layers) = &found.sig_layers {
        match verify_signature_layers(image, digest, layers, req) {
            Ok(sigs) => signers.extend(sigs.iter().map(KeylessSignature::signer)),
            Err(e) => classic_err = Some(e),
        }
    }
    let artifact = artifact_sha256(digest);
    let mut best: Option<(&str, KeylessError)> = None;
    let mut unreadable: Option<&RegistryError> = None;
    let mut found_bundles = 0;
    for rb in &found.bundles {
        let outcome = match &rb.bundle {
            Err(EntryFailure::Registry(e) | EntryFailure::OtherSubject { error: e, .. }) => {
                unreadable.get_or_insert(e);
                continue;
            }
            Err(EntryFailure::Keyless(e)) => Err(e.clone()),
            Ok(b) if !is_signature(b) => continue,
            Ok(b) => artifact
                .clone()
                .and_then(|a| verify_bundle(b, &a, req))
                .map(|v| signer(&v.identity)),
        };
        found_bundles += 1;
        match outcome {
            Ok(s) => signers.push(s),
            Err(e) => {
                if best
                    .as_ref()
                    .is_none_or(|(_, b)| e.progress() > b.progress())
                {
                    best = Some((&rb.place, e));
                }
            }
        }
    }
    if !signers.is_empty() {
        signers.dedup();
        return Ok(signers);
    }
    if let Some(source) = &found.listing_failed {
        return Err(VerifyError::Registry {
            image: image.into(),
            source: source.clone(),
        });
    }
    let classic_progress = match &classic_err {
        Some(VerifyError::KeylessRejected { found: 0, .. }) | None => None,
        Some(VerifyError::KeylessRejected { source, .. }) => Some(source.progress()),
        // A verified signature over another digest.
        Some(_) => Some(
            KeylessError::ContentMismatch {
                expected: String::new(),
                actual: String::new(),
            }
            .progress(),
        ),
    };
    match (best, classic_err) {
        (Some((place, source)), classic)
            if classic_progress.is_none_or(|p| source.progress() > p) =>
        {
            let classic_found = match classic {
                Some(VerifyError::KeylessRejected { found, .. }) => found,
                Some(_) => 1,
                None => 0,
            };
            Err(VerifyError::ReferrerRejected {
                image: image.into(),
                found: found_bundles + classic_found,
                referrer: place.into(),
                source: Box::new(source),
            })
        }
        (_, Some(e)) if classic_progress.is_some() || unreadable.is_none() => Err(e),
        _ => match unreadable {
            Some(source) => Err(VerifyError::Registry {
                image: image.into(),
                source: source.clone(),
            }),
            None => Err(VerifyError::NoSignatureIn {
                image: image.into(),
                looked: found.looked.clone(),
            }),
        },
    }
}
