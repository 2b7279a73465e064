//! OCI 1.1 referrers: the artifacts (signatures, attestations, SBOMs) whose manifests name an
//! image as their `subject`.
//!
//! [`RegistryClient::referrers`] reads the referrers API (`GET /v2/<name>/referrers/<digest>`).
//! A registry without it (a 404 that is no distribution error about the repository or digest,
//! as CNCF distribution 2.8 gives, a 400 or 405, or an answer that is not an image index) is
//! read through the referrers tag schema instead: the tag `sha256-<hex>` holding an index that
//! clients maintain by hand. Both are asked at once on a registry not known yet, and only the
//! one that works once the registry has said which ([`super::referrers_memo`]). Either way the
//! caller gets the listed descriptors and where they came from, so its errors can say where it
//! looked.
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
use crate::head_start::{Later, first_then};
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

/// What the referrers API answered.
enum ApiAnswer {
    Index(ImageIndex),
    /// No listing from the API; `no_api` when the answer says the registry has no such API.
    Absent {
        no_api: bool,
    },
}

/// The distribution error codes that a 404/400 about a repository or digest carries: such an
/// answer may come from a registry with the referrers API.
const NOT_ABOUT_THE_API: [&str; 4] = [
    "NAME_UNKNOWN",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "DIGEST_INVALID",
];

/// Whether an error body (`{"errors": [{"code": …}]}`) names one of [`NOT_ABOUT_THE_API`].
fn names_repository_or_digest(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<Code>,
    }
    #[derive(Deserialize)]
    struct Code {
        #[serde(default)]
        code: String,
    }
    serde_json::from_slice::<Errors>(body).is_ok_and(|e| {
        e.errors
            .iter()
            .any(|c| NOT_ABOUT_THE_API.contains(&c.code.as_str()))
    })
}

/// `sha256-<hex>`: the referrers tag schema's tag for `digest`.
pub fn referrers_tag(digest: &Digest) -> String {
    format!("sha256-{}", digest.hex())
}

impl RegistryClient {
    /// The manifests that name `digest` as their subject, of `artifact_type` when given (the
    /// filter is also applied here: registries may ignore it).
    ///
    /// One round trip: on a registry not known yet, the referrers API and the fallback tag are
    /// asked at once (the tag's answer is used only when the API has none); once the registry
    /// has said whether it has the API ([`referrers_memo`](super::referrers_memo)), only the
    /// place that works is asked. An API that went away costs a second round trip, for the tag.
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
        let host = self.target(image).registry.to_owned();
        let known = self.referrers_memo.has_api(&host);
        // Boxed, as both may be alive at once: inline they would swell every caller's future.
        let tag = Box::pin(self.referrers_from_tag(image, digest, deadline));
        let (source, index) = if known == Some(false) {
            tag.await?
        } else {
            let api = Box::pin(self.referrers_api(image, digest, &url, deadline));
            let (api, tag) = match known {
                Some(_) => (api.await, Later::Running(tag)),
                None => first_then(api, tag).await,
            };
            match api? {
                ApiAnswer::Index(index) => {
                    self.referrers_memo.learn(&host, true);
                    (ReferrersSource::Api { url }, Some(index))
                }
                ApiAnswer::Absent { no_api } => {
                    if no_api {
                        self.referrers_memo.learn(&host, false);
                    }
                    tag.get().await?
                }
            }
        };
        let manifests = index
            .map(|i| i.manifests)
            .unwrap_or_default()
            .into_iter()
            .filter(|m| artifact_type.is_none_or(|t| m.artifact_type.as_deref() == Some(t)))
            .collect();
        Ok(Referrers { source, manifests })
    }

    /// What the referrers API at `url` says.
    async fn referrers_api(
        &self,
        image: &ImageRef,
        digest: &Digest,
        url: &str,
        deadline: Instant,
    ) -> Result<ApiAnswer, RegistryError> {
        let what = format!("referrers of {}@{digest}", image.name());
        let resp = self
            .send(image, &what, deadline, false, |c| {
                c.get(url).header(ACCEPT, OCI_INDEX)
            })
            .await?;
        let status = resp.status();
        let media_type = header_str(resp.headers(), CONTENT_TYPE.as_str()).unwrap_or_default();
        match status {
            StatusCode::OK if media_type.starts_with(OCI_INDEX) => {
                let body = self.read_body(image, &what, resp, deadline).await?;
                serde_json::from_slice::<ImageIndex>(&body)
                    .map(ApiAnswer::Index)
                    .map_err(|e| self.protocol(image, &what, format!("bad index: {e}")))
            }
            // An answer that is not an index: no listing here, though not a clear "no API".
            StatusCode::OK => Ok(ApiAnswer::Absent { no_api: false }),
            // No referrers API (404 per the distribution spec; some registries say 400/405),
            // unless the error is about the repository or the digest rather than the path.
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED => {
                let body = self.read_body(image, &what, resp, deadline).await;
                let no_api = body.is_ok_and(|b| !names_repository_or_digest(&b));
                Ok(ApiAnswer::Absent { no_api })
            }
            s => Err(self.unexpected(image, &what, s)),
        }
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

#[cfg(test)]
mod tests {
    use super::names_repository_or_digest;

    #[test]
    fn errors_about_the_repository_or_digest_are_told_from_a_missing_api() {
        let error = |code: &str| format!(r#"{{"errors":[{{"code":"{code}","message":"m"}}]}}"#);
        for code in [
            "NAME_UNKNOWN",
            "MANIFEST_UNKNOWN",
            "NAME_INVALID",
            "DIGEST_INVALID",
        ] {
            assert!(names_repository_or_digest(error(code).as_bytes()), "{code}");
        }
        // What CNCF distribution 2.8 answers for the API path, and other errors.
        for body in [
            "404 page not found\n".to_owned(),
            String::new(),
            error("UNSUPPORTED"),
            error("NOT_FOUND"),
            r#"{"errors":[]}"#.to_owned(),
        ] {
            assert!(!names_repository_or_digest(body.as_bytes()), "{body:?}");
        }
    }
}
