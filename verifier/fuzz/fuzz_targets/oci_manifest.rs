//! OCI / Docker manifests and indexes as the registry client reads them: image manifests
//! (cosign `.sig`/`.att` artifacts), image indexes (referrers API answers and `sha256-<hex>`
//! fallback tags) and artifact manifests (referrers with a subject).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_verifier::registry::manifest::ImageManifest;
use portcullis_verifier::registry::referrers::{ArtifactManifest, ImageIndex};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ImageManifest>(data);
    let _ = serde_json::from_slice::<ImageIndex>(data);
    let _ = serde_json::from_slice::<ArtifactManifest>(data);
});
