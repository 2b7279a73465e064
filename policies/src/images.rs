//! Image signature requirements: the compiled form of a `ClusterImagePolicy`, the list of
//! verifications a request needs ([`ImageCheck`]), the [`ImageFacts`] seam through which the
//! webhook hands back verdicts, and digest pinning.
//!
//! The engine never verifies anything itself. The webhook calls `PolicySet::image_checks`,
//! verifies each (image, requirement fingerprint) pair under its own deadline, and passes the
//! verdicts to `PolicySet::evaluate`. A missing verdict is a denial ("image not verified"): the
//! engine fails closed rather than skipping a check it was not given the answer to. A verified
//! image can be pinned to the digest that was verified, so the kubelet runs exactly that.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use portcullis_verifier_types::condition::ConditionError;
use portcullis_verifier_types::keyless::{Claim, Identity, StringMatcher, TrustedRoot};
use portcullis_verifier_types::{
    AttestationRequirement, Authority, Condition, ImageRef, ImageRequirement, KeyError,
    KeyRequirement, KeylessRequirement, Platform, PlatformError, PlatformRule, PlatformSignatures,
    PublicKey, SignatureFormat, Verdict, VerifyError, predicate_type_uri,
};

use crate::decision::Finding;
use crate::matching::{GlobList, MatchError, Matcher};
use crate::path::FieldPath;
use crate::spec::{
    AuthoritiesSpec, ClusterImagePolicySpec, IdentitySpec, KeylessSpec, Mode,
    PlatformSignaturesSpec, SignatureFormatSpec,
};
use crate::workload::{ContainerRef, Workload, WorkloadKind};

/// Verdicts for images, keyed by the image exactly as written in the pod spec and the
/// requirement fingerprint ([`ImageCheck::fingerprint`]).
pub trait ImageFacts {
    /// Verdict for `image` (exactly as written in the pod spec) under the requirement fingerprint.
    fn verdict(&self, image: &str, requirement_fingerprint: &str) -> Option<Verdict>;
}

/// Trusted roots for keyless authorities, by the name policies use (`spec.authorities.keyless.
/// trustedRoot`). The webhook reads them from files; the engine does no I/O.
pub type TrustRoots = BTreeMap<String, Arc<TrustedRoot>>;

/// Verdicts in a map, for tests and the CLI.
pub type VerdictMap = HashMap<(String, String), Verdict>;

impl ImageFacts for HashMap<(String, String), Verdict> {
    fn verdict(&self, image: &str, requirement_fingerprint: &str) -> Option<Verdict> {
        self.get(&(image.to_string(), requirement_fingerprint.to_string()))
            .cloned()
    }
}

/// One image a request needs verified under one policy's requirement.
#[derive(Debug, Clone)]
pub struct ImageCheck {
    /// Exactly as written in the pod spec.
    pub image: String,
    /// The policy's name, or `namespace/name` for an `ImagePolicy`.
    pub policy: String,
    pub mode: Mode,
    pub requirement: Arc<ImageRequirement>,
    /// `requirement.fingerprint()`, computed once at load.
    pub fingerprint: String,
    /// Whether a successful verification will pin the image to its digest.
    pub pin_digest: bool,
    pub container: String,
    /// Path of the `image` field, e.g. `spec.containers[0].image`.
    pub path: String,
}

impl ImageCheck {
    /// The [`ImageFacts`] key: (image, fingerprint). Checks sharing it need one verification.
    pub fn key(&self) -> (String, String) {
        (self.image.clone(), self.fingerprint.clone())
    }
}

/// A `ClusterImagePolicy` spec that cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum ImagePolicyError {
    #[error("spec.images is empty: the policy would match no image")]
    NoImages,
    #[error("spec.authorities has neither keys nor keyless: no image could ever verify")]
    NoAuthority,
    #[error(
        "spec.authorities has both keys and keyless; use one per policy (two policies require both)"
    )]
    KeysAndKeyless,
    #[error(
        "spec.authorities.keyless.trustedRoot {name:?} is not configured (known: {known}); start the webhook with --trusted-root {name}=FILE"
    )]
    UnknownTrustedRoot { name: String, known: String },
    #[error(
        "spec.authorities.signatureFormat applies to keys only; keyless authorities read both formats"
    )]
    FormatWithKeyless,
    #[error("spec.authorities.platforms[{index}]: {source}")]
    Platform {
        index: usize,
        #[source]
        source: PlatformError,
    },
    #[error("spec.authorities.platforms[{index}]: {platform} is listed twice")]
    DuplicatePlatform { index: usize, platform: String },
    #[error(
        "spec.authorities.platformSignatures is set but spec.authorities.platforms is empty; list the platforms (e.g. [linux/amd64, linux/arm64]) or remove it"
    )]
    PlatformSignaturesWithoutPlatforms,
    #[error("spec.authorities.keyless.identities is empty: no signer would be accepted")]
    NoIdentities,
    #[error("spec.authorities.keyless.identities[{index}]: {message}")]
    Identity { index: usize, message: String },

    #[error("spec.authorities.keys[{index}] ({name}): {source}")]
    Key {
        index: usize,
        name: String,
        #[source]
        source: KeyError,
    },
    #[error("spec.authorities.keys[{index}] ({name}) is the same key as {first}")]
    DuplicateKey {
        index: usize,
        name: String,
        first: String,
    },
    #[error(
        "spec.authorities.threshold is {threshold}; it must be between 1 and the number of keys ({keys})"
    )]
    Threshold { threshold: u32, keys: usize },
    #[error("spec.attestations[{index}] ({predicate_type}): {source}")]
    Condition {
        index: usize,
        predicate_type: String,
        #[source]
        source: ConditionError,
    },
    #[error(transparent)]
    Glob(#[from] MatchError),
}

/// A compiled `ClusterImagePolicy` body.
#[derive(Debug, Clone)]
pub struct ImagePolicy {
    images: GlobList,
    requirement: Arc<ImageRequirement>,
    fingerprint: String,
    /// Key names, or keyless identities, for fix hints.
    signers: Vec<String>,
    pin_pods: bool,
    pin_controllers: bool,
}

impl ImagePolicy {
    pub fn new(
        spec: &ClusterImagePolicySpec,
        roots: &TrustRoots,
    ) -> Result<Self, ImagePolicyError> {
        if spec.images.is_empty() {
            return Err(ImagePolicyError::NoImages);
        }
        let images = GlobList::new("spec.images", &spec.images)?;
        let attestations = attestations(spec)?;
        let auth = &spec.authorities;
        let platforms = platform_rule(auth)?;
        let (requirement, signers) = match (&auth.keyless, auth.keys.is_empty()) {
            (Some(_), false) => return Err(ImagePolicyError::KeysAndKeyless),
            (None, true) => return Err(ImagePolicyError::NoAuthority),
            (Some(_), true) if auth.signature_format != SignatureFormatSpec::Any => {
                return Err(ImagePolicyError::FormatWithKeyless);
            }
            (Some(keyless), true) => {
                let req = keyless_requirement(keyless, roots, attestations)?;
                let signers = req.identities.iter().map(|i| i.to_string()).collect();
                (Authority::Keyless(req), signers)
            }
            (None, false) => {
                let keys = keys(spec)?;
                let threshold = auth.threshold;
                if threshold == 0 || threshold as usize > keys.len() {
                    return Err(ImagePolicyError::Threshold {
                        threshold,
                        keys: keys.len(),
                    });
                }
                let req = KeyRequirement {
                    keys,
                    threshold: threshold as usize,
                    attestations,
                    format: match auth.signature_format {
                        SignatureFormatSpec::Any => SignatureFormat::Any,
                        SignatureFormatSpec::Classic => SignatureFormat::Classic,
                        SignatureFormatSpec::Bundle => SignatureFormat::Bundle,
                    },
                };
                let signers = auth.keys.iter().map(|k| k.name.clone()).collect();
                (Authority::Keys(req), signers)
            }
        };
        let requirement = ImageRequirement {
            authority: requirement,
            platforms,
        };
        Ok(Self {
            images,
            fingerprint: requirement.fingerprint(),
            requirement: Arc::new(requirement),
            signers,
            pin_pods: spec.mutate_digest,
            pin_controllers: spec.mutate_digest && spec.mutate_digest_controllers,
        })
    }

    pub fn requirement(&self) -> &Arc<ImageRequirement> {
        &self.requirement
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether verified images of `kind` get pinned.
    pub(crate) fn pins(&self, kind: WorkloadKind) -> bool {
        if kind == WorkloadKind::Pod {
            self.pin_pods
        } else {
            self.pin_controllers
        }
    }

    /// Containers whose image this policy covers.
    pub(crate) fn targets<'a>(&self, w: &Workload<'a>, matcher: &Matcher) -> Vec<ContainerRef<'a>> {
        w.containers()
            .into_iter()
            .filter(|c| self.images.matches_image(c.image()) && !matcher.excludes_image(c.image()))
            .collect()
    }

    /// A violation for every covered image without a successful verdict.
    pub(crate) fn verify(
        &self,
        w: &Workload<'_>,
        matcher: &Matcher,
        facts: &dyn ImageFacts,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        for c in self.targets(w, matcher) {
            let image = c.image();
            let path = c.path.key("image");
            let finding = match facts.verdict(image, &self.fingerprint) {
                Some(v) => match v.as_ref() {
                    Ok(_) => continue,
                    Err(e) => Finding::new(crate::catalog::VERIFY_IMAGE, &path, e.to_string()).fix(self.fix_for(e)),
                },
                None => Finding::new(
                    crate::catalog::VERIFY_IMAGE,
                    &path,
                    format!("{image}: image not verified (no verification result was available; failing closed)"),
                )
                .fix("retry; if this persists, check the webhook's logs and its access to the registry"),
            };
            out.push(finding.container(c.name));
        }
        out
    }

    fn fix_for(&self, e: &VerifyError) -> String {
        let signers = self.signers.join("; ");
        let keyless = matches!(self.requirement.authority, Authority::Keyless(_));
        match e {
            VerifyError::PlatformNotVerified {
                platform, source, ..
            } => match source.as_ref() {
                VerifyError::NoSignature { .. }
                | VerifyError::NoSignatureIn { .. }
                | VerifyError::ThresholdNotMet { .. }
                | VerifyError::SignatureInvalid { .. }
                | VerifyError::ReferrerOfAnother { .. }
                | VerifyError::KeylessRejected { .. }
                | VerifyError::ReferrerRejected { .. } => {
                    let how = if keyless {
                        "`cosign sign --recursive`, keyless,"
                    } else {
                        "`cosign sign --recursive --key`"
                    };
                    format!(
                        "sign the {platform} manifest too ({how} signs the index and every platform manifest); accepted signers: {signers}"
                    )
                }
                inner => match self.fix_for(inner) {
                    fix if fix.is_empty() => fix,
                    fix => format!("for the {platform} manifest: {fix}"),
                },
            },
            VerifyError::PlatformMissing { platform, .. }
            | VerifyError::PlatformAmbiguous { platform, .. } => format!(
                "push the image for {platform}, or correct spec.authorities.platforms (os/architecture[/variant])"
            ),
            VerifyError::KeylessRejected { .. }
            | VerifyError::ReferrerRejected { .. }
            | VerifyError::NoSignatureIn { .. }
            | VerifyError::NoSignature { .. }
                if keyless =>
            {
                format!(
                    "sign the image keyless (`cosign sign`) as one of the accepted identities ({signers})"
                )
            }
            VerifyError::AttestationNotFound { .. }
            | VerifyError::KeylessAttestationRejected { .. }
                if keyless =>
            {
                format!(
                    "attach a matching attestation (`cosign attest`, keyless) signed as one of the accepted identities ({signers})"
                )
            }
            VerifyError::NoSignature { .. }
            | VerifyError::NoSignatureIn { .. }
            | VerifyError::ThresholdNotMet { .. }
            | VerifyError::SignatureInvalid { .. }
            | VerifyError::ReferrerOfAnother { .. } => {
                let threshold = match &self.requirement.authority {
                    Authority::Keys(r) => r.threshold,
                    Authority::Keyless(_) => 1,
                };
                format!(
                    "sign the image with {threshold} of the trusted keys ({signers}): `portcullis sign` or `cosign sign --key`"
                )
            }
            VerifyError::AttestationMissing { .. }
            | VerifyError::AttestationNotFound { .. }
            | VerifyError::ConditionFailed { .. }
            | VerifyError::SubjectMismatch { .. } => {
                format!(
                    "attach a matching attestation signed by a trusted key ({signers}): `cosign attest --key`"
                )
            }
            VerifyError::DigestMismatch { .. } => "re-sign the image after pushing it".into(),
            VerifyError::Registry {
                source: portcullis_verifier_types::RegistryError::Unauthorized { .. },
                ..
            } => "give the workload a pull secret that this registry accepts (with --pod-pull-secrets) or the webhook a --registry-config".into(),
            VerifyError::Registry {
                source: portcullis_verifier_types::RegistryError::Paused { left_ms, .. },
                ..
            } => format!(
                "retry in {} s, when the registry's rate-limit pause ends",
                left_ms.div_ceil(1000)
            ),
            e if e.is_transient() => "retry; the registry could not be checked in time".into(),
            _ => String::new(),
        }
    }

    /// (path of the `image` field, image as written, pinned reference) for each covered,
    /// verified, unpinned image.
    pub(crate) fn pins_for(
        &self,
        w: &Workload<'_>,
        matcher: &Matcher,
        facts: &dyn ImageFacts,
    ) -> Vec<(FieldPath, String, String)> {
        let mut out = Vec::new();
        for c in self.targets(w, matcher) {
            let image = c.image();
            if !pinnable(image) {
                continue;
            }
            if let Some(v) = facts.verdict(image, &self.fingerprint)
                && let Ok(verified) = v.as_ref()
            {
                out.push((
                    c.path.key("image"),
                    image.to_string(),
                    format!("{image}@{}", verified.digest),
                ));
            }
        }
        out
    }
}

/// Whether pinning is possible for an image as written (no digest yet, parsable).
pub(crate) fn pinnable(image: &str) -> bool {
    ImageRef::from_str(image).is_ok_and(|r| r.digest().is_none())
}

/// The spec's platform rule: valid, distinct platform names, and `platformSignatures` only
/// beside them.
fn platform_rule(auth: &AuthoritiesSpec) -> Result<Option<PlatformRule>, ImagePolicyError> {
    if auth.platforms.is_empty() {
        return match auth.platform_signatures {
            Some(_) => Err(ImagePolicyError::PlatformSignaturesWithoutPlatforms),
            None => Ok(None),
        };
    }
    let mut platforms: Vec<Platform> = Vec::new();
    for (index, name) in auth.platforms.iter().enumerate() {
        let platform: Platform = name
            .parse()
            .map_err(|source| ImagePolicyError::Platform { index, source })?;
        if platforms.contains(&platform) {
            return Err(ImagePolicyError::DuplicatePlatform {
                index,
                platform: platform.to_string(),
            });
        }
        platforms.push(platform);
    }
    let signatures = match auth.platform_signatures.unwrap_or_default() {
        PlatformSignaturesSpec::IndexAndPlatforms => PlatformSignatures::IndexAndPlatforms,
        PlatformSignaturesSpec::IndexOrPlatforms => PlatformSignatures::IndexOrPlatforms,
    };
    Ok(Some(PlatformRule {
        platforms,
        signatures,
    }))
}

/// The spec's public keys, parsed and checked for duplicates.
fn keys(spec: &ClusterImagePolicySpec) -> Result<Vec<PublicKey>, ImagePolicyError> {
    let specs = &spec.authorities.keys;
    let mut keys: Vec<PublicKey> = Vec::new();
    for (index, k) in specs.iter().enumerate() {
        let key = PublicKey::from_pem(&k.pem, &format!("key {}", k.name)).map_err(|source| {
            ImagePolicyError::Key {
                index,
                name: k.name.clone(),
                source,
            }
        })?;
        if let Some(first) = keys.iter().position(|seen| seen.id() == key.id()) {
            return Err(ImagePolicyError::DuplicateKey {
                index,
                name: k.name.clone(),
                first: specs[first].name.clone(),
            });
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The spec's attestation requirements, conditions compiled.
fn attestations(
    spec: &ClusterImagePolicySpec,
) -> Result<Vec<AttestationRequirement>, ImagePolicyError> {
    let mut out = Vec::new();
    for (index, a) in spec.attestations.iter().enumerate() {
        let conditions = a
            .conditions
            .iter()
            .map(|c| Condition::compile(c.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ImagePolicyError::Condition {
                index,
                predicate_type: a.predicate_type.clone(),
                source,
            })?;
        out.push(AttestationRequirement {
            predicate_type: predicate_type_uri(&a.predicate_type).to_string(),
            conditions,
        });
    }
    Ok(out)
}

fn keyless_requirement(
    spec: &KeylessSpec,
    roots: &TrustRoots,
    attestations: Vec<AttestationRequirement>,
) -> Result<KeylessRequirement, ImagePolicyError> {
    let trusted_root = roots.get(&spec.trusted_root).cloned().ok_or_else(|| {
        ImagePolicyError::UnknownTrustedRoot {
            name: spec.trusted_root.clone(),
            known: if roots.is_empty() {
                "none".into()
            } else {
                roots.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        }
    })?;
    if spec.identities.is_empty() {
        return Err(ImagePolicyError::NoIdentities);
    }
    let identities = spec
        .identities
        .iter()
        .enumerate()
        .map(|(index, id)| {
            identity(id).map_err(|message| ImagePolicyError::Identity { index, message })
        })
        .collect::<Result<_, _>>()?;
    Ok(KeylessRequirement {
        trusted_root,
        identities,
        attestations,
    })
}

/// One identity: exactly one of each exact/regexp pair, known claim names.
fn identity(spec: &IdentitySpec) -> Result<Identity, String> {
    let matcher = |field: &str, exact: &Option<String>, re: &Option<String>| match (exact, re) {
        (Some(_), Some(_)) => Err(format!("set {field} or {field}RegExp, not both")),
        (None, None) => Err(format!("{field} or {field}RegExp is required")),
        (Some(e), None) => Ok(StringMatcher::exact(e.as_str())),
        (None, Some(r)) => StringMatcher::regex(r).map_err(|e| format!("{field}RegExp {r:?}: {e}")),
    };
    let subject = matcher("subject", &spec.subject, &spec.subject_regexp)?;
    let issuer = matcher("issuer", &spec.issuer, &spec.issuer_regexp)?;
    let mut identity = Identity::new(subject, Some(issuer));
    for (name, value) in &spec.claims {
        let claim = Claim::from_name(name).ok_or_else(|| {
            format!(
                "claims: unknown Fulcio extension {name:?} (e.g. source-repository-uri, github-workflow-trigger, build-signer-uri)"
            )
        })?;
        identity = identity.with_claim(claim, StringMatcher::exact(value.as_str()));
    }
    Ok(identity)
}
