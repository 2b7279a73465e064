//! Timestamps and certificate transparency for the private test Sigstore: a test timestamp
//! authority (a CA and a TSA leaf with the timeStamping key usage) issuing real RFC 3161
//! `TimeStampResp`s over a bundle's signature, and a test CT log whose SCTs (RFC 6962
//! precertificate entries) are embedded in leaves issued by [`TestSigstore::issue_with_sct`].
//! Both write their `trusted_root.json` entries (`timestampAuthorities`, `ctlogs`).
//!
//! The DER is built by hand here, independently of the verifier's own reader, so a test proves
//! interoperability rather than a round trip through one implementation.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::PrivateKey;
use portcullis_verifier::keyless::{Identity, KeylessRequirement, TrustedRoot, VerificationKey};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::TestSigstore;

// === DER by hand ===

fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let content = parts.concat();
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, parts)
}

fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut bytes = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            bytes.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        bytes.reverse();
        body.extend(bytes);
    }
    tlv(0x06, &[&body])
}

fn octets(b: &[u8]) -> Vec<u8> {
    tlv(0x04, &[b])
}

fn int(n: u8) -> Vec<u8> {
    tlv(0x02, &[&[n]])
}

fn generalized_time(t: i64) -> Vec<u8> {
    let d = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
    let text = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        d.year(),
        d.month() as u8,
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    );
    tlv(0x18, &[text.as_bytes()])
}

pub(super) fn window(valid_for: (Option<i64>, Option<i64>)) -> Value {
    let rfc = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let mut v = serde_json::Map::new();
    if let Some(s) = valid_for.0 {
        v.insert("start".into(), rfc(s).into());
    }
    if let Some(e) = valid_for.1 {
        v.insert("end".into(), rfc(e).into());
    }
    Value::Object(v)
}

const SHA256: &str = "2.16.840.1.101.3.4.2.1";

// === A timestamp authority ===

/// What a test timestamp says, and how it is (mis)made.
pub struct Stamp<'a> {
    pub gen_time: i64,
    /// Hash these bytes into the messageImprint instead of the signature.
    pub imprint_of: Option<&'a [u8]>,
    /// Include the TSA certificate in the token (Sigstore's TSA leaves it out).
    pub embed_cert: bool,
}

pub struct TestTsa {
    pub name: String,
    pub ca_der: Vec<u8>,
    pub leaf_der: Vec<u8>,
    key: PrivateKey,
}

impl TestTsa {
    /// A TSA CA and a timeStamping leaf, both valid `window` (Unix seconds).
    pub fn new(name: &str, window: (i64, i64)) -> Self {
        let ts = |t| time::OffsetDateTime::from_unix_timestamp(t).unwrap();
        let dn = |cn: &str| {
            let mut dn = DistinguishedName::new();
            dn.push(DnType::OrganizationName, "portcullis-test");
            dn.push(DnType::CommonName, cn);
            dn
        };
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca = CertificateParams::default();
        ca.distinguished_name = dn(&format!("{name}-root"));
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        ca.not_before = ts(window.0);
        ca.not_after = ts(window.1);
        let ca_der = ca.self_signed(&ca_key).unwrap().der().to_vec();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name = dn(name);
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::TimeStamping];
        leaf.not_before = ts(window.0);
        leaf.not_after = ts(window.1);
        let leaf_der = leaf.signed_by(&key, &issuer).unwrap().der().to_vec();
        Self {
            name: name.into(),
            ca_der,
            leaf_der,
            key: PrivateKey::from_pem(&key.serialize_pem(), b"").unwrap(),
        }
    }

    /// Its `timestampAuthorities` entry (chain: TSA leaf, then CA), valid `valid_for`.
    pub fn root_entry(&self, valid_for: (Option<i64>, Option<i64>)) -> Value {
        json!({"subject": {"organization": "portcullis-test", "commonName": self.name},
            "uri": "https://tsa.test/api/v1/timestamp",
            "certChain": {"certificates": [{"rawBytes": B64.encode(&self.leaf_der)},
                {"rawBytes": B64.encode(&self.ca_der)}]},
            "validFor": window(valid_for)})
    }

    /// Timestamps the signature of `bundle` (message or DSSE) at `gen_time` and attaches the
    /// response to it, as the only RFC 3161 timestamp.
    pub fn stamp_bundle(&self, bundle: &mut Value, gen_time: i64) {
        let stamp = Stamp {
            gen_time,
            imprint_of: None,
            embed_cert: false,
        };
        let response = self.response(&super::log_v2::signed_bytes(bundle), &stamp);
        attach_timestamp(bundle, &response);
    }

    /// A DER `TimeStampResp` (status granted) over `signature`.
    pub fn response(&self, signature: &[u8], stamp: &Stamp<'_>) -> Vec<u8> {
        let imprint = Sha256::digest(stamp.imprint_of.unwrap_or(signature));
        let tst_info = seq(&[
            &int(1),
            &oid("1.3.6.1.4.1.57264.2"),
            &seq(&[&seq(&[&oid(SHA256)]), &octets(&imprint)]),
            &int(42),
            &generalized_time(stamp.gen_time),
        ]);
        let attrs = [
            seq(&[
                &oid("1.2.840.113549.1.9.3"),
                &tlv(0x31, &[&oid("1.2.840.113549.1.9.16.1.4")]),
            ]),
            seq(&[
                &oid("1.2.840.113549.1.9.4"),
                &tlv(0x31, &[&octets(&Sha256::digest(&tst_info))]),
            ]),
        ]
        .concat();
        let signature = self.key.sign(&tlv(0x31, &[&attrs]));
        let (_, leaf) = X509Certificate::from_der(&self.leaf_der).unwrap();
        let sid = seq(&[leaf.issuer().as_raw(), &tlv(0x02, &[leaf.raw_serial()])]);
        let signer_info = seq(&[
            &int(1),
            &sid,
            &seq(&[&oid(SHA256)]),
            &tlv(0xa0, &[&attrs]),
            &seq(&[&oid("1.2.840.10045.4.3.2")]),
            &octets(&signature),
        ]);
        let certs = if stamp.embed_cert {
            tlv(0xa0, &[&self.leaf_der])
        } else {
            Vec::new()
        };
        let signed_data = seq(&[
            &int(3),
            &tlv(0x31, &[&seq(&[&oid(SHA256)])]),
            &seq(&[
                &oid("1.2.840.113549.1.9.16.1.4"),
                &tlv(0xa0, &[&octets(&tst_info)]),
            ]),
            &certs,
            &tlv(0x31, &[&signer_info]),
        ]);
        let token = seq(&[&oid("1.2.840.113549.1.7.2"), &tlv(0xa0, &[&signed_data])]);
        seq(&[&seq(&[&int(0)]), &token])
    }
}

/// Adds `response` to a bundle as its (only) RFC 3161 timestamp.
pub fn attach_timestamp(bundle: &mut Value, response: &[u8]) {
    bundle["verificationMaterial"]["timestampVerificationData"] =
        json!({"rfc3161Timestamps": [{"signedTimestamp": B64.encode(response)}]});
}

/// The signature bytes of a message-signature bundle.
pub fn bundle_signature(bundle: &Value) -> Vec<u8> {
    B64.decode(bundle["messageSignature"]["signature"].as_str().unwrap())
        .unwrap()
}

// === A certificate-transparency log ===

pub struct TestCtLog {
    pub key: PrivateKey,
}

impl Default for TestCtLog {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCtLog {
    /// A CT log with a fresh key.
    pub fn new() -> Self {
        Self {
            key: PrivateKey::generate(),
        }
    }

    pub fn spki(&self) -> Vec<u8> {
        VerificationKey::from_pem(&self.key.public().to_pem())
            .unwrap()
            .spki_der()
            .to_vec()
    }

    /// The log id: SHA-256 of the key's SPKI.
    pub fn log_id(&self) -> Vec<u8> {
        Sha256::digest(self.spki()).to_vec()
    }

    /// Its `ctlogs` entry, valid `valid_for`.
    pub fn root_entry(&self, valid_for: (Option<i64>, Option<i64>)) -> Value {
        json!({"baseUrl": "https://ctfe.test", "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": B64.encode(self.spki()),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": window(valid_for)},
            "logId": {"keyId": B64.encode(self.log_id())}})
    }

    /// The content of an SCT list extension holding one SCT, made at `at_ms`, signed over the
    /// precertificate entry of `precert_der` (a leaf without SCTs) issued by `ca_der`; `tamper`
    /// alters the TBSCertificate before signing.
    pub fn sct_extension(
        &self,
        precert_der: &[u8],
        ca_der: &[u8],
        at_ms: u64,
        tamper: bool,
    ) -> Vec<u8> {
        let (_, leaf) = X509Certificate::from_der(precert_der).unwrap();
        let (_, ca) = X509Certificate::from_der(ca_der).unwrap();
        let mut tbs = leaf.tbs_certificate.as_ref().to_vec();
        if tamper {
            let last = tbs.len() - 1;
            tbs[last] ^= 0x01;
        }
        let mut signed = vec![0u8, 0];
        signed.extend(at_ms.to_be_bytes());
        signed.extend(1u16.to_be_bytes());
        signed.extend(Sha256::digest(ca.public_key().raw));
        signed.extend(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend(&tbs);
        signed.extend([0, 0]);
        let sig = self.key.sign(&signed);
        let mut sct = vec![0u8];
        sct.extend(self.log_id());
        sct.extend(at_ms.to_be_bytes());
        sct.extend([0, 0, 4, 3]);
        sct.extend((sig.len() as u16).to_be_bytes());
        sct.extend(sig);
        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend((sct.len() as u16).to_be_bytes());
        list.extend(sct);
        octets(&list)
    }
}

/// A requirement trusting `ss` (CA valid from `ca_start`) plus the given CT logs and TSAs.
pub fn req_with(
    ss: &TestSigstore,
    ca_start: i64,
    ctlogs: Vec<Value>,
    tsas: Vec<Value>,
    identity: Identity,
) -> KeylessRequirement {
    let mut doc = ss.trusted_root((Some(ca_start), None));
    doc["ctlogs"] = Value::Array(ctlogs);
    doc["timestampAuthorities"] = Value::Array(tsas);
    KeylessRequirement {
        trusted_root: Arc::new(
            TrustedRoot::from_json(doc.to_string().as_bytes(), "test root").unwrap(),
        ),
        identities: vec![identity],
        attestations: Vec::new(),
    }
}
