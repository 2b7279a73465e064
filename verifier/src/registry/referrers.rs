//! OCI 1.1 referrers: the artifacts (signatures, attestations, SBOMs) whose manifests name an
//! image as their `subject`.
//!
//! [`RegistryClient::referrers`] asks the referrers API (`GET /v2/<name>/referrers/<digest>`)
//! first. A registry without it (404, or an answer that is not an image index, as CNCF
//! distribution 2.8 gives) is read through the referrers tag schema instead: the tag
//! `sha256-<hex>` holding an index that clients maintain by hand. Either way the caller gets the
//! listed descriptors and where they came from, so its errors can say where it looked.
//!
//! It deliberately only lists: fetching and checking the referring manifests (their `subject`
//! must be the image) is the caller's job, since only the caller knows what it wants from them.

use std::collections::BTreeMap;
use std::fmt;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::manifest::{Descriptor, OCI_INDEX};
use super::{RegistryClient, header_str};
use crate::error::RegistryError;
use crate::reference::{Digest, ImageRef};

/// An index entry: a descriptor that may carry the artifact type of what it points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    pub media_type: String,
    pub size: u64,
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index (the shape of a referrers list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<IndexEntry>,
}

/// An OCI 1.1 artifact manifest: an image manifest with `artifactType` and `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Where a referrers list came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The registry's referrers API.
    Api { url: String },
    /// The referrers tag schema (`repo:sha256-<hex>`); `found` is false when the tag is absent.
    Tag { reference: String, found: bool },
}

impl fmt::Display for ReferrersSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferrersSource::Api { url } => write!(f, "referrers API {url}"),
            ReferrersSource::Tag {
                reference,
                found: true,
            } => write!(f, "referrers tag {reference}"),
            ReferrersSource::Tag {
                reference,
                found: false,
            } => write!(f, "referrers tag {reference} (absent)"),
        }
    }
}

/// The referrers of one digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrers {
    pub source: ReferrersSource,
    pub manifests: Vec<IndexEntry>,
}

/// `sha256-<hex>`: the referrers tag schema's tag for `digest`.
pub fn referrers_tag(digest: &Digest) -> String {
    format!("sha256-{}", digest.hex())
}

impl RegistryClient {
    /// The manifests that name `digest` as their subject, of `artifact_type` when given (the
    /// filter is also applied here: registries may ignore it). Two round trips on a registry
    /// without the referrers API (the 404, then the fallback tag), one otherwise.
    pub async fn referrers(
        &self,
        image: &ImageRef,
        digest: &Digest,
        artifact_type: Option<&str>,
        deadline: Instant,
    ) -> Result<Referrers, RegistryError> {
        let mut url = format!("{}/referrers/{digest}", self.base(image));
        if let Some(t) = artifact_type {
            url.push_str("?artifactType=");
            url.push_str(&t.replace('+', "%2B"));
        }
        let what = format!("referrers of {}@{digest}", image.name());
        let resp = self
            .send(image, &what, deadline, false, |c| {
                c.get(&url).header(ACCEPT, OCI_INDEX)
            })
            .await?;
        let status = resp.status();
        let media_type = header_str(resp.headers(), CONTENT_TYPE.as_str()).unwrap_or_default();
        let from_api = match status {
            StatusCode::OK if media_type.starts_with(OCI_INDEX) => {
                let body = self.read_body(image, &what, resp, deadline).await?;
                match serde_json::from_slice::<ImageIndex>(&body) {
                    Ok(index) => Some(index),
                    Err(e) => return Err(self.protocol(image, &what, format!("bad index: {e}"))),
                }
            }
            // No referrers API (404 per the distribution spec; some registries say 400/405),
            // or an answer that is not an index: use the tag schema.
            StatusCode::OK
            | StatusCode::NOT_FOUND
            | StatusCode::BAD_REQUEST
            | StatusCode::METHOD_NOT_ALLOWED => None,
            s => return Err(self.unexpected(image, &what, s)),
        };
        let (source, index) = match from_api {
            Some(index) => (ReferrersSource::Api { url }, Some(index)),
            None => self.referrers_from_tag(image, digest, deadline).await?,
        };
        let manifests = index
            .map(|i| i.manifests)
            .unwrap_or_default()
            .into_iter()
            .filter(|m| artifact_type.is_none_or(|t| m.artifact_type.as_deref() == Some(t)))
            .collect();
        Ok(Referrers { source, manifests })
    }

    async fn referrers_from_tag(
        &self,
        image: &ImageRef,
        digest: &Digest,
        deadline: Instant,
    ) -> Result<(ReferrersSource, Option<ImageIndex>), RegistryError> {
        let tag = referrers_tag(digest);
        let reference = format!("{}:{tag}", image.name());
        let Some(fetched) = self.get_manifest(image, &tag, deadline).await? else {
            let source = ReferrersSource::Tag {
                reference,
                found: false,
            };
            return Ok((source, None));
        };
        let what = format!("referrers tag {reference}");
        let index: ImageIndex = serde_json::from_slice(&fetched.bytes)
            .map_err(|e| self.protocol(image, &what, format!("not an image index: {e}")))?;
        if let Some(mt) = index.media_type.as_deref().filter(|mt| *mt != OCI_INDEX) {
            return Err(self.protocol(image, &what, format!("media type {mt}, not an index")));
        }
        let source = ReferrersSource::Tag {
            reference,
            found: true,
        };
        Ok((source, Some(index)))
    }
}
