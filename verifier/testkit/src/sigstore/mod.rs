//! A private Sigstore for tests: a Fulcio-like CA issuing short-lived code-signing certificates
//! with Fulcio's identity extensions ([`TestSigstore::issue`]), a Rekor-like log that signs SETs,
//! keeps a Merkle tree and signs checkpoints ([`Logged`]), a Rekor v2-like log that signs
//! Ed25519 checkpoints and no SETs ([`TestLogV2`]), a timestamp authority and a CT log
//! ([`TestTsa`], [`TestCtLog`]), all written into a `trusted_root.json` the verifier loads.
//!
//! It signs images in cosign's classic keyless format (a `.sig` layer with certificate and
//! Rekor-bundle annotations) and blobs as Sigstore v0.3 bundles. Every knob a negative test needs
//! is explicit: certificate window, log time, which key signs the SET, the CA's `validFor`.
//!
//! Behind the `sigstore` feature, as it links the verifier (for its key, registry and cosign
//! types) and rcgen. It panics rather than returning errors: everything it builds comes from the
//! test itself, so a failure here is a bug in the test, reported where it happens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cert;
mod log;
mod log_v2;
mod referrer;
mod release;
mod setting;
mod sign;
mod stamps;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::PrivateKey;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};

pub use cert::{Leaf, LeafSpec};
pub use log::Logged;
pub use log_v2::{DsseAs, TestLogV2, signed_bytes};
pub use referrer::{add_referrer_entry, attach_referrer};
pub use release::{DAY, GITHUB, SUBJECT, leaf, release, req};
pub use setting::{KeylessRegistry, from_day_before, plain_http_client, valid_leaf};
pub use sign::{COSIGN_SIGN, statement};
pub use stamps::{Stamp, TestCtLog, TestTsa, attach_timestamp, bundle_signature, req_with};

const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn ts(t: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t).unwrap()
}

fn rfc3339(t: i64) -> String {
    ts(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub struct TestSigstore {
    ca: Issuer<'static, KeyPair>,
    ca_der: Vec<u8>,
    pub log_key: PrivateKey,
    leaves: Vec<[u8; 32]>,
}

impl TestSigstore {
    /// A CA whose certificate is valid `ca_window` (Unix seconds) and a fresh log.
    pub fn new(ca_window: (i64, i64)) -> Self {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "portcullis-test");
        dn.push(DnType::CommonName, "test-fulcio");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = ts(ca_window.0);
        params.not_after = ts(ca_window.1);
        let cert = params.self_signed(&key).unwrap();
        Self {
            ca_der: cert.der().to_vec(),
            ca: Issuer::new(params, key),
            log_key: PrivateKey::generate(),
            leaves: Vec::new(),
        }
    }

    pub fn log_id(&self) -> Vec<u8> {
        hex::decode(self.log_key.public().id()).unwrap()
    }

    pub fn ca_pem(&self) -> String {
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            B64.encode(&self.ca_der)
        )
    }

    /// A `trusted_root.json` naming this CA (with `ca_valid_for` as RFC 3339 window ends) and
    /// this log (valid from the epoch).
    pub fn trusted_root(&self, ca_valid_for: (Option<i64>, Option<i64>)) -> Value {
        let mut valid = serde_json::Map::new();
        if let Some(s) = ca_valid_for.0 {
            valid.insert("start".into(), rfc3339(s).into());
        }
        if let Some(e) = ca_valid_for.1 {
            valid.insert("end".into(), rfc3339(e).into());
        }
        let spki = portcullis_verifier::keyless::VerificationKey::from_pem(
            &self.log_key.public().to_pem(),
        )
        .unwrap();
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{"baseUrl": "https://rekor.test", "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": B64.encode(spki.spki_der()), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "1970-01-01T00:00:00Z"}},
                "logId": {"keyId": B64.encode(self.log_id())}}],
            "certificateAuthorities": [{"subject": {"organization": "portcullis-test", "commonName": "test-fulcio"},
                "uri": "https://fulcio.test",
                "certChain": {"certificates": [{"rawBytes": B64.encode(&self.ca_der)}]},
                "validFor": valid}],
            "ctlogs": [], "timestampAuthorities": []
        })
    }

    /// Writes [`Self::trusted_root`] into `dir` and returns its path.
    pub fn write_trusted_root(
        &self,
        dir: &Path,
        ca_valid_for: (Option<i64>, Option<i64>),
    ) -> PathBuf {
        let path = dir.join("trusted_root.json");
        std::fs::write(&path, self.trusted_root(ca_valid_for).to_string()).unwrap();
        path
    }
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(20)
}
