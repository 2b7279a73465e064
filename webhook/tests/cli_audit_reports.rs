//! `portcullis audit --output policyreport|openreports` over the List dump with known violations:
//! one report per namespace plus a cluster report, each valid against its CRD schema in
//! `testdata/schemas/crds` (checked with `check-jsonschema`, as `make manifests` checks custom
//! resources), with the counts of `--output jsonl`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_support;
mod cli_support;

use std::path::PathBuf;

use audit_support::{DUMP, audit, audit_stdin, dump_and_broken_pod, schema_check};
use portcullis_testkit::workspace_root;
use serde_json::{Value, json};

// === schema validation ===

/// The schema file of a report resource: `testdata/schemas/crds/<group>/<kind>_<version>.json`.
fn schema_of(doc: &Value) -> PathBuf {
    let (group, version) = doc["apiVersion"].as_str().unwrap().split_once('/').unwrap();
    let kind = doc["kind"].as_str().unwrap().to_lowercase();
    let path = workspace_root().join(format!(
        "testdata/schemas/crds/{group}/{kind}_{version}.json"
    ));
    assert!(path.is_file(), "no schema {}", path.display());
    path
}

/// Validates every document against its schema; the `check-jsonschema` output on failure.
fn validate(docs: &[Value]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    for (i, doc) in docs.iter().enumerate() {
        schema_check(&schema_of(doc), doc, dir.path(), &[])
            .map_err(|e| format!("document {i} ({}): {e}", doc["kind"]))?;
    }
    Ok(())
}

// === report resources ===

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// (pass, fail, warn, skip, error) of a report's `summary`, checked against its `results`.
fn summary(report: &Value) -> [u64; 5] {
    let names = ["pass", "fail", "warn", "skip", "error"];
    let mut counted = [0; 5];
    for r in report["results"].as_array().unwrap() {
        let i = names.iter().position(|s| r["result"] == *s).unwrap();
        counted[i] += 1;
    }
    let stated = names.map(|s| report["summary"][s].as_u64().unwrap());
    assert_eq!(stated, counted, "summary vs results: {report:#}");
    stated
}

/// Kind, namespace and summary of each report of `docs`.
/// Asserts the reports of the list dump's audit: the cluster report with `cluster` counts, then
/// one per namespace. a: priv (privileged fail, latest tag warn) and good; b: hostnet
/// (hostNamespaces); c: agent (hostPath volume and hostPort). 14 rules per pod-carrying resource.
fn assert_dump_reports(docs: &[Value], [cluster_kind, kind]: [&str; 2], cluster: [u64; 5]) {
    let s = |k: &str, ns: &str, c: [u64; 5]| (k.to_string(), ns.to_string(), c);
    assert_eq!(
        shape(docs),
        [
            s(cluster_kind, "", cluster),
            s(kind, "a", [26, 1, 1, 0, 0]),
            s(kind, "b", [13, 1, 0, 0, 0]),
            s(kind, "c", [12, 2, 0, 0, 0]),
        ]
    );
}

fn shape(docs: &[Value]) -> Vec<(String, String, [u64; 5])> {
    docs.iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                summary(d),
            )
        })
        .collect()
}

fn report_in<'a>(docs: &'a [Value], namespace: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["metadata"]["namespace"].as_str().unwrap_or_default() == namespace)
        .unwrap_or_else(|| panic!("no report for namespace {namespace:?}"))
}

#[test]
fn policyreports_are_one_per_namespace_valid_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let docs = documents(&audit(dir.path(), "policyreport", &[DUMP]));
    validate(&docs).unwrap();
    assert!(
        docs.iter()
            .all(|d| d["apiVersion"] == "wgpolicyk8s.io/v1alpha2")
    );
    assert_dump_reports(
        &docs,
        ["ClusterPolicyReport", "PolicyReport"],
        [0, 0, 0, 0, 0],
    );
    let b = report_in(&docs, "b");
    assert_eq!(b["metadata"]["name"], "portcullis-audit");
    let fail = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["result"] == "fail")
        .unwrap();
    assert_eq!(fail["policy"], "pod-security-baseline");
    assert_eq!(fail["rule"], "hostNamespaces");
    assert_eq!(fail["source"], "portcullis");
    assert_eq!(
        fail["resources"],
        json!([{"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "b", "name": "hostnet"}])
    );
    let message = fail["message"].as_str().unwrap();
    for needle in [
        "spec.template.spec.hostNetwork",
        "spec.template.spec.hostPID",
    ] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    assert!(message.contains(" — "), "the fix: {message}");
    assert_eq!(fail["properties"]["mode"], "enforce");
    assert!(
        fail["properties"]["controls"]
            .as_str()
            .unwrap()
            .contains("pss:Host Namespaces"),
        "{fail:#}"
    );
    assert!(fail["timestamp"]["seconds"].as_u64().unwrap() > 1_700_000_000);
    let warn = &report_in(&docs, "a")["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["result"] == "warn")
        .unwrap()["properties"]["mode"];
    assert_eq!(warn, "warn");
}

#[test]
fn openreports_carry_the_same_results_and_put_unreadable_resources_in_the_cluster_report() {
    let dir = tempfile::tempdir().unwrap();
    let (input, line) = dump_and_broken_pod();
    let docs = documents(&audit_stdin(dir.path(), "openreports", &input));
    validate(&docs).unwrap();
    assert!(
        docs.iter()
            .all(|d| d["apiVersion"] == "openreports.io/v1alpha1")
    );
    assert!(docs.iter().all(|d| d["source"] == "portcullis"));
    assert_dump_reports(&docs, ["ClusterReport", "Report"], [0, 0, 0, 0, 1]);
    let error = &report_in(&docs, "")["results"][0];
    assert_eq!(
        (&error["policy"], &error["rule"]),
        (&json!("input"), &json!("readable"))
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("spec.containers"),
        "{error:#}"
    );
    assert_eq!(
        error["properties"]["source"],
        format!("-:{line}"),
        "{error:#}"
    );
}

#[test]
fn the_schema_check_rejects_a_report_that_breaks_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs = documents(&audit(dir.path(), "policyreport", &[DUMP]));
    docs[1]["results"][0]["result"] = json!("failed");
    let err = validate(&docs[1..2]).unwrap_err();
    assert!(err.contains("failed"), "{err}");
    let mut docs = documents(&audit(dir.path(), "openreports", &[DUMP]));
    docs[1]["summary"]["passed"] = json!(1);
    assert!(validate(&docs[1..2]).is_err());
}
