//! The offline trust anchor of keyless verification: a Sigstore `trusted_root.json`
//! (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`), parsed from its bytes (reading
//! the file is `portcullis-verifier`'s `TrustedRootFile::from_file`).
//!
//! It names the Fulcio certificate authorities (certificate chains with validity windows), the
//! Rekor transparency logs (public key, log id, validity), the certificate-transparency logs and
//! the timestamp authorities. Everything is parsed and checked once, at load: keys decode,
//! certificates parse, and each CA chain is internally signed (cert *i* by cert *i+1*). Nothing
//! here touches the network or refreshes itself from TUF; the operator ships the file.
//!
//! CT logs are used by `portcullis_verifier::keyless::sct`, timestamp authorities (certificate
//! chain, TSA leaf first) by `portcullis_verifier::keyless::tsa`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::cert::{CaCert, CertError};
use super::pkix::{PkixError, VerificationKey};
use super::rfc3339;
use super::root_json::{RawCa, RawLog, RawRoot, RawValidFor};

const MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.trustedroot";

/// Why a trusted root could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TrustError {
    #[error("trusted root {what}: cannot read: {cause}")]
    Read { what: String, cause: String },
    #[error("trusted root {what}: not a trusted_root.json: {cause}")]
    Json { what: String, cause: String },
    #[error("trusted root {what}: media type {media_type:?} is not {MEDIA_TYPE_PREFIX}+json")]
    MediaType { what: String, media_type: String },
    #[error("trusted root {what}: {entry}: {source}")]
    Key {
        what: String,
        entry: String,
        #[source]
        source: PkixError,
    },
    #[error("trusted root {what}: {entry}: {source}")]
    Certificate {
        what: String,
        entry: String,
        #[source]
        source: CertError,
    },
    #[error("trusted root {what}: {entry}: {field} {value:?} is not an RFC 3339 time")]
    Time {
        what: String,
        entry: String,
        field: String,
        value: String,
    },
    #[error("trusted root {what}: {entry}: {field} is not base64")]
    Base64 {
        what: String,
        entry: String,
        field: String,
    },
}

/// A validity window in Unix seconds; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ValidFor {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl ValidFor {
    pub fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t <= e)
    }
}

impl std::fmt::Display for ValidFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |t: Option<i64>| t.map_or_else(|| "…".to_string(), rfc3339);
        write!(f, "{} to {}", show(self.start), show(self.end))
    }
}

/// A transparency log (Rekor or CT) and the key it signs with.
#[derive(Debug, Clone)]
pub struct TransparencyLog {
    pub base_url: String,
    /// The log id (for Rekor v1 and CT: SHA-256 of the key's DER; for Rekor v2: the C2SP
    /// signed-note key id of its checkpoints, not truncated).
    pub log_id: Vec<u8>,
    /// Rekor v2's `checkpointKeyId`, when the trusted root states it.
    pub checkpoint_key_id: Option<Vec<u8>>,
    pub key: VerificationKey,
    pub valid_for: ValidFor,
}

impl TransparencyLog {
    /// The log's name in signed notes: its base URL without scheme or trailing slash
    /// (`https://log2025-1.rekor.sigstore.dev` → `log2025-1.rekor.sigstore.dev`); `None` for a
    /// log known only by its key ([`TrustedRoot::from_pem_parts`]), which has no URL.
    pub fn origin(&self) -> Option<&str> {
        let url = self.base_url.trim_end_matches('/');
        url.split_once("://")
            .map(|(_, rest)| rest)
            .filter(|r| !r.is_empty())
    }

    /// Whether `id` names this log (its log id or its checkpoint key id).
    pub fn has_id(&self, id: &[u8]) -> bool {
        self.log_id == id || self.checkpoint_key_id.as_deref() == Some(id)
    }
}

/// A certificate authority (Fulcio or a TSA): its chain, issuing certificate first.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    pub uri: String,
    /// `O=…, CN=…` from the trusted root, for messages.
    pub name: String,
    pub chain: Vec<CaCert>,
    pub valid_for: ValidFor,
}

/// A loaded, validated `trusted_root.json`.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    /// Where it came from (a path), for messages.
    pub source: String,
    /// Hex SHA-256 of the document (or PEM inputs) it was loaded from: keys verdict caches.
    pub fingerprint: String,
    pub tlogs: Vec<TransparencyLog>,
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub ctlogs: Vec<TransparencyLog>,
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

// === impl TrustedRoot ===

impl TrustedRoot {
    /// Parses and validates a `trusted_root.json` document; `what` names it in errors.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<Self, TrustError> {
        let raw: RawRoot = serde_json::from_slice(bytes).map_err(|e| TrustError::Json {
            what: what.into(),
            cause: e.to_string(),
        })?;
        if !raw.media_type.starts_with(MEDIA_TYPE_PREFIX) {
            return Err(TrustError::MediaType {
                what: what.into(),
                media_type: raw.media_type,
            });
        }
        let logs = |list: Vec<RawLog>, kind: &str| -> Result<Vec<TransparencyLog>, TrustError> {
            let ctx = Ctx { what };
            list.into_iter()
                .enumerate()
                .map(|(i, l)| ctx.log(l, &format!("{kind}[{i}]")))
                .collect()
        };
        let cas = |list: Vec<RawCa>, kind: &str| -> Result<Vec<CertificateAuthority>, TrustError> {
            let ctx = Ctx { what };
            list.into_iter()
                .enumerate()
                .map(|(i, c)| ctx.ca(c, &format!("{kind}[{i}]")))
                .collect()
        };
        Ok(Self {
            source: what.into(),
            fingerprint: hex::encode(Sha256::digest(bytes)),
            tlogs: logs(raw.tlogs, "tlogs")?,
            certificate_authorities: cas(raw.certificate_authorities, "certificateAuthorities")?,
            ctlogs: logs(raw.ctlogs, "ctlogs")?,
            timestamp_authorities: cas(raw.timestamp_authorities, "timestampAuthorities")?,
        })
    }

    /// A trusted root from PEM text, like cosign's `SIGSTORE_ROOT_FILE` and
    /// `SIGSTORE_REKOR_PUBLIC_KEY`: each CA text holds one chain (issuing certificate first),
    /// each log key is a PEM public key whose log id is the SHA-256 of its DER. Windows are
    /// unbounded; `source` names the inputs in errors.
    pub fn from_pem_parts(
        source: &str,
        ca_chains: &[&str],
        log_keys: &[&str],
    ) -> Result<Self, TrustError> {
        let mut root = Self {
            source: source.into(),
            fingerprint: {
                let mut h = Sha256::new();
                for part in ca_chains.iter().chain(log_keys) {
                    h.update(part.as_bytes());
                    h.update(b"\0");
                }
                hex::encode(h.finalize())
            },
            tlogs: Vec::new(),
            certificate_authorities: Vec::new(),
            ctlogs: Vec::new(),
            timestamp_authorities: Vec::new(),
        };
        for (i, pem) in log_keys.iter().enumerate() {
            let key = VerificationKey::from_pem(pem).map_err(|source| TrustError::Key {
                what: root.source.clone(),
                entry: format!("log key {i}"),
                source,
            })?;
            root.tlogs.push(TransparencyLog {
                base_url: format!("log key {i}"),
                log_id: key.id().to_vec(),
                checkpoint_key_id: None,
                key,
                valid_for: ValidFor::default(),
            });
        }
        for (i, pem) in ca_chains.iter().enumerate() {
            let entry = format!("CA {i}");
            let cert_err = |source| TrustError::Certificate {
                what: root.source.clone(),
                entry: entry.clone(),
                source,
            };
            let blocks =
                super::pem_blocks(pem).map_err(|cause| cert_err(CertError::Malformed { cause }))?;
            let chain = blocks
                .iter()
                .filter(|(label, _)| label == "CERTIFICATE")
                .map(|(_, der)| CaCert::from_der(der))
                .collect::<Result<Vec<_>, _>>()
                .map_err(cert_err)?;
            let Some(first) = chain.first() else {
                return Err(cert_err(CertError::Malformed {
                    cause: "no CERTIFICATE block".into(),
                }));
            };
            for pair in chain.windows(2) {
                pair[0].check_issued_by(&pair[1]).map_err(cert_err)?;
            }
            root.certificate_authorities.push(CertificateAuthority {
                uri: String::new(),
                name: first.subject.clone(),
                chain,
                valid_for: ValidFor::default(),
            });
        }
        Ok(root)
    }

    /// The Rekor log with this id (log id or checkpoint key id), if trusted.
    pub fn tlog(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.tlogs.iter().find(|l| l.has_id(log_id))
    }
}

struct Ctx<'a> {
    what: &'a str,
}

impl Ctx<'_> {
    fn b64(&self, text: &str, entry: &str, field: &str) -> Result<Vec<u8>, TrustError> {
        B64.decode(text.trim()).map_err(|_| TrustError::Base64 {
            what: self.what.into(),
            entry: entry.into(),
            field: field.into(),
        })
    }

    fn time(
        &self,
        value: Option<String>,
        entry: &str,
        field: &str,
    ) -> Result<Option<i64>, TrustError> {
        value
            .map(|v| {
                super::parse_rfc3339(&v).ok_or_else(|| TrustError::Time {
                    what: self.what.into(),
                    entry: entry.into(),
                    field: field.into(),
                    value: v.clone(),
                })
            })
            .transpose()
    }

    fn valid_for(&self, v: Option<RawValidFor>, entry: &str) -> Result<ValidFor, TrustError> {
        let v = v.unwrap_or_default();
        Ok(ValidFor {
            start: self.time(v.start, entry, "validFor.start")?,
            end: self.time(v.end, entry, "validFor.end")?,
        })
    }

    fn log(&self, raw: RawLog, entry: &str) -> Result<TransparencyLog, TrustError> {
        let der = self.b64(&raw.public_key.raw_bytes, entry, "publicKey.rawBytes")?;
        let details = raw.public_key.key_details.as_str();
        // ECDSA and Ed25519 keys are used; others load (and fail closed if ever used).
        let key = if details.is_empty()
            || details.starts_with("PKIX_ECDSA_")
            || details == "PKIX_ED25519"
        {
            VerificationKey::from_spki_der(&der).map_err(|source| TrustError::Key {
                what: self.what.into(),
                entry: format!("{entry} ({})", raw.base_url),
                source,
            })?
        } else {
            VerificationKey::from_spki_der(&der)
                .unwrap_or_else(|_| VerificationKey::unsupported(details, &der))
        };
        Ok(TransparencyLog {
            log_id: self.b64(&raw.log_id.key_id, entry, "logId.keyId")?,
            checkpoint_key_id: raw
                .checkpoint_key_id
                .map(|k| self.b64(&k.key_id, entry, "checkpointKeyId.keyId"))
                .transpose()?,
            valid_for: self.valid_for(raw.public_key.valid_for, entry)?,
            base_url: raw.base_url,
            key,
        })
    }

    fn ca(&self, raw: RawCa, entry: &str) -> Result<CertificateAuthority, TrustError> {
        let name = format!(
            "O={}, CN={}",
            raw.subject.organization, raw.subject.common_name
        );
        let cert_err = |source| TrustError::Certificate {
            what: self.what.into(),
            entry: format!("{entry} ({name})"),
            source,
        };
        let mut chain = Vec::with_capacity(raw.cert_chain.certificates.len());
        for (i, c) in raw.cert_chain.certificates.iter().enumerate() {
            let der = self.b64(&c.raw_bytes, entry, &format!("certChain.certificates[{i}]"))?;
            chain.push(CaCert::from_der(&der).map_err(cert_err)?);
        }
        if chain.is_empty() {
            return Err(cert_err(CertError::Malformed {
                cause: "empty certChain".into(),
            }));
        }
        for pair in chain.windows(2) {
            pair[0].check_issued_by(&pair[1]).map_err(cert_err)?;
        }
        Ok(CertificateAuthority {
            valid_for: self.valid_for(raw.valid_for, entry)?,
            uri: raw.uri,
            name,
            chain,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root with one Ed25519 log whose `logId` and `checkpointKeyId` differ.
    const ROOT: &str = r#"{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{"baseUrl": "https://log2026-1.rekor.example/", "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": "MCowBQYDK2VwAyEAPn+AREHoBaZ7wgS1zBqpxmLSGnyhxXj4lFxSdWVB8o8=",
                "keyDetails": "PKIX_ED25519", "validFor": {"start": "2025-01-01T00:00:00Z"}},
            "logId": {"keyId": "AQID"}, "checkpointKeyId": {"keyId": "BAUG"}}]}"#;

    #[test]
    fn rekor_v2_logs_are_found_by_log_id_or_checkpoint_key_id() {
        let root = TrustedRoot::from_json(ROOT.as_bytes(), "test").unwrap();
        let log = &root.tlogs[0];
        assert_eq!(log.key.algorithm(), "Ed25519");
        assert_eq!(log.origin(), Some("log2026-1.rekor.example"));
        assert!(root.tlog(&[1, 2, 3]).is_some());
        assert!(root.tlog(&[4, 5, 6]).is_some());
        assert!(root.tlog(&[7, 8, 9]).is_none());
        let bad = ROOT.replace("BAUG", "not base64!");
        assert!(matches!(
            TrustedRoot::from_json(bad.as_bytes(), "test"),
            Err(TrustError::Base64 { field, .. }) if field == "checkpointKeyId.keyId"
        ));
    }
}
