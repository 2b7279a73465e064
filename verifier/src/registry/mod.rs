//! A small OCI distribution client: exactly the calls verification and signing need, each one
//! bounded by the caller's deadline, retried on 429/5xx honouring `Retry-After`, and counted.
//! A 429 or 503 pauses every request to that host, not only the one that got it, and requests
//! per host are bounded ([`host_gate`]).
//!
//! Why not a general OCI client: verification must make as few round trips as possible (a signed
//! image costs three: a HEAD for the tag, then the `.sig` manifest with the referrers listing
//! asked beside it, then the signature layers),
//! every failure must name its registry and cause, and plain HTTP is used only for registries the
//! operator listed.

pub mod auth;
pub mod host_gate;
mod keyring;
mod login;
pub mod manifest;
mod mirror;
pub mod referrers;
mod referrers_memo;
mod request;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LOCATION};
use tokio::time::Instant;

pub use auth::{Credential, Credentials};
use host_gate::HostGates;
pub use host_gate::{Pause, PauseObserver};
use manifest::MANIFEST_ACCEPT;
pub use mirror::{Mirror, MirrorError};
use referrers_memo::ReferrersMemo;

use crate::error::RegistryError;
use crate::reference::{Digest, ImageRef};

/// Largest manifest or signature blob we read (cosign artifacts are a few KiB).
const MAX_DOC: usize = 4 << 20;

/// Called once per HTTP response (status code) or transport failure (`None`), for metrics.
pub type RequestObserver = Arc<dyn Fn(&str, Option<u16>) + Send + Sync>;

/// Registry client settings.
#[derive(Clone)]
pub struct RegistryConfig {
    /// Registries (`host` or `host:port`) reached over plain HTTP.
    pub insecure: Vec<String>,
    pub credentials: Credentials,
    /// Registries served by another host (every request, reads and writes; no fallback).
    pub mirrors: Vec<Mirror>,
    /// Attempts per request on 429/5xx/connection errors (at least 1).
    pub max_tries: u32,
    /// First backoff when the registry gives no `Retry-After`; doubles per attempt.
    pub backoff: Duration,
    pub observer: Option<RequestObserver>,
    /// Requests in flight per registry host (at least 1); more queue within their deadline.
    pub max_concurrent_per_host: usize,
    /// Called when a host is paused by a 429/503 (see [`host_gate`]).
    pub pause_observer: Option<PauseObserver>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            credentials: Credentials::default(),
            mirrors: Vec::new(),
            max_tries: 3,
            backoff: Duration::from_millis(200),
            observer: None,
            max_concurrent_per_host: 16,
            pause_observer: None,
        }
    }
}

/// A manifest as served: its digest, media type and exact bytes.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// The registry client. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    cfg: Arc<RegistryConfig>,
    tokens: Arc<Mutex<HashMap<String, String>>>,
    /// Which registries have the referrers API, shared by clones.
    referrers_memo: Arc<ReferrersMemo>,
    /// The shared back-off and request bound per host, shared by clones.
    gates: Arc<HostGates>,
    /// The caller's own credentials (a workload's pull secrets), tried before the configured
    /// ones; see [`Self::with_credentials`].
    caller: Option<Arc<Credentials>>,
}

impl RegistryClient {
    pub fn new(cfg: RegistryConfig) -> Result<Self, RegistryError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Protocol {
                registry: "-".into(),
                what: "HTTP client".into(),
                cause: e.to_string(),
            })?;
        Ok(Self {
            http,
            gates: Arc::new(HostGates::new(cfg.max_concurrent_per_host)),
            cfg: Arc::new(cfg),
            tokens: Arc::default(),
            referrers_memo: Arc::default(),
            caller: None,
        })
    }

    /// A client for one caller (e.g. one admission review): `credentials` are tried before the
    /// configured ones, most specific key first. The connection pool, tokens and referrers
    /// memo stay shared; tokens are kept per credential, so one caller's credentials never
    /// authenticate another's requests.
    pub fn with_credentials(&self, credentials: Arc<Credentials>) -> Self {
        Self {
            caller: Some(credentials),
            ..self.clone()
        }
    }

    /// Whether this client carries a caller's credentials ([`Self::with_credentials`]), even
    /// empty ones: its authentication failures are about that caller.
    pub fn has_caller_credentials(&self) -> bool {
        self.caller.is_some()
    }

    /// The registry host requests for `image` go to (after mirrors), as errors name it.
    pub fn host_of<'a>(&'a self, image: &'a ImageRef) -> &'a str {
        self.target(image).registry
    }

    /// The rate-limit pause in force on the host requests for `image` go to, if any.
    pub fn paused(&self, image: &ImageRef) -> Option<Pause> {
        self.gates.paused(self.host_of(image))
    }

    /// A receiver that changes whenever that host is paused (anew or for longer).
    pub fn watch_pauses(&self, image: &ImageRef) -> tokio::sync::watch::Receiver<Option<Pause>> {
        self.gates.watch(self.host_of(image))
    }

    /// Where requests for `image` go, after mirrors.
    fn target<'a>(&'a self, image: &'a ImageRef) -> Target<'a> {
        match self
            .cfg
            .mirrors
            .iter()
            .find(|m| m.registry == image.registry())
        {
            Some(m) => Target {
                registry: &m.host,
                api_host: &m.host,
                repository: m.repository(image.repository()),
            },
            None => Target {
                registry: image.registry(),
                api_host: image.api_host(),
                repository: Cow::Borrowed(image.repository()),
            },
        }
    }

    fn base(&self, image: &ImageRef) -> String {
        let t = self.target(image);
        let host = t.registry.split(':').next().unwrap_or(t.registry);
        let plain = self
            .cfg
            .insecure
            .iter()
            .any(|h| h == t.registry || h == host);
        let scheme = if plain { "http" } else { "https" };
        format!("{scheme}://{}/v2/{}", t.api_host, t.repository)
    }

    /// The digest an image reference names: its own digest if pinned (no round trip), otherwise
    /// the registry's answer for the tag (one HEAD; a GET only if the registry omits the header).
    pub async fn resolve(
        &self,
        image: &ImageRef,
        deadline: Instant,
    ) -> Result<Digest, RegistryError> {
        if let Some(d) = image.digest() {
            return Ok(d.clone());
        }
        let url = format!("{}/manifests/{}", self.base(image), image.reference());
        let what = format!("manifest {}", image);
        let resp = self
            .fetch(image, &what, deadline, |c| {
                c.head(&url).header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?
            .ok_or_else(|| self.not_found(image, &what))?;
        let header = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        match header {
            Some(d) => Ok(d),
            None => Ok(self
                .get_manifest(image, image.reference(), deadline)
                .await?
                .ok_or_else(|| self.not_found(image, &what))?
                .digest),
        }
    }

    /// Fetches a manifest by tag or digest; `None` when the registry has no such manifest.
    pub async fn get_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
        deadline: Instant,
    ) -> Result<Option<FetchedManifest>, RegistryError> {
        let url = format!("{}/manifests/{reference}", self.base(image));
        let what = format!("manifest {}:{reference}", image.name());
        let Some(resp) = self
            .fetch(image, &what, deadline, |c| {
                c.get(&url).header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?
        else {
            return Ok(None);
        };
        let media_type = header_str(resp.headers(), CONTENT_TYPE.as_str()).unwrap_or_default();
        let bytes = self.read_body(image, &what, resp, deadline).await?;
        let digest = Digest::of(&bytes);
        if let Ok(want) = reference.parse::<Digest>()
            && want != digest
        {
            return Err(self.protocol(image, &what, format!("content has digest {digest}")));
        }
        Ok(Some(FetchedManifest {
            digest,
            media_type,
            bytes,
        }))
    }

    /// Fetches a blob and checks its digest.
    pub async fn get_blob(
        &self,
        image: &ImageRef,
        digest: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = format!("{}/blobs/{digest}", self.base(image));
        let what = format!("blob {digest}");
        let resp = self
            .fetch(image, &what, deadline, |c| c.get(&url))
            .await?
            .ok_or_else(|| self.not_found(image, &what))?;
        let bytes = self.read_body(image, &what, resp, deadline).await?;
        if Digest::of(&bytes).as_str() != digest {
            return Err(self.protocol(image, &what, "content does not match its digest".into()));
        }
        Ok(bytes)
    }

    /// Uploads a blob unless the registry already has it (monolithic POST + PUT).
    pub async fn push_blob(
        &self,
        image: &ImageRef,
        bytes: &[u8],
        deadline: Instant,
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::of(bytes);
        let base = self.base(image);
        let what = format!("blob {digest}");
        let head_url = format!("{base}/blobs/{digest}");
        let head = self
            .send(image, &what, deadline, true, |c| c.head(&head_url))
            .await?;
        if head.status() == StatusCode::OK {
            return Ok(digest);
        }
        let start = format!("{base}/blobs/uploads/");
        let resp = self
            .send(image, &what, deadline, true, |c| c.post(&start))
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.unexpected(image, &what, resp.status()));
        }
        let location = header_str(resp.headers(), LOCATION.as_str())
            .ok_or_else(|| self.protocol(image, &what, "upload answer without Location".into()))?;
        let mut url = resp
            .url()
            .join(&location)
            .map_err(|e| self.protocol(image, &what, format!("bad upload Location: {e}")))?;
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let body = bytes.to_vec();
        let resp = self
            .send(image, &what, deadline, true, |c| {
                c.put(url.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(body.clone())
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self.unexpected(image, &what, resp.status()));
        }
        Ok(digest)
    }

    /// Stores a manifest under a tag (or digest) and returns its digest.
    pub async fn put_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        deadline: Instant,
    ) -> Result<Digest, RegistryError> {
        let url = format!("{}/manifests/{reference}", self.base(image));
        let what = format!("manifest {}:{reference}", image.name());
        let body = bytes.to_vec();
        let resp = self
            .send(image, &what, deadline, true, |c| {
                c.put(&url)
                    .header(CONTENT_TYPE, media_type)
                    .body(body.clone())
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self.unexpected(image, &what, resp.status()));
        }
        Ok(Digest::of(bytes))
    }

    fn token(&self, key: &str) -> Option<String> {
        self.tokens.lock().ok()?.get(key).cloned()
    }

    fn set_token(&self, key: &str, value: String) {
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(key.to_string(), value);
        }
    }

    fn observe(&self, registry: &str, status: Option<u16>) {
        if let Some(o) = &self.cfg.observer {
            o(registry, status);
        }
    }

    fn deadline(&self, image: &ImageRef, what: &str) -> RegistryError {
        RegistryError::Deadline {
            registry: self.target(image).registry.into(),
            what: what.into(),
        }
    }

    fn not_found(&self, image: &ImageRef, what: &str) -> RegistryError {
        RegistryError::NotFound {
            registry: self.target(image).registry.into(),
            what: what.into(),
        }
    }

    fn unauthorized(&self, image: &ImageRef, status: StatusCode) -> RegistryError {
        let target = self.target(image);
        RegistryError::Unauthorized {
            registry: target.registry.into(),
            repository: target.repository.into(),
            status: status.as_u16(),
        }
    }

    fn unexpected(&self, image: &ImageRef, what: &str, status: StatusCode) -> RegistryError {
        self.protocol(image, what, format!("unexpected status {status}"))
    }

    fn protocol(&self, image: &ImageRef, what: &str, cause: String) -> RegistryError {
        RegistryError::Protocol {
            registry: self.target(image).registry.into(),
            what: what.into(),
            cause,
        }
    }
}

/// The registry host, API host and repository that requests for an image go to.
struct Target<'a> {
    registry: &'a str,
    api_host: &'a str,
    repository: Cow<'a, str>,
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_string)
}

/// The error and its sources in one line, with a hint for the common plain-HTTP mistake.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    let mut text = parts.join(": ");
    if text.contains("InvalidContentType") || text.contains("corrupt message") {
        text.push_str(" (a plain-HTTP registry? allow it with --allow-http-registry)");
    }
    text
}
