//! Signed Certificate Timestamps embedded in Fulcio leaves (X.509 extension
//! 1.3.6.1.4.1.11129.2.4.2): proof that the certificate was submitted to a certificate
//! transparency log the trusted root names, so a mis-issued certificate cannot stay hidden.
//!
//! An SCT verifies when its log id is the SHA-256 of the SPKI of a `ctlogs` key of the trusted
//! root, its timestamp falls inside that log's `validFor`, and its signature verifies over the
//! RFC 6962 §3.2 precertificate entry: the SHA-256 of the issuing CA's SPKI and the leaf's
//! TBSCertificate re-encoded without the SCT extension. At least one SCT must verify.
//!
//! Like cosign (which requires an SCT unless told otherwise), a trusted root that names CT logs
//! makes an SCT mandatory: a leaf without one, or with none that verifies, is rejected. A root
//! without `ctlogs` (e.g. one built from PEM roots and a Rekor key, or a private Sigstore
//! without CT) skips the check: there is no log to verify against. Detached SCTs are not read.

use sha2::{Digest as _, Sha256};

use super::cert::Certificate;
use super::der::{self, Reader};
use super::pkix::HashAlg;
use super::trust::{CertificateAuthority, TrustedRoot};

pub use portcullis_verifier_types::keyless::errors::SctError;

/// The SCT list extension's OID.
pub const OID_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

/// How far an SCT got: the most telling failure when several SCTs fail.
fn rank(e: &SctError) -> u8 {
    match e {
        SctError::Missing { .. } | SctError::Malformed { .. } => 0,
        SctError::UnknownLog { .. } => 1,
        SctError::Unverifiable { .. } => 2,
        SctError::LogNotValidAt { .. } => 3,
        SctError::BadSignature { .. } => 4,
    }
}

/// Checks the SCTs embedded in `leaf`, issued by a certificate of `ca` (the CA
/// [`Certificate::verify_leaf`] found), against the root's CT logs; returns the verifying log's
/// base URL, or `None` when the root names no CT logs (check skipped).
pub fn verify_embedded(
    leaf: &Certificate,
    ca: &CertificateAuthority,
    root: &TrustedRoot,
) -> Result<Option<String>, SctError> {
    if root.ctlogs.is_empty() {
        return Ok(None);
    }
    let subject = leaf.subject.clone();
    let malformed = |cause: String| SctError::Malformed {
        subject: subject.clone(),
        cause,
    };
    let issuer = leaf
        .issuing_cert(ca)
        .ok_or_else(|| malformed(format!("no certificate of {} issued it", ca.name)))?;
    let (list, tbs) = split_sct_list(leaf.der()).map_err(malformed)?;
    let Some(list) = list else {
        return Err(SctError::Missing {
            subject: subject.clone(),
        });
    };
    let issuer_key = issuer
        .key()
        .map_err(|e| malformed(format!("issuer key: {e}")))?;
    let issuer_key_hash: [u8; 32] = Sha256::digest(issuer_key.spki_der()).into();
    let scts = parse_list(&list).map_err(malformed)?;
    if scts.is_empty() {
        return Err(SctError::Missing {
            subject: subject.clone(),
        });
    }
    let mut best: Option<SctError> = None;
    for sct in &scts {
        match verify_one(sct, &subject, &issuer_key_hash, &tbs, root) {
            Ok(log) => return Ok(Some(log)),
            Err(e) => {
                if best.as_ref().is_none_or(|b| rank(&e) > rank(b)) {
                    best = Some(e);
                }
            }
        }
    }
    Err(match best {
        Some(SctError::UnknownLog { .. }) | None => SctError::UnknownLog {
            subject,
            log_ids: scts
                .iter()
                .map(|s| hex::encode(s.log_id))
                .collect::<Vec<_>>()
                .join(", "),
        },
        Some(e) => e,
    })
}

fn verify_one(
    sct: &Sct<'_>,
    subject: &str,
    issuer_key_hash: &[u8; 32],
    tbs: &[u8],
    root: &TrustedRoot,
) -> Result<String, SctError> {
    let log = root
        .ctlogs
        .iter()
        .find(|l| l.log_id == sct.log_id)
        .ok_or_else(|| SctError::UnknownLog {
            subject: subject.into(),
            log_ids: hex::encode(sct.log_id),
        })?;
    let name = log.base_url.clone();
    let unverifiable = |cause: String| SctError::Unverifiable {
        subject: subject.into(),
        log: name.clone(),
        cause,
    };
    if sct.version != 0 {
        return Err(unverifiable(format!("SCT version {}", sct.version)));
    }
    let hash = match sct.hash_alg {
        4 => HashAlg::Sha256,
        5 => HashAlg::Sha384,
        6 => HashAlg::Sha512,
        n => return Err(unverifiable(format!("hash algorithm {n}"))),
    };
    let at = i64::try_from(sct.timestamp_ms / 1000).unwrap_or(i64::MAX);
    if !log.valid_for.contains(at) {
        return Err(SctError::LogNotValidAt {
            subject: subject.into(),
            log: name,
            valid_for: log.valid_for.to_string(),
            at,
        });
    }
    let tbs_len = u32::try_from(tbs.len())
        .ok()
        .filter(|n| *n < 1 << 24)
        .ok_or_else(|| unverifiable("TBSCertificate over 16 MiB".into()))?;
    let ext_len = u16::try_from(sct.extensions.len())
        .map_err(|_| unverifiable("SCT extensions over 64 KiB".into()))?;
    // RFC 6962 §3.2 digitally-signed struct for a precert_entry.
    let mut msg = Vec::with_capacity(tbs.len() + 64);
    msg.push(0); // sct_version v1
    msg.push(0); // signature_type certificate_timestamp
    msg.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    msg.extend_from_slice(issuer_key_hash);
    msg.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
    msg.extend_from_slice(tbs);
    msg.extend_from_slice(&ext_len.to_be_bytes());
    msg.extend_from_slice(sct.extensions);
    match log.key.verify(&msg, sct.signature, hash) {
        Ok(true) => Ok(name),
        Ok(false) => Err(SctError::BadSignature {
            subject: subject.into(),
            log: name,
        }),
        Err(e) => Err(unverifiable(e.to_string())),
    }
}

/// The log ids of the SCTs embedded in the DER certificate `cert_der`, read as
/// [`verify_embedded`] reads them before checking any signature (`None` without an SCT list
/// extension). Public so the fuzz targets (`verifier/fuzz`) reach this parser of untrusted bytes.
pub fn embedded_log_ids(cert_der: &[u8]) -> Result<Option<Vec<Vec<u8>>>, String> {
    let (list, _tbs) = split_sct_list(cert_der)?;
    list.map(|list| list_log_ids(&list)).transpose()
}

/// The log ids of the SCTs in `list`, a TLS-encoded `SignedCertificateTimestampList` (RFC 6962
/// §3.3), as [`verify_embedded`] reads it. Public for the fuzz targets (`verifier/fuzz`).
pub fn list_log_ids(list: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    Ok(parse_list(list)?
        .iter()
        .map(|s| s.log_id.to_vec())
        .collect())
}

/// Splits a certificate into its SCT list (the TLS-encoded content, if the extension is present)
/// and its TBSCertificate re-encoded without that extension.
fn split_sct_list(cert_der: &[u8]) -> Result<(Option<Vec<u8>>, Vec<u8>), String> {
    let cert = der::read_one(cert_der, der::SEQUENCE, "Certificate")?;
    let tbs = Reader::new(cert.content).next_tagged(der::SEQUENCE, "TBSCertificate")?;
    let mut list = None;
    let mut fields = Vec::with_capacity(tbs.content.len());
    for field in Reader::new(tbs.content).items("TBSCertificate")? {
        if field.tag != 0xa3 {
            fields.extend_from_slice(field.raw);
            continue;
        }
        let exts = der::read_one(field.content, der::SEQUENCE, "extensions")?;
        let mut kept = Vec::with_capacity(exts.content.len());
        for ext in Reader::new(exts.content).items("extension")? {
            let mut e = Reader::new(ext.content);
            let oid = der::oid_string(e.next_tagged(der::OID, "extnID")?.content)?;
            if oid != OID_SCT_LIST {
                kept.extend_from_slice(ext.raw);
                continue;
            }
            if list.is_some() {
                return Err("two SCT list extensions".into());
            }
            e.optional(der::BOOLEAN, "critical")?;
            let value = e.next_tagged(der::OCTET_STRING, "extnValue")?;
            let inner = der::read_one(value.content, der::OCTET_STRING, "SCT list")?;
            list = Some(inner.content.to_vec());
        }
        fields.extend(der::encode(0xa3, &der::encode(der::SEQUENCE, &kept)?)?);
    }
    Ok((list, der::encode(der::SEQUENCE, &fields)?))
}

/// One SCT, as RFC 6962 §3.2 serialises it.
struct Sct<'a> {
    version: u8,
    log_id: &'a [u8],
    timestamp_ms: u64,
    extensions: &'a [u8],
    hash_alg: u8,
    signature: &'a [u8],
}

/// A TLS reader over big-endian length-prefixed fields.
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!(
                "truncated: {n} bytes wanted, {} left",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn vec16(&mut self) -> Result<&'a [u8], String> {
        let n = self.uint(2)? as usize; // two bytes: fits
        self.take(n)
    }
}

fn parse_list(list: &[u8]) -> Result<Vec<Sct<'_>>, String> {
    let mut outer = Tls(list);
    let mut items = Tls(outer.vec16()?);
    if !outer.0.is_empty() {
        return Err("trailing bytes after the SCT list".into());
    }
    let mut out = Vec::new();
    while !items.0.is_empty() {
        let mut s = Tls(items.vec16()?);
        let sct = Sct {
            version: s.take(1)?[0],
            log_id: s.take(32)?,
            timestamp_ms: s.uint(8)?,
            extensions: s.vec16()?,
            hash_alg: s.take(1)?[0],
            signature: {
                let _sig_alg = s.take(1)?;
                s.vec16()?
            },
        };
        if !s.0.is_empty() {
            return Err("trailing bytes after an SCT".into());
        }
        out.push(sct);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sct_lists_parse_and_truncations_fail() {
        let mut sct = vec![0u8];
        sct.extend([7u8; 32]);
        sct.extend(1_700_000_000_000u64.to_be_bytes());
        sct.extend([0, 0, 4, 3, 0, 2, 0xaa, 0xbb]);
        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend((sct.len() as u16).to_be_bytes());
        list.extend(&sct);
        let parsed = parse_list(&list).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].log_id, &[7u8; 32]);
        assert_eq!(parsed[0].timestamp_ms, 1_700_000_000_000);
        assert_eq!(
            (parsed[0].hash_alg, parsed[0].signature),
            (4, &[0xaa, 0xbb][..])
        );
        assert!(parse_list(&list[..list.len() - 1]).is_err());
        assert!(parse_list(&[]).is_err());
        assert_eq!(list_log_ids(&list).unwrap(), vec![vec![7u8; 32]]);
        assert!(list_log_ids(&list[..3]).is_err());
        // Not a certificate: the DER reader says so.
        assert!(embedded_log_ids(&list).is_err());
    }
}
