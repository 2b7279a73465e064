//! The cached verification service the webhook and CLI call ([`Verifier`]): tag resolution and
//! verdicts cached, with single-flight; each miss runs [`crate::key_signatures`] or
//! [`crate::keyless`] verification.
//!
//! - Verdicts are keyed by (repository, digest, requirement fingerprint): signatures live beside
//!   the image, so the same digest copied to a repository without them is a different answer.
//!   Successes live for the positive
//!   TTL, image failures (unsigned, wrong key, failed condition) for the short negative TTL, and
//!   failures of the path to the registry (unreachable, throttled, deadline) are not cached.
//! - Concurrent calls for one key share one verification: a burst of 100 admissions of a new
//!   image makes one set of registry calls. They also share its deadline (the first caller's).
//! - An image index under a platform rule ([`Verifier::verify_requirement`]) is one cached
//!   verdict over the verdicts of the index and its platform manifests, each cached (and
//!   counted) on its own.
//! - Per-caller credentials ([`Verifier::with_credentials`], a workload's pull secrets): a
//!   verdict is about the image whoever's credentials reached it, so positive and image
//!   verdicts are shared as usual; an authentication failure (401/403) is never cached, and a
//!   caller that waited on another caller's single-flight verification and got that caller's
//!   authentication failure verifies again with its own credentials.
//! - [`Verifier::verify_or_continue`] lets a verification cut off by its caller's deadline run
//!   on, bounded, and cache its verdict for the caller's retry ([`crate::background`]).
//! - Tag → digest answers are cached for a short TTL. That is safe because the webhook pins the
//!   verified digest into the pod; set it to zero to resolve on every call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use moka::Expiry;
use moka::future::Cache;
use tokio::time::{Instant, timeout_at};

use crate::ImageRequirement;
use crate::authority::{Authority, keyless_fingerprint};
use crate::background::{Background, BackgroundConfig, BackgroundObserver};
use crate::error::{RegistryError, VerifyError};
use crate::key_signatures::verify_digest;
use crate::keyless::{KeylessRequirement, verify_keyless_digest};
use crate::reference::{Digest, ImageRef};
use crate::registry::{Credentials, RegistryClient};
use crate::requirement::{KeyRequirement, Verdict, Verified};

/// Cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub positive_ttl: Duration,
    pub negative_ttl: Duration,
    pub tag_ttl: Duration,
    /// Maximum cached verdicts (and, separately, tag answers).
    pub capacity: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            positive_ttl: Duration::from_secs(600),
            negative_ttl: Duration::from_secs(10),
            tag_ttl: Duration::from_secs(30),
            capacity: 50_000,
        }
    }
}

/// Cache counters, for metrics.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

struct VerdictExpiry {
    positive: Duration,
    negative: Duration,
}

/// `registry/repository`, digest, requirement fingerprint.
type VerdictKey = (String, Digest, String);

impl Expiry<VerdictKey, Verdict> for VerdictExpiry {
    fn expire_after_create(
        &self,
        _key: &VerdictKey,
        value: &Verdict,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(if value.is_ok() {
            self.positive
        } else {
            self.negative
        })
    }
}

/// Cached, single-flight image verification.
#[derive(Clone)]
pub struct Verifier {
    registry: RegistryClient,
    verdicts: Cache<VerdictKey, Verdict>,
    tags: Option<Cache<String, Digest>>,
    stats: Arc<CacheStats>,
    pub(crate) background: Arc<Background>,
}

impl Verifier {
    pub fn new(registry: RegistryClient, cfg: CacheConfig) -> Self {
        let verdicts = Cache::builder()
            .max_capacity(cfg.capacity)
            .expire_after(VerdictExpiry {
                positive: cfg.positive_ttl,
                negative: cfg.negative_ttl,
            })
            .build();
        let tags = (!cfg.tag_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(cfg.capacity)
                .time_to_live(cfg.tag_ttl)
                .build()
        });
        Self {
            registry,
            verdicts,
            tags,
            stats: Arc::default(),
            background: Arc::new(Background::new(BackgroundConfig::default(), None)),
        }
    }

    /// This verifier with other bounds on cut-off verifications ([`crate::background`]), and
    /// `observer` told of what happens to them.
    pub fn with_background(
        mut self,
        cfg: BackgroundConfig,
        observer: Option<BackgroundObserver>,
    ) -> Self {
        self.background = Arc::new(Background::new(cfg, observer));
        self
    }

    /// The cached verdict for `image` and `req`, without a registry request: `None` unless its
    /// tag's digest (when it has a tag) and its verdict are both cached. Counted as a hit.
    pub(crate) async fn peek(&self, image: &ImageRef, req: &ImageRequirement) -> Option<Verdict> {
        let digest = match (image.digest(), &self.tags) {
            (Some(d), _) => d.clone(),
            (None, Some(tags)) => tags.get(&image.to_string()).await?,
            (None, None) => return None,
        };
        let fingerprint = match &req.platforms {
            Some(_) => req.fingerprint(),
            None => req.authority.fingerprint(),
        };
        let verdict = self
            .verdicts
            .get(&(image.name(), digest, fingerprint))
            .await?;
        self.stats.hits.fetch_add(1, Ordering::Relaxed);
        Some(verdict)
    }

    pub fn registry(&self) -> &RegistryClient {
        &self.registry
    }

    /// This verifier for one caller whose own registry `credentials` (e.g. a workload's pull
    /// secrets) are tried before the configured ones. The caches and counters stay shared; see
    /// the module docs for what is shared between callers.
    pub fn with_credentials(&self, credentials: Arc<Credentials>) -> Self {
        Self {
            registry: self.registry.with_credentials(credentials),
            ..self.clone()
        }
    }

    /// Whether a verdict from another caller's run must not stand for this caller: an
    /// authentication failure reached with credentials that may not be ours.
    fn not_ours(&self, ran: &AtomicBool, verdict: &Verdict) -> bool {
        self.registry.has_caller_credentials()
            && !ran.load(Ordering::Relaxed)
            && verdict.as_ref().as_ref().is_err_and(is_auth_failure)
    }

    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Verifies `image` against `req`, spending no longer than until `deadline`.
    pub async fn verify(
        &self,
        image: &ImageRef,
        req: &KeyRequirement,
        deadline: Instant,
    ) -> Verdict {
        self.resolve_then(image, deadline, |digest, budget_ms| {
            self.verify_keys_at(image, digest, req, deadline, budget_ms)
        })
        .await
    }

    /// Verifies `image`'s keyless signatures against `req`, cached like [`Self::verify`]
    /// (keyless and key requirements never share a cache entry).
    pub async fn verify_keyless(
        &self,
        image: &ImageRef,
        req: &KeylessRequirement,
        deadline: Instant,
    ) -> Verdict {
        self.resolve_then(image, deadline, |digest, budget_ms| {
            self.verify_keyless_at(image, digest, req, deadline, budget_ms)
        })
        .await
    }

    /// Verifies `image` against either kind of [`Authority`].
    pub async fn verify_authority(
        &self,
        image: &ImageRef,
        authority: &Authority,
        deadline: Instant,
    ) -> Verdict {
        match authority {
            Authority::Keys(req) => self.verify(image, req, deadline).await,
            Authority::Keyless(req) => self.verify_keyless(image, req, deadline).await,
        }
    }

    /// Verifies `digest` (of `image`, already resolved) against `authority`, through the cache.
    /// `budget_ms` is what the caller started with, for the deadline message.
    pub(crate) async fn verify_authority_at(
        &self,
        image: &ImageRef,
        digest: Digest,
        authority: &Authority,
        deadline: Instant,
        budget_ms: u64,
    ) -> Verdict {
        match authority {
            Authority::Keys(req) => {
                self.verify_keys_at(image, digest, req, deadline, budget_ms)
                    .await
            }
            Authority::Keyless(req) => {
                self.verify_keyless_at(image, digest, req, deadline, budget_ms)
                    .await
            }
        }
    }

    async fn verify_keys_at(
        &self,
        image: &ImageRef,
        digest: Digest,
        req: &KeyRequirement,
        deadline: Instant,
        budget_ms: u64,
    ) -> Verdict {
        let check = |digest: Digest| async move {
            verify_digest(&self.registry, image, &digest, req, deadline).await
        };
        self.cached_at(image, digest, req.fingerprint(), deadline, budget_ms, check)
            .await
    }

    async fn verify_keyless_at(
        &self,
        image: &ImageRef,
        digest: Digest,
        req: &KeylessRequirement,
        deadline: Instant,
        budget_ms: u64,
    ) -> Verdict {
        let check = |digest: Digest| async move {
            verify_keyless_digest(&self.registry, image, &digest, req, deadline).await
        };
        let fingerprint = keyless_fingerprint(req);
        self.cached_at(image, digest, fingerprint, deadline, budget_ms, check)
            .await
    }

    /// Resolves `image`, then runs `then` on its digest and the budget left at the start.
    pub(crate) async fn resolve_then<F, Fut>(
        &self,
        image: &ImageRef,
        deadline: Instant,
        then: F,
    ) -> Verdict
    where
        F: FnOnce(Digest, u64) -> Fut,
        Fut: Future<Output = Verdict>,
    {
        let budget_ms = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as u64;
        match self.resolve(image, deadline).await {
            Ok(digest) => then(digest, budget_ms).await,
            Err(e) => Arc::new(Err(classify(image, e, budget_ms))),
        }
    }

    /// Runs `check` on `digest` (of `image`) through the verdict cache, keyed by `fingerprint`.
    pub(crate) async fn cached_at<F, Fut>(
        &self,
        image: &ImageRef,
        digest: Digest,
        fingerprint: String,
        deadline: Instant,
        budget_ms: u64,
        check: F,
    ) -> Verdict
    where
        F: Fn(Digest) -> Fut,
        Fut: Future<Output = Result<Verified, VerifyError>>,
    {
        let deadline_err = || VerifyError::Deadline {
            image: image.to_string(),
            registry: image.registry().into(),
            budget_ms,
        };
        let (check, deadline_err) = (&check, &deadline_err);
        let run = move |digest: Digest| async move {
            let outcome = match timeout_at(deadline, check(digest)).await {
                Err(_) => Err(deadline_err()),
                Ok(Err(VerifyError::Registry {
                    source: RegistryError::Deadline { .. },
                    ..
                })) => Err(deadline_err()),
                Ok(other) => other,
            };
            Verdict::new(outcome)
        };
        let key = (image.name(), digest.clone(), fingerprint);
        let ran = AtomicBool::new(false);
        let work = async {
            ran.store(true, Ordering::Relaxed);
            let verdict = run(digest.clone()).await;
            match verdict.as_ref() {
                Err(e) if e.is_transient() => Err(verdict),
                _ => Ok(verdict),
            }
        };
        let result = self
            .verdicts
            .entry(key.clone())
            .or_try_insert_with(work)
            .await;
        let verdict = match result {
            Ok(entry) => {
                let counter = if entry.is_fresh() {
                    &self.stats.misses
                } else {
                    &self.stats.hits
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return entry.into_value();
            }
            Err(shared) => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                Verdict::clone(&shared)
            }
        };
        if !self.not_ours(&ran, &verdict) {
            return verdict;
        }
        // Another caller's credentials were refused; ours may not be.
        let verdict = run(digest).await;
        if !is_uncacheable(&verdict) {
            self.verdicts.insert(key, verdict.clone()).await;
        }
        verdict
    }

    /// The digest `image` names, through the tag cache. A pinned image is not cached: the
    /// registry client answers it from the reference itself, without a round trip.
    pub async fn resolve(
        &self,
        image: &ImageRef,
        deadline: Instant,
    ) -> Result<Digest, RegistryError> {
        match &self.tags {
            Some(tags) if image.digest().is_none() => {
                let ran = AtomicBool::new(false);
                let work = async {
                    ran.store(true, Ordering::Relaxed);
                    self.registry.resolve(image, deadline).await
                };
                match tags.try_get_with(image.to_string(), work).await {
                    Ok(digest) => Ok(digest),
                    // Another caller's credentials were refused; ours may not be.
                    Err(e)
                        if self.registry.has_caller_credentials()
                            && !ran.load(Ordering::Relaxed)
                            && matches!(e.as_ref(), RegistryError::Unauthorized { .. }) =>
                    {
                        self.registry.resolve(image, deadline).await
                    }
                    Err(e) => Err(RegistryError::clone(&e)),
                }
            }
            _ => self.registry.resolve(image, deadline).await,
        }
    }
}

/// A registry's refusal of the credentials used (401/403), however deep in the error.
fn is_auth_failure(e: &VerifyError) -> bool {
    match e {
        VerifyError::Registry {
            source: RegistryError::Unauthorized { .. },
            ..
        } => true,
        VerifyError::PlatformNotVerified { source, .. } => is_auth_failure(source),
        _ => false,
    }
}

/// Failures of the path to the registry, never cached (see the module docs).
fn is_uncacheable(verdict: &Verdict) -> bool {
    verdict
        .as_ref()
        .as_ref()
        .is_err_and(VerifyError::is_transient)
}

fn classify(image: &ImageRef, e: RegistryError, budget_ms: u64) -> VerifyError {
    match e {
        RegistryError::Deadline { registry, .. } => VerifyError::Deadline {
            image: image.to_string(),
            registry,
            budget_ms,
        },
        source => VerifyError::Registry {
            image: image.to_string(),
            source,
        },
    }
}
