//! A minimal DER reader and writer for the few structures keyless verification walks itself:
//! CMS SignedData / TSTInfo of RFC 3161 timestamps ([`super::tsa`]) and the TBSCertificate
//! re-encoding of RFC 6962 SCT checks ([`super::sct`]).
//!
//! It only splits definite-length tag-length-value items with single-byte tags (all these
//! structures use) and writes them back; it knows nothing of ASN.1 schemas. Indefinite lengths
//! (BER) and high tag numbers are refused, so anything it accepts re-encodes byte for byte.

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
    let (&tag, after_tag) = input.split_first().ok_or("truncated: no tag")?;
    if tag & 0x1f == 0x1f {
        return Err(format!("high tag number form (tag byte {tag:#04x})"));
    }
    let (&first, after_len) = after_tag.split_first().ok_or("truncated: no length")?;
    let (len, header) = match first {
        n if n < 0x80 => (usize::from(n), 2),
        0x80 => return Err("indefinite length (BER, not DER)".into()),
        n => {
            let count = usize::from(n & 0x7f);
            if count > 4 || after_len.len() < count {
                return Err(format!("bad length of {count} bytes"));
            }
            let len = after_len[..count]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + count)
        }
    };
    let end = header
        .checked_add(len)
        .filter(|end| *end <= input.len())
        .ok_or_else(|| format!("truncated: item of {len} bytes, {} left", input.len()))?;
    Ok((
        Tlv {
            tag,
            raw: &input[..end],
            content: &input[header..end],
        },
        &input[end..],
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
pub(crate) fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8); // < 0x80: fits
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8); // at most 8 length bytes
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The dotted form of an OBJECT IDENTIFIER's content, e.g. `1.2.840.113549.1.7.2`.
pub(crate) fn oid_string(content: &[u8]) -> Result<String, String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for (i, b) in content.iter().enumerate() {
        if acc > (u64::MAX >> 7) {
            return Err("OID arc overflows".into());
        }
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        } else if i + 1 == content.len() {
            return Err("OID ends inside an arc".into());
        }
    }
    if arcs.is_empty() {
        return Err("empty OID".into());
    }
    Ok(arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
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
        let item = encode(OCTET_STRING, &long);
        assert_eq!(&item[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let (tlv, rest) = read(&item).unwrap();
        assert!(rest.is_empty());
        assert_eq!((tlv.tag, tlv.content.len(), tlv.raw.len()), (4, 300, 304));
        assert_eq!(encode(SEQUENCE, &[]), vec![0x30, 0x00]);
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
