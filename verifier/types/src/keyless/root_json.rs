//! The JSON shape of `trusted_root.json`, exactly as serialised (protobuf JSON: camelCase names,
//! bytes as base64). Only [`super::trust`] reads it: it decodes and validates it into its own
//! types, so nothing else ever sees undecoded base64. The shapes a Sigstore bundle shares with
//! it (bytes, certificate chains, log ids) are public for the verifier's bundle parser.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawBytes {
    pub raw_bytes: String,
}

#[derive(Deserialize)]
pub struct RawChain {
    pub certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawLogId {
    pub key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawRoot {
    pub(super) media_type: String,
    #[serde(default)]
    pub(super) tlogs: Vec<RawLog>,
    #[serde(default)]
    pub(super) certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    pub(super) ctlogs: Vec<RawLog>,
    #[serde(default)]
    pub(super) timestamp_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawLog {
    #[serde(default)]
    pub(super) base_url: String,
    pub(super) public_key: RawKey,
    pub(super) log_id: RawLogId,
    /// Rekor v2: the C2SP signed-note key id of the log's checkpoints (same value as `logId`).
    #[serde(default)]
    pub(super) checkpoint_key_id: Option<RawLogId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawKey {
    pub(super) raw_bytes: String,
    #[serde(default)]
    pub(super) key_details: String,
    #[serde(default)]
    pub(super) valid_for: Option<RawValidFor>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawValidFor {
    pub(super) start: Option<String>,
    pub(super) end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawCa {
    #[serde(default)]
    pub(super) subject: RawSubject,
    #[serde(default)]
    pub(super) uri: String,
    pub(super) cert_chain: RawChain,
    #[serde(default)]
    pub(super) valid_for: Option<RawValidFor>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawSubject {
    #[serde(default)]
    pub(super) organization: String,
    #[serde(default)]
    pub(super) common_name: String,
}
