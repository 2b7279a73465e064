//! Real AdmissionReview requests (`<corpora>/admissionreview/*.json`, captured from API servers)
//! parse with `Request::from_admission_request` and get a well-formed decision from the library's
//! baseline and restricted policies, with verdicts that follow from the pod spec (MANIFEST.csv's
//! security digest). And a pod spec gets the same verdict whatever wraps it: every PSA fixture's
//! pod spec is evaluated as a Pod and in each of the 7 controller kinds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use portcullis_policies::workload::WorkloadKind;
use portcullis_policies::{Decision, Operation, PolicySet, Request};
use serde_json::json;

fn rules(d: &Decision) -> BTreeSet<String> {
    d.reasons.iter().map(|r| r.rule.clone()).collect()
}

#[test]
fn every_captured_request_parses_and_gets_a_sound_decision() {
    let root = common::corpus("admissionreview");
    let baseline = common::library(&["pod-security-baseline.yaml"]);
    let restricted = common::library(&["pod-security-restricted.yaml"]);
    let manifest = common::read_csv(&root.join("MANIFEST.csv"));
    assert!(
        manifest.len() >= 119,
        "expected the full corpus, MANIFEST has {} rows",
        manifest.len()
    );
    let mut failures = Vec::new();
    let (mut denied_baseline, mut denied_restricted) = (0, 0);
    for row in &manifest {
        let file = &row["file"];
        let review = common::read_json(&root.join(file));
        let req = match Request::from_admission_request(&review["request"]) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{file}: {e}"));
                continue;
            }
        };
        if req.operation.to_string() != row["operation"] || req.kind.kind != row["kind"] {
            failures.push(format!(
                "{file}: parsed {} {}, manifest says {} {}",
                req.operation, req.kind.kind, row["operation"], row["kind"]
            ));
        }
        let b = baseline.evaluate(&req, &common::no_facts());
        let r = restricted.evaluate(&req, &common::no_facts());
        if b.allowed != b.reasons.is_empty() || r.allowed != r.reasons.is_empty() {
            failures.push(format!("{file}: allowed disagrees with reasons"));
        }
        if !b.allowed && r.allowed {
            failures.push(format!(
                "{file}: denied by baseline but admitted by restricted"
            ));
        }
        // Reasons must point at real fields of the admitted object (or where one must be added).
        for reason in b.reasons.iter().chain(&r.reasons) {
            if reason.path.is_empty()
                || !(reason.path.starts_with("spec.") || reason.path.starts_with("metadata."))
            {
                failures.push(format!("{file}: reason path {:?}", reason.path));
            }
        }
        let has_pod_spec = WorkloadKind::of(&req.kind).is_some() && req.operation.writes();
        if !has_pod_spec && (!b.allowed || !r.allowed) {
            failures.push(format!(
                "{file}: {} {} must be allowed",
                req.operation, req.kind.kind
            ));
        }
        // Verdicts the manifest's security digest implies.
        let br = rules(&b);
        let create = req.operation == Operation::Create;
        if !row["privileged"].is_empty() && create && !br.contains("privileged") {
            failures.push(format!(
                "{file}: privileged containers ({}) not denied by baseline: {:?}",
                row["privileged"], br
            ));
        }
        if !row["hostPath"].is_empty() && create && !br.contains("hostPathVolumes") {
            failures.push(format!("{file}: hostPath volumes not denied: {br:?}"));
        }
        if !row["hostNS"].is_empty() && create && !br.contains("hostNamespaces") {
            failures.push(format!("{file}: host namespaces not denied: {br:?}"));
        }
        let ape = &row["allowPrivilegeEscalation"];
        if create
            && has_pod_spec
            && (ape.contains("=True") || ape.is_empty())
            && !rules(&r).contains("allowPrivilegeEscalation")
            && !row["containers"].is_empty()
        {
            failures.push(format!(
                "{file}: allowPrivilegeEscalation ({ape:?}) not denied by restricted: {:?}",
                rules(&r)
            ));
        }
        denied_baseline += usize::from(!b.allowed);
        denied_restricted += usize::from(!r.allowed);
        // Operations that write are re-evaluated as dry runs identically.
        if req.operation == Operation::Create {
            let mut dry = req.clone();
            dry.dry_run = true;
            if restricted.evaluate(&dry, &common::no_facts()) != r {
                failures.push(format!("{file}: dryRun changed the decision"));
            }
        }
    }
    println!(
        "admissionreview: {} requests, baseline denied {denied_baseline}, restricted denied {denied_restricted}",
        manifest.len()
    );
    assert!(
        denied_baseline > 10 && denied_restricted > denied_baseline,
        "implausible: baseline {denied_baseline}, restricted {denied_restricted}"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A reason path relative to the pod (template): `spec.template.spec.x` → `spec.x`.
fn pod_relative(path: &str) -> &str {
    path.strip_prefix("spec.jobTemplate.spec.template.")
        .or_else(|| path.strip_prefix("spec.template."))
        .unwrap_or(path)
}

#[test]
fn malformed_requests_are_errors_not_panics() {
    for bad in [
        json!(null),
        json!([]),
        json!({"uid": "x"}),
        json!({"uid": "x", "operation": "CREATE", "kind": "Pod"}),
    ] {
        assert!(Request::from_admission_request(&bad).is_err(), "{bad}");
    }
}

#[test]
fn pod_spec_verdict_is_identical_in_every_controller_kind() {
    let root = common::corpus("psa");
    let sets: Vec<(&str, PolicySet)> = vec![
        ("baseline", common::library(&["pod-security-baseline.yaml"])),
        (
            "restricted",
            common::library(&["pod-security-restricted.yaml"]),
        ),
    ];
    let mut failures = Vec::new();
    let mut compared = 0;
    for level in ["baseline", "restricted"] {
        for version in ["v1.30", "v1.37"] {
            for verdict in ["pass", "fail"] {
                let dir = root.join(level).join(version).join(verdict);
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    let pod = common::read_yaml(&path);
                    let name = path
                        .file_stem()
                        .unwrap()
                        .to_string_lossy()
                        .replace('_', "-");
                    let meta = pod.get("metadata").cloned().unwrap_or_else(|| json!({}));
                    for (set_name, set) in &sets {
                        let verdict_of = |obj: &serde_json::Value| {
                            let d = set.evaluate(
                                &Request::from_manifest(obj.clone()).unwrap(),
                                &common::no_facts(),
                            );
                            let located: BTreeSet<(String, String)> = d
                                .reasons
                                .iter()
                                .map(|r| (r.rule.clone(), pod_relative(&r.path).to_string()))
                                .collect();
                            (d.allowed, located)
                        };
                        let as_pod = verdict_of(&WorkloadKind::Pod.wrap(
                            &name,
                            meta.clone(),
                            pod["spec"].clone(),
                        ));
                        for kind in &WorkloadKind::ALL[1..] {
                            compared += 1;
                            let wrapped =
                                verdict_of(&kind.wrap(&name, meta.clone(), pod["spec"].clone()));
                            if wrapped != as_pod {
                                failures.push(format!(
                                    "{} with {set_name}: Pod {:?} vs {} {:?}",
                                    path.display(),
                                    as_pod,
                                    kind.name(),
                                    wrapped
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    println!("controller equivalence: {compared} comparisons");
    assert!(
        compared >= 276 * 2 * 7,
        "corpus incomplete: {compared} comparisons"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
