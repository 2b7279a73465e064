//! Sigstore bundles as OCI 1.1 referrers, attached the way cosign v3 does on a registry
//! without the referrers API (the `sha256-<hex>` fallback index).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::registry::manifest::{OCI_INDEX, OCI_MANIFEST};
use portcullis_verifier::{Digest, ImageRef, RegistryClient};
use serde_json::{Value, json};

use super::{BUNDLE_V03, deadline};

const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

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
