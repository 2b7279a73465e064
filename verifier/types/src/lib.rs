//! The values of image verification, without any of its I/O: what an image must satisfy
//! ([`Authority`]: a [`KeyRequirement`] or a [`KeylessRequirement`], with attestation
//! [`Condition`]s), what verification proved or why it failed ([`Verdict`], [`VerifyError`]),
//! image references ([`ImageRef`], [`Digest`]), trusted public keys ([`PublicKey`]) and the parsed
//! offline trust material of keyless signing ([`keyless::TrustedRoot`]).
//!
//! It exists so the policy engine (`portcullis-policies`) can build requirements and read
//! verdicts while linking no HTTP client, async runtime or cache: it depends only on parsers and
//! pure crypto (serde, jsonpath-rust, regex, x509-parser, p256/p384, sha2). Talking to registries,
//! caching verdicts, checking signatures, log entries and timestamps, and cosign's file formats
//! stay in `portcullis-verifier`, which re-exports everything here. A test
//! (`policies/tests/purity.rs`) keeps I/O crates out of this crate's and the engine's dependency
//! trees.

pub mod authority;
pub mod condition;
pub mod error;
pub mod keyless;
pub mod keys;
pub mod platform;
pub mod reference;
pub mod requirement;

pub use authority::Authority;
pub use condition::{Condition, ConditionError, ConditionFailure, ConditionSpec, Operator};
pub use error::{RegistryError, VerifyError};
pub use keyless::KeylessRequirement;
pub use keys::{KeyError, PublicKey};
pub use platform::{ImageRequirement, Platform, PlatformError, PlatformRule, PlatformSignatures};
pub use reference::{Digest, ImageRef, ReferenceError};
pub use requirement::{
    AttestationRequirement, KeyRequirement, SignatureFormat, Verdict, Verified,
    VerifiedAttestation, predicate_type_uri,
};
