//! Logging and tracing for `portcullis serve`.
//!
//! Logs: `tracing` to stderr, JSON (default) or text; JSON lines carry the span list, so every
//! event inside a review carries its `uid` (and inside an image verification, the image). The
//! level comes from `RUST_LOG` (default `info`). Lines are formatted on the review's thread and
//! written by a dedicated thread, so a slow log sink does not hold a review up; past
//! [`LOG_BUFFER_LINES`] queued lines, writers wait (nothing is dropped). [`Telemetry::shutdown`]
//! flushes what is queued.
//!
//! Traces: with `--otlp-endpoint` / `OTEL_EXPORTER_OTLP_ENDPOINT`, the same spans (`review`,
//! and `verify_image` under it) are exported over OTLP/gRPC in batches; [`Telemetry::shutdown`]
//! flushes them when the server stops. Service name: `OTEL_SERVICE_NAME`, default `portcullis`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use super::config::{AdminArgs, LogFormat};

/// Log lines queued for the writer thread before a review waits for it.
pub const LOG_BUFFER_LINES: usize = 65_536;

/// Keeps the trace exporter and the log writer alive; flush both with [`Telemetry::shutdown`].
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    log_writer: Option<WorkerGuard>,
}

impl Telemetry {
    /// Flushes and stops the trace exporter, if any, then the log writer.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "Flushing traces failed");
        }
        drop(self.log_writer);
    }
}

/// Installs the global subscriber; when one is already installed (tests) it is kept and no
/// exporter is started.
pub fn init(args: &AdminArgs) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (provider, exporter_error) = match args.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
        None => (None, None),
        Some(endpoint) => match tracer_provider(endpoint) {
            Ok(p) => (Some(p), None),
            Err(e) => (
                None,
                Some(format!("OTEL_EXPORTER_OTLP_ENDPOINT {endpoint}: {e}")),
            ),
        },
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("portcullis")));
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .lossy(false)
        .thread_name("portcullis-log")
        .finish(std::io::stderr());
    let json = (args.log_format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(writer.clone())
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .flatten_event(true)
    });
    let text = (args.log_format == LogFormat::Text)
        .then(|| tracing_subscriber::fmt::layer().with_writer(writer));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(text)
        .with(otel)
        .try_init()
        .is_ok();
    if let Some(error) = exporter_error {
        tracing::error!(%error, "Trace export disabled");
    }
    if !installed {
        return Telemetry::default();
    }
    Telemetry {
        provider,
        log_writer: Some(guard),
    }
}

fn tracer_provider(endpoint: &str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| e.to_string())?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "portcullis".into());
    Ok(SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build())
        .with_batch_exporter(exporter)
        .build())
}
