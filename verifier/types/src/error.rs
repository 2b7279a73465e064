//! Typed verification failures. Each variant names its cause and the image it concerns, so the
//! webhook can turn it into a deny reason a human can act on without reading logs.
//!
//! Errors are `Clone` because verdicts (including failures) are cached and shared between
//! concurrent admissions of the same image.

use serde::Serialize;

use crate::condition::ConditionFailure;
use crate::keyless::KeylessError;
use crate::platform::PlatformSignatures;

/// What the platform rule asked for, for [`VerifyError::PlatformNotVerified`].
fn platform_rule_said(signatures: PlatformSignatures) -> &'static str {
    match signatures {
        PlatformSignatures::IndexAndPlatforms => {
            " (the policy requires the index and every listed platform manifest to verify)"
        }
        PlatformSignatures::IndexOrPlatforms => {
            ", nor is the index (the policy accepts a verified index or else every listed platform manifest verified)"
        }
    }
}

/// Why a registry request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum RegistryError {
    #[error("registry {registry} unreachable: {cause}")]
    Unreachable { registry: String, cause: String },
    #[error(
        "registry {registry} answered {status} after {tries} tries (rate limited or unavailable)"
    )]
    Throttled {
        registry: String,
        status: u16,
        tries: u32,
    },
    #[error(
        "registry {registry} refused access to {repository} ({status}): check the pull secret / registry config"
    )]
    Unauthorized {
        registry: String,
        repository: String,
        status: u16,
    },
    #[error("registry {registry}: {what} not found")]
    NotFound { registry: String, what: String },
    #[error("registry {registry}: {what}: {cause}")]
    Protocol {
        registry: String,
        what: String,
        cause: String,
    },
    #[error(
        "registry {registry} is plain HTTP and not in the allowed list (use --allow-http-registry)"
    )]
    InsecureNotAllowed { registry: String },
    #[error("deadline exceeded while talking to registry {registry} ({what})")]
    Deadline { registry: String, what: String },
    /// Every request to the registry waits out its rate-limit pause, and this one ends past the
    /// caller's deadline.
    #[error(
        "registry {registry} answered {status} (rate limited): requests to it are paused for {left_ms} ms more, past the deadline"
    )]
    Paused {
        registry: String,
        status: u16,
        left_ms: u64,
    },
}

/// Why an image failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum VerifyError {
    /// No signature in the classic tag `tag` (the verifier now reports [`Self::NoSignatureIn`],
    /// which names every place looked; kept for callers that build verdicts themselves).
    #[error("{image}: no signature found (looked for tag {tag})")]
    NoSignature { image: String, tag: String },
    #[error(
        "{image}: signed by {valid} of the {threshold} required trusted key(s) ({found} signature(s) found)"
    )]
    ThresholdNotMet {
        image: String,
        found: usize,
        valid: usize,
        threshold: usize,
    },
    #[error(
        "{image}: signature payload is for digest {signed}, not {actual} (image re-pushed after signing?)"
    )]
    DigestMismatch {
        image: String,
        signed: String,
        actual: String,
    },
    #[error("{image}: malformed {what}: {cause}")]
    Malformed {
        image: String,
        what: String,
        cause: String,
    },
    /// No attestation of the type signed by a trusted key (the verifier now reports
    /// [`Self::AttestationNotFound`], which names every place looked).
    #[error("{image}: no attestation of type {predicate_type} signed by a trusted key")]
    AttestationMissing {
        image: String,
        predicate_type: String,
    },
    #[error("{image}: {predicate_type} attestation is about {subjects}, not {actual}")]
    SubjectMismatch {
        image: String,
        predicate_type: String,
        subjects: String,
        actual: String,
    },
    #[error("{image}: {predicate_type} attestation condition failed: {failure}")]
    ConditionFailed {
        image: String,
        predicate_type: String,
        failure: ConditionFailure,
    },
    #[error("{image}: {source}")]
    Registry {
        image: String,
        #[source]
        source: RegistryError,
    },
    #[error("{image}: verification did not finish within {budget_ms} ms (registry {registry})")]
    Deadline {
        image: String,
        registry: String,
        budget_ms: u64,
    },
    /// No signature in any of the places looked at (the `.sig` tag, the referrers API or its
    /// fallback tag, each with the media type looked for), key-based or keyless.
    #[error("{image}: no signature found (looked in {looked})")]
    NoSignatureIn { image: String, looked: String },
    /// No attestation of the type in any of the places looked at, key-based or keyless.
    #[error("{image}: no {predicate_type} attestation by an accepted signer (looked in {looked})")]
    AttestationNotFound {
        image: String,
        predicate_type: String,
        looked: String,
    },
    /// Keyless: no signature verified, and the one that got furthest was a referrer bundle.
    #[error("{image}: no valid keyless signature ({found} found): referrer {referrer}: {source}")]
    ReferrerRejected {
        image: String,
        found: usize,
        referrer: String,
        #[source]
        source: Box<KeylessError>,
    },
    /// Keyless: the attestation of the type that got furthest (named by where it was) failed.
    #[error("{image}: {predicate_type} attestation in {at} rejected: {source}")]
    KeylessAttestationRejected {
        image: String,
        predicate_type: String,
        at: String,
        #[source]
        source: Box<KeylessError>,
    },
    /// A signature (or attestation) names a trusted key as its signer (a bundle's key hint) but
    /// does not verify with it: altered after signing.
    #[error(
        "{image}: {what} in {at} names trusted key {key} but does not verify with it (altered after signing?)"
    )]
    SignatureInvalid {
        image: String,
        what: String,
        at: String,
        key: String,
    },
    /// Nothing signed the image, and a referrer listed for it names another image as its
    /// subject (copied from another image's listing): never used for this one.
    #[error(
        "{image}: no signature found; referrer {at} is listed for {actual} but its subject is {subject} (copied from another image?)"
    )]
    ReferrerOfAnother {
        image: String,
        at: String,
        subject: String,
        actual: String,
    },
    /// An index's platform manifest did not verify as the policy's platform rule requires;
    /// `source` is that manifest's own failure (it names the manifest by digest).
    #[error(
        "{image}: platform {platform} manifest {digest} is not verified{}: {source}",
        platform_rule_said(*signatures)
    )]
    PlatformNotVerified {
        image: String,
        platform: String,
        digest: String,
        signatures: PlatformSignatures,
        #[source]
        source: Box<VerifyError>,
    },
    /// The policy names a platform the index has no manifest for.
    #[error(
        "{image}: the image index has no manifest for platform {platform} (it has {available}); the policy requires one"
    )]
    PlatformMissing {
        image: String,
        platform: String,
        available: String,
    },
    /// The policy names a platform without a variant, and the index has several variants of it.
    #[error(
        "{image}: platform {platform} matches {count} manifests of the image index ({available}); name the variant in the policy"
    )]
    PlatformAmbiguous {
        image: String,
        platform: String,
        count: usize,
        available: String,
    },
    /// No keyless signature verified; `source` is the failure of the signature that got
    /// furthest (see [`KeylessError::progress`]).
    #[error("{image}: no valid keyless signature ({found} with a certificate found): {source}")]
    KeylessRejected {
        image: String,
        found: usize,
        #[source]
        source: KeylessError,
    },
}

impl VerifyError {
    /// A short stable name for metrics and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::NoSignature { .. } => "no-signature",
            VerifyError::ThresholdNotMet { .. } => "no-trusted-key",
            VerifyError::DigestMismatch { .. } => "digest-mismatch",
            VerifyError::Malformed { .. } => "malformed",
            VerifyError::AttestationMissing { .. } => "attestation-missing",
            VerifyError::SubjectMismatch { .. } => "subject-mismatch",
            VerifyError::ConditionFailed { .. } => "condition-failed",
            VerifyError::Registry { source, .. } => match source {
                RegistryError::Unreachable { .. } => "registry-unreachable",
                RegistryError::Throttled { .. } | RegistryError::Paused { .. } => {
                    "registry-throttled"
                }
                RegistryError::Unauthorized { .. } => "registry-unauthorized",
                RegistryError::NotFound { .. } => "not-found",
                RegistryError::Protocol { .. } => "registry-protocol",
                RegistryError::InsecureNotAllowed { .. } => "registry-insecure",
                RegistryError::Deadline { .. } => "deadline",
            },
            VerifyError::Deadline { .. } => "deadline",
            VerifyError::KeylessRejected { source, .. } => source.code(),
            VerifyError::ReferrerRejected { source, .. }
            | VerifyError::KeylessAttestationRejected { source, .. } => source.code(),
            VerifyError::NoSignatureIn { .. } => "no-signature",
            VerifyError::SignatureInvalid { .. } => "signature-invalid",
            VerifyError::ReferrerOfAnother { .. } => "referrer-of-another",
            VerifyError::AttestationNotFound { .. } => "attestation-missing",
            VerifyError::PlatformNotVerified { source, .. } => source.code(),
            VerifyError::PlatformMissing { .. } => "platform-missing",
            VerifyError::PlatformAmbiguous { .. } => "platform-ambiguous",
        }
    }

    /// Whether the failure says something about the image (cacheable for the negative TTL) rather
    /// than about the path to the registry.
    pub fn is_transient(&self) -> bool {
        match self {
            VerifyError::Registry { .. } | VerifyError::Deadline { .. } => true,
            VerifyError::PlatformNotVerified { source, .. } => source.is_transient(),
            _ => false,
        }
    }
}
