//! Per-request observability: request id, trace context, span, log line and metrics.
//!
//! One middleware around every route (so the matched route template is known): it takes the
//! caller's `X-Request-Id` (or makes one), continues the caller's W3C trace (`traceparent`) or
//! starts a new one, runs the handler inside a `request` span carrying both ids — which the JSON
//! log lines print — and records `http_requests_total` and `http_request_duration_seconds` with
//! the route template as label. Responses carry `X-Request-Id` and `X-Trace-Id` back.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use jobs_common::telemetry;
use tracing::{Instrument, field::Empty, info, info_span};
use uuid::Uuid;

use crate::AppState;

/// Header carrying the request id in both directions.
pub const REQUEST_ID: &str = "x-request-id";
/// Response header with the trace id (for correlating a response with its trace).
pub const TRACE_ID: &str = "x-trace-id";

pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let span = info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        request_id = %request_id,
        trace_id = Empty,
        http.response.status_code = Empty,
    );
    let trace_id = telemetry::adopt(&span, telemetry::extract_headers(req.headers()));

    let mut response = next.run(req).instrument(span.clone()).await;

    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    span.record("http.response.status_code", status);
    span.in_scope(|| {
        info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "Request served"
        )
    });
    state.metrics.observe_http(&method, &route, status, elapsed);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, v);
    }
    if let Some(v) = trace_id.and_then(|t| HeaderValue::from_str(&t).ok()) {
        headers.insert(TRACE_ID, v);
    }
    response
}
