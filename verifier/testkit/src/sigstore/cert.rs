//! The test Fulcio: leaf code-signing certificates with Fulcio's identity extensions, issued by
//! the [`TestSigstore`]'s CA, optionally carrying an SCT list.

use portcullis_verifier::PrivateKey;
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, SanType,
};

use super::{TestSigstore, ts};

const FULCIO_ARC: [u64; 9] = [1, 3, 6, 1, 4, 1, 57264, 1, 0];

/// DER UTF8String, as Fulcio's v2 extensions hold their values.
fn utf8_string(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = vec![0x0c];
    match b.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(b);
    out
}

fn fulcio_ext(arc: u64, content: Vec<u8>) -> CustomExtension {
    let mut oid = FULCIO_ARC;
    oid[8] = arc;
    CustomExtension::from_oid_content(&oid, content)
}

/// A certificate Fulcio would issue, and its private key.
pub struct Leaf {
    pub der: Vec<u8>,
    pub pem: String,
    pub key: PrivateKey,
}

/// What a leaf certificate says.
pub struct LeafSpec<'a> {
    /// An e-mail, or a URI when it contains "://".
    pub subject: &'a str,
    pub issuer: &'a str,
    pub not_before: i64,
    pub not_after: i64,
    /// (Fulcio arc, value) claims, e.g. (14, "refs/tags/v1") or the v1 (6, "refs/tags/v1").
    pub claims: &'a [(u64, &'a str)],
}

impl TestSigstore {
    /// Issues a leaf certificate.
    pub fn issue(&self, spec: &LeafSpec<'_>) -> Leaf {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = Self::leaf_params(spec).signed_by(&key, &self.ca).unwrap();
        Leaf {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            key: PrivateKey::from_pem(&key.serialize_pem(), b"").unwrap(),
        }
    }

    /// Issues a leaf like [`Self::issue`] that also carries an SCT list extension (its last):
    /// `sct` gets the DER of the same leaf without it and the CA's DER (what an RFC 6962
    /// precertificate entry is built from) and returns the extension's content.
    pub fn issue_with_sct(
        &self,
        spec: &LeafSpec<'_>,
        sct: impl Fn(&[u8], &[u8]) -> Vec<u8>,
    ) -> Leaf {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = Self::leaf_params(spec);
        let random = PrivateKey::generate().public();
        params.serial_number = Some(u64::from_str_radix(&random.id()[..15], 16).unwrap().into());
        let precert = params.clone().signed_by(&key, &self.ca).unwrap();
        let content = sct(precert.der(), &self.ca_der);
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2],
                content,
            ));
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            key: PrivateKey::from_pem(&key.serialize_pem(), b"").unwrap(),
        }
    }

    fn leaf_params(spec: &LeafSpec<'_>) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let name = spec.subject.try_into().unwrap();
        params.subject_alt_names = vec![if spec.subject.contains("://") {
            SanType::URI(name)
        } else {
            SanType::Rfc822Name(name)
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.not_before = ts(spec.not_before);
        params.not_after = ts(spec.not_after);
        params.custom_extensions = vec![
            fulcio_ext(1, spec.issuer.as_bytes().to_vec()),
            fulcio_ext(8, utf8_string(spec.issuer)),
        ];
        for (arc, value) in spec.claims {
            // v1 extensions (arcs 1–6) hold raw bytes, v2 ones a DER UTF8String.
            let content = if *arc < 8 {
                value.as_bytes().to_vec()
            } else {
                utf8_string(value)
            };
            params.custom_extensions.push(fulcio_ext(*arc, content));
        }
        params
    }
}
