//! The test Rekor v2: a log that issues no SET and no integrated time, keeps a Merkle tree and
//! signs its checkpoints as C2SP signed notes with an Ed25519 key (key id = SHA-256(origin, 0x0A,
//! 0x01, public key), the trusted root's log id for it). [`TestLogV2::relog`] turns a bundle the
//! test Sigstore signed into the form a Rekor v2 deployment returns: its entry replaced by a
//! `hashedrekord` or `dsse` 0.0.2 entry of this log. The time must then come from an RFC 3161
//! timestamp ([`super::TestTsa`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;
use rand_core::RngCore as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::log::{path_of, root_of};
use super::stamps::window;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// How a DSSE envelope is logged in Rekor v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsseAs {
    /// A `dsse` 0.0.2 entry: the payload's hash and the envelope's signature.
    Dsse,
    /// A `hashedrekord` 0.0.2 entry over the envelope's PAE (what sigstore-python writes).
    HashedRekord,
}

pub struct TestLogV2 {
    /// The log's name: its base URL without `https://`, and its checkpoints' origin line.
    pub origin: String,
    key: ed25519_dalek::SigningKey,
    leaves: Vec<[u8; 32]>,
}

impl TestLogV2 {
    /// A fresh log named `origin` (e.g. `log2026-1.rekor.test`).
    pub fn new(origin: &str) -> Self {
        let mut secret = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut secret);
        Self {
            origin: origin.to_string(),
            key: ed25519_dalek::SigningKey::from_bytes(&secret),
            leaves: Vec::new(),
        }
    }

    /// The DER SubjectPublicKeyInfo of the log's key.
    pub fn spki(&self) -> Vec<u8> {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend(self.key.verifying_key().as_bytes());
        der
    }

    /// The C2SP key id of the log's checkpoints, not truncated: its log id.
    pub fn key_id(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(self.origin.as_bytes());
        h.update([0x0a, 0x01]);
        h.update(self.key.verifying_key().as_bytes());
        h.finalize().to_vec()
    }

    /// Its `tlogs` entry in a trusted root, valid `valid_for`.
    pub fn root_entry(&self, valid_for: (Option<i64>, Option<i64>)) -> Value {
        json!({"baseUrl": format!("https://{}", self.origin), "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": B64.encode(self.spki()), "keyDetails": "PKIX_ED25519",
                "validFor": window(valid_for)},
            "logId": {"keyId": B64.encode(self.key_id())},
            "checkpointKeyId": {"keyId": B64.encode(self.key_id())}})
    }

    /// Replaces the log entry of `bundle` (keyless, made by the test Sigstore) with an entry of
    /// this log for the same signature, certificate and content, and drops any timestamp.
    pub fn relog(&mut self, bundle: &mut Value, dsse_as: DsseAs) {
        let cert = bundle["verificationMaterial"]["certificate"]["rawBytes"].clone();
        let verifier = json!({"keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "x509Certificate": {"rawBytes": cert}});
        self.relog_as(bundle, dsse_as, verifier);
    }

    /// [`Self::relog`] for a bundle signed with a key, whose DER SubjectPublicKeyInfo is `spki`
    /// (the bundle itself names the key by a hint only).
    pub fn relog_key(&mut self, bundle: &mut Value, dsse_as: DsseAs, spki: &[u8]) {
        let verifier = json!({"keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "publicKey": {"rawBytes": B64.encode(spki)}});
        self.relog_as(bundle, dsse_as, verifier);
    }

    fn relog_as(&mut self, bundle: &mut Value, dsse_as: DsseAs, verifier: Value) {
        let signature = B64.encode(signed_bytes(bundle));
        let (kind, spec) = match (&bundle["dsseEnvelope"], dsse_as) {
            (Value::Null, _) => {
                let digest = bundle["messageSignature"]["messageDigest"]["digest"].clone();
                ("hashedrekord", hashedrekord(digest, &signature, &verifier))
            }
            (env, DsseAs::HashedRekord) => {
                let pae = portcullis_verifier::cosign::dsse::pae(
                    env["payloadType"].as_str().unwrap(),
                    &payload(env),
                );
                let digest = B64.encode(Sha256::digest(pae)).into();
                ("hashedrekord", hashedrekord(digest, &signature, &verifier))
            }
            (env, DsseAs::Dsse) => (
                "dsse",
                json!({"dsseV002": {
                    "payloadHash": {"algorithm": "SHA2_256",
                        "digest": B64.encode(Sha256::digest(payload(env)))},
                    "signatures": [{"content": signature, "verifier": verifier}]}}),
            ),
        };
        let body = json!({"apiVersion": "0.0.2", "kind": kind, "spec": spec})
            .to_string()
            .into_bytes();
        let entry = self.append(&body, kind);
        let material = bundle["verificationMaterial"].as_object_mut().unwrap();
        material.remove("timestampVerificationData");
        material.insert("tlogEntries".into(), json!([entry]));
    }

    /// Appends `body` and returns its `tlogEntries` element: index, proof, signed checkpoint.
    fn append(&mut self, body: &[u8], kind: &str) -> Value {
        let mut leaf = Sha256::new();
        leaf.update([0u8]);
        leaf.update(body);
        self.leaves.push(leaf.finalize().into());
        let index = self.leaves.len() - 1;
        let root = root_of(&self.leaves);
        let note = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.leaves.len(),
            B64.encode(root)
        );
        let mut sig = self.key_id()[..4].to_vec();
        sig.extend(self.key.sign(note.as_bytes()).to_bytes());
        let checkpoint = format!("{note}\n\u{2014} {} {}\n", self.origin, B64.encode(sig));
        json!({
            "logIndex": index.to_string(),
            "logId": {"keyId": B64.encode(self.key_id())},
            "kindVersion": {"kind": kind, "version": "0.0.2"},
            "inclusionProof": {"logIndex": index.to_string(), "rootHash": B64.encode(root),
                "treeSize": self.leaves.len().to_string(),
                "hashes": path_of(&self.leaves, index).iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": checkpoint}},
            "canonicalizedBody": B64.encode(body)})
    }
}

fn hashedrekord(digest: Value, signature: &str, verifier: &Value) -> Value {
    json!({"hashedRekordV002": {"data": {"algorithm": "SHA2_256", "digest": digest},
        "signature": {"content": signature, "verifier": verifier}}})
}

fn payload(envelope: &Value) -> Vec<u8> {
    B64.decode(envelope["payload"].as_str().unwrap()).unwrap()
}

/// The signature bytes of a bundle: its message signature or its envelope's first signature
/// (what an RFC 3161 timestamp of the bundle covers).
pub fn signed_bytes(bundle: &Value) -> Vec<u8> {
    let sig = match &bundle["dsseEnvelope"] {
        Value::Null => &bundle["messageSignature"]["signature"],
        env => &env["signatures"][0]["sig"],
    };
    B64.decode(sig.as_str().unwrap()).unwrap()
}
