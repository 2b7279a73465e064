//! Why each stage of keyless verification can fail: the transparency log entry ([`RekorError`]),
//! its inclusion proof ([`MerkleError`]), a bundle's shape ([`BundleError`]), RFC 3161 timestamps
//! ([`TimestampError`]) and embedded SCTs ([`SctError`]).
//!
//! They are values a verdict carries (and the policy engine reads), so they live with the other
//! verdict types; the stages that produce them are in `portcullis-verifier`'s `keyless` module.

use serde::Serialize;

use super::pkix::PkixError;
use super::rfc3339;

// === rekor ===

/// Why a log entry was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum RekorError {
    #[error("log id {log_id} is not a transparency log of the trusted root")]
    UnknownLog { log_id: String },
    #[error("log {log} is trusted {valid_for}, not at the entry's time {}", rfc3339(*.at))]
    LogNotValidAt {
        log: String,
        valid_for: String,
        at: i64,
    },
    #[error("signed entry timestamp does not verify with the key of log {log}")]
    BadSet { log: String },
    #[error("log {log}: {source}")]
    Key {
        log: String,
        #[source]
        source: PkixError,
    },
    #[error("malformed {what}: {cause}")]
    Malformed { what: String, cause: String },
    #[error("log entry kind {entry_kind} {version} is not supported")]
    UnsupportedKind { entry_kind: String, version: String },
    #[error(
        "log entry of {log} has no signed entry timestamp, so the log proves no time (Rekor v2), and the bundle has no RFC 3161 timestamp {why}"
    )]
    NoTrustedTime { log: String, why: String },
    #[error("logged {field} is {actual}, not {expected}")]
    BodyMismatch {
        field: String,
        expected: String,
        actual: String,
    },
}

// === merkle ===

/// Why an inclusion proof or checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum MerkleError {
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error(
        "audit path has {actual} hashes, a tree of size {size} needs {expected} for index {index}"
    )]
    WrongPathLength {
        index: u64,
        size: u64,
        expected: usize,
        actual: usize,
    },
    #[error("audit path leads to root {computed}, not the proof's root {expected}")]
    RootMismatch { expected: String, computed: String },
    #[error("malformed checkpoint: {cause}")]
    MalformedCheckpoint { cause: String },
    #[error(
        "checkpoint is for tree size {checkpoint} and root {checkpoint_root}, the proof for {proof} and {proof_root}"
    )]
    CheckpointMismatch {
        checkpoint: u64,
        proof: u64,
        checkpoint_root: String,
        proof_root: String,
    },
    #[error(
        "checkpoint of {origin} carries no signature by log {log} (signer name {name:?}, key id {key_id})"
    )]
    CheckpointUnsigned {
        origin: String,
        log: String,
        name: String,
        key_id: String,
    },
    #[error("checkpoint of {origin}: the signature by log {log} does not verify (note altered?)")]
    CheckpointBadSignature { origin: String, log: String },
    #[error("checkpoint origin {origin:?} is not log {log}'s ({expected:?})")]
    CheckpointOrigin {
        origin: String,
        log: String,
        expected: String,
    },
    #[error("checkpoint of log {log} cannot be checked: {source}")]
    CheckpointKey {
        log: String,
        #[source]
        source: PkixError,
    },
}

// === bundle ===

/// Why a bundle could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum BundleError {
    #[error("not a Sigstore or cosign bundle: {cause}")]
    Json { cause: String },
    #[error("bundle media type {media_type:?} is not v0.1, v0.2 or v0.3")]
    MediaType { media_type: String },
    #[error("bundle {version:?} lacks {field}")]
    Missing {
        version: BundleVersion,
        field: String,
    },
    #[error("bundle field {field} is not valid: {cause}")]
    Invalid { field: String, cause: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum BundleVersion {
    /// cosign's `{base64Signature, cert, rekorBundle}`.
    CosignLegacy,
    V01,
    V02,
    V03,
}

// === tsa ===

/// Why an RFC 3161 timestamp was rejected; `index` is its position in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TimestampError {
    #[error("timestamp {index}: not an RFC 3161 timestamp: {cause}")]
    Malformed { index: usize, cause: String },
    #[error("timestamp {index}: the TSA did not grant it (PKIStatus {status})")]
    NotGranted { index: usize, status: u8 },
    #[error("timestamp {index}: {what} algorithm {algorithm} is not supported")]
    UnsupportedAlgorithm {
        index: usize,
        what: String,
        algorithm: String,
    },
    #[error(
        "timestamp {index}: messageImprint is {actual}, not the {algorithm} of the bundle's signature ({expected})"
    )]
    ImprintMismatch {
        index: usize,
        algorithm: String,
        expected: String,
        actual: String,
    },
    #[error(
        "timestamp {index}: the signed messageDigest attribute is not the hash of the TSTInfo (token altered)"
    )]
    ContentAltered { index: usize },
    #[error(
        "timestamp {index}: signed by {signer}, which is not a timestamp authority of the trusted root"
    )]
    UntrustedSigner { index: usize, signer: String },
    #[error("timestamp {index}: signature does not verify with the key of {signer}")]
    BadSignature { index: usize, signer: String },
    #[error("timestamp {index}: signing certificate {signer} lacks the timeStamping key usage")]
    NotTimeStamping { index: usize, signer: String },
    #[error(
        "timestamp {index}: timestamp authority {tsa} is valid {valid_for}, not at genTime {}",
        rfc3339(*.gen_time)
    )]
    AuthorityNotValidAt {
        index: usize,
        tsa: String,
        valid_for: String,
        gen_time: i64,
    },
    #[error(
        "timestamp {index}: certificate {subject} is valid {} to {}, not at genTime {}",
        rfc3339(*.not_before), rfc3339(*.not_after), rfc3339(*.gen_time)
    )]
    CertificateNotValidAt {
        index: usize,
        subject: String,
        not_before: i64,
        not_after: i64,
        gen_time: i64,
    },
}

// === sct ===

/// Why a certificate's SCTs were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SctError {
    #[error(
        "{subject}: no embedded SCT, and the trusted root names CT logs (the certificate was not shown to be logged)"
    )]
    Missing { subject: String },
    #[error("{subject}: SCT list is malformed: {cause}")]
    Malformed { subject: String, cause: String },
    #[error("{subject}: no SCT is from a CT log of the trusted root (log ids {log_ids})")]
    UnknownLog { subject: String, log_ids: String },
    #[error(
        "{subject}: SCT by {log} does not verify over this certificate (TBS without the SCT list, issuer key hash)"
    )]
    BadSignature { subject: String, log: String },
    #[error("{subject}: SCT by {log} cannot be checked: {cause}")]
    Unverifiable {
        subject: String,
        log: String,
        cause: String,
    },
    #[error("{subject}: SCT by {log} is dated {}, outside the log's validity {valid_for}", rfc3339(*.at))]
    LogNotValidAt {
        subject: String,
        log: String,
        valid_for: String,
        at: i64,
    },
}
