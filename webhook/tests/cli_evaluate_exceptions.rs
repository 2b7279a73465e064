//! `portcullis evaluate --exception-namespaces`: a `PolicyException` beside the policies admits
//! what it names only when its namespace is listed, and the output names it; `portcullis audit`
//! reports a waived rule as `skip`, naming the exception.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use cli_support::{ok, portcullis, stdout};
use serde_json::Value;

const POLICIES: &str = "\
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: baseline}
spec: {podSecurity: {level: baseline}}
---
apiVersion: policy.portcullis.dev/v1alpha1
kind: PolicyException
metadata: {name: privileged-agent, namespace: infra}
spec:
  match: {names: [agent]}
  exceptions:
    - {policyName: baseline, ruleNames: [privileged]}
";

const POD: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: infra}
spec:
  containers:
  - name: a
    image: registry.example/agent:1
    securityContext: {privileged: true}
";

fn evaluate(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policies.yaml"), POLICIES).unwrap();
    std::fs::write(dir.path().join("pod.yaml"), POD).unwrap();
    let all: Vec<&str> = [
        "evaluate",
        "--policy",
        "policies.yaml",
        "--no-match",
        "allow",
    ]
    .iter()
    .chain(args)
    .chain(&["pod.yaml"])
    .copied()
    .collect();
    portcullis(dir.path(), &all)
}

#[test]
fn an_exception_admits_only_where_its_namespace_is_listed() {
    let denied = evaluate(&[]);
    assert_eq!(denied.status.code(), Some(1), "{}", stdout(&denied));
    assert!(
        stdout(&denied).starts_with("DENY  pod.yaml Pod/agent\n  ✗ baseline/privileged"),
        "{}",
        stdout(&denied)
    );
    let denied = evaluate(&["--exception-namespaces", "other"]);
    assert_eq!(denied.status.code(), Some(1), "{}", stdout(&denied));

    let text = ok(&evaluate(&["--exception-namespaces", "infra"]));
    assert_eq!(
        text,
        "ALLOW pod.yaml Pod/agent\n  ~ policy exception infra/privileged-agent waived baseline/privileged (container \"a\")"
    );
    let json: Value = serde_json::from_str(&ok(&evaluate(&[
        "--exception-namespaces",
        "infra",
        "--output",
        "json",
    ])))
    .unwrap();
    assert_eq!(json["allowed"], true);
    assert_eq!(json["exemptions"][0]["exception"], "infra/privileged-agent");
    assert_eq!(json["exemptions"][0]["rule"], "privileged");
}

#[test]
fn audit_reports_a_waived_rule_as_skip_naming_the_exception() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policies.yaml"), POLICIES).unwrap();
    std::fs::write(dir.path().join("pod.yaml"), POD).unwrap();
    let rows = |extra: &[&str]| -> Vec<Value> {
        let args: Vec<&str> = ["audit", "--policy", "policies.yaml", "--output", "jsonl"]
            .iter()
            .chain(extra)
            .chain(&["pod.yaml"])
            .copied()
            .collect();
        stdout(&portcullis(dir.path(), &args))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let privileged = |rows: &[Value]| {
        rows.iter()
            .find(|r| r["rule"] == "privileged")
            .cloned()
            .unwrap_or_else(|| panic!("no privileged row in {rows:?}"))
    };
    let row = privileged(&rows(&[]));
    assert_eq!(row["status"], "fail", "{row}");
    let waived = rows(&["--exception-namespaces", "infra"]);
    let row = privileged(&waived);
    assert_eq!(row["status"], "skip", "{row}");
    assert_eq!(
        row["reasons"],
        serde_json::json!(["waived by policy exception infra/privileged-agent"])
    );
    let host = waived
        .iter()
        .find(|r| r["rule"] == "hostNamespaces")
        .unwrap();
    assert_eq!(host["status"], "pass", "other rules are unaffected: {host}");
}
