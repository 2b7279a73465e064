//! The JSON shapes of Sigstore bundles, exactly as serialised (protobuf JSON: camelCase
//! names, int64 as strings, bytes as base64): bundles v0.1–v0.3, and cosign's legacy blob
//! bundle (`trusted_root.json`'s shapes, and the bytes, chain and log id shapes both share, are
//! beside its parser in `portcullis-verifier-types`).
//!
//! Only [`super::bundle`] reads these: they decode and validate them into
//! their own types, so nothing else ever sees undecoded base64 or a stringly-typed integer.

use serde::{Deserialize, Deserializer};

use super::rekor::RekorBundle;
use crate::cosign::dsse::Envelope;
pub(super) use portcullis_verifier_types::keyless::root_json::{RawBytes, RawChain, RawLogId};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawBundle {
    pub(super) media_type: String,
    pub(super) verification_material: RawMaterial,
    pub(super) message_signature: Option<RawMessageSignature>,
    pub(super) dsse_envelope: Option<Envelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawMaterial {
    pub(super) certificate: Option<RawBytes>,
    pub(super) x509_certificate_chain: Option<RawChain>,
    pub(super) public_key: Option<RawHint>,
    #[serde(default)]
    pub(super) tlog_entries: Vec<RawEntry>,
    pub(super) timestamp_verification_data: Option<RawTimestampData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawTimestampData {
    #[serde(default)]
    pub(super) rfc3161_timestamps: Vec<RawSignedTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawSignedTimestamp {
    pub(super) signed_timestamp: String,
}

#[derive(Deserialize)]
pub(super) struct RawHint {
    #[serde(default)]
    pub(super) hint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawEntry {
    #[serde(deserialize_with = "int64")]
    pub(super) log_index: i64,
    pub(super) log_id: RawLogId,
    pub(super) kind_version: RawKindVersion,
    #[serde(default, deserialize_with = "int64")]
    pub(super) integrated_time: i64,
    pub(super) inclusion_promise: Option<RawPromise>,
    pub(super) inclusion_proof: Option<RawProof>,
    pub(super) canonicalized_body: String,
}

#[derive(Deserialize)]
pub(super) struct RawKindVersion {
    pub(super) kind: String,
    pub(super) version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawPromise {
    pub(super) signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawProof {
    #[serde(deserialize_with = "int64")]
    pub(super) log_index: i64,
    pub(super) root_hash: String,
    #[serde(deserialize_with = "int64")]
    pub(super) tree_size: i64,
    #[serde(default)]
    pub(super) hashes: Vec<String>,
    pub(super) checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
pub(super) struct RawCheckpoint {
    pub(super) envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawMessageSignature {
    pub(super) message_digest: Option<RawDigest>,
    pub(super) signature: String,
}

#[derive(Deserialize)]
pub(super) struct RawDigest {
    pub(super) algorithm: String,
    pub(super) digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawLegacy {
    pub(super) base64_signature: String,
    pub(super) cert: Option<String>,
    pub(super) rekor_bundle: Option<RekorBundle>,
}

/// protobuf JSON writes int64 as a string; accept a number too.
pub(super) fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        N(i64),
        S(String),
    }
    match Int::deserialize(d)? {
        Int::N(n) => Ok(n),
        Int::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}
