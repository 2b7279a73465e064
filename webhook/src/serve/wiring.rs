//! Where `portcullis serve` builds its real image verifier from the flags: the verifier crate's
//! registry client and verdict cache behind the server's [`ImageVerifier`] seam, with the
//! verifier's counters fed into the server's metrics.
//!
//! - Registry requests: the client's per-response observer increments
//!   `portcullis_registry_requests_total{registry,status}` (`status` is `error` for transport
//!   failures).
//! - Rate limits: the client's pause observer feeds `portcullis_registry_pauses_total` and
//!   `portcullis_registry_pause_seconds_total{registry}`; requests per host are bounded by
//!   `--registry-max-concurrency`.
//! - Verifications cut off by a review's deadline run on within `--background-verifications`
//!   and `--background-lifetime`; what happens to them feeds
//!   `portcullis_background_verifications_total{result}`.
//! - Cache: the verifier keeps hit/miss totals; after each verification the increase since the
//!   last one is added to `portcullis_verification_cache_total{result}`.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use futures::future::BoxFuture;
use portcullis_verifier::registry::{PauseObserver, RequestObserver};
use portcullis_verifier::{
    BackgroundConfig, BackgroundEvent, BackgroundObserver, CacheConfig, Credentials, ImageRef,
    ImageRequirement, RegistryClient, RegistryConfig, Verdict, Verifier, VerifyError,
};
use tokio::time::Instant;

use super::config::{CacheArgs, RegistryArgs};
use super::metrics::{Metrics, ResultLabels};
use super::verify::ImageVerifier;

/// Builds the verifier `portcullis serve` uses.
pub fn build_verifier(
    registry: &RegistryArgs,
    cache: &CacheArgs,
    metrics: &Metrics,
) -> anyhow::Result<Arc<dyn ImageVerifier>> {
    let credentials = match &registry.registry_config {
        Some(path) => Credentials::from_file(path)?,
        None => Credentials::default(),
    };
    let observed = metrics.clone();
    let observer: RequestObserver = Arc::new(move |registry: &str, status: Option<u16>| {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        observed.record_registry_request(registry, &status);
    });
    let paused = metrics.clone();
    let pause_observer: PauseObserver = Arc::new(move |registry: &str, pause| {
        paused.record_registry_pause(registry, pause);
    });
    let background = metrics.clone();
    let background_observer: BackgroundObserver = Arc::new(move |event: BackgroundEvent| {
        background.record_background(event.as_str());
    });
    let client = RegistryClient::new(RegistryConfig {
        insecure: registry.allow_http_registries.clone(),
        credentials,
        mirrors: registry.mirrors.registry_mirrors.clone(),
        observer: Some(observer),
        max_concurrent_per_host: usize::try_from(registry.registry_max_concurrency)
            .unwrap_or(usize::MAX),
        pause_observer: Some(pause_observer),
        ..RegistryConfig::default()
    })
    .context("creating the registry client")?;
    let verifier = Verifier::new(
        client,
        CacheConfig {
            positive_ttl: cache.cache_ttl,
            negative_ttl: cache.cache_negative_ttl,
            tag_ttl: cache.cache_tag_ttl,
            capacity: cache.cache_size,
        },
    )
    .with_background(
        BackgroundConfig {
            max_running: cache.background_verifications,
            max_lifetime: cache.background_lifetime,
        },
        Some(background_observer),
    );
    Ok(Arc::new(RegistryVerifier {
        inner: verifier,
        metrics: metrics.clone(),
        reported: Mutex::new((0, 0)),
    }))
}

/// The verifier crate's [`Verifier`] as an [`ImageVerifier`].
struct RegistryVerifier {
    inner: Verifier,
    metrics: Metrics,
    /// Cache (hits, misses) already added to the metrics.
    reported: Mutex<(u64, u64)>,
}

impl RegistryVerifier {
    fn sync_cache_metrics(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = self.inner.stats();
        let (hits, misses) = (stats.hits.load(Relaxed), stats.misses.load(Relaxed));
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        for (result, now, before) in [("hit", hits, reported.0), ("miss", misses, reported.1)] {
            if now > before {
                self.metrics
                    .verification_cache
                    .get_or_create(&ResultLabels {
                        result: result.into(),
                    })
                    .inc_by(now - before);
            }
        }
        *reported = (hits.max(reported.0), misses.max(reported.1));
    }
}

impl ImageVerifier for RegistryVerifier {
    fn verify<'a>(
        &'a self,
        image: &'a str,
        requirement: Arc<ImageRequirement>,
        deadline: Instant,
    ) -> BoxFuture<'a, Verdict> {
        self.verify_with_credentials(image, requirement, deadline, None)
    }

    fn verify_with_credentials<'a>(
        &'a self,
        image: &'a str,
        requirement: Arc<ImageRequirement>,
        deadline: Instant,
        credentials: Option<Arc<Credentials>>,
    ) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            let reference = match image.parse::<ImageRef>() {
                Ok(r) => r,
                Err(e) => {
                    return Arc::new(Err(VerifyError::Malformed {
                        image: image.to_string(),
                        what: "image reference".into(),
                        cause: e.to_string(),
                    }));
                }
            };
            // The workload's credentials make a per-review view sharing the caches.
            let with_credentials = credentials.map(|c| self.inner.with_credentials(c));
            let verdict = with_credentials
                .as_ref()
                .unwrap_or(&self.inner)
                .verify_or_continue(&reference, requirement, deadline)
                .await;
            self.sync_cache_metrics();
            verdict
        })
    }
}
