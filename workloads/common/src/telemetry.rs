//! Logs and traces: JSON log lines carrying the request id and trace id, OpenTelemetry spans
//! exported over OTLP/gRPC, and W3C trace-context propagation across HTTP and the job table.
//!
//! [`init`] installs one `tracing` subscriber: an EnvFilter (`APP_LOG`), a JSON (or text) fmt
//! layer that prints the current span's fields — the API's request span records `request_id`
//! and `trace_id`, the worker's job span `job_id` and `trace_id` — and a tracing-opentelemetry
//! layer. Trace ids exist even when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset (an SDK provider with
//! no exporter), so logs and the stored trace context stay correlated in every environment.
//! Propagation is explicit: [`extract_headers`] honours an incoming `traceparent`, [`inject`]
//! turns a span's context into the map stored in `jobs.trace_context`, and [`extract`] turns it
//! back into the parent of the worker's span. What is traced is decided by the services.

use std::{collections::HashMap, io::IsTerminal};

use anyhow::Context as _;
use axum::http::HeaderMap;
use opentelemetry::{
    Context,
    propagation::{Extractor, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::TelemetryArgs;

/// Crates whose own logs are noise at `info`.
const QUIET: &str = "h2=warn,hyper=warn,hyper_util=warn,tower=warn,tonic=warn,opentelemetry=warn,opentelemetry_sdk=warn";

/// Owns the tracer provider; [`Telemetry::shutdown`] flushes pending spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports what is buffered now (tests use this; shutdown does it too).
    pub fn flush(&self) {
        if let Err(error) = self.provider.force_flush() {
            tracing::warn!(%error, "Flushing spans failed");
        }
    }

    /// Flushes and stops exporting. Call last, after the servers stopped.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {error}");
        }
    }
}

/// Installs the global subscriber and tracer provider. Must run inside a Tokio runtime (the gRPC
/// exporter's channel lives on it). Fails if a global subscriber is already installed.
pub fn init(args: &TelemetryArgs, default_service: &str) -> anyhow::Result<Telemetry> {
    let service = args
        .otel_service_name
        .clone()
        .unwrap_or_else(|| default_service.to_owned());
    let mut builder = SdkTracerProvider::builder().with_resource(
        Resource::builder()
            .with_service_name(service.clone())
            .build(),
    );
    if let Some(endpoint) = &args.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .with_context(|| format!("OTEL_EXPORTER_OTLP_ENDPOINT {endpoint}"))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer(service);
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = EnvFilter::try_new(format!("{QUIET},{}", args.log))
        .with_context(|| format!("APP_LOG {:?}", args.log))?;
    let json = (args.log_format == "json").then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
    });
    let text = (args.log_format != "json")
        .then(|| tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal()));
    tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(text)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .context("installing the tracing subscriber")?;
    Ok(Telemetry { provider })
}

/// The W3C trace-context fields (`traceparent`, `tracestate`) of `cx`.
pub fn inject(cx: &Context) -> HashMap<String, String> {
    let mut map = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut map);
    map
}

/// The context described by stored trace-context fields (empty if none or invalid).
pub fn extract(map: &HashMap<String, String>) -> Context {
    TraceContextPropagator::new().extract(map)
}

/// The context of an incoming request's `traceparent`/`tracestate` headers.
pub fn extract_headers(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `parent` the parent of `span` (a not yet entered span) and records the resulting
/// trace id in the span's `trace_id` field, which the JSON logs print. Returns the trace id.
pub fn adopt(span: &Span, parent: Context) -> Option<String> {
    if parent.span().span_context().is_valid() {
        // Fails only if the span was already entered or no OpenTelemetry layer is installed;
        // either way the span keeps its own trace.
        let _ = span.set_parent(parent);
    }
    let trace_id = trace_id(span)?;
    span.record("trace_id", trace_id.as_str());
    Some(trace_id)
}

/// The trace id of `span`, if an OpenTelemetry layer is installed.
pub fn trace_id(span: &Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_through_the_stored_map() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", tp.parse().unwrap());
        let cx = extract_headers(&headers);
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let stored = inject(&cx);
        assert_eq!(stored.get("traceparent").map(String::as_str), Some(tp));
        let back = extract(&stored);
        assert_eq!(back.span().span_context(), cx.span().span_context());
        assert!(!extract(&HashMap::new()).span().span_context().is_valid());
    }
}
