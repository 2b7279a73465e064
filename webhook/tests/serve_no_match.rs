//! `portcullis serve --no-match` over TLS, as the API server calls it: an image no
//! ClusterImagePolicy covers is admitted silently (`allow`), admitted with a warning naming it
//! (`warn`, the default) or denied (`deny`), and the setting is in the log line it decided.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use serde_json::Value;
use serve_support::*;

const VALIDATE: &str = "/validate?timeout=10s";

/// The response to a review of the restricted-compliant pod (an image no policy covers) from a
/// server started with `extra`.
async fn review_with(extra: &[&str]) -> Value {
    let work = Workdir::new();
    let server = work.start(extra);
    let (status, body) = server.readyz().await;
    assert_eq!(status, 200, "{body}");
    let mut client = work.connect(&server).await;
    client
        .review(VALIDATE, &review_for("no-match", &compliant_pod()))
        .await
}

fn no_match_warnings(response: &Value) -> Vec<String> {
    response["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(Value::as_str)
                .filter(|w| w.starts_with("no-match/"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn warn_is_the_default_and_names_the_image() {
    let image = compliant_pod()["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    for extra in [&[][..], &["--no-match", "warn"][..]] {
        let response = review_with(extra).await;
        assert_eq!(response["allowed"], true, "{extra:?}: {response}");
        let warnings = no_match_warnings(&response);
        assert_eq!(warnings.len(), 1, "{extra:?}: {response}");
        assert!(
            warnings[0].contains(&format!("no ClusterImagePolicy matches image {image:?}")),
            "{}",
            warnings[0]
        );
    }
}

#[tokio::test]
async fn allow_admits_without_a_word() {
    let response = review_with(&["--no-match", "allow"]).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert!(no_match_warnings(&response).is_empty(), "{response}");
}

#[tokio::test]
async fn deny_refuses_with_the_reason() {
    let response = review_with(&["--no-match", "deny"]).await;
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("no-match/imagePolicy")
            && message.contains("no ClusterImagePolicy matches image")
            && message.contains("--no-match=allow"),
        "{message}"
    );
}
