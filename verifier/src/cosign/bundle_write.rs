//! Writing cosign 3's format: a Sigstore bundle v0.3 holding a DSSE envelope signed with a key,
//! stored as an OCI 1.1 referrer of the image (`portcullis sign|attest --bundle-format new`).
//!
//! The bundle names its key by cosign's hint (base64 of the SHA-256 of the key's DER) and carries
//! no transparency-log entry or timestamp: like `cosign sign --key` with a signing config without
//! a log, it is meant for `cosign verify --key --insecure-ignore-tlog` and for key-based
//! authorities here, which do not check a log for key signatures. An image signature is an in-toto
//! statement of predicate type `https://sigstore.dev/cosign/sign/v1` with an empty predicate, as
//! cosign 3 writes it; an attestation is a statement of the given type.
//!
//! The referrer is a manifest with artifact type `application/vnd.dev.sigstore.bundle.v0.3+json`,
//! the OCI empty config, the bundle as its one layer and the image as `subject`. A registry with
//! the referrers API lists it by itself; on one without (CNCF distribution 2.8) it is added to the
//! index under the `sha256-<hex>` fallback tag, keeping the entries already there, with the
//! descriptor such a registry would list (artifact type and the manifest's annotations).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use super::dsse::{Envelope, Statement};
use super::sign::{Attached, SignError};
use crate::keyless::discovery::{BUNDLE_ARTIFACT_TYPE, COSIGN_SIGN_PREDICATE};
use crate::keys::PrivateKey;
use crate::reference::{Digest, ImageRef};
use crate::registry::RegistryClient;
use crate::registry::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::registry::referrers::{ReferrersSource, referrers_tag};

/// The OCI empty descriptor's media type and content.
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_JSON: &[u8] = b"{}";

/// Signs the digest `image` resolves to and stores the bundle as a referrer: an attestation of
/// cosign's signature predicate type with an empty predicate.
pub async fn sign_image_bundle(
    registry: &RegistryClient,
    image: &ImageRef,
    key: &PrivateKey,
    deadline: Instant,
) -> Result<Attached, SignError> {
    attest_image_bundle(
        registry,
        image,
        key,
        COSIGN_SIGN_PREDICATE,
        json!({}),
        deadline,
    )
    .await
}

/// Attests `predicate` (of `predicate_type`, a URI) about the digest `image` resolves to, as a
/// bundle stored as a referrer.
pub async fn attest_image_bundle(
    registry: &RegistryClient,
    image: &ImageRef,
    key: &PrivateKey,
    predicate_type: &str,
    predicate: Value,
    deadline: Instant,
) -> Result<Attached, SignError> {
    let digest = registry.resolve(image, deadline).await?;
    let statement = Statement::new(image, &digest, predicate_type, predicate);
    attach_bundle(registry, image, &digest, key, &statement, deadline).await
}

/// The bundle JSON for `statement` signed with `key`.
pub fn bundle_json(statement: &Statement, key: &PrivateKey) -> Result<Vec<u8>, SignError> {
    let envelope = Envelope::sign_statement(statement, key).map_err(SignError::Encode)?;
    let der = key.public().to_der();
    let bundle = json!({
        "mediaType": BUNDLE_ARTIFACT_TYPE,
        "verificationMaterial": {"publicKey": {"hint": B64.encode(Sha256::digest(&der))}},
        "dsseEnvelope": {
            "payload": envelope.payload,
            "payloadType": envelope.payload_type,
            "signatures": envelope.signatures.iter().map(|s| json!({"sig": s.sig})).collect::<Vec<_>>(),
        },
    });
    serde_json::to_vec(&bundle).map_err(|e| SignError::Encode(e.to_string()))
}

async fn attach_bundle(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    key: &PrivateKey,
    statement: &Statement,
    deadline: Instant,
) -> Result<Attached, SignError> {
    let subject = registry
        .get_manifest(image, digest.as_str(), deadline)
        .await?
        .ok_or_else(|| SignError::Encode(format!("{image}: manifest {digest} vanished")))?;
    let bundle = bundle_json(statement, key)?;
    let empty = registry.push_blob(image, EMPTY_JSON, deadline).await?;
    let layer = registry.push_blob(image, &bundle, deadline).await?;
    let annotations = json!({
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": statement.predicate_type,
    });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_ARTIFACT_TYPE,
        "config": {"mediaType": OCI_EMPTY, "size": EMPTY_JSON.len(), "digest": empty.to_string()},
        "layers": [{"mediaType": BUNDLE_ARTIFACT_TYPE, "size": bundle.len(), "digest": layer.to_string()}],
        "annotations": annotations,
        "subject": {"mediaType": subject.media_type, "size": subject.bytes.len(), "digest": digest.to_string()},
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| SignError::Encode(e.to_string()))?;
    let manifest_digest = Digest::of(&bytes);
    let artifact = format!("{}@{manifest_digest}", image.name());
    let listed = registry.referrers(image, digest, None, deadline).await?;
    let added = !listed
        .manifests
        .iter()
        .any(|m| m.digest == manifest_digest.as_str());
    registry
        .put_manifest(
            image,
            manifest_digest.as_str(),
            OCI_MANIFEST,
            &bytes,
            deadline,
        )
        .await?;
    if let (true, ReferrersSource::Tag { .. }) = (added, &listed.source) {
        let mut entries: Vec<Value> = listed
            .manifests
            .iter()
            .map(|m| serde_json::to_value(m).map_err(|e| SignError::Encode(e.to_string())))
            .collect::<Result<_, _>>()?;
        entries.push(json!({
            "mediaType": OCI_MANIFEST,
            "size": bytes.len(),
            "digest": manifest_digest.to_string(),
            "artifactType": BUNDLE_ARTIFACT_TYPE,
            "annotations": annotations,
        }));
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
        let index = serde_json::to_vec(&index).map_err(|e| SignError::Encode(e.to_string()))?;
        registry
            .put_manifest(image, &referrers_tag(digest), OCI_INDEX, &index, deadline)
            .await?;
    }
    Ok(Attached {
        digest: digest.clone(),
        artifact,
        added,
    })
}
