//! `portcullis serve` over TLS with a namespaced `GuardrailPolicy` in its policy folder beside
//! the cluster-wide restricted policy: it denies in its own namespace only, names itself
//! `namespace/name` in the reason and in the metrics, and its audit findings go under an
//! audit-annotation key the API server accepts (one `/`, added by the API server).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use serde_json::json;
use serve_support::*;

const VALIDATE: &str = "/validate?timeout=10s";

const TEAM_POLICIES: &str = "\
apiVersion: policy.portcullis.dev/v1alpha1
kind: GuardrailPolicy
metadata: {name: require-team, namespace: team-a}
spec:
  rules:
    - {name: team-label, path: $.metadata.labels.team, operator: exists, message: pods in team-a carry a team label}
---
apiVersion: policy.portcullis.dev/v1alpha1
kind: GuardrailPolicy
metadata: {name: owner, namespace: team-a}
spec:
  mode: audit
  rules:
    - {name: owner-label, path: $.metadata.labels.owner, operator: exists}
";

#[tokio::test]
async fn a_guardrail_policy_denies_in_its_namespace_and_allows_elsewhere() {
    let work = Workdir::new();
    std::fs::write(work.policies.join("team-a.yaml"), TEAM_POLICIES).unwrap();
    let server = work.start(&["--no-match", "allow"]);
    let (status, body) = server.readyz().await;
    assert_eq!(status, 200, "{body}");
    let mut client = work.connect(&server).await;

    let mut pod = compliant_pod();
    pod["metadata"]["namespace"] = json!("team-a");
    let response = client
        .review(VALIDATE, &review_for("in-team-a", &pod))
        .await;
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("team-a/require-team/team-label: metadata.labels.team: ")
            && message.ends_with(" — pods in team-a carry a team label")
            && !message.contains('\n'),
        "{response}"
    );
    let audit = response["auditAnnotations"].as_object().unwrap();
    assert_eq!(
        audit.keys().collect::<Vec<_>>(),
        ["team-a_owner"],
        "{response}"
    );
    assert!(
        audit["team-a_owner"]
            .as_str()
            .unwrap()
            .starts_with("team-a/owner/owner-label: "),
        "{response}"
    );

    for namespace in ["apps", "team-b"] {
        pod["metadata"]["namespace"] = json!(namespace);
        let uid = format!("in-{namespace}");
        let response = client.review(VALIDATE, &review_for(&uid, &pod)).await;
        assert_eq!(response["allowed"], true, "{namespace}: {response}");
        assert!(
            response.get("auditAnnotations").is_none_or(|a| a.is_null()),
            "{namespace}: {response}"
        );
    }

    // The cluster-wide restricted policy still applies in team-a, beside the namespaced one.
    let mut root = root_pod();
    root["metadata"]["namespace"] = json!("team-a");
    root["metadata"]["labels"] = json!({"team": "a", "owner": "me"});
    let response = client.review(VALIDATE, &review_for("root", &root)).await;
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("pod-security-restricted/runAsNonRoot"),
        "{message}"
    );

    let metrics = server.metrics().await;
    let needle = "portcullis_policy_results_total{policy=\"team-a/require-team\",rule=\"team-label\",result=\"deny\"} 1";
    assert!(metrics.contains(needle), "{needle} not in\n{metrics}");
    let needle = "portcullis_policy_results_total{policy=\"team-a/owner\",rule=\"owner-label\",result=\"audit\"} 1";
    assert!(metrics.contains(needle), "{needle} not in\n{metrics}");
}
