//! Prometheus metrics of both services, served on the admin listener's `/metrics`.
//!
//! The names are a contract: the canary AnalysisTemplate in `deploy/components/canary-rollout`
//! queries `http_requests_total{status}` and `http_request_duration_seconds_bucket`, and the
//! dashboards in `observability/` read the job metrics. Labels are bounded: `route` is the
//! matched route template (`/v1/jobs/{id}`), never the raw path, and unmatched requests share
//! the route label `unmatched`. Both binaries register every family; the API simply never
//! records job samples. Encoding is OpenMetrics text via `prometheus-client`.

use std::time::Duration;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// Labels of `http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

/// Labels of `http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

/// Labels of `jobs_processed_total`: `result` is succeeded, retried, failed, released or lost.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
    pub result: String,
}

/// Labels of `job_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric family and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    jobs_processed: Family<JobLabels, Counter>,
    job_duration: HistogramFamily<KindLabels>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        let jobs_processed = Family::<JobLabels, Counter>::default();
        let job_duration: HistogramFamily<KindLabels> =
            Family::new_with_constructor(latency_histogram);
        // prometheus-client appends `_total` to counter names.
        registry.register(
            "http_requests",
            "HTTP requests served, by route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency from first byte in to response head out",
            http_duration.clone(),
        );
        registry.register(
            "jobs_processed",
            "Job attempts finished, by kind and result",
            jobs_processed.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Time spent processing one job attempt",
            job_duration.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            jobs_processed,
            job_duration,
        }
    }

    /// Records one HTTP request.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records one finished job attempt.
    pub fn observe_job(&self, kind: &str, result: &str, elapsed: Duration) {
        self.jobs_processed
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                result: result.to_owned(),
            })
            .inc();
        self.job_duration
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_analysis_template() {
        let m = Metrics::new();
        m.observe_http("POST", "/v1/jobs", 201, Duration::from_millis(3));
        m.observe_job("hash", "succeeded", Duration::from_millis(2));
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"http_requests_total{method="POST",route="/v1/jobs",status="201"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"http_request_duration_seconds_bucket{le="0.004",method="POST",route="/v1/jobs"} 1"#)
            || text.contains(r#"http_request_duration_seconds_bucket{method="POST",route="/v1/jobs",le="0.004"} 1"#), "{text}");
        assert!(
            text.contains(r#"jobs_processed_total{kind="hash",result="succeeded"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("job_duration_seconds_count{kind=\"hash\"} 1"),
            "{text}"
        );
    }
}
