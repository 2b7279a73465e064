//! Signing with the test Sigstore in the formats the verifier reads: cosign's classic `.sig`
//! and `.att` layers attached to an image, Sigstore v0.3 bundles over a blob, and DSSE bundles
//! over in-toto statements (cosign v3's `--new-bundle-format`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::cosign::payload::SimpleSigning;
use portcullis_verifier::cosign::sign::attach;
use portcullis_verifier::cosign::{Artifact, SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE};
use portcullis_verifier::cosign::{DSSE_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION};
use portcullis_verifier::keyless::{BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION};
use portcullis_verifier::registry::manifest::Descriptor;
use portcullis_verifier::{Digest, ImageRef, PrivateKey, RegistryClient};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::log::tlog_entry;
use super::{BUNDLE_V03, Leaf, Logged, TestSigstore, deadline};

/// cosign's image-signature predicate in DSSE bundles (`cosign sign --new-bundle-format`).
pub const COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";
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

impl TestSigstore {
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
