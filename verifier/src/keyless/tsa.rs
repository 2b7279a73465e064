//! RFC 3161 signed timestamps of Sigstore bundles
//! (`verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp`): a
//! trusted time of signing that does not come from the transparency log.
//!
//! A timestamp verifies when (1) its `messageImprint` is the hash of the bundle's signature
//! bytes, (2) the CMS `messageDigest` signed attribute is the hash of the TSTInfo it carries,
//! (3) the signed attributes (or the TSTInfo, when there are none) verify with the key of the
//! certificate the SignerInfo names, (4) that certificate has the timeStamping extended key
//! usage and is, or is issued by, a certificate of a `timestampAuthorities` entry of the trusted
//! root, and (5) that entry's `validFor` and every certificate of the path contain the
//! timestamp's `genTime`. Certificates shipped inside the token are only candidates for (3);
//! trust comes from the trusted root alone.
//!
//! Accepted encodings: a DER `TimeStampResp` (what Sigstore bundles hold) or a bare
//! `TimeStampToken`. Signatures are ECDSA (P-256/P-384, see [`super::pkix`]); RSA TSAs fail
//! closed. Nonces and TSA policy OIDs are not checked: the imprint binds the token to the
//! signature, the trusted root to the authority. The DER is read by the private `tsa_token` module.

use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::cert::Certificate;
use super::pkix::HashAlg;
use super::trust::{CertificateAuthority, TrustedRoot};
use super::tsa_token::{OID_TST_INFO, ParseError, Token};

pub use portcullis_verifier_types::keyless::errors::TimestampError;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

/// A timestamp that verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedTimestamp {
    /// The TSTInfo `genTime` (Unix seconds, fractions dropped).
    pub gen_time: i64,
    /// The trusted timestamp authority (`O=…, CN=…`).
    pub authority: String,
}

/// Verifies every timestamp of a bundle over its signature bytes `signature`. A root without
/// timestamp authorities cannot verify any, so they are not checked (and prove no time).
pub fn verify_timestamps(
    timestamps: &[Vec<u8>],
    signature: &[u8],
    root: &TrustedRoot,
) -> Result<Vec<VerifiedTimestamp>, TimestampError> {
    if root.timestamp_authorities.is_empty() {
        return Ok(Vec::new());
    }
    timestamps
        .iter()
        .enumerate()
        .map(|(index, t)| verify_timestamp(index, t, signature, root))
        .collect()
}

/// Verifies one DER `TimeStampResp` or `TimeStampToken` over `signature`.
pub fn verify_timestamp(
    index: usize,
    token: &[u8],
    signature: &[u8],
    root: &TrustedRoot,
) -> Result<VerifiedTimestamp, TimestampError> {
    let malformed = |cause: String| TimestampError::Malformed { index, cause };
    let unsupported = |what: &str, algorithm: &str| TimestampError::UnsupportedAlgorithm {
        index,
        what: what.into(),
        algorithm: algorithm.into(),
    };
    let t = Token::parse(token).map_err(|e| match e {
        ParseError::NotGranted(status) => TimestampError::NotGranted { index, status },
        ParseError::Bad(cause) => malformed(cause),
    })?;

    let imprint_hash = hash_alg(&t.imprint_alg)
        .ok_or_else(|| unsupported("messageImprint hash", &t.imprint_alg))?;
    let expected = imprint_hash.digest(signature);
    if expected != t.imprint {
        return Err(TimestampError::ImprintMismatch {
            index,
            algorithm: t.imprint_alg.clone(),
            expected: hex::encode(expected),
            actual: hex::encode(&t.imprint),
        });
    }
    let digest_hash =
        hash_alg(&t.digest_alg).ok_or_else(|| unsupported("digest", &t.digest_alg))?;
    let signed_msg = match &t.signed_attrs {
        Some(attrs) => {
            if attrs.message_digest != digest_hash.digest(t.tst_info) {
                return Err(TimestampError::ContentAltered { index });
            }
            if attrs
                .content_type
                .as_deref()
                .is_some_and(|c| c != OID_TST_INFO)
            {
                return Err(malformed(
                    "content-type attribute is not id-ct-TSTInfo".into(),
                ));
            }
            attrs.der.clone()
        }
        None => t.tst_info.to_vec(),
    };
    let sig_hash = match t.sig_alg.as_str() {
        OID_EC_PUBLIC_KEY => Some(digest_hash),
        other => HashAlg::from_ecdsa_oid(other),
    }
    .ok_or_else(|| unsupported("signature", &t.sig_alg))?;

    // The certificate the SignerInfo names, from the trusted root or the token.
    let trusted = root
        .timestamp_authorities
        .iter()
        .flat_map(|a| a.chain.iter().map(|c| c.der()));
    let signer_der = trusted
        .chain(t.certificates.iter().copied())
        .find(|der| t.sid.names(der))
        .ok_or_else(|| TimestampError::UntrustedSigner {
            index,
            signer: t.sid.to_string(),
        })?;
    let signer = Certificate::from_der(signer_der)
        .map_err(|e| malformed(format!("signing certificate: {e}")))?;
    let verified = signer
        .key()
        .and_then(|k| k.verify(&signed_msg, t.signature, sig_hash))
        .map_err(|e| unsupported("signing key", &e.to_string()))?;
    if !verified {
        return Err(TimestampError::BadSignature {
            index,
            signer: signer.subject.clone(),
        });
    }
    if !time_stamping(signer_der) {
        return Err(TimestampError::NotTimeStamping {
            index,
            signer: signer.subject.clone(),
        });
    }
    let mut best = None;
    for authority in &root.timestamp_authorities {
        match check_path(index, &signer, authority, t.gen_time) {
            Some(Ok(())) => {
                return Ok(VerifiedTimestamp {
                    gen_time: t.gen_time,
                    authority: authority.name.clone(),
                });
            }
            Some(Err(e)) => {
                best.get_or_insert(e);
            }
            None => {}
        }
    }
    Err(best.unwrap_or_else(|| TimestampError::UntrustedSigner {
        index,
        signer: signer.subject.clone(),
    }))
}

/// `None` when `signer` is not part of `authority`; else whether the authority and the path
/// from `signer` up are valid at `gen_time`.
fn check_path(
    index: usize,
    signer: &Certificate,
    authority: &CertificateAuthority,
    gen_time: i64,
) -> Option<Result<(), TimestampError>> {
    let chain = &authority.chain;
    let path: Vec<&Certificate> =
        if let Some(i) = chain.iter().position(|c| c.der() == signer.der()) {
            chain[i..].iter().collect()
        } else {
            let k = chain
                .iter()
                .position(|c| signer.check_issued_by(c).is_ok())?;
            std::iter::once(signer).chain(&chain[k..]).collect()
        };
    if !authority.valid_for.contains(gen_time) {
        return Some(Err(TimestampError::AuthorityNotValidAt {
            index,
            tsa: authority.name.clone(),
            valid_for: authority.valid_for.to_string(),
            gen_time,
        }));
    }
    if let Some(c) = path.iter().find(|c| !c.valid_at(gen_time)) {
        return Some(Err(TimestampError::CertificateNotValidAt {
            index,
            subject: c.subject.clone(),
            not_before: c.not_before,
            not_after: c.not_after,
            gen_time,
        }));
    }
    Some(Ok(()))
}

fn time_stamping(der: &[u8]) -> bool {
    X509Certificate::from_der(der)
        .ok()
        .and_then(|(_, x)| {
            x.extended_key_usage()
                .ok()
                .flatten()
                .map(|e| e.value.time_stamping)
        })
        .unwrap_or(false)
}

fn hash_alg(oid: &str) -> Option<HashAlg> {
    match oid {
        "2.16.840.1.101.3.4.2.1" => Some(HashAlg::Sha256),
        "2.16.840.1.101.3.4.2.2" => Some(HashAlg::Sha384),
        "2.16.840.1.101.3.4.2.3" => Some(HashAlg::Sha512),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let root = TrustedRoot::from_pem_parts("none", &[], &[]).unwrap();
        for input in [
            &b""[..],
            b"\x30\x00",
            b"\x30\x03\x02\x01\x00",
            b"\x30\x05\x30\x03\x02\x01\x02",
        ] {
            assert!(verify_timestamp(0, input, b"sig", &root).is_err());
        }
        assert!(matches!(
            verify_timestamp(0, b"\x30\x05\x30\x03\x02\x01\x02", b"sig", &root),
            Err(TimestampError::NotGranted { status: 2, .. })
        ));
    }
}
