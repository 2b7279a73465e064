//! The DER of an RFC 3161 timestamp, read into the fields [`super::tsa`] verifies: a
//! `TimeStampResp` (PKIStatusInfo + token) or a bare `TimeStampToken`, i.e. a CMS `ContentInfo`
//! holding `SignedData` whose encapsulated content is a `TSTInfo` (RFC 5652, RFC 3161 §2.4.2).
//!
//! It checks structure only (content types, exactly one SignerInfo, required fields); what the
//! signature, digests and certificates prove is decided by the caller. Walked with
//! [`super::der`]; fields not needed for verification (nonce, accuracy, policy) are skipped.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::der::{self, Reader, Tlv};

const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
pub(super) const OID_TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";

pub(super) enum ParseError {
    NotGranted(u8),
    Bad(String),
}

impl From<String> for ParseError {
    fn from(s: String) -> Self {
        ParseError::Bad(s)
    }
}

/// How the SignerInfo names its certificate.
pub(super) enum Sid<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

impl Sid<'_> {
    pub(super) fn names(&self, cert_der: &[u8]) -> bool {
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

pub(super) struct SignedAttrs {
    /// The attributes re-tagged as the DER SET the signature covers.
    pub(super) der: Vec<u8>,
    pub(super) message_digest: Vec<u8>,
    pub(super) content_type: Option<String>,
}

pub(super) struct Token<'a> {
    pub(super) tst_info: &'a [u8],
    pub(super) imprint_alg: String,
    pub(super) imprint: Vec<u8>,
    pub(super) gen_time: i64,
    pub(super) certificates: Vec<&'a [u8]>,
    pub(super) digest_alg: String,
    pub(super) sid: Sid<'a>,
    pub(super) signed_attrs: Option<SignedAttrs>,
    pub(super) sig_alg: String,
    pub(super) signature: &'a [u8],
}

impl<'a> Token<'a> {
    pub(super) fn parse(input: &'a [u8]) -> Result<Self, ParseError> {
        let outer = der::read_one(input, der::SEQUENCE, "timestamp")?;
        let mut r = Reader::new(outer.content);
        // A TimeStampResp starts with its PKIStatusInfo; a ContentInfo with its content type.
        let content_info = if r.peek_tag() == Some(der::SEQUENCE) {
            let status = r.next_tagged(der::SEQUENCE, "PKIStatusInfo")?;
            let code = Reader::new(status.content).next_tagged(der::INTEGER, "PKIStatus")?;
            match code.content {
                [0] | [1] => {}
                [n] => return Err(ParseError::NotGranted(*n)),
                _ => return Err(ParseError::Bad("PKIStatus out of range".into())),
            }
            r.next_tagged(der::SEQUENCE, "timeStampToken")?.content
        } else {
            outer.content
        };
        let mut ci = Reader::new(content_info);
        let ct = ci.next_tagged(der::OID, "contentType")?;
        if der::oid_string(ct.content)? != OID_SIGNED_DATA {
            return Err(ParseError::Bad("content type is not SignedData".into()));
        }
        let explicit = ci.next_tagged(0xa0, "content")?;
        let sd = der::read_one(explicit.content, der::SEQUENCE, "SignedData")?;
        let mut sd = Reader::new(sd.content);
        sd.next_tagged(der::INTEGER, "SignedData.version")?;
        sd.next_tagged(der::SET, "digestAlgorithms")?;
        let encap = sd.next_tagged(der::SEQUENCE, "encapContentInfo")?;
        let mut encap = Reader::new(encap.content);
        let ect = encap.next_tagged(der::OID, "eContentType")?;
        if der::oid_string(ect.content)? != OID_TST_INFO {
            return Err(ParseError::Bad("eContentType is not id-ct-TSTInfo".into()));
        }
        let econtent = encap.next_tagged(0xa0, "eContent")?;
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
        let infos = sd.next_tagged(der::SET, "signerInfos")?;
        let infos = Reader::new(infos.content).items("signerInfos")?;
        let [info] = infos.as_slice() else {
            return Err(ParseError::Bad(format!(
                "{} signerInfos, expected one",
                infos.len()
            )));
        };
        let mut si = Reader::new(info.content);
        si.next_tagged(der::INTEGER, "SignerInfo.version")?;
        let sid = si.next_item("sid")?;
        let sid = match sid.tag {
            der::SEQUENCE => {
                let mut s = Reader::new(sid.content);
                let issuer = s.next_tagged(der::SEQUENCE, "sid.issuer")?.raw;
                let serial = s.next_tagged(der::INTEGER, "sid.serialNumber")?.content;
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
        let signature = si.next_tagged(der::OCTET_STRING, "signature")?.content;
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
        let oid = der::oid_string(a.next_tagged(der::OID, "attribute type")?.content)?;
        let values = a.next_tagged(der::SET, "attribute values")?;
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
    r.next_tagged(der::INTEGER, "TSTInfo.version")?;
    r.next_tagged(der::OID, "TSTInfo.policy")?;
    let imprint = r.next_tagged(der::SEQUENCE, "messageImprint")?;
    let mut m = Reader::new(imprint.content);
    let alg = der::algorithm(&m.next_item("hashAlgorithm")?, "hashAlgorithm")?;
    let hashed = m
        .next_tagged(der::OCTET_STRING, "hashedMessage")?
        .content
        .to_vec();
    r.next_tagged(der::INTEGER, "TSTInfo.serialNumber")?;
    let gen_time = r.next_tagged(der::GENERALIZED_TIME, "genTime")?;
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
}
