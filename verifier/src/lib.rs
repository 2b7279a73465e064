//! Portcullis verifier: answers "is this image digest signed by a trusted key, and does its
//! provenance say what we require?".
//!
//! It reads cosign's classic formats from an OCI registry: `sha256-<hex>.sig` simple-signing
//! signatures and `sha256-<hex>.att` DSSE attestations carrying in-toto Statements, and it writes
//! them too (for `portcullis sign` / `attest`). Keyless signatures (Fulcio certificates dated by
//! a Rekor log) and Sigstore bundles are verified offline against a `trusted_root.json`
//! ([`keyless`]). Results are cached per (repository, digest, requirement) with
//! single-flight, so a burst of admissions for one new image makes one set of registry calls.
//!
//! It deliberately knows nothing of Kubernetes or HTTP servers: the policy engine decides *what*
//! to require ([`Authority`]: a key [`Requirement`] or a [`KeylessRequirement`]); the webhook
//! decides *when* (a deadline per call).

pub mod authority;
pub mod condition;
pub mod cosign;
pub mod error;
pub mod keyless;
pub mod keys;
pub mod reference;
pub mod registry;
pub mod requirement;
pub mod verifier;
mod verify;

pub use authority::Authority;
pub use condition::{Condition, ConditionFailure, ConditionSpec, Operator};
pub use error::{RegistryError, VerifyError};
pub use keyless::{KeylessRequirement, verify_keyless_digest};
pub use keys::{KeyError, PrivateKey, PublicKey};
pub use reference::{Digest, ImageRef, ReferenceError};
pub use registry::{Credentials, Mirror, RegistryClient, RegistryConfig};
pub use requirement::{
    AttestationRequirement, Requirement, Verdict, Verified, VerifiedAttestation, predicate_type_uri,
};
pub use verifier::{CacheConfig, CacheStats, Verifier};
pub use verify::verify_digest;
