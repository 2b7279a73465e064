//! Prometheus metrics for `portcullis serve`, exposed on the admin listener's `/metrics`.
//!
//! Names follow Prometheus conventions (`_total` counters, `_seconds` histograms, base units).
//! The verifier knows nothing of this registry: the cache and registry-request counters are
//! public families here ([`Metrics::verification_cache`], [`Metrics::registry_requests`]) that
//! the wiring between the two crates feeds (see [`Metrics::record_cache`]).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The OpenMetrics text format content type `/metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    /// `validate` or `mutate`.
    pub webhook: String,
    pub operation: String,
    pub kind: String,
    /// `allowed`, `denied`, `patched` or `invalid`.
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub webhook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyResultLabels {
    pub policy: String,
    pub rule: String,
    /// `pass`, `fail`, `warn`, `audit` …, as the engine reports it.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegistryLabels {
    pub registry: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HostLabels {
    pub registry: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExceptionLabels {
    /// The `PolicyException`, `namespace/name`.
    pub exception: String,
    pub policy: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 1 ms … ~16 s: a cached admission is sub-millisecond, a cold one waits on registries,
    // and the API server gives up at 10 s by default.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric the server records. Cheap to clone (families are `Arc`s inside).
#[derive(Clone)]
pub struct Metrics {
    pub reviews: Family<ReviewLabels, Counter>,
    pub review_duration: HistogramFamily<WebhookLabels>,
    pub reviews_in_flight: Gauge,
    pub policy_results: Family<PolicyResultLabels, Counter>,
    /// Image verifications by outcome (`verified` or the verifier's error code).
    pub image_verifications: Family<ResultLabels, Counter>,
    /// Hook for the verifier's cache: `result` is `hit` or `miss`.
    pub verification_cache: Family<ResultLabels, Counter>,
    /// Hook for the verifier's registry client: `status` is the HTTP status or `error`.
    pub registry_requests: Family<RegistryLabels, Counter>,
    /// Rate-limit pauses begun (or lengthened) per registry host: every request to it waited.
    pub registry_pauses: Family<HostLabels, Counter>,
    /// Seconds of pause those added, per registry host.
    pub registry_pause_seconds: Family<HostLabels, Counter<f64>>,
    /// Verifications cut off by their review's deadline: `started` (ran on), `finished`,
    /// `expired` (lifetime ran out), `dropped` (background cap full).
    pub background_verifications: Family<ResultLabels, Counter>,
    pub policy_reloads: Family<ResultLabels, Counter>,
    pub tls_reloads: Family<ResultLabels, Counter>,
    pub policies_loaded: Gauge,
    /// Admissions in which a `PolicyException` waived findings of a policy.
    pub exceptions_applied: Family<ExceptionLabels, Counter>,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            reviews: Family::default(),
            review_duration: Family::new_with_constructor(duration_histogram),
            reviews_in_flight: Gauge::default(),
            policy_results: Family::default(),
            image_verifications: Family::default(),
            verification_cache: Family::default(),
            registry_requests: Family::default(),
            registry_pauses: Family::default(),
            registry_pause_seconds: Family::default(),
            background_verifications: Family::default(),
            policy_reloads: Family::default(),
            tls_reloads: Family::default(),
            policies_loaded: Gauge::default(),
            exceptions_applied: Family::default(),
        };
        // Counters are registered without `_total`: the encoder appends it.
        registry.register(
            "portcullis_admission_reviews",
            "AdmissionReviews answered, by webhook, operation, object kind and decision",
            m.reviews.clone(),
        );
        registry.register(
            "portcullis_admission_review_duration_seconds",
            "Time from receiving an AdmissionReview to answering it",
            m.review_duration.clone(),
        );
        registry.register(
            "portcullis_admission_reviews_in_flight",
            "AdmissionReviews being processed right now",
            m.reviews_in_flight.clone(),
        );
        registry.register(
            "portcullis_policy_results",
            "Policy rule outcomes, by policy, rule and result",
            m.policy_results.clone(),
        );
        registry.register(
            "portcullis_image_verifications",
            "Image verifications performed for admissions, by result",
            m.image_verifications.clone(),
        );
        registry.register(
            "portcullis_verification_cache",
            "Verdict cache lookups, by result (hit or miss)",
            m.verification_cache.clone(),
        );
        registry.register(
            "portcullis_registry_requests",
            "Requests to OCI registries, by registry and HTTP status",
            m.registry_requests.clone(),
        );
        registry.register(
            "portcullis_registry_pauses",
            "Rate-limit pauses (429/503) begun or lengthened, by registry; every request to it waits",
            m.registry_pauses.clone(),
        );
        registry.register(
            "portcullis_registry_pause_seconds",
            "Seconds of rate-limit pause added, by registry",
            m.registry_pause_seconds.clone(),
        );
        registry.register(
            "portcullis_background_verifications",
            "Verifications cut off by their review's deadline, by result (started, finished, expired, dropped)",
            m.background_verifications.clone(),
        );
        registry.register(
            "portcullis_policy_reloads",
            "Policy (re)loads, by result (success or error)",
            m.policy_reloads.clone(),
        );
        registry.register(
            "portcullis_tls_reloads",
            "Serving certificate (re)loads, by result (success or error)",
            m.tls_reloads.clone(),
        );
        registry.register(
            "portcullis_policies_loaded",
            "Policies in the set currently enforced",
            m.policies_loaded.clone(),
        );
        registry.register(
            "portcullis_exceptions_applied",
            "Admissions in which a PolicyException waived findings, by exception and policy",
            m.exceptions_applied.clone(),
        );
        // Every result exists from the start at 0, so `increase()` and alerts see the first
        // error as a change rather than as a series appearing.
        for result in ["success", "error"] {
            let labels = ResultLabels {
                result: result.into(),
            };
            let _ = m.policy_reloads.get_or_create(&labels);
            let _ = m.tls_reloads.get_or_create(&labels);
        }
        for result in ["started", "finished", "expired", "dropped"] {
            let _ = m.background_verifications.get_or_create(&ResultLabels {
                result: result.into(),
            });
        }
        for result in ["hit", "miss"] {
            let _ = m.verification_cache.get_or_create(&ResultLabels {
                result: result.into(),
            });
        }
        m
    }

    /// A standalone set (own registry), for tests and tools.
    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }

    pub fn record_cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.verification_cache
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    pub fn record_registry_request(&self, registry: &str, status: &str) {
        self.registry_requests
            .get_or_create(&RegistryLabels {
                registry: registry.into(),
                status: status.into(),
            })
            .inc();
    }

    pub fn record_registry_pause(&self, registry: &str, pause: std::time::Duration) {
        let labels = HostLabels {
            registry: registry.into(),
        };
        self.registry_pauses.get_or_create(&labels).inc();
        self.registry_pause_seconds
            .get_or_create(&labels)
            .inc_by(pause.as_secs_f64());
    }

    pub fn record_background(&self, result: &str) {
        self.background_verifications
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    pub fn record_policy_reload(&self, ok: bool) {
        let result = if ok { "success" } else { "error" };
        self.policy_reloads
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    pub fn record_tls_reload(&self, ok: bool) {
        let result = if ok { "success" } else { "error" };
        self.tls_reloads
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }
}

/// Renders `registry` in the OpenMetrics text format.
pub fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reload_and_cache_results_start_at_zero() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        let text = render(&registry).unwrap();
        for line in [
            "portcullis_policy_reloads_total{result=\"error\"} 0",
            "portcullis_policy_reloads_total{result=\"success\"} 0",
            "portcullis_tls_reloads_total{result=\"error\"} 0",
            "portcullis_verification_cache_total{result=\"miss\"} 0",
            "portcullis_background_verifications_total{result=\"dropped\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        m.record_policy_reload(false);
        let text = render(&registry).unwrap();
        assert!(text.contains("portcullis_policy_reloads_total{result=\"error\"} 1"));
        m.record_registry_pause("r.example:5000", std::time::Duration::from_millis(1500));
        m.record_background("started");
        let text = render(&registry).unwrap();
        for line in [
            "portcullis_registry_pauses_total{registry=\"r.example:5000\"} 1",
            "portcullis_registry_pause_seconds_total{registry=\"r.example:5000\"} 1.5",
            "portcullis_background_verifications_total{result=\"started\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
