//! Tiny OCI images built in memory: one uncompressed tar layer, an image config, a manifest,
//! and a multi-platform index over manifests.
//!
//! Everything is deterministic (no timestamps): the same seed and platform always give the same
//! digests, different seeds give different ones. Pushing is `push.rs`'s job; nothing here does I/O.

use serde_json::json;
use sha2::{Digest, Sha256};

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// The `os`/`architecture` pair an image is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub os: &'static str,
    pub architecture: &'static str,
}

impl Platform {
    pub const LINUX_AMD64: Platform = Platform {
        os: "linux",
        architecture: "amd64",
    };
    pub const LINUX_ARM64: Platform = Platform {
        os: "linux",
        architecture: "arm64",
    };
}

/// A content-addressed blob: its bytes and `sha256:<hex>` digest.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Blob {
    pub fn new(bytes: Vec<u8>) -> Blob {
        let digest = sha256_digest(&bytes);
        Blob { bytes, digest }
    }

    fn descriptor(&self, media_type: &str) -> serde_json::Value {
        json!({ "mediaType": media_type, "digest": self.digest, "size": self.bytes.len() })
    }
}

/// An image ready to push: its blobs (layer, config) and its manifest.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    pub layer: Blob,
    pub config: Blob,
    pub manifest: Blob,
}

pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One image whose single layer holds `portcullis-seed.txt` with `seed` in it.
pub(crate) fn image(seed: &[u8], platform: Platform) -> anyhow::Result<Image> {
    let mut content = b"portcullis test image\nseed: ".to_vec();
    content.extend_from_slice(seed);
    content.push(b'\n');
    let layer = Blob::new(tar_one_file("portcullis-seed.txt", &content)?);
    // The layer is uncompressed, so its diff_id is its own digest.
    let config = json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "config": { "Labels": { "dev.portcullis.testkit.seed": hex::encode(seed) } },
        "rootfs": { "type": "layers", "diff_ids": [layer.digest] },
    });
    let config = Blob::new(serde_json::to_vec(&config)?);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(OCI_CONFIG),
        "layers": [layer.descriptor(OCI_LAYER_TAR)],
    });
    let manifest = Blob::new(serde_json::to_vec(&manifest)?);
    Ok(Image {
        layer,
        config,
        manifest,
    })
}

/// An OCI index over `(platform, manifest)` pairs.
pub(crate) fn index(children: &[(Platform, &Blob)]) -> anyhow::Result<Blob> {
    let manifests: Vec<_> = children
        .iter()
        .map(|(p, m)| {
            let mut d = m.descriptor(OCI_MANIFEST);
            d["platform"] = json!({ "os": p.os, "architecture": p.architecture });
            d
        })
        .collect();
    let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    Ok(Blob::new(serde_json::to_vec(&index)?))
}

/// A POSIX ustar archive holding one regular file (mode 0644, mtime 0, root-owned).
fn tar_one_file(name: &str, content: &[u8]) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(name.len() < 100, "tar name too long: {name}");
    let mut header = [0u8; 512];
    let mut put =
        |offset: usize, field: &[u8]| header[offset..offset + field.len()].copy_from_slice(field);
    put(0, name.as_bytes());
    put(100, b"0000644\0"); // mode
    put(108, b"0000000\0"); // uid
    put(116, b"0000000\0"); // gid
    put(124, format!("{:011o}\0", content.len()).as_bytes()); // size
    put(136, b"00000000000\0"); // mtime
    put(148, b"        "); // checksum, counted as spaces
    put(156, b"0"); // regular file
    put(257, b"ustar\0"); // magic
    put(263, b"00"); // version
    put(265, b"root");
    put(297, b"root");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());

    let padded = content.len().div_ceil(512) * 512;
    let mut out = Vec::with_capacity(512 + padded + 1024);
    out.extend_from_slice(&header);
    out.extend_from_slice(content);
    out.resize(512 + padded + 1024, 0); // data padding + two zero end-of-archive blocks
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    #[test]
    fn same_seed_same_digest_different_seed_different_digest() -> anyhow::Result<()> {
        let a = image(b"a", Platform::LINUX_AMD64)?;
        assert_eq!(
            a.manifest.digest,
            image(b"a", Platform::LINUX_AMD64)?.manifest.digest
        );
        assert_ne!(
            a.manifest.digest,
            image(b"b", Platform::LINUX_AMD64)?.manifest.digest
        );
        assert_ne!(
            a.manifest.digest,
            image(b"a", Platform::LINUX_ARM64)?.manifest.digest
        );
        Ok(())
    }

    #[test]
    fn manifest_points_at_config_and_layer() -> anyhow::Result<()> {
        let img = image(b"seed", Platform::LINUX_AMD64)?;
        let m: serde_json::Value = serde_json::from_slice(&img.manifest.bytes)?;
        assert_eq!(m["mediaType"], OCI_MANIFEST);
        assert_eq!(m["config"]["digest"], img.config.digest.as_str());
        assert_eq!(m["layers"][0]["digest"], img.layer.digest.as_str());
        assert_eq!(m["layers"][0]["size"], img.layer.bytes.len());
        let c: serde_json::Value = serde_json::from_slice(&img.config.bytes)?;
        assert_eq!(c["rootfs"]["diff_ids"][0], img.layer.digest.as_str());
        Ok(())
    }

    #[test]
    fn layer_is_a_tar_that_system_tar_reads_back() -> anyhow::Result<()> {
        let img = image(b"hello-seed", Platform::LINUX_AMD64)?;
        let mut child = Command::new("tar")
            .args(["-xO", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin"))?
            .write_all(&img.layer.bytes)?;
        let out = child.wait_with_output()?;
        assert!(out.status.success(), "tar failed: {out:?}");
        assert_eq!(out.stdout, b"portcullis test image\nseed: hello-seed\n");
        Ok(())
    }
}
