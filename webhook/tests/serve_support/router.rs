//! Router tests without a network: policies from YAML, `app()` through tower `oneshot`, and
//! stub image verifiers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use serde_json::Value;

use super::*;

// === router tests (no network) ===

use portcullis_webhook::serve::decide::{Policies, SourceFile};
use portcullis_webhook::serve::{AdmissionState, ImageVerifier, Metrics, PolicyStore};

/// Parses `(file name, YAML)` policy sources, panicking with the load error.
pub fn policies(sources: &[(&str, &str)]) -> Policies {
    let files: Vec<SourceFile> = sources
        .iter()
        .map(|(name, text)| SourceFile {
            path: PathBuf::from(name),
            text: (*text).to_string(),
        })
        .collect();
    Policies::parse(&files).unwrap_or_else(|e| panic!("policies do not load: {e}"))
}

/// The admission router over `policies` and `verifier`, with its metrics.
pub fn router(policies: Policies, verifier: Arc<dyn ImageVerifier>) -> (axum::Router, Metrics) {
    let metrics = Metrics::unregistered();
    let state = AdmissionState {
        policies: Arc::new(PolicyStore::fixed(policies)),
        verifier,
        metrics: metrics.clone(),
        timeout_margin: Duration::from_millis(200),
        default_timeout: Duration::from_secs(10),
        pull_secrets: None,
    };
    (portcullis_webhook::serve::app(Arc::new(state)), metrics)
}

/// One request through the router with tower's `oneshot`: (status, body).
pub async fn call(
    app: &axum::Router,
    path: &str,
    body: impl Into<axum::body::Body>,
) -> (u16, Vec<u8>) {
    use tower::ServiceExt as _;
    let request = axum::http::Request::post(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, bytes)
}

/// Posts a review through the router and returns its checked `response`.
pub async fn call_review(app: &axum::Router, path: &str, review: &Value) -> Value {
    let uid = review["request"]["uid"].as_str().unwrap().to_string();
    let (status, body) = call(app, path, serde_json::to_vec(review).unwrap()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    response_of(&serde_json::from_slice(&body).unwrap(), &uid)
}

// === stub verifiers ===

use futures::future::BoxFuture;
use portcullis_verifier::{Digest, ImageRef, ImageRequirement, Verdict, Verified, VerifyError};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A verifier that answers after `delay` (never, when `None` is `hang`), either "verified" with
/// a digest derived from the image, or "no signature".
pub struct StubVerifier {
    pub delay: Duration,
    pub hang: bool,
    pub signed: bool,
    pub calls: AtomicUsize,
}

impl StubVerifier {
    pub fn signed() -> Arc<Self> {
        Arc::new(Self {
            delay: Duration::ZERO,
            hang: false,
            signed: true,
            calls: AtomicUsize::new(0),
        })
    }
    pub fn unsigned() -> Arc<Self> {
        Arc::new(Self {
            delay: Duration::ZERO,
            hang: false,
            signed: false,
            calls: AtomicUsize::new(0),
        })
    }
    pub fn hanging() -> Arc<Self> {
        Arc::new(Self {
            delay: Duration::ZERO,
            hang: true,
            signed: true,
            calls: AtomicUsize::new(0),
        })
    }
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// The digest the stub "verifies" for `image`: its own when pinned, else one derived from it.
pub fn stub_digest(image: &str) -> Digest {
    image
        .parse::<ImageRef>()
        .ok()
        .and_then(|r| r.digest().cloned())
        .unwrap_or_else(|| Digest::of(image.as_bytes()))
}

impl ImageVerifier for StubVerifier {
    fn verify<'a>(
        &'a self,
        image: &'a str,
        _requirement: Arc<ImageRequirement>,
        _deadline: tokio::time::Instant,
    ) -> BoxFuture<'a, Verdict> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if self.hang {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(self.delay).await;
            if self.signed {
                Arc::new(Ok(Verified {
                    digest: stub_digest(image),
                    key_ids: vec!["test-key".into()],
                    attestations: Vec::new(),
                }))
            } else {
                Arc::new(Err(VerifyError::NoSignature {
                    image: image.to_string(),
                    tag: "sha256-….sig".into(),
                }))
            }
        })
    }
}

/// A `ClusterImagePolicy` requiring a signature by a fresh key on `images` (glob).
pub fn image_policy(name: &str, images: &str, mode: &str) -> String {
    key_policy(
        &portcullis_verifier::PrivateKey::generate(),
        name,
        images,
        mode,
    )
}

/// A `ClusterImagePolicy` requiring a signature by `key` on `images` (glob).
pub fn key_policy(
    key: &portcullis_verifier::PrivateKey,
    name: &str,
    images: &str,
    mode: &str,
) -> String {
    let pem = key.public().to_pem();
    let indented: String = pem.lines().map(|l| format!("          {l}\n")).collect();
    format!(
        "apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {{name: {name}}}
spec:
  mode: {mode}
  images: [\"{images}\"]
  authorities:
    keys:
      - name: test
        pem: |
{indented}"
    )
}
