//! Every captured AdmissionReview in the corpus (`testdata/corpora/admissionreview`)
//! gets a well-formed answer from both endpoints: the right envelope, its own uid, a patch (if
//! any) that is base64 JSON Patch applying cleanly and leaving an object that still parses as
//! its Kubernetes type; DELETE is allowed; privileged or hostPath pods are denied under the
//! shipped restricted policy, for bare pods and every controller kind alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use std::collections::HashMap;

use serde_json::{Value, json};
use serve_support::*;

/// A policy set with mutations (so `/mutate` has patches to return) next to the restricted one.
const DEFAULTS_POLICY: &str = include_str!("data/secure-defaults-policy.yaml");

fn app() -> axum::Router {
    let (_, restricted) = restricted_policy();
    router(
        policies(&[
            ("restricted.yaml", &restricted),
            ("defaults.yaml", DEFAULTS_POLICY),
        ]),
        StubVerifier::signed(),
    )
    .0
}

/// Checks that `object` still deserialises as the Kubernetes type named by its kind.
fn parses_as_kind(kind: &str, object: &Value) -> Result<(), String> {
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    let o = object.clone();
    let r = match kind {
        "Pod" => serde_json::from_value::<core::Pod>(o).map(drop),
        "ReplicationController" => {
            serde_json::from_value::<core::ReplicationController>(o).map(drop)
        }
        "Deployment" => serde_json::from_value::<apps::Deployment>(o).map(drop),
        "ReplicaSet" => serde_json::from_value::<apps::ReplicaSet>(o).map(drop),
        "StatefulSet" => serde_json::from_value::<apps::StatefulSet>(o).map(drop),
        "DaemonSet" => serde_json::from_value::<apps::DaemonSet>(o).map(drop),
        "Job" => serde_json::from_value::<batch::Job>(o).map(drop),
        "CronJob" => serde_json::from_value::<batch::CronJob>(o).map(drop),
        _ => return Ok(()),
    };
    r.map_err(|e| e.to_string())
}

/// MANIFEST.csv rows by file name (a minimal CSV reader: commas, double-quoted fields).
fn manifest(dir: &std::path::Path) -> HashMap<String, HashMap<String, String>> {
    fn split(line: &str) -> Vec<String> {
        let (mut fields, mut cur, mut quoted) = (Vec::new(), String::new(), false);
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        fields
    }
    let text = std::fs::read_to_string(dir.join("MANIFEST.csv")).unwrap();
    let mut lines = text.lines();
    let header = split(lines.next().unwrap());
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let row: HashMap<String, String> = header.iter().cloned().zip(split(l)).collect();
            (row["file"].clone(), row)
        })
        .collect()
}

#[tokio::test]
async fn every_fixture_gets_a_well_formed_answer_with_its_uid() {
    let dir = corpus_dir();
    let reviews = corpus_reviews(&dir);
    assert!(
        reviews.len() >= 100,
        "only {} fixtures in {}",
        reviews.len(),
        dir.display()
    );
    let rows = manifest(&dir);
    let app = app();
    let (mut denied_privileged, mut patched) = (0, 0);
    for (name, review) in &reviews {
        let operation = review["request"]["operation"].as_str().unwrap();
        let kind = review["request"]["kind"]["kind"].as_str().unwrap();
        let row = rows
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in MANIFEST.csv"));

        let validated = call_review(&app, "/validate?timeout=10s", review).await;
        assert!(
            validated.get("patch").is_none(),
            "{name}: /validate returned a patch"
        );
        if operation == "DELETE" {
            assert_eq!(
                validated["allowed"], true,
                "{name}: DELETE must be allowed: {validated}"
            );
        }
        if validated["allowed"] == false {
            let message = validated["status"]["message"].as_str().unwrap_or("");
            assert!(
                !message.is_empty(),
                "{name}: a denial needs a message: {validated}"
            );
        }
        let risky = !row["privileged"].is_empty() && row["privileged"].contains("True")
            || !row["hostPath"].is_empty();
        if risky && operation != "DELETE" {
            assert_eq!(
                validated["allowed"], false,
                "{name}: privileged/hostPath admitted: {validated}"
            );
            denied_privileged += 1;
        }

        let mutated = call_review(&app, "/mutate?timeout=10s", review).await;
        let object = &review["request"]["object"];
        if object.is_object() {
            let result = apply_patch(&mutated, object);
            if mutated.get("patch").is_some() {
                patched += 1;
                if parses_as_kind(kind, object).is_ok() {
                    parses_as_kind(kind, &result)
                        .unwrap_or_else(|e| panic!("{name}: patched {kind} no longer parses: {e}"));
                }
            }
        } else {
            assert!(
                mutated.get("patch").is_none(),
                "{name}: patch without object"
            );
        }
    }
    assert!(
        denied_privileged >= 5,
        "only {denied_privileged} privileged/hostPath fixtures checked"
    );
    assert!(patched > 0, "no fixture was patched by the defaults policy");
}

/// Variants the corpus lacks, derived from captured files (as its README suggests).
#[tokio::test]
async fn derived_variants_get_answers() {
    let dir = corpus_dir();
    let reviews = corpus_reviews(&dir);
    let (_, pod) = reviews
        .iter()
        .find(|(n, _)| n.contains("req_pod_without_security_context"))
        .expect("a pod fixture");
    let app = app();

    let mut dry = pod.clone();
    dry["request"]["dryRun"] = json!(true);
    dry["request"]["uid"] = json!("derived-dry-run");
    let real = call_review(&app, "/validate", pod).await;
    let dry_answer = call_review(&app, "/validate", &dry).await;
    assert_eq!(
        dry_answer["allowed"], real["allowed"],
        "dry run decides like a real request"
    );

    let mut update = pod.clone();
    update["request"]["operation"] = json!("UPDATE");
    update["request"]["oldObject"] = pod["request"]["object"].clone();
    update["request"]["uid"] = json!("derived-update");
    let answer = call_review(&app, "/validate", &update).await;
    assert_eq!(answer["allowed"], real["allowed"]);

    let mut connect = pod.clone();
    connect["request"]["operation"] = json!("CONNECT");
    connect["request"]["subResource"] = json!("exec");
    connect["request"]["object"] =
        json!({"apiVersion": "v1", "kind": "PodExecOptions", "command": ["sh"]});
    connect["request"]["uid"] = json!("derived-connect");
    for path in ["/validate", "/mutate"] {
        let answer = call_review(&app, path, &connect).await;
        assert_eq!(
            answer["allowed"], true,
            "CONNECT is not evaluated: {answer}"
        );
    }

    let mut delete = pod.clone();
    delete["request"]["operation"] = json!("DELETE");
    delete["request"]["oldObject"] = pod["request"]["object"].clone();
    delete["request"]["object"] = Value::Null;
    delete["request"]["uid"] = json!("derived-delete");
    let answer = call_review(&app, "/mutate", &delete).await;
    assert_eq!(answer["allowed"], true);
    assert!(answer.get("patch").is_none());
}

#[tokio::test]
async fn compliant_pod_is_allowed_and_root_pod_denied_with_a_reason() {
    let app = &app();
    // As the API server calls it, with its default 10 s timeout.
    let validate = |uid: &'static str, pod: Value| async move {
        call_review(app, "/validate?timeout=10s", &review_for(uid, &pod)).await
    };
    let ok = validate("ok", compliant_pod()).await;
    assert_eq!(ok["allowed"], true, "{ok}");
    let root = validate("root", root_pod()).await;
    assert_eq!(root["allowed"], false, "{root}");
    assert_eq!(root["status"]["code"], 403);
    let message = root["status"]["message"].as_str().unwrap();
    assert!(message.contains("pod-security-restricted"), "{message}");
    assert!(
        message.contains("runAsNonRoot") || message.contains("runAsUser"),
        "{message}"
    );
}
