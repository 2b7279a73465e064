//! The few DER structures keyless verification walks itself: CMS SignedData / TSTInfo of
//! RFC 3161 timestamps ([`super::tsa`]) and the TBSCertificate re-encoding of RFC 6962 SCT
//! checks ([`super::sct`]).
//!
//! Tags, lengths and OIDs are read and written by the RustCrypto `der` crate (strict DER:
//! minimal lengths, no indefinite lengths, no high tag numbers), so anything accepted here
//! re-encodes byte for byte. This module only adds the walk: items in order, by tag, with
//! messages that say which field was wrong.

use der::{Encode as _, Header, Length, Reader as _, SliceReader, Tag};

/// One tag-length-value item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    /// The whole item: tag, length and content.
    pub raw: &'a [u8],
    pub content: &'a [u8],
}

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;

/// Reads one item from the front of `input`; returns it and the rest.
pub(crate) fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), String> {
    let mut reader = SliceReader::new(input).map_err(|e| e.to_string())?;
    let header = reader.peek_header().map_err(|e| e.to_string())?;
    let header_len = usize::try_from(header.encoded_len().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let raw = reader.tlv_bytes().map_err(|e| e.to_string())?;
    Ok((
        Tlv {
            tag: u8::from(header.tag),
            raw,
            content: &raw[header_len..],
        },
        &input[raw.len()..],
    ))
}

/// Reads `input` as exactly one item with tag `tag`.
pub(crate) fn read_one<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<Tlv<'a>, String> {
    let mut r = Reader::new(input);
    let tlv = r.next_tagged(tag, what)?;
    if !r.is_empty() {
        return Err(format!("{what}: trailing bytes"));
    }
    Ok(tlv)
}

/// Walks the items of a constructed item's content in order.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(content: &'a [u8]) -> Self {
        Self { rest: content }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next item, whatever its tag.
    pub fn next_item(&mut self, what: &str) -> Result<Tlv<'a>, String> {
        let (tlv, rest) = read(self.rest).map_err(|e| format!("{what}: {e}"))?;
        self.rest = rest;
        Ok(tlv)
    }

    /// The next item, which must have tag `tag`.
    pub fn next_tagged(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
        let tlv = self.next_item(what)?;
        if tlv.tag != tag {
            return Err(format!("{what}: tag {:#04x}, expected {tag:#04x}", tlv.tag));
        }
        Ok(tlv)
    }

    /// The next item if it has tag `tag`.
    pub fn optional(&mut self, tag: u8, what: &str) -> Result<Option<Tlv<'a>>, String> {
        if self.peek_tag() == Some(tag) {
            self.next_item(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// All remaining items.
    pub fn items(mut self, what: &str) -> Result<Vec<Tlv<'a>>, String> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.next_item(what)?);
        }
        Ok(out)
    }
}

/// Encodes one item.
pub(crate) fn encode(tag: u8, content: &[u8]) -> Result<Vec<u8>, String> {
    let tag = Tag::try_from(tag).map_err(|e| e.to_string())?;
    let len = Length::try_from(content.len()).map_err(|e| e.to_string())?;
    let mut out = Header::new(tag, len)
        .and_then(|h| h.to_der())
        .map_err(|e| e.to_string())?;
    out.extend_from_slice(content);
    Ok(out)
}

/// The dotted form of an OBJECT IDENTIFIER's content, e.g. `1.2.840.113549.1.7.2`.
pub(crate) fn oid_string(content: &[u8]) -> Result<String, String> {
    der::asn1::ObjectIdentifier::from_bytes(content)
        .map(|oid| oid.to_string())
        .map_err(|e| format!("bad OID: {e}"))
}

/// Reads an `AlgorithmIdentifier` SEQUENCE: its OID, dotted.
pub(crate) fn algorithm(tlv: &Tlv<'_>, what: &str) -> Result<String, String> {
    if tlv.tag != SEQUENCE {
        return Err(format!("{what}: not an AlgorithmIdentifier"));
    }
    let oid = Reader::new(tlv.content).next_tagged(OID, what)?;
    oid_string(oid.content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_short_and_long_items() {
        let long = vec![7u8; 300];
        let item = encode(OCTET_STRING, &long).unwrap();
        assert_eq!(&item[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let (tlv, rest) = read(&item).unwrap();
        assert!(rest.is_empty());
        assert_eq!((tlv.tag, tlv.content.len(), tlv.raw.len()), (4, 300, 304));
        assert_eq!(encode(SEQUENCE, &[]).unwrap(), vec![0x30, 0x00]);
        assert!(
            read(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_err(),
            "non-minimal length"
        );
        assert!(read(&[0x30, 0x80, 0, 0]).is_err(), "indefinite length");
        assert!(read(&[0x04, 0x05, 1]).is_err(), "truncated");
        assert!(read(&[0x1f, 0x01, 0]).is_err(), "high tag");
        let mut r = Reader::new(&[0x02, 0x01, 0x05, 0x04, 0x00]);
        assert_eq!(r.optional(OID, "x").unwrap(), None);
        assert_eq!(r.next_tagged(INTEGER, "n").unwrap().content, &[5]);
        assert!(r.next_tagged(INTEGER, "n").is_err());
    }

    #[test]
    fn oids_read_dotted() {
        let signed_data = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
        assert_eq!(oid_string(&signed_data).unwrap(), "1.2.840.113549.1.7.2");
        assert_eq!(
            oid_string(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02]).unwrap(),
            "1.3.6.1.4.1.11129.2.4.2"
        );
        assert!(oid_string(&[0x2a, 0x86]).is_err());
        assert!(oid_string(&[]).is_err());
    }
}
