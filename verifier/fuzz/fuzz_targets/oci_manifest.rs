//! OCI / Docker manifests and indexes as the registry client reads them: image manifests
//! (cosign `.sig`/`.att` artifacts), image indexes (referrers API answers and `sha256-<hex>`
//! fallback tags), artifact manifests (referrers with a subject), and the platform entries of an
//! index that a policy's `platforms:` rule picks (`platforms::platform_targets`).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use portcullis_verifier::platforms::platform_targets;
use portcullis_verifier::registry::manifest::ImageManifest;
use portcullis_verifier::registry::referrers::{ArtifactManifest, ImageIndex};
use portcullis_verifier::{Digest, Platform};

static DIGEST: LazyLock<Option<Digest>> =
    LazyLock::new(|| format!("sha256:{}", "0".repeat(64)).parse().ok());
static WANTED: LazyLock<Vec<Platform>> = LazyLock::new(|| {
    ["linux/amd64", "linux/arm64/v8", "linux/arm"]
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ImageManifest>(data);
    let _ = serde_json::from_slice::<ImageIndex>(data);
    let _ = serde_json::from_slice::<ArtifactManifest>(data);
    if let Some(digest) = DIGEST.as_ref() {
        let _ = platform_targets("fuzz/app", digest, data, &WANTED);
    }
});
