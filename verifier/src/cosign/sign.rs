//! Writing signatures and attestations in cosign's classic format.
//!
//! A new signature is appended as a layer to the existing `.sig` (or `.att`) manifest, as cosign
//! does, so several signers can sign one image; signing twice with the same key adds nothing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::dsse::{Envelope, Statement};
use super::payload::SimpleSigning;
use super::{
    Artifact, DSSE_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION, SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE, artifact_ref,
};
use crate::error::RegistryError;
use crate::keys::PrivateKey;
use crate::reference::{Digest, ImageRef};
use crate::registry::RegistryClient;
use crate::registry::manifest::{Descriptor, ImageManifest, OCI_CONFIG, OCI_MANIFEST};

/// What a sign or attest call wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attached {
    /// The image digest that was signed.
    pub digest: Digest,
    /// The artifact reference (`repo:sha256-<hex>.sig`).
    pub artifact: String,
    /// False when an identical signature was already there.
    pub added: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("existing {artifact} is not a manifest cosign can extend: {cause}")]
    ExistingManifest { artifact: String, cause: String },
    #[error("cannot encode the statement: {0}")]
    Encode(String),
}

/// Signs the digest `image` resolves to and pushes the signature.
pub async fn sign_image(
    registry: &RegistryClient,
    image: &ImageRef,
    key: &PrivateKey,
    deadline: Instant,
) -> Result<Attached, SignError> {
    let digest = registry.resolve(image, deadline).await?;
    let payload = serde_json::to_vec(&SimpleSigning::new(image, &digest))
        .map_err(|e| SignError::Encode(e.to_string()))?;
    let sig = B64.encode(key.sign(&payload));
    let mut layer = Descriptor::for_bytes(SIMPLESIGNING_MEDIA_TYPE, &payload);
    layer.annotations.insert(SIGNATURE_ANNOTATION.into(), sig);
    attach(
        registry,
        image,
        &digest,
        Artifact::Signature,
        layer,
        payload,
        deadline,
    )
    .await
}

/// Attests `predicate` (of `predicate_type`, a URI) about the digest `image` resolves to.
pub async fn attest_image(
    registry: &RegistryClient,
    image: &ImageRef,
    key: &PrivateKey,
    predicate_type: &str,
    predicate: Value,
    deadline: Instant,
) -> Result<Attached, SignError> {
    let digest = registry.resolve(image, deadline).await?;
    let statement = Statement::new(image, &digest, predicate_type, predicate);
    let envelope = Envelope::sign_statement(&statement, key).map_err(SignError::Encode)?;
    let body = serde_json::to_vec(&envelope).map_err(|e| SignError::Encode(e.to_string()))?;
    let mut layer = Descriptor::for_bytes(DSSE_MEDIA_TYPE, &body);
    layer
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), String::new());
    layer
        .annotations
        .insert(PREDICATE_TYPE_ANNOTATION.into(), predicate_type.into());
    attach(
        registry,
        image,
        &digest,
        Artifact::Attestation,
        layer,
        body,
        deadline,
    )
    .await
}

/// Appends `layer` (whose blob is `blob`) to the artifact manifest for `digest`, creating it if
/// needed. Public so that signatures made elsewhere (e.g. keyless, by a test Sigstore) can be
/// attached in the same format.
pub async fn attach(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    kind: Artifact,
    layer: Descriptor,
    blob: Vec<u8>,
    deadline: Instant,
) -> Result<Attached, SignError> {
    let target = artifact_ref(image, digest, kind);
    let tag = target.reference().to_string();
    let mut layers = match registry.get_manifest(&target, &tag, deadline).await? {
        Some(existing) => {
            let m: ImageManifest = serde_json::from_slice(&existing.bytes).map_err(|e| {
                SignError::ExistingManifest {
                    artifact: target.to_string(),
                    cause: e.to_string(),
                }
            })?;
            m.layers
        }
        None => Vec::new(),
    };
    let attached = |added| Attached {
        digest: digest.clone(),
        artifact: target.to_string(),
        added,
    };
    if layers.contains(&layer) {
        return Ok(attached(false));
    }
    registry.push_blob(&target, &blob, deadline).await?;
    layers.push(layer);
    let config = json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>()},
        "config": {}
    });
    let config = serde_json::to_vec(&config).map_err(|e| SignError::Encode(e.to_string()))?;
    registry.push_blob(&target, &config, deadline).await?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor::for_bytes(OCI_CONFIG, &config),
        layers,
        annotations: Default::default(),
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|e| SignError::Encode(e.to_string()))?;
    registry
        .put_manifest(&target, &tag, OCI_MANIFEST, &bytes, deadline)
        .await?;
    Ok(attached(true))
}
