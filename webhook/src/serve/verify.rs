//! The seam between the admission server and image verification.
//!
//! The server depends on the [`ImageVerifier`] trait only; the real implementation (the
//! verifier crate's registry + cosign client with its verdict cache) is plugged in when
//! `portcullis serve` starts, and tests plug in stubs. [`verify_all`] runs every verification a
//! review needs concurrently under one deadline: whatever has not finished by then becomes
//! [`VerifyError::Deadline`] — the image fails closed, it is never skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use portcullis_verifier::{
    Credentials, ImageRef, ImageRequirement, RegistryError, Verdict, VerifyError,
};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::metrics::{Metrics, ResultLabels};

/// Verifies one image against one requirement before `deadline`.
///
/// Implementations answer by `deadline`; [`verify_all`] enforces it anyway by dropping the
/// future. A verdict may come from a cache. The registry-backed one (`wiring`) lets a
/// verification cut off by the deadline run on, bounded, to cache its verdict for the retry.
pub trait ImageVerifier: Send + Sync + 'static {
    fn verify<'a>(
        &'a self,
        image: &'a str,
        requirement: Arc<ImageRequirement>,
        deadline: Instant,
    ) -> BoxFuture<'a, Verdict>;

    /// [`Self::verify`] with the workload's own registry `credentials` (its pull secrets, with
    /// `--pod-pull-secrets`) tried before the configured ones. A verifier that has no registry
    /// ignores them.
    fn verify_with_credentials<'a>(
        &'a self,
        image: &'a str,
        requirement: Arc<ImageRequirement>,
        deadline: Instant,
        credentials: Option<Arc<Credentials>>,
    ) -> BoxFuture<'a, Verdict> {
        let _ = credentials;
        self.verify(image, requirement, deadline)
    }
}

/// The verifier used when none is wired in: every image fails closed with a reason that says so.
/// Policies without image requirements are unaffected (no verification is asked for).
#[derive(Debug, Default, Clone, Copy)]
pub struct UnconfiguredVerifier;

impl ImageVerifier for UnconfiguredVerifier {
    fn verify<'a>(
        &'a self,
        image: &'a str,
        _requirement: Arc<ImageRequirement>,
        _deadline: Instant,
    ) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            Arc::new(Err(VerifyError::Registry {
                image: image.to_string(),
                source: RegistryError::Unreachable {
                    registry: registry_of(image),
                    cause: "image verification is not configured in this server build".into(),
                },
            }))
        })
    }
}

/// One verification a review needs.
#[derive(Debug, Clone)]
pub struct Job {
    pub image: String,
    pub requirement: Arc<ImageRequirement>,
    /// `requirement.fingerprint()`, computed once when the policy loaded.
    pub fingerprint: String,
}

/// Verdicts keyed by `(image, requirement fingerprint)`.
#[derive(Debug, Default, Clone)]
pub struct Verdicts {
    by_key: HashMap<(String, String), Verdict>,
}

impl Verdicts {
    pub fn get(&self, image: &str, fingerprint: &str) -> Option<Verdict> {
        self.by_key
            .get(&(image.to_string(), fingerprint.to_string()))
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &Verdict)> {
        self.by_key
            .iter()
            .map(|((image, fp), v)| (image.as_str(), fp.as_str(), v))
    }
}

/// The registry host of `image`, for error messages; the raw text when it does not parse.
pub fn registry_of(image: &str) -> String {
    image
        .parse::<ImageRef>()
        .map_or_else(|_| image.to_string(), |r| r.registry().to_string())
}

/// Runs all `jobs` concurrently (duplicates once) and waits at most until `deadline`, with the
/// workload's registry `credentials` when `--pod-pull-secrets` found any to use.
pub async fn verify_all(
    verifier: &dyn ImageVerifier,
    jobs: Vec<Job>,
    deadline: Instant,
    metrics: &Metrics,
    credentials: Option<Arc<Credentials>>,
) -> Verdicts {
    let mut unique: HashMap<(String, String), Arc<ImageRequirement>> = HashMap::new();
    for job in jobs {
        unique
            .entry((job.image, job.fingerprint))
            .or_insert(job.requirement);
    }
    let budget = deadline.saturating_duration_since(Instant::now());
    let tasks = unique.into_iter().map(|((image, fp), requirement)| {
        let span = tracing::info_span!("verify_image", %image, requirement = %short(&fp));
        let credentials = credentials.clone();
        async move {
            let verdict = match tokio::time::timeout_at(
                deadline,
                verifier.verify_with_credentials(&image, requirement, deadline, credentials),
            )
            .await
            {
                Ok(verdict) => verdict,
                Err(_) => deadline_verdict(&image, budget),
            };
            match verdict.as_ref() {
                Ok(v) => tracing::debug!(digest = %v.digest.as_str(), "Verified"),
                Err(e) => tracing::info!(code = e.code(), error = %e, "Verification failed"),
            }
            ((image, fp), verdict)
        }
        .instrument(span)
    });
    let by_key: HashMap<_, _> = join_all(tasks).await.into_iter().collect();
    for verdict in by_key.values() {
        let result = match verdict.as_ref() {
            Ok(_) => "verified",
            Err(e) => e.code(),
        };
        metrics
            .image_verifications
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }
    Verdicts { by_key }
}

fn deadline_verdict(image: &str, budget: Duration) -> Verdict {
    Arc::new(Err(VerifyError::Deadline {
        image: image.to_string(),
        registry: registry_of(image),
        budget_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
    }))
}

fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Never(AtomicUsize);

    impl ImageVerifier for Never {
        fn verify<'a>(
            &'a self,
            _image: &'a str,
            _requirement: Arc<ImageRequirement>,
            _deadline: Instant,
        ) -> BoxFuture<'a, Verdict> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(std::future::pending())
        }
    }

    fn requirement() -> Arc<ImageRequirement> {
        Arc::new(ImageRequirement::from(
            portcullis_verifier::Authority::Keys(portcullis_verifier::KeyRequirement {
                keys: Vec::new(),
                threshold: 1,
                attestations: Vec::new(),
                format: Default::default(),
            }),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn unfinished_verifications_fail_closed_at_the_deadline() {
        let verifier = Never(AtomicUsize::new(0));
        let jobs = vec![
            Job {
                image: "registry.example:5000/app:1".into(),
                requirement: requirement(),
                fingerprint: requirement().fingerprint(),
            },
            Job {
                image: "registry.example:5000/app:1".into(),
                requirement: requirement(),
                fingerprint: requirement().fingerprint(),
            },
            Job {
                image: "nginx".into(),
                requirement: requirement(),
                fingerprint: requirement().fingerprint(),
            },
        ];
        let metrics = Metrics::unregistered();
        let deadline = Instant::now() + Duration::from_millis(1500);
        let verdicts = verify_all(&verifier, jobs, deadline, &metrics, None).await;
        assert_eq!(verdicts.len(), 2, "duplicates are verified once");
        assert_eq!(verifier.0.load(Ordering::SeqCst), 2);
        let fp = requirement().fingerprint();
        let v = verdicts.get("registry.example:5000/app:1", &fp).unwrap();
        match v.as_ref() {
            Err(VerifyError::Deadline {
                image,
                registry,
                budget_ms,
            }) => {
                assert_eq!(image, "registry.example:5000/app:1");
                assert_eq!(registry, "registry.example:5000");
                assert_eq!(*budget_ms, 1500);
            }
            other => panic!("expected a deadline error, got {other:?}"),
        }
        let v = verdicts.get("nginx", &fp).unwrap();
        assert!(
            matches!(v.as_ref(), Err(VerifyError::Deadline { registry, .. }) if registry == "docker.io")
        );
    }

    #[tokio::test]
    async fn unconfigured_verifier_denies_with_a_reason() {
        let v = UnconfiguredVerifier
            .verify("nginx", requirement(), Instant::now())
            .await;
        let e = v.as_ref().as_ref().unwrap_err();
        assert!(e.to_string().contains("not configured"), "{e}");
    }
}
