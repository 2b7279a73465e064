//! One trace from the API request to the worker's processing span, seen by a real OTLP receiver;
//! and the request and job metrics on `/metrics`.
//!
//! The API runs in this process with telemetry exporting to an in-process OTLP/gRPC receiver; the
//! worker is a separate process exporting to the same receiver. A request carrying a W3C
//! `traceparent` creates a job; the worker's `job.process` span must have the caller's trace id
//! and the API's request span as its parent — the context travelled through the `trace_context`
//! column, across processes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod support;

use std::time::Duration;

use jobs_common::{
    config::TelemetryArgs, telemetry, testing::eventually, testing::otlp::OtlpReceiver,
};
use serde_json::{Value, json};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_from_request_to_worker_span() {
    let env = support::Env::start().await;
    let receiver = OtlpReceiver::start().await.unwrap();
    let args = TelemetryArgs {
        otlp_endpoint: Some(receiver.endpoint().to_owned()),
        otel_service_name: Some("jobs-api".into()),
        log: "info".into(),
        log_format: "json".into(),
    };
    let telemetry = telemetry::init(&args, "jobs-api").unwrap();
    let api = env.api().await;
    let mut worker = env.worker(
        "traced",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_SERVICE_NAME", "jobs-worker"),
        ],
    );
    worker.ready(&env.http).await;

    let resp = env
        .http
        .post(format!("{}/v1/jobs", api.base))
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .header("x-request-id", "req-123")
        .json(&json!({"kind": "summarise", "payload": "trace me, trace me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(resp.headers()["x-trace-id"], TRACE_ID);
    assert_eq!(resp.headers()["x-request-id"], "req-123");
    let job: Value = resp.json().await.unwrap();
    let path = format!("{}/v1/jobs/{}", api.base, job["id"].as_str().unwrap());
    let http = env.http.clone();
    eventually("the job to succeed", Duration::from_secs(30), || async {
        let job: Value = http.get(&path).send().await.ok()?.json().await.ok()?;
        (job["status"] == "succeeded").then_some(())
    })
    .await
    .unwrap();

    // Metrics first (the worker is stopped below to flush its spans).
    let metrics = support::metrics(&env.http, &worker.admin).await;
    assert!(
        metrics.contains(r#"jobs_processed_total{kind="summarise",result="succeeded"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"job_duration_seconds_count{kind="summarise"} 1"#),
        "{metrics}"
    );
    let metrics = support::metrics(&env.http, &api.admin).await;
    assert!(
        metrics.contains(r#"http_requests_total{method="POST",route="/v1/jobs",status="201"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/jobs"} 1"#
        ) || metrics
            .contains(r#"http_request_duration_seconds_count{method="POST",route="/v1/jobs"} 1"#),
        "{metrics}"
    );

    worker.terminate();
    telemetry.flush();

    let spans = eventually(
        "spans from both services",
        Duration::from_secs(20),
        || async {
            let spans: Vec<_> = receiver
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == TRACE_ID)
                .collect();
            let api_span = spans
                .iter()
                .find(|s| s.service == "jobs-api" && s.name == "POST /v1/jobs")?
                .clone();
            let worker_span = spans
                .iter()
                .find(|s| s.service == "jobs-worker" && s.name == "job.process")?
                .clone();
            Some((api_span, worker_span))
        },
    )
    .await;
    let (api_span, worker_span) = match spans {
        Ok(found) => found,
        Err(e) => panic!("{e}; received: {:#?}", receiver.spans()),
    };
    assert_eq!(
        api_span.parent_span_id, "00f067aa0ba902b7",
        "the API span must continue the caller's trace"
    );
    assert_eq!(
        worker_span.parent_span_id, api_span.span_id,
        "the worker span's parent must be the API request span"
    );
    let log = std::fs::read_to_string(&worker.log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("Job succeeded") && l.contains(TRACE_ID)),
        "worker logs lack the trace id"
    );
}
