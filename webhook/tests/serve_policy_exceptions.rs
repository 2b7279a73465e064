//! `portcullis serve --exception-namespaces` over TLS with a `PolicyException` in its policy
//! folder: in a listed namespace the exception admits the pod it names, and says so in a warning,
//! in the `exceptions` audit annotation, in `portcullis_exceptions_applied_total` and in the
//! decision's log line; the same exception in a namespace not listed is inactive (logged with
//! the reason) and the pod is denied there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use serde_json::json;
use serve_support::*;

const VALIDATE: &str = "/validate?timeout=10s";

/// The same exception in team-a and team-b: root is fine for `rooty`'s registry.example images.
fn exceptions() -> String {
    ["team-a", "team-b"]
        .iter()
        .map(|ns| {
            format!(
                "apiVersion: policy.portcullis.dev/v1alpha1
kind: PolicyException
metadata: {{name: run-as-root, namespace: {ns}}}
spec:
  match: {{kinds: [Pod], names: [rooty]}}
  exceptions:
    - policyName: pod-security-restricted
  podSecurity:
    - controlName: runAsNonRoot
      images: [\"registry.example/*\"]
    - controlName: runAsUser
      images: [\"registry.example/*\"]
"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

#[tokio::test]
async fn an_exception_admits_in_a_listed_namespace_and_says_so_everywhere() {
    let work = Workdir::new();
    std::fs::write(work.policies.join("exceptions.yaml"), exceptions()).unwrap();
    let server = work.start(&[
        "--no-match",
        "allow",
        "--exception-namespaces",
        "team-a,ops",
    ]);
    let (status, body) = server.readyz().await;
    assert_eq!(status, 200, "{body}");
    let mut client = work.connect(&server).await;

    let mut pod = root_pod();
    pod["metadata"]["namespace"] = json!("team-a");
    let response = client.review(VALIDATE, &review_for("team-a", &pod)).await;
    assert_eq!(response["allowed"], true, "{response}");
    let line = "policy exception team-a/run-as-root waived \
                pod-security-restricted/runAsNonRoot (container \"web\"), \
                pod-security-restricted/runAsUser (container \"web\")";
    assert_eq!(response["warnings"], json!([line]), "{response}");
    assert_eq!(
        response["auditAnnotations"],
        json!({"exceptions": line}),
        "{response}"
    );

    // Not listed: the same exception does not count in team-b.
    pod["metadata"]["namespace"] = json!("team-b");
    let response = client.review(VALIDATE, &review_for("team-b", &pod)).await;
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("pod-security-restricted/runAsNonRoot"),
        "{message}"
    );
    assert!(
        response.get("warnings").is_none_or(|w| w.is_null()),
        "{response}"
    );

    // Named pods only: another pod in team-a is denied.
    pod["metadata"]["namespace"] = json!("team-a");
    pod["metadata"]["name"] = json!("other");
    let response = client.review(VALIDATE, &review_for("other", &pod)).await;
    assert_eq!(response["allowed"], false, "{response}");

    let metrics = server.metrics().await;
    let needle = "portcullis_exceptions_applied_total{exception=\"team-a/run-as-root\",policy=\"pod-security-restricted\"} 1";
    assert!(metrics.contains(needle), "{needle} not in\n{metrics}");
    assert!(
        !metrics.contains("exception=\"team-b/run-as-root\""),
        "{metrics}"
    );

    let logs = server.log_text();
    let allowed = logs
        .lines()
        .find(|l| l.contains("\"uid\":\"team-a\"") && l.contains("Allowed"))
        .unwrap_or_else(|| panic!("no Allowed line for team-a in\n{logs}"));
    assert!(
        allowed.contains("\"exceptions\":\"team-a/run-as-root:pod-security-restricted\""),
        "{allowed}"
    );
    let inactive = logs
        .lines()
        .find(|l| l.contains("PolicyException inactive"))
        .unwrap_or_else(|| panic!("no inactive exception logged in\n{logs}"));
    assert!(
        inactive.contains("team-b/run-as-root")
            && inactive.contains("NamespaceNotAllowed")
            && inactive.contains("is not in --exception-namespaces (team-a, ops)"),
        "{inactive}"
    );
}

#[tokio::test]
async fn without_the_flag_no_exception_counts() {
    let work = Workdir::new();
    std::fs::write(work.policies.join("exceptions.yaml"), exceptions()).unwrap();
    let server = work.start(&["--no-match", "allow"]);
    let (status, body) = server.readyz().await;
    assert_eq!(status, 200, "{body}");
    let mut client = work.connect(&server).await;
    let mut pod = root_pod();
    pod["metadata"]["namespace"] = json!("team-a");
    let response = client.review(VALIDATE, &review_for("team-a", &pod)).await;
    assert_eq!(response["allowed"], false, "{response}");
}
