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
//! signature, the trusted root to the authority. The DER is walked with [`super::der`].

use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::cert::Certificate;
use super::der::{self, Reader, Tlv};
use super::pkix::HashAlg;
use super::rfc3339;
use super::trust::{CertificateAuthority, TrustedRoot};

const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const OID_TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

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

// === Parsing ===

enum ParseError {
    NotGranted(u8),
    Bad(String),
}

impl From<String> for ParseError {
    fn from(s: String) -> Self {
        ParseError::Bad(s)
    }
}

/// How the SignerInfo names its certificate.
enum Sid<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

impl Sid<'_> {
    fn names(&self, cert_der: &[u8]) -> bool {
        let Ok((_, x)) = X509Certificate::from_der(cert_der) else {
            return false;
        };
        match self {
            Sid::IssuerSerial { issuer, serial } => {
                x.issuer().as_raw() == *issuer && strip_zeros(x.raw_serial()) == strip_zeros(serial)
            }
            Sid::KeyId(id) => x.extensions().iter().any(|e| {
                matches!(
                    e.parsed_extension(),
                    x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k)
                        if k.0 == *id
                )
            }),
        }
    }
}

impl std::fmt::Display for Sid<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sid::IssuerSerial { issuer, serial } => {
                let name = x509_parser::x509::X509Name::from_der(issuer)
                    .map(|(_, n)| n.to_string())
                    .unwrap_or_else(|_| "an unreadable issuer".into());
                write!(f, "serial {} of {name}", hex::encode(strip_zeros(serial)))
            }
            Sid::KeyId(id) => write!(f, "key id {}", hex::encode(id)),
        }
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let skip = b.iter().take_while(|x| **x == 0).count();
    &b[skip..]
}

struct SignedAttrs {
    /// The attributes re-tagged as the DER SET the signature covers.
    der: Vec<u8>,
    message_digest: Vec<u8>,
    content_type: Option<String>,
}

struct Token<'a> {
    tst_info: &'a [u8],
    imprint_alg: String,
    imprint: Vec<u8>,
    gen_time: i64,
    certificates: Vec<&'a [u8]>,
    digest_alg: String,
    sid: Sid<'a>,
    signed_attrs: Option<SignedAttrs>,
    sig_alg: String,
    signature: &'a [u8],
}

impl<'a> Token<'a> {
    fn parse(input: &'a [u8]) -> Result<Self, ParseError> {
        let outer = der::read_one(input, der::SEQUENCE, "timestamp")?;
        let mut r = Reader::new(outer.content);
        // A TimeStampResp starts with its PKIStatusInfo; a ContentInfo with its content type.
        let content_info = if r.peek_tag() == Some(der::SEQUENCE) {
            let status = r.expect(der::SEQUENCE, "PKIStatusInfo")?;
            let code = Reader::new(status.content).expect(der::INTEGER, "PKIStatus")?;
            match code.content {
                [0] | [1] => {}
                [n] => return Err(ParseError::NotGranted(*n)),
                _ => return Err(ParseError::Bad("PKIStatus out of range".into())),
            }
            r.expect(der::SEQUENCE, "timeStampToken")?.content
        } else {
            outer.content
        };
        let mut ci = Reader::new(content_info);
        let ct = ci.expect(der::OID, "contentType")?;
        if der::oid_string(ct.content)? != OID_SIGNED_DATA {
            return Err(ParseError::Bad("content type is not SignedData".into()));
        }
        let explicit = ci.expect(0xa0, "content")?;
        let sd = der::read_one(explicit.content, der::SEQUENCE, "SignedData")?;
        let mut sd = Reader::new(sd.content);
        sd.expect(der::INTEGER, "SignedData.version")?;
        sd.expect(der::SET, "digestAlgorithms")?;
        let encap = sd.expect(der::SEQUENCE, "encapContentInfo")?;
        let mut encap = Reader::new(encap.content);
        let ect = encap.expect(der::OID, "eContentType")?;
        if der::oid_string(ect.content)? != OID_TST_INFO {
            return Err(ParseError::Bad("eContentType is not id-ct-TSTInfo".into()));
        }
        let econtent = encap.expect(0xa0, "eContent")?;
        let tst_info = der::read_one(econtent.content, der::OCTET_STRING, "eContent")?.content;
        let certificates = match sd.optional(0xa0, "certificates")? {
            Some(c) => Reader::new(c.content)
                .items("certificates")?
                .into_iter()
                .filter(|t| t.tag == der::SEQUENCE)
                .map(|t| t.raw)
                .collect(),
            None => Vec::new(),
        };
        sd.optional(0xa1, "crls")?;
        let infos = sd.expect(der::SET, "signerInfos")?;
        let infos = Reader::new(infos.content).items("signerInfos")?;
        let [info] = infos.as_slice() else {
            return Err(ParseError::Bad(format!(
                "{} signerInfos, expected one",
                infos.len()
            )));
        };
        let mut si = Reader::new(info.content);
        si.expect(der::INTEGER, "SignerInfo.version")?;
        let sid = si.next_item("sid")?;
        let sid = match sid.tag {
            der::SEQUENCE => {
                let mut s = Reader::new(sid.content);
                let issuer = s.expect(der::SEQUENCE, "sid.issuer")?.raw;
                let serial = s.expect(der::INTEGER, "sid.serialNumber")?.content;
                Sid::IssuerSerial { issuer, serial }
            }
            0x80 => Sid::KeyId(sid.content),
            tag => return Err(ParseError::Bad(format!("sid has tag {tag:#04x}"))),
        };
        let digest_alg = der::algorithm(&si.next_item("digestAlgorithm")?, "digestAlgorithm")?;
        let signed_attrs = si
            .optional(0xa0, "signedAttrs")?
            .map(signed_attrs)
            .transpose()?;
        let sig_alg = der::algorithm(&si.next_item("signatureAlgorithm")?, "signatureAlgorithm")?;
        let signature = si.expect(der::OCTET_STRING, "signature")?.content;
        let (imprint_alg, imprint, gen_time) = tst_fields(tst_info)?;
        Ok(Token {
            tst_info,
            imprint_alg,
            imprint,
            gen_time,
            certificates,
            digest_alg,
            sid,
            signed_attrs,
            sig_alg,
            signature,
        })
    }
}

fn signed_attrs(tlv: Tlv<'_>) -> Result<SignedAttrs, String> {
    let mut message_digest = None;
    let mut content_type = None;
    for attr in Reader::new(tlv.content).items("signedAttrs")? {
        let mut a = Reader::new(attr.content);
        let oid = der::oid_string(a.expect(der::OID, "attribute type")?.content)?;
        let values = a.expect(der::SET, "attribute values")?;
        let first = Reader::new(values.content).next_item("attribute value")?;
        match oid.as_str() {
            OID_MESSAGE_DIGEST if first.tag == der::OCTET_STRING => {
                message_digest = Some(first.content.to_vec());
            }
            OID_CONTENT_TYPE if first.tag == der::OID => {
                content_type = Some(der::oid_string(first.content)?);
            }
            _ => {}
        }
    }
    let mut der = tlv.raw.to_vec();
    der[0] = der::SET; // [0] IMPLICIT SET OF → the SET the signature covers (RFC 5652 §5.4)
    Ok(SignedAttrs {
        der,
        message_digest: message_digest.ok_or("signedAttrs lack messageDigest")?,
        content_type,
    })
}

/// (messageImprint hash OID, hashedMessage, genTime) of a TSTInfo.
fn tst_fields(tst_info: &[u8]) -> Result<(String, Vec<u8>, i64), String> {
    let tst = der::read_one(tst_info, der::SEQUENCE, "TSTInfo")?;
    let mut r = Reader::new(tst.content);
    r.expect(der::INTEGER, "TSTInfo.version")?;
    r.expect(der::OID, "TSTInfo.policy")?;
    let imprint = r.expect(der::SEQUENCE, "messageImprint")?;
    let mut m = Reader::new(imprint.content);
    let alg = der::algorithm(&m.next_item("hashAlgorithm")?, "hashAlgorithm")?;
    let hashed = m
        .expect(der::OCTET_STRING, "hashedMessage")?
        .content
        .to_vec();
    r.expect(der::INTEGER, "TSTInfo.serialNumber")?;
    let gen_time = r.expect(der::GENERALIZED_TIME, "genTime")?;
    Ok((alg, hashed, generalized_time(gen_time.content)?))
}

/// `YYYYMMDDHHMMSS[.fff]Z` as Unix seconds.
fn generalized_time(content: &[u8]) -> Result<i64, String> {
    let text = std::str::from_utf8(content).map_err(|_| "genTime is not ASCII".to_string())?;
    let bad = || format!("genTime {text:?} is not YYYYMMDDHHMMSS[.f]Z");
    let body = text.strip_suffix('Z').ok_or_else(bad)?;
    let whole = body.split_once('.').map_or(body, |(w, _)| w);
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = |range: std::ops::Range<usize>| whole[range].parse::<u16>().map_err(|_| bad());
    let month = time::Month::try_from(n(4..6)? as u8).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(i32::from(n(0..4)?), month, n(6..8)? as u8)
        .map_err(|_| bad())?;
    let clock = time::Time::from_hms(n(8..10)? as u8, n(10..12)? as u8, n(12..14)? as u8)
        .map_err(|_| bad())?;
    Ok(time::PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_times_read_as_utc_seconds() {
        assert_eq!(generalized_time(b"20260409072329Z"), Ok(1775719409));
        assert_eq!(generalized_time(b"20260409072329.615Z"), Ok(1775719409));
        assert!(generalized_time(b"20260409072329").is_err());
        assert!(generalized_time(b"20261309072329Z").is_err());
    }

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
