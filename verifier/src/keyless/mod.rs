//! Keyless verification: signatures made with short-lived Fulcio certificates, whose time of
//! signing is proven by a Rekor transparency log, checked against an offline `trusted_root.json`.
//!
//! The flow, for both cosign's classic `.sig` layers ([`classic`]) and Sigstore bundles
//! ([`bundle`], [`bundle_verify`]):
//! 1. the log entry proves *when* the signature existed: a SignedEntryTimestamp over the entry
//!    ([`rekor`]) and/or an RFC 6962 inclusion proof ([`merkle`]) to a signed checkpoint
//!    ([`checkpoint`]), by a log the trusted root names ([`trust`]); a bundle's RFC 3161
//!    timestamps ([`tsa`]) are further trusted times, each verified against the root's timestamp
//!    authorities. A Rekor v2 entry (`rekor_v2`) has no SET and no integrated time: its
//!    inclusion proof and checkpoint prove it was logged, its timestamps alone when;
//! 2. the logged body must be *this* signature, certificate and content ([`rekor`]);
//! 3. the certificate chains to a trusted Fulcio CA, all of it valid at the log's time (and at
//!    every verified timestamp's time), and is for code signing ([`cert`]); when the trusted
//!    root names CT logs, it must carry an embedded SCT from one of them ([`sct`]);
//! 4. the signature verifies with the certificate's key ([`pkix`]);
//! 5. the certificate's identity (SAN + OIDC issuer + optional claims) matches policy
//!    ([`identity`]).
//!
//! It deliberately does not go online (no Rekor lookups, no TUF refresh): an entry without its
//! log proof fails closed. SCTs are required exactly when the trusted root has `ctlogs`, and
//! timestamps are checked exactly when it has `timestampAuthorities` (a root without them has
//! nothing to check them against; the log's time is required either way). Signatures and
//! attestations are found in cosign's classic tags and as OCI referrers ([`discovery`],
//! [`attest`]). Not done yet: detached SCTs. It sits beside `key_signatures` (signatures by
//! trusted keys) in the verifier: the policy engine supplies a [`KeylessRequirement`], the
//! webhook a deadline.

pub mod attest;
pub mod bundle;
pub mod bundle_verify;
pub mod checkpoint;
pub mod classic;
mod der;
pub mod discovery;
mod json;
pub mod merkle;
pub mod rekor;
mod rekor_v2;
mod root_file;
pub mod sct;
pub mod tsa;
mod tsa_token;

// The parsed values (requirements, identities, trusted roots, certificates, keys) and the
// rejection reasons are the types crate's, so the policy engine can use them without linking
// this crate's registry client.
pub use portcullis_verifier_types::keyless::{
    CertError, CertIdentity, Certificate, Claim, Identity, IdentityMismatch, KeylessError,
    KeylessRequirement, PkixError, StringMatcher, TrustError, TrustedRoot, VerificationKey, cert,
    claims, errors, identity, parse_rfc3339, pem, pem_blocks, pkix, rfc3339, trust,
};

pub use bundle::{Bundle, BundleError};
pub use bundle_verify::{VerifiedBundle, verify_bundle, verify_bundle_with_key};
pub use classic::{KeylessSignature, verify_signature_layers};
pub use discovery::verify_keyless_digest;
pub use merkle::MerkleError;
pub use rekor::RekorError;
pub use root_file::TrustedRootFile;
pub use sct::SctError;
pub use tsa::{TimestampError, VerifiedTimestamp};

/// Layer annotation holding the signer's PEM certificate.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation holding the PEM chain (intermediates, root).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Layer annotation holding the Rekor bundle (SET + entry).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

fn malformed(what: &str, cause: impl std::fmt::Display) -> KeylessError {
    KeylessError::Malformed {
        what: what.into(),
        cause: cause.to_string(),
    }
}
