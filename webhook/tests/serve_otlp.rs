//! With an OTLP endpoint, the real server exports a `review` span per admission review with a
//! `verify_image` child per image verification, flushed when it shuts down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use jobs_common::testing::otlp::OtlpReceiver;
use serde_json::json;
use serve_support::{Workdir, compliant_pod, image_policy, review_for};

#[tokio::test]
async fn review_and_image_verification_spans_reach_the_collector() {
    let receiver = OtlpReceiver::start().await.unwrap();
    let work = Workdir::new();
    std::fs::write(
        work.policies.join("signed.yaml"),
        image_policy("signed", "127.0.0.1:*/**", "enforce"),
    )
    .unwrap();
    let mut server = work.start(&[
        "--otlp-endpoint",
        receiver.endpoint(),
        "--allow-http-registry",
        "127.0.0.1:1",
    ]);

    let mut pod = compliant_pod();
    pod["spec"]["containers"][0]["image"] = json!("127.0.0.1:1/app:1.0");
    let mut client = work.connect(&server).await;
    let answer = client
        .review("/validate?timeout=5s", &review_for("otlp-1", &pod))
        .await;
    assert_eq!(answer["allowed"], false, "{answer}");

    server.signal("TERM");
    assert!(server.wait_exit().await.success());
    let spans = receiver.spans();
    let review = spans
        .iter()
        .find(|s| s.name == "review")
        .unwrap_or_else(|| panic!("no review span in {spans:?}"));
    let verify = spans
        .iter()
        .find(|s| s.name == "verify_image")
        .unwrap_or_else(|| panic!("no verify_image span in {spans:?}"));
    assert_eq!(verify.trace_id, review.trace_id);
    assert_eq!(verify.parent_span_id, review.span_id);
    assert_eq!(review.service, "portcullis");
}
