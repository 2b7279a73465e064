//! Logging for `portcullis serve`: `tracing` to stderr, JSON (default) or text.
//!
//! JSON lines carry the span list, so every event inside a review carries its `uid` (and inside
//! an image verification, the image). The level comes from `RUST_LOG` (default `info`).
//! OpenTelemetry export is not wired in yet.

use tracing_subscriber::EnvFilter;

use super::config::LogFormat;

/// Installs the global subscriber; a no-op when one is already installed (tests).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .flatten_event(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // An already installed subscriber is fine: keep it.
    drop(result);
}
