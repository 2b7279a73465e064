//! Sigstore bundles, the self-contained signature format of `cosign sign-blob --bundle`,
//! `cosign attest --new-bundle-format` and sigstore-go/-python: v0.1, v0.2 and v0.3
//! (`application/vnd.dev.sigstore.bundle…`), plus cosign's older blob bundle
//! (`{base64Signature, cert, rekorBundle}`), parsed into one decoded [`Bundle`].
//!
//! Parsing checks the shape each version promises: v0.1 entries carry a SET (inclusion
//! promise); v0.2 and later entries carry an inclusion proof with a checkpoint; v0.3 names the
//! leaf certificate alone. What the bundle proves is decided by [`super::bundle_verify`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::json::{RawBundle, RawLegacy};
use crate::cosign::dsse::Envelope;

pub use portcullis_verifier_types::keyless::errors::{BundleError, BundleVersion};

pub const MEDIA_TYPE_V01: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
pub const MEDIA_TYPE_V02: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";
pub const MEDIA_TYPE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const MEDIA_TYPE_V03_ALT: &str = "application/vnd.dev.sigstore.bundle+json;version=0.3";

/// Who signed: a certificate (keyless) or a key known out of band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// DER of the leaf certificate.
    Certificate(Vec<u8>),
    /// A public-key hint; the key must be supplied by the verifier.
    PublicKey { hint: String },
}

/// What was signed.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A signature over an artifact, with its digest when the bundle records it.
    MessageSignature {
        digest: Option<(String, Vec<u8>)>,
        signature: Vec<u8>,
    },
    Dsse(Envelope),
}

/// An RFC 6962 inclusion proof with its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub log_index: u64,
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    pub hashes: Vec<[u8; 32]>,
    pub checkpoint: String,
}

/// One transparency-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    pub log_index: i64,
    pub log_id: Vec<u8>,
    pub kind: String,
    pub version: String,
    pub integrated_time: i64,
    /// The SignedEntryTimestamp (inclusion promise).
    pub set: Option<Vec<u8>>,
    pub proof: Option<InclusionProof>,
    /// Base64 of the canonical body, as the SET signs it.
    pub body_b64: String,
    pub body: Vec<u8>,
}

/// A decoded bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub version: BundleVersion,
    pub signer: Signer,
    pub tlog_entries: Vec<TlogEntry>,
    pub content: Content,
    /// Whether RFC 3161 timestamps are present.
    pub has_timestamps: bool,
    /// The DER of each RFC 3161 signed timestamp (`TimeStampResp`), verified by
    /// [`super::tsa`].
    pub timestamps: Vec<Vec<u8>>,
}

fn b64(field: &str, text: &str) -> Result<Vec<u8>, BundleError> {
    B64.decode(text.trim()).map_err(|e| BundleError::Invalid {
        field: field.into(),
        cause: e.to_string(),
    })
}

fn hash32(field: &str, text: &str) -> Result<[u8; 32], BundleError> {
    b64(field, text)?
        .try_into()
        .map_err(|_| BundleError::Invalid {
            field: field.into(),
            cause: "not a 32-byte SHA-256 hash".into(),
        })
}

fn nonneg(field: &str, n: i64) -> Result<u64, BundleError> {
    u64::try_from(n).map_err(|_| BundleError::Invalid {
        field: field.into(),
        cause: format!("{n} is negative"),
    })
}

// === impl Bundle ===

impl Bundle {
    /// Parses a Sigstore bundle (v0.1–v0.3) or a cosign legacy blob bundle.
    pub fn from_json(bytes: &[u8]) -> Result<Self, BundleError> {
        let json = |e: serde_json::Error| BundleError::Json {
            cause: e.to_string(),
        };
        let probe: serde_json::Value = serde_json::from_slice(bytes).map_err(json)?;
        if probe.get("mediaType").is_none() && probe.get("base64Signature").is_some() {
            return Self::from_legacy(serde_json::from_value(probe).map_err(json)?);
        }
        let raw: RawBundle = serde_json::from_value(probe).map_err(json)?;
        let version = match raw.media_type.as_str() {
            MEDIA_TYPE_V01 => BundleVersion::V01,
            MEDIA_TYPE_V02 => BundleVersion::V02,
            MEDIA_TYPE_V03 | MEDIA_TYPE_V03_ALT => BundleVersion::V03,
            other => {
                return Err(BundleError::MediaType {
                    media_type: other.into(),
                });
            }
        };
        let missing = |field: &str| BundleError::Missing {
            version,
            field: field.into(),
        };
        let m = raw.verification_material;
        let signer = if let Some(c) = m.certificate {
            Signer::Certificate(b64("certificate.rawBytes", &c.raw_bytes)?)
        } else if let Some(first) = m
            .x509_certificate_chain
            .and_then(|c| c.certificates.into_iter().next())
        {
            Signer::Certificate(b64(
                "x509CertificateChain.certificates[0]",
                &first.raw_bytes,
            )?)
        } else if let Some(k) = m.public_key {
            Signer::PublicKey { hint: k.hint }
        } else {
            return Err(missing(
                "verificationMaterial.certificate / x509CertificateChain / publicKey",
            ));
        };
        let mut tlog_entries = Vec::with_capacity(m.tlog_entries.len());
        for e in m.tlog_entries {
            if version == BundleVersion::V01 && e.inclusion_promise.is_none() {
                return Err(missing("tlogEntries[].inclusionPromise"));
            }
            if version >= BundleVersion::V02 && e.inclusion_proof.is_none() {
                return Err(missing("tlogEntries[].inclusionProof"));
            }
            let proof = match e.inclusion_proof {
                None => None,
                Some(p) => Some(InclusionProof {
                    log_index: nonneg("inclusionProof.logIndex", p.log_index)?,
                    tree_size: nonneg("inclusionProof.treeSize", p.tree_size)?,
                    root_hash: hash32("inclusionProof.rootHash", &p.root_hash)?,
                    hashes: p
                        .hashes
                        .iter()
                        .map(|h| hash32("inclusionProof.hashes[]", h))
                        .collect::<Result<_, _>>()?,
                    checkpoint: p
                        .checkpoint
                        .map(|c| c.envelope)
                        .ok_or_else(|| missing("inclusionProof.checkpoint"))?,
                }),
            };
            tlog_entries.push(TlogEntry {
                log_index: e.log_index,
                log_id: b64("logId.keyId", &e.log_id.key_id)?,
                kind: e.kind_version.kind,
                version: e.kind_version.version,
                integrated_time: e.integrated_time,
                set: e
                    .inclusion_promise
                    .map(|p| {
                        b64(
                            "inclusionPromise.signedEntryTimestamp",
                            &p.signed_entry_timestamp,
                        )
                    })
                    .transpose()?,
                proof,
                body: b64("canonicalizedBody", &e.canonicalized_body)?,
                body_b64: e.canonicalized_body,
            });
        }
        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(ms), None) => Content::MessageSignature {
                digest: ms
                    .message_digest
                    .map(|d| {
                        Ok::<_, BundleError>((d.algorithm, b64("messageDigest.digest", &d.digest)?))
                    })
                    .transpose()?,
                signature: b64("messageSignature.signature", &ms.signature)?,
            },
            (None, Some(env)) => Content::Dsse(env),
            _ => return Err(missing("exactly one of messageSignature and dsseEnvelope")),
        };
        let has_timestamps = m.timestamp_verification_data.is_some();
        let timestamps = m
            .timestamp_verification_data
            .map(|t| t.rfc3161_timestamps)
            .unwrap_or_default()
            .iter()
            .map(|t| b64("rfc3161Timestamps[].signedTimestamp", &t.signed_timestamp))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            version,
            signer,
            tlog_entries,
            content,
            has_timestamps,
            timestamps,
        })
    }

    fn from_legacy(raw: RawLegacy) -> Result<Self, BundleError> {
        let version = BundleVersion::CosignLegacy;
        let signer = match raw.cert {
            Some(cert) => {
                let pem =
                    String::from_utf8(b64("cert", &cert)?).map_err(|e| BundleError::Invalid {
                        field: "cert".into(),
                        cause: e.to_string(),
                    })?;
                let der = super::pem::decode_one(&pem, "CERTIFICATE").map_err(|cause| {
                    BundleError::Invalid {
                        field: "cert".into(),
                        cause,
                    }
                })?;
                Signer::Certificate(der)
            }
            None => Signer::PublicKey {
                hint: String::new(),
            },
        };
        let tlog_entries = match raw.rekor_bundle {
            None => Vec::new(),
            Some(rb) => vec![TlogEntry {
                log_index: rb.payload.log_index,
                log_id: hex::decode(&rb.payload.log_id).map_err(|e| BundleError::Invalid {
                    field: "rekorBundle.Payload.logID".into(),
                    cause: e.to_string(),
                })?,
                kind: String::new(),
                version: String::new(),
                integrated_time: rb.payload.integrated_time,
                set: Some(b64(
                    "rekorBundle.SignedEntryTimestamp",
                    &rb.signed_entry_timestamp,
                )?),
                proof: None,
                body: b64("rekorBundle.Payload.body", &rb.payload.body)?,
                body_b64: rb.payload.body,
            }],
        };
        Ok(Self {
            version,
            signer,
            tlog_entries,
            content: Content::MessageSignature {
                digest: None,
                signature: b64("base64Signature", &raw.base64_signature)?,
            },
            has_timestamps: false,
            timestamps: Vec::new(),
        })
    }
}
