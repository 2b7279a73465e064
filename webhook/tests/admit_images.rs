//! Image verification through the admission endpoints, with stub verifiers and tokio's paused
//! clock (deadlines are exercised without waiting and without asserting wall-clock times):
//! verification fails closed at the deadline taken from `?timeout=` minus the margin, images are
//! verified concurrently and once each, `warn`/`audit` modes become warnings/audit annotations,
//! and `/mutate` pins verified images to their digest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use serde_json::{Value, json};
use serve_support::*;

fn pod_with_images(images: &[&str]) -> Value {
    let mut pod = compliant_pod();
    let template = pod["spec"]["containers"][0].clone();
    pod["spec"]["containers"] = json!(
        images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                let mut c = template.clone();
                c["name"] = json!(format!("c{i}"));
                c["image"] = json!(image);
                c
            })
            .collect::<Vec<_>>()
    );
    pod
}

fn app_with(
    mode: &str,
    verifier: Arc<dyn portcullis_webhook::serve::ImageVerifier>,
) -> axum::Router {
    let policy = image_policy("signed-images", "registry.example/**", mode);
    router(policies(&[("images.yaml", &policy)]), verifier).0
}

#[tokio::test(start_paused = true)]
async fn unfinished_verification_is_denied_at_the_deadline() {
    let app = app_with("enforce", StubVerifier::hanging());
    let review = review_for("slow", &pod_with_images(&["registry.example/app:1.0"]));
    for path in ["/validate?timeout=1500ms", "/mutate?timeout=1500ms"] {
        let answer = call_review(&app, path, &review).await;
        assert_eq!(answer["allowed"], false, "{path}: {answer}");
        let message = answer["status"]["message"].as_str().unwrap();
        // 1500 ms requested, 200 ms margin in the test router.
        assert!(
            message.contains("did not finish within 1300 ms"),
            "{message}"
        );
        assert!(message.contains("registry.example"), "{message}");
        assert!(message.contains("signed-images"), "{message}");
    }
    // Without ?timeout the default (10 s) applies.
    let answer = call_review(&app, "/validate", &review).await;
    let message = answer["status"]["message"].as_str().unwrap();
    assert!(message.contains("within 9800 ms"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn images_are_verified_concurrently_and_once_each() {
    let verifier = Arc::new(StubVerifier {
        delay: Duration::from_secs(1),
        hang: false,
        signed: true,
        calls: AtomicUsize::new(0),
    });
    let app = app_with("enforce", verifier.clone());
    let images = [
        "registry.example/a:1",
        "registry.example/b:1",
        "registry.example/c:1",
        "registry.example/a:1",
    ];
    // Each verification takes 1 s; the budget is 1.3 s: only concurrent verification fits.
    let answer = call_review(
        &app,
        "/validate?timeout=1500ms",
        &review_for("many", &pod_with_images(&images)),
    )
    .await;
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(verifier.calls(), 3, "duplicate image verified once");
}

#[tokio::test]
async fn unsigned_images_are_denied_and_unmatched_images_not_checked() {
    let verifier = StubVerifier::unsigned();
    let app = app_with("enforce", verifier.clone());
    let answer = call_review(
        &app,
        "/validate",
        &review_for("u", &pod_with_images(&["registry.example/app:1.0"])),
    )
    .await;
    assert_eq!(answer["allowed"], false);
    assert!(
        answer["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no signature"),
        "{answer}"
    );

    let before = verifier.calls();
    let answer = call_review(
        &app,
        "/validate",
        &review_for("o", &pod_with_images(&["other.example/app:1.0"])),
    )
    .await;
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(
        verifier.calls(),
        before,
        "images outside the policy are not verified"
    );
}

#[tokio::test]
async fn warn_and_audit_modes_admit_with_warnings_or_annotations() {
    let review = &review_for("w", &pod_with_images(&["registry.example/app:1.0"]));
    let unsigned_under = |mode, path| async move {
        call_review(&app_with(mode, StubVerifier::unsigned()), path, review).await
    };
    let says_unsigned = |texts: Vec<&Value>| {
        texts
            .iter()
            .any(|t| t.as_str().unwrap().contains("no signature"))
    };

    let warn = unsigned_under("warn", "/validate").await;
    assert_eq!(warn["allowed"], true, "{warn}");
    let warnings = warn["warnings"].as_array().unwrap();
    assert!(says_unsigned(warnings.iter().collect()), "{warn}");

    let audit = unsigned_under("audit", "/validate").await;
    assert_eq!(audit["allowed"], true, "{audit}");
    let annotations = audit["auditAnnotations"].as_object().unwrap();
    assert!(says_unsigned(annotations.values().collect()), "{audit}");
    // /mutate never denies for warn/audit policies.
    let mutate = unsigned_under("warn", "/mutate").await;
    assert_eq!(mutate["allowed"], true, "{mutate}");
}

#[tokio::test]
async fn mutate_pins_verified_images_to_their_digest() {
    let app = app_with("enforce", StubVerifier::signed());
    let pod = pod_with_images(&["registry.example/app:1.0"]);
    let answer = call_review(&app, "/mutate?timeout=10s", &review_for("pin", &pod)).await;
    assert_eq!(answer["allowed"], true, "{answer}");
    let patched = apply_patch(&answer, &pod);
    let parsed: k8s_openapi::api::core::v1::Pod = serde_json::from_value(patched).unwrap();
    let image = parsed.spec.unwrap().containers[0].image.clone().unwrap();
    let digest = stub_digest("registry.example/app:1.0");
    assert!(image.ends_with(digest.as_str()), "{image}");
    assert!(image.starts_with("registry.example/app"), "{image}");

    // The validating webhook sees the pinned pod and allows it without a patch of its own.
    let validated = call_review(
        &app,
        "/validate",
        &review_for("pinned", &pod_with_images(&[&image])),
    )
    .await;
    assert_eq!(validated["allowed"], true, "{validated}");
    assert!(validated.get("patch").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_timeout_smaller_than_the_margin_still_gets_an_answer() {
    // 100 ms requested, 200 ms margin: no time to wait for verification, but the body is still
    // read and the review answered: images fail closed unless their verdict is at hand at once
    // (a cache hit), other requests get their normal decision.
    let review = review_for("tight", &pod_with_images(&["registry.example/app:1.0"]));
    let slow = app_with("enforce", StubVerifier::hanging());
    let answer = call_review(&slow, "/validate?timeout=100ms", &review).await;
    assert_eq!(answer["allowed"], false, "{answer}");
    let message = answer["status"]["message"].as_str().unwrap();
    assert!(message.contains("within 0 ms"), "{message}");
    let other = review_for("tight-other", &pod_with_images(&["other.example/app:1.0"]));
    let answer = call_review(&slow, "/validate?timeout=100ms", &other).await;
    assert_eq!(answer["allowed"], true, "{answer}");

    let instant = app_with("enforce", StubVerifier::signed());
    let answer = call_review(&instant, "/validate?timeout=100ms", &review).await;
    assert_eq!(
        answer["allowed"], true,
        "an immediate verdict is used: {answer}"
    );
}
