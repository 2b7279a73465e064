//! The OCI 1.1 referrers API, served by [`crate::Proxy`] in front of a real registry that lacks it.
//!
//! No registry installable here ships the referrers API (Debian's `docker-registry` is CNCF
//! distribution 2.8; zot and distribution 3 are not packaged), so this is a spec-shaped front over
//! the real loopback registry, after the OCI distribution spec v1.1, not a registry of its own.
//! Everything is forwarded to the registry, which stores and serves all content; the front only
//! adds what the spec asks of a registry with the API:
//! - a manifest `PUT` that the registry accepts (201) and whose JSON has a `subject` is recorded
//!   as a referrer of that subject in that repository: a descriptor with the manifest's media
//!   type, digest and size, its `artifactType` (else its config's media type) and its
//!   annotations; the response gains `OCI-Subject: <subject digest>`;
//! - `GET /v2/<name>/referrers/<digest>[?artifactType=…]` answers an OCI image index of those
//!   descriptors (empty, never 404, when there are none; 400 for a malformed digest), filtered by
//!   artifact type with `OCI-Filters-Applied: artifactType` when asked;
//! - a manifest `DELETE` by digest that the registry accepts drops it from every list.
//!
//! What it deliberately lacks: pagination (`Link`), persistence (the lists live in memory, so
//! they do not survive a new front; restarting the registry behind it keeps them), and any check
//! that the subject exists (the spec allows referrers of absent subjects).
//! [`crate::Proxy::list_referrer`] lists an arbitrary descriptor, as a registry that lies would,
//! for tests of clients that must not trust a listing.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::oci::OCI_INDEX;
use crate::proxy::Body;

/// The response header naming the subject a pushed manifest was recorded for.
pub const OCI_SUBJECT: &str = "oci-subject";
/// The response header saying which listing filters the registry applied.
pub const OCI_FILTERS_APPLIED: &str = "oci-filters-applied";

/// The referrers lists: (repository, subject digest) → descriptors, in push order.
#[derive(Debug, Default)]
pub(crate) struct ReferrersApi {
    lists: Mutex<BTreeMap<(String, String), Vec<Value>>>,
}

impl ReferrersApi {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, String), Vec<Value>>> {
        // A panicking test thread must not hide the lists from the assertions that follow.
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `descriptor` to the list of `subject` in `repo`, replacing one of the same digest.
    pub(crate) fn list(&self, repo: &str, subject: &str, descriptor: Value) {
        let mut lists = self.lock();
        let list = lists
            .entry((repo.to_owned(), subject.to_owned()))
            .or_default();
        list.retain(|d| d["digest"] != descriptor["digest"]);
        list.push(descriptor);
    }

    /// Records the manifest `bytes` pushed to `repo` when it names a subject; returns the subject.
    fn record(&self, repo: &str, content_type: Option<&str>, bytes: &[u8]) -> Option<String> {
        let manifest: Value = serde_json::from_slice(bytes).ok()?;
        let subject = manifest["subject"]["digest"].as_str()?.to_owned();
        let media_type = manifest["mediaType"]
            .as_str()
            .or(content_type)
            .unwrap_or_default();
        let mut descriptor = json!({
            "mediaType": media_type,
            "digest": format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
            "size": bytes.len(),
        });
        let artifact_type = manifest["artifactType"]
            .as_str()
            .or_else(|| manifest["config"]["mediaType"].as_str());
        if let Some(t) = artifact_type {
            descriptor["artifactType"] = t.into();
        }
        if let Some(a) = manifest["annotations"]
            .as_object()
            .filter(|a| !a.is_empty())
        {
            descriptor["annotations"] = Value::Object(a.clone());
        }
        self.list(repo, &subject, descriptor);
        Some(subject)
    }

    /// Drops the manifest `digest` of `repo` from every list.
    fn forget(&self, repo: &str, digest: &str) {
        for ((r, _), list) in self.lock().iter_mut() {
            if r == repo {
                list.retain(|d| d["digest"] != digest);
            }
        }
    }

    /// The answer to `GET /v2/<repo>/referrers/<subject>?<query>`.
    fn listing(&self, repo: &str, subject: &str, query: Option<&str>) -> Response<Body> {
        if !is_sha256_digest(subject) {
            let body = json!({"errors": [{"code": "DIGEST_INVALID",
                "message": format!("not a sha256 digest: {subject}"), "detail": null}]});
            return response(StatusCode::BAD_REQUEST, "application/json", body);
        }
        let wanted = query.and_then(artifact_type_filter);
        let manifests: Vec<Value> = self
            .lock()
            .get(&(repo.to_owned(), subject.to_owned()))
            .into_iter()
            .flatten()
            .filter(|d| wanted.as_deref().is_none_or(|t| d["artifactType"] == t))
            .cloned()
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        let mut res = response(StatusCode::OK, OCI_INDEX, index);
        if wanted.is_some() {
            res.headers_mut().insert(
                OCI_FILTERS_APPLIED,
                HeaderValue::from_static("artifactType"),
            );
        }
        res
    }
}

/// Serves the referrers API for `req`, or forwards it (recording pushed referrers on the way).
pub(crate) async fn route<F, Fut>(
    api: &ReferrersApi,
    req: Request<Incoming>,
    forward: F,
) -> Result<Response<Body>>
where
    F: FnOnce(Request<Body>) -> Fut,
    Fut: Future<Output = Result<Response<Body>>>,
{
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix("/v2/") else {
        return forward(req.map(BodyExt::boxed)).await;
    };
    if let Some((repo, subject)) = rest.rsplit_once("/referrers/") {
        return Ok(match *req.method() {
            Method::GET | Method::HEAD => api.listing(repo, subject, req.uri().query()),
            _ => {
                let error = json!({"code": "UNSUPPORTED", "message": "referrers are read-only"});
                let body = json!({"errors": [error]});
                response(StatusCode::METHOD_NOT_ALLOWED, "application/json", body)
            }
        });
    }
    let Some((repo, reference)) = rest.rsplit_once("/manifests/") else {
        return forward(req.map(BodyExt::boxed)).await;
    };
    match *req.method() {
        Method::PUT => {
            let repo = repo.to_owned();
            let (parts, body) = req.into_parts();
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = body.collect().await?.to_bytes();
            let full = Full::new(bytes.clone()).map_err(|never| match never {});
            let mut res = forward(Request::from_parts(parts, full.boxed())).await?;
            if res.status() == StatusCode::CREATED
                && let Some(subject) = api.record(&repo, content_type.as_deref(), &bytes)
            {
                res.headers_mut()
                    .insert(OCI_SUBJECT, HeaderValue::from_str(&subject)?);
            }
            Ok(res)
        }
        Method::DELETE if is_sha256_digest(reference) => {
            let (repo, digest) = (repo.to_owned(), reference.to_owned());
            let res = forward(req.map(BodyExt::boxed)).await?;
            if res.status().is_success() {
                api.forget(&repo, &digest);
            }
            Ok(res)
        }
        _ => forward(req.map(BodyExt::boxed)).await,
    }
}

fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `artifactType` query parameter, percent-decoded (`+` in a media type arrives as `%2B`).
fn artifact_type_filter(query: &str) -> Option<String> {
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("artifactType="))?;
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        let decoded = match b {
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            other => other,
        };
        out.push(decoded);
    }
    String::from_utf8(out).ok()
}

fn response(status: StatusCode, content_type: &'static str, body: Value) -> Response<Body> {
    let body = Full::new(Bytes::from(body.to_string())).map_err(|never| match never {});
    let mut res = Response::new(body.boxed());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_artifact_type_filter_is_percent_decoded() {
        let q = "n=1&artifactType=application/vnd.dev.sigstore.bundle.v0.3%2Bjson";
        assert_eq!(
            artifact_type_filter(q).unwrap(),
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        assert_eq!(artifact_type_filter("n=1"), None);
        assert_eq!(artifact_type_filter("artifactType=%2"), None);
    }

    #[test]
    fn a_pushed_manifest_with_a_subject_is_listed_with_its_type_and_annotations() {
        let api = ReferrersApi::default();
        let subject = format!("sha256:{}", "a".repeat(64));
        let manifest = json!({"schemaVersion": 2, "mediaType": "m", "config": {"mediaType": "c"},
            "subject": {"digest": subject}, "annotations": {"k": "v"}})
        .to_string();
        assert_eq!(
            api.record("r", None, manifest.as_bytes()),
            Some(subject.clone())
        );
        assert_eq!(api.record("r", None, b"{\"schemaVersion\": 2}"), None);
        let listed = api.lock()[&("r".to_owned(), subject)].clone();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            listed[0]["artifactType"], "c",
            "the config's type stands in"
        );
        assert_eq!(listed[0]["annotations"]["k"], "v");
        assert_eq!(listed[0]["size"], manifest.len());
    }
}
