//! A private Sigstore for tests: a Fulcio-like CA issuing short-lived code-signing certificates
//! with Fulcio's identity extensions, and a Rekor-like log that signs SETs, keeps a Merkle tree
//! and signs checkpoints, all written into a `trusted_root.json` the verifier loads.
//!
//! It signs images in cosign's classic keyless format (a `.sig` layer with certificate and
//! Rekor-bundle annotations) and blobs as Sigstore v0.3 bundles. Every knob a negative test needs
//! is explicit: certificate window, log time, which key signs the SET, the CA's `validFor`.
//! Shared by the verifier's tests and (via `#[path]`) the webhook's CLI tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::cosign::payload::SimpleSigning;
use portcullis_verifier::cosign::sign::attach;
use portcullis_verifier::cosign::{Artifact, SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE};
use portcullis_verifier::cosign::{DSSE_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION};
use portcullis_verifier::keyless::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, Identity, KeylessRequirement,
    StringMatcher, TrustedRoot,
};
use portcullis_verifier::registry::manifest::Descriptor;
use portcullis_verifier::registry::manifest::{OCI_INDEX, OCI_MANIFEST};
use portcullis_verifier::{Digest, ImageRef, PrivateKey, RegistryClient};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const FULCIO_ARC: [u64; 9] = [1, 3, 6, 1, 4, 1, 57264, 1, 0];

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

/// One logged entry, with everything a classic bundle or a Sigstore bundle needs.
pub struct Logged {
    pub body: Vec<u8>,
    pub integrated_time: i64,
    pub log_index: i64,
    pub log_id: Vec<u8>,
    pub set: Vec<u8>,
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    pub path: Vec<[u8; 32]>,
    pub checkpoint: String,
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

    /// Logs a hashedrekord entry for `sig` by `leaf` over content with SHA-256 `sha256`, at
    /// `integrated_time`; the SET is signed by `set_key` (the log's own key when `None`).
    pub fn log(
        &mut self,
        leaf_pem: &str,
        sig: &[u8],
        sha256: &[u8],
        integrated_time: i64,
        set_key: Option<&PrivateKey>,
    ) -> Logged {
        let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha256)}},
            "signature": {"content": B64.encode(sig), "publicKey": {"content": B64.encode(leaf_pem)}}}})
        .to_string()
        .into_bytes();
        self.append(body, integrated_time, set_key)
    }

    /// Signs the image digest keylessly and attaches the classic `.sig` layer.
    pub async fn sign_image(
        &mut self,
        client: &RegistryClient,
        image: &ImageRef,
        digest: &Digest,
        leaf: &Leaf,
        integrated_time: i64,
        set_key: Option<&PrivateKey>,
    ) {
        let payload = serde_json::to_vec(&SimpleSigning::new(image, digest)).unwrap();
        let sig = leaf.key.sign(&payload);
        let logged = self.log(
            &leaf.pem,
            &sig,
            &Sha256::digest(&payload),
            integrated_time,
            set_key,
        );
        let mut layer = Descriptor::for_bytes(SIMPLESIGNING_MEDIA_TYPE, &payload);
        layer.annotations = self.classic_annotations(B64.encode(&sig), leaf, &logged);
        attach(
            client,
            image,
            digest,
            Artifact::Signature,
            layer,
            payload,
            deadline(),
        )
        .await
        .unwrap();
    }

    /// The annotations of a classic keyless layer (cosign's `.sig` and `.att` tags): `signature`,
    /// `leaf`'s certificate, this CA as its chain, and `logged` as the Rekor bundle.
    fn classic_annotations(
        &self,
        signature: String,
        leaf: &Leaf,
        logged: &Logged,
    ) -> BTreeMap<String, String> {
        let rekor_bundle = json!({"SignedEntryTimestamp": B64.encode(&logged.set), "Payload": {
            "body": B64.encode(&logged.body), "integratedTime": logged.integrated_time,
            "logIndex": logged.log_index, "logID": hex::encode(&logged.log_id)}});
        [
            (SIGNATURE_ANNOTATION, signature),
            (CERTIFICATE_ANNOTATION, leaf.pem.clone()),
            (CHAIN_ANNOTATION, self.ca_pem()),
            (BUNDLE_ANNOTATION, rekor_bundle.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A Sigstore v0.3 bundle with a message signature over `artifact` by `leaf`, logged at
    /// `integrated_time`.
    pub fn sign_blob(&mut self, leaf: &Leaf, artifact: &[u8], integrated_time: i64) -> Value {
        let material = json!({"certificate": {"rawBytes": B64.encode(&leaf.der)}});
        self.blob_bundle(material, &leaf.pem, &leaf.key, artifact, integrated_time)
    }

    /// The same, signed with a plain key (the bundle names it by a hint only).
    pub fn sign_blob_with_key(
        &mut self,
        key: &PrivateKey,
        artifact: &[u8],
        integrated_time: i64,
    ) -> Value {
        let material = json!({"publicKey": {"hint": key.public().id()}});
        self.blob_bundle(
            material,
            &key.public().to_pem(),
            key,
            artifact,
            integrated_time,
        )
    }

    fn blob_bundle(
        &mut self,
        mut material: Value,
        signer_pem: &str,
        key: &PrivateKey,
        artifact: &[u8],
        integrated_time: i64,
    ) -> Value {
        let sha = Sha256::digest(artifact);
        let sig = key.sign(artifact);
        let l = self.log(signer_pem, &sig, &sha, integrated_time, None);
        material["tlogEntries"] = json!([tlog_entry(&l, "hashedrekord", "0.0.1")]);
        json!({
            "mediaType": BUNDLE_V03,
            "verificationMaterial": material,
            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(sha)},
                "signature": B64.encode(&sig)}
        })
    }
}

// === A GitHub release workflow, the identity most tests sign as ===

pub const SUBJECT: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
pub const GITHUB: &str = "https://token.actions.githubusercontent.com";
pub const DAY: i64 = 86_400;

/// A leaf for [`SUBJECT`] valid `window` (seconds relative to `t0`), with repository claims.
pub fn leaf(ss: &TestSigstore, t0: i64, window: (i64, i64)) -> Leaf {
    ss.issue(&LeafSpec {
        subject: SUBJECT,
        issuer: GITHUB,
        not_before: t0 + window.0,
        not_after: t0 + window.1,
        claims: &[
            (5, "acme/app"),
            (6, "refs/tags/v1"),
            (12, "https://github.com/acme/app"),
            (14, "refs/tags/v1"),
        ],
    })
}

/// A requirement trusting `ss` (its CA valid `ca_valid_for`) and accepting `identity`.
pub fn req(
    ss: &TestSigstore,
    ca_valid_for: (Option<i64>, Option<i64>),
    identity: Identity,
) -> KeylessRequirement {
    let doc = ss.trusted_root(ca_valid_for).to_string();
    KeylessRequirement {
        trusted_root: Arc::new(TrustedRoot::from_json(doc.as_bytes(), "test root").unwrap()),
        identities: vec![identity],
        attestations: Vec::new(),
    }
}

/// [`SUBJECT`] from [`GITHUB`], exactly.
pub fn release() -> Identity {
    Identity::new(
        StringMatcher::exact(SUBJECT),
        Some(StringMatcher::exact(GITHUB)),
    )
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

fn root_of(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = leaves.len().next_power_of_two() / 2;
    node(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
}

fn path_of(leaves: &[[u8; 32]], i: usize) -> Vec<[u8; 32]> {
    if leaves.len() == 1 {
        return Vec::new();
    }
    let k = leaves.len().next_power_of_two() / 2;
    let (mut p, sibling) = if i < k {
        (path_of(&leaves[..k], i), root_of(&leaves[k..]))
    } else {
        (path_of(&leaves[k..], i - k), root_of(&leaves[..k]))
    };
    p.push(sibling);
    p
}

// === Keyless attestations and Sigstore bundles as OCI referrers ===

/// cosign's image-signature predicate in DSSE bundles (`cosign sign --new-bundle-format`).
pub const COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";
const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";

/// An in-toto v1 statement about `digest`.
pub fn statement(digest: &Digest, predicate_type: &str, predicate: Option<Value>) -> Value {
    let mut st = json!({"_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "image", "digest": {"sha256": digest.hex()}}],
        "predicateType": predicate_type});
    if let Some(p) = predicate {
        st["predicate"] = p;
    }
    st
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(20)
}

impl TestSigstore {
    /// Logs an arbitrary canonical `body` at `integrated_time`, SET by the log's own key.
    pub fn log_body(&mut self, body: Vec<u8>, integrated_time: i64) -> Logged {
        self.append(body, integrated_time, None)
    }

    /// Appends `body` to the log at `integrated_time`: its SET signed by `set_key` (the log's
    /// own key when `None`), its inclusion proof and a checkpoint signed by the log.
    fn append(
        &mut self,
        body: Vec<u8>,
        integrated_time: i64,
        set_key: Option<&PrivateKey>,
    ) -> Logged {
        let mut leaf = Sha256::new();
        leaf.update([0u8]);
        leaf.update(&body);
        self.leaves.push(leaf.finalize().into());
        let log_index = self.leaves.len() as i64 - 1;
        let log_id = self.log_id();
        let set_doc = json!({"body": B64.encode(&body), "integratedTime": integrated_time,
            "logID": hex::encode(&log_id), "logIndex": log_index});
        let set = set_key
            .unwrap_or(&self.log_key)
            .sign(set_doc.to_string().as_bytes());
        let root_hash = root_of(&self.leaves);
        let note = format!(
            "rekor.test - 1\n{}\n{}\n",
            self.leaves.len(),
            B64.encode(root_hash)
        );
        let mut signed = log_id[..4].to_vec();
        signed.extend(self.log_key.sign(note.as_bytes()));
        Logged {
            checkpoint: format!("{note}\n\u{2014} rekor.test {}\n", B64.encode(signed)),
            path: path_of(&self.leaves, log_index as usize),
            tree_size: self.leaves.len() as u64,
            root_hash,
            body,
            integrated_time,
            log_index,
            log_id,
            set,
        }
    }

    /// A v0.3 bundle with a DSSE envelope over `statement` signed by `leaf`, logged as a
    /// `dsse` 0.0.1 entry (what cosign v3 writes for `sign`/`attest --new-bundle-format`).
    pub fn sign_statement(
        &mut self,
        leaf: &Leaf,
        statement: &Value,
        integrated_time: i64,
    ) -> Value {
        let payload = statement.to_string().into_bytes();
        let sig = leaf.key.sign(&dsse_pae(IN_TOTO, &payload));
        let envelope = json!({"payload": B64.encode(&payload), "payloadType": IN_TOTO,
            "signatures": [{"sig": B64.encode(&sig), "keyid": ""}]});
        let body = json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope.to_string()))},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload))},
            "signatures": [{"signature": B64.encode(&sig), "verifier": B64.encode(&leaf.pem)}]}})
        .to_string()
        .into_bytes();
        let l = self.log_body(body, integrated_time);
        json!({
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {"certificate": {"rawBytes": B64.encode(&leaf.der)},
                "tlogEntries": [tlog_entry(&l, "dsse", "0.0.1")]},
            "dsseEnvelope": envelope
        })
    }

    /// cosign v3's keyless image signature: a DSSE bundle of [`COSIGN_SIGN`] about `digest`.
    pub fn sign_image_bundle(&mut self, leaf: &Leaf, digest: &Digest, at: i64) -> Value {
        self.sign_statement(leaf, &statement(digest, COSIGN_SIGN, None), at)
    }

    /// Keyless `cosign attest` in the classic format: a DSSE envelope layer in the `.att` tag
    /// with the certificate, chain and Rekor bundle annotations, logged as `intoto` 0.0.2 (whose
    /// signatures Rekor stores base64-encoded twice).
    #[allow(clippy::too_many_arguments)]
    pub async fn attest_image(
        &mut self,
        client: &RegistryClient,
        image: &ImageRef,
        digest: &Digest,
        leaf: &Leaf,
        predicate_type: &str,
        predicate: Value,
        integrated_time: i64,
    ) {
        let st = statement(digest, predicate_type, Some(predicate));
        let payload = st.to_string().into_bytes();
        let sig = B64.encode(leaf.key.sign(&dsse_pae(IN_TOTO, &payload)));
        let envelope = json!({"payloadType": IN_TOTO, "payload": B64.encode(&payload),
            "signatures": [{"keyid": "", "sig": sig}]})
        .to_string()
        .into_bytes();
        let body = json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
            "envelope": {"payloadType": IN_TOTO, "signatures": [{"keyid": "",
                "publicKey": B64.encode(&leaf.pem), "sig": B64.encode(&sig)}]},
            "hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&envelope))},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload))}}}})
        .to_string()
        .into_bytes();
        let l = self.log_body(body, integrated_time);
        let mut layer = Descriptor::for_bytes(DSSE_MEDIA_TYPE, &envelope);
        layer.annotations = self.classic_annotations(String::new(), leaf, &l);
        layer.annotations.insert(
            PREDICATE_TYPE_ANNOTATION.to_string(),
            predicate_type.to_string(),
        );
        attach(
            client,
            image,
            digest,
            Artifact::Attestation,
            layer,
            envelope,
            deadline(),
        )
        .await
        .unwrap();
    }
}

fn dsse_pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    portcullis_verifier::cosign::dsse::pae(payload_type, payload)
}

fn tlog_entry(l: &Logged, kind: &str, version: &str) -> Value {
    json!({
        "logIndex": l.log_index.to_string(),
        "logId": {"keyId": B64.encode(&l.log_id)},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": l.integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": B64.encode(&l.set)},
        "inclusionProof": {"logIndex": l.log_index.to_string(), "rootHash": B64.encode(l.root_hash),
            "treeSize": l.tree_size.to_string(),
            "hashes": l.path.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            "checkpoint": {"envelope": l.checkpoint}},
        "canonicalizedBody": B64.encode(&l.body)})
}

/// Attaches `bundle` to `subject` (an image digest) as an OCI 1.1 referrer, the way cosign v3
/// does on a registry without the referrers API: the bundle blob, an artifact manifest whose
/// `subject` is `subject`, and an entry for it in the `sha256-<hex>` fallback index. Returns
/// the referrer manifest's digest.
pub async fn attach_referrer(
    client: &RegistryClient,
    image: &ImageRef,
    subject: &Digest,
    bundle: &Value,
) -> Digest {
    let blob = bundle.to_string().into_bytes();
    let layer = client.push_blob(image, &blob, deadline()).await.unwrap();
    let config = client.push_blob(image, b"{}", deadline()).await.unwrap();
    let target = client
        .get_manifest(image, subject.as_str(), deadline())
        .await
        .unwrap()
        .expect("subject manifest");
    let predicate = bundle["dsseEnvelope"]["payload"]
        .as_str()
        .and_then(|p| B64.decode(p).ok())
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        .and_then(|st| st["predicateType"].as_str().map(str::to_string));
    let mut annotations = json!({"dev.sigstore.bundle.content":
        if predicate.is_some() { "dsse-envelope" } else { "message-signature" }});
    if let Some(p) = &predicate {
        annotations["dev.sigstore.bundle.predicateType"] = p.as_str().into();
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_V03,
        "config": {"mediaType": EMPTY_CONFIG, "digest": config.as_str(), "size": 2},
        "layers": [{"mediaType": BUNDLE_V03, "digest": layer.as_str(), "size": blob.len(),
            "annotations": {"org.opencontainers.image.title": format!("sha256-{}.sigstore.json", layer.hex())}}],
        "subject": {"mediaType": target.media_type, "digest": subject.as_str(), "size": target.bytes.len()},
        "annotations": annotations,
    })
    .to_string()
    .into_bytes();
    let digest = Digest::of(&manifest);
    client
        .put_manifest(image, digest.as_str(), OCI_MANIFEST, &manifest, deadline())
        .await
        .unwrap();
    add_referrer_entry(
        client,
        image,
        subject,
        json!({"mediaType": OCI_MANIFEST, "digest": digest.as_str(), "size": manifest.len(),
            "artifactType": BUNDLE_V03, "annotations": annotations}),
    )
    .await;
    digest
}

/// Appends `entry` to the referrers fallback index (tag `sha256-<hex>`) of `subject`.
pub async fn add_referrer_entry(
    client: &RegistryClient,
    image: &ImageRef,
    subject: &Digest,
    entry: Value,
) {
    let tag = format!("sha256-{}", subject.hex());
    let mut index = match client.get_manifest(image, &tag, deadline()).await.unwrap() {
        Some(existing) => serde_json::from_slice(&existing.bytes).unwrap(),
        None => json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
    };
    index["manifests"].as_array_mut().unwrap().push(entry);
    client
        .put_manifest(
            image,
            &tag,
            OCI_INDEX,
            index.to_string().as_bytes(),
            deadline(),
        )
        .await
        .unwrap();
}
