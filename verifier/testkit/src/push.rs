//! Pushing the in-memory images of `oci.rs` over the registry HTTP API (OCI distribution spec):
//! blobs by monolithic upload (`POST` then `PUT ?digest=`), manifests by `PUT`.
//!
//! `registry_addr` is `host:port` of a plain-HTTP registry, or of a [`crate::Proxy`] in front of
//! one. The returned digests are computed locally and checked against `Docker-Content-Digest`.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use reqwest::{StatusCode, Url, header};

use crate::oci::{self, Blob, OCI_INDEX, OCI_MANIFEST, Platform};

/// Pushes a one-layer `linux/amd64` OCI image whose layer contains `seed`, tagged `tag`
/// (which may also be a `sha256:` digest). Returns the manifest digest `sha256:<hex>`.
pub async fn push_image(registry_addr: &str, repo: &str, tag: &str, seed: &[u8]) -> Result<String> {
    push_image_for(registry_addr, repo, tag, seed, Platform::LINUX_AMD64).await
}

/// [`push_image`] for a given platform. Deterministic: the same `seed` and `platform` always give
/// the same digest, so a test can recompute an index's children this way.
pub async fn push_image_for(
    registry_addr: &str,
    repo: &str,
    reference: &str,
    seed: &[u8],
    platform: Platform,
) -> Result<String> {
    let api = Api::new(registry_addr, repo)?;
    let image = oci::image(seed, platform)?;
    api.upload_blob(&image.layer).await?;
    api.upload_blob(&image.config).await?;
    api.put_manifest(reference, &image.manifest, OCI_MANIFEST)
        .await
}

/// Pushes a two-platform OCI image index tagged `tag`, over a `linux/amd64` and a `linux/arm64`
/// image built from `seed` (pushed by digest, untagged). Returns the index digest.
/// The children are `push_image_for(.., seed, Platform::LINUX_AMD64 | LINUX_ARM64)`.
pub async fn push_index(registry_addr: &str, repo: &str, tag: &str, seed: &[u8]) -> Result<String> {
    let api = Api::new(registry_addr, repo)?;
    let platforms = [Platform::LINUX_AMD64, Platform::LINUX_ARM64];
    let mut children = Vec::with_capacity(platforms.len());
    for platform in platforms {
        let image = oci::image(seed, platform)?;
        api.upload_blob(&image.layer).await?;
        api.upload_blob(&image.config).await?;
        let digest = image.manifest.digest.clone();
        api.put_manifest(&digest, &image.manifest, OCI_MANIFEST)
            .await?;
        children.push((platform, image.manifest));
    }
    let refs: Vec<_> = children.iter().map(|(p, m)| (*p, m)).collect();
    let index = oci::index(&refs)?;
    api.put_manifest(tag, &index, OCI_INDEX).await
}

// === impl Api ===

struct Api {
    http: reqwest::Client,
    base: Url,
    repo: String,
}

impl Api {
    fn new(registry_addr: &str, repo: &str) -> Result<Api> {
        let base = Url::parse(&format!("http://{registry_addr}/"))
            .with_context(|| format!("bad registry address {registry_addr:?}"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Api {
            http,
            base,
            repo: repo.to_owned(),
        })
    }

    fn url(&self, path: &str) -> Result<Url> {
        Ok(self.base.join(&format!("v2/{}/{path}", self.repo))?)
    }

    async fn upload_blob(&self, blob: &Blob) -> Result<()> {
        let exists = self
            .http
            .head(self.url(&format!("blobs/{}", blob.digest))?)
            .send()
            .await?;
        if exists.status() == StatusCode::OK {
            return Ok(());
        }

        let started = self.http.post(self.url("blobs/uploads/")?).send().await?;
        let started = expect(started, StatusCode::ACCEPTED, "start blob upload").await?;
        let location = started
            .headers()
            .get(header::LOCATION)
            .ok_or_else(|| anyhow!("blob upload answered 202 without Location"))?
            .to_str()?;
        // Location may be absolute (distribution puts its own host:port there) or relative.
        let mut put_url = self.base.join(location)?;
        put_url
            .query_pairs_mut()
            .append_pair("digest", &blob.digest);

        let done = self
            .http
            .put(put_url)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(blob.bytes.clone())
            .send()
            .await?;
        expect(
            done,
            StatusCode::CREATED,
            &format!("upload blob {}", blob.digest),
        )
        .await?;
        Ok(())
    }

    async fn put_manifest(
        &self,
        reference: &str,
        manifest: &Blob,
        media_type: &str,
    ) -> Result<String> {
        let res = self
            .http
            .put(self.url(&format!("manifests/{reference}"))?)
            .header(header::CONTENT_TYPE, media_type)
            .body(manifest.bytes.clone())
            .send()
            .await?;
        let what = format!("push manifest {}:{reference}", self.repo);
        let res = expect(res, StatusCode::CREATED, &what).await?;
        if let Some(reported) = res.headers().get("docker-content-digest") {
            let reported = reported.to_str()?;
            ensure!(
                reported == manifest.digest,
                "{what}: registry reports digest {reported}, computed {}",
                manifest.digest
            );
        }
        Ok(manifest.digest.clone())
    }
}

async fn expect(
    res: reqwest::Response,
    status: StatusCode,
    what: &str,
) -> Result<reqwest::Response> {
    if res.status() == status {
        return Ok(res);
    }
    let got = res.status();
    let body = res.text().await.unwrap_or_default();
    bail!("{what}: expected {status}, registry answered {got}: {body}")
}
