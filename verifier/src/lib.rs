//! Portcullis verifier: answers "is this image digest signed by a trusted key, and does its
//! provenance say what we require?".
//!
//! It reads cosign's classic formats from an OCI registry (`sha256-<hex>.sig` simple-signing
//! signatures and `sha256-<hex>.att` DSSE attestations carrying in-toto Statements) and Sigstore
//! bundles attached as OCI referrers (cosign 3's format), for key-based and keyless authorities
//! alike; it writes the classic format (for `portcullis sign` / `attest`). Keyless signatures (Fulcio certificates dated by
//! a Rekor log) and Sigstore bundles are verified offline against a `trusted_root.json`
//! ([`keyless`]). Results are cached per (repository, digest, requirement) with
//! single-flight, so a burst of admissions for one new image makes one set of registry calls.
//!
//! It deliberately knows nothing of Kubernetes or HTTP servers: the policy engine decides *what*
//! to require ([`Authority`]: a [`KeyRequirement`] or a [`KeylessRequirement`]); the webhook
//! decides *when* (a deadline per call).

// `VerifyError` is 128 bytes: its largest variants carry a condition failure or a keyless
// rejection beside the image. Clippy measured the largest variant (120 bytes) while the type was
// defined in this crate and measures the whole type now that it is the types crate's; the type
// did not grow. Boxing those variants would change every match on them, for errors that are only
// built on the failure path.
#![allow(clippy::result_large_err)]

pub mod background;
pub mod cached;
pub mod cosign;
mod head_start;
mod key_attestations;
mod key_signatures;
pub mod keyless;
pub mod keys;
pub mod platforms;
pub mod registry;

// The values (references, requirements, verdicts, conditions, errors) live in
// `portcullis-verifier-types`, which the policy engine uses without linking any I/O.
pub use portcullis_verifier_types::{
    AttestationRequirement, KeyRequirement, SignatureFormat, Verdict, Verified,
    VerifiedAttestation, predicate_type_uri,
};
pub use portcullis_verifier_types::{
    Authority, Condition, ConditionFailure, ConditionSpec, Digest, ImageRef, ImageRequirement,
    KeylessRequirement, Operator, Platform, PlatformRule, PlatformSignatures, ReferenceError,
    RegistryError, VerifyError, authority, condition, error, platform, reference, requirement,
};

pub use background::{BackgroundConfig, BackgroundEvent, BackgroundObserver, BackgroundStats};
pub use cached::{CacheConfig, CacheStats, Verifier};
pub use key_signatures::verify_digest;
pub use keyless::verify_keyless_digest;
pub use keys::{KeyError, PrivateKey, PublicKey};
pub use registry::{Credentials, Mirror, RegistryClient, RegistryConfig};
