//! Pod Security Standards conformance: every upstream Pod Security Admission fixture in the
//! shared corpus (`<corpora>/psa/<level>/<version>/<pass|fail>/*.yaml`) must get the folder's
//! verdict, both as a bare Pod and wrapped in a Deployment (as upstream's `test/run.go` does).
//!
//! For denials the reasons must also be the right ones: one must carry upstream's expected error
//! substring (MANIFEST.csv `expect_error_substring`) and every violated rule must be the
//! fixture's check, one it is documented to also violate (`also_violates`), or the restricted
//! check that overrides either. No fixture is skipped; a fixture missing from the manifest fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use portcullis_policies::workload::WorkloadKind;
use portcullis_policies::{Decision, Request};
use serde_json::{Value, json};

/// Restricted checks that replace a baseline check upstream.
fn restricted_override(check: &str) -> Option<&'static str> {
    match check {
        "procMount" => Some("procMount_restricted"),
        "capabilities_baseline" => Some("capabilities_restricted"),
        "seccompProfile_baseline" => Some("seccompProfile_restricted"),
        "hostPathVolumes" => Some("restrictedVolumes"),
        _ => None,
    }
}

struct Expectation {
    pass: bool,
    check_id: String,
    substring: String,
    allowed_rules: BTreeSet<String>,
}

fn expectation(row: &BTreeMap<String, String>) -> Expectation {
    let check_id = row["check_id"].clone();
    let mut allowed_rules: BTreeSet<String> = BTreeSet::new();
    let also = row["also_violates"]
        .split(['|', ';', ' '])
        .filter(|s| !s.is_empty());
    for id in std::iter::once(check_id.as_str()).chain(also) {
        allowed_rules.insert(id.to_string());
        if let Some(o) = restricted_override(id) {
            allowed_rules.insert(o.to_string());
        }
    }
    Expectation {
        pass: row["expected"] == "pass",
        check_id,
        substring: row["expect_error_substring"].clone(),
        allowed_rules,
    }
}

/// Why `decision` does not meet `exp`, if it does not.
fn mismatch(decision: &Decision, exp: &Expectation) -> Option<String> {
    if exp.pass {
        return (!decision.allowed).then(|| {
            format!(
                "expected admit, denied: {}",
                decision.message().replace('\n', " | ")
            )
        });
    }
    if decision.allowed {
        return Some(format!("expected deny ({}), admitted", exp.check_id));
    }
    let texts: Vec<String> = decision
        .reasons
        .iter()
        .map(|r| format!("{} {r}", r.message))
        .collect();
    if !texts.iter().any(|t| t.contains(&exp.substring)) {
        return Some(format!(
            "no reason mentions {:?}: {}",
            exp.substring,
            texts.join(" | ")
        ));
    }
    let unexpected: Vec<&str> = decision
        .reasons
        .iter()
        .map(|r| r.rule.as_str())
        .filter(|r| !exp.allowed_rules.contains(*r))
        .collect();
    if !unexpected.is_empty() {
        return Some(format!(
            "unexpected rules {unexpected:?} (allowed {:?}): {}",
            exp.allowed_rules,
            decision.message().replace('\n', " | ")
        ));
    }
    None
}

fn evaluate(policies: &portcullis_policies::PolicySet, object: &Value) -> Decision {
    let mut req = Request::from_manifest(object.clone()).unwrap();
    req.namespace = "psa-conformance".into();
    policies.evaluate(&req, &common::no_facts())
}

#[test]
fn every_psa_fixture_gets_upstream_verdict_as_pod_and_deployment() {
    let root = common::corpus("psa");
    let manifest: BTreeMap<String, BTreeMap<String, String>> =
        common::read_csv(&root.join("MANIFEST.csv"))
            .into_iter()
            .map(|row| (row["file"].clone(), row))
            .collect();
    let mut failures: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut summary = Vec::new();
    for level in ["baseline", "restricted"] {
        let mut versions: Vec<String> = std::fs::read_dir(root.join(level))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        versions.sort();
        for version in versions {
            let policies = common::psa_policy(&format!("pod-security-{level}"), level, &version);
            let (mut ok, mut total) = (0usize, 0usize);
            for verdict in ["pass", "fail"] {
                let dir = root.join(level).join(&version).join(verdict);
                let mut files: Vec<_> = std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                files.sort();
                for path in files
                    .into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                {
                    total += 1;
                    let rel = path
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    seen.insert(rel.clone());
                    let Some(row) = manifest.get(&rel) else {
                        failures.push(format!("{rel}: not listed in MANIFEST.csv"));
                        continue;
                    };
                    let exp = expectation(row);
                    if exp.pass != (verdict == "pass") {
                        failures.push(format!(
                            "{rel}: MANIFEST.csv says {}, folder says {verdict}",
                            row["expected"]
                        ));
                        continue;
                    }
                    let before = failures.len();
                    check_fixture(&policies, &path, &rel, &exp, &mut failures);
                    if failures.len() == before {
                        ok += 1;
                    }
                }
            }
            let line = format!("psa {level} {version}: {ok}/{total}");
            println!("{line}");
            summary.push(line);
        }
    }
    for missing in manifest.keys().filter(|f| !seen.contains(*f)) {
        failures.push(format!("{missing}: listed in MANIFEST.csv but not found"));
    }
    assert!(
        seen.len() >= 276,
        "expected the full corpus, found {} fixtures",
        seen.len()
    );
    assert!(
        failures.is_empty(),
        "{} PSA mismatches ({}):\n{}",
        failures.len(),
        summary.join(", "),
        failures.join("\n")
    );
}

fn check_fixture(
    policies: &portcullis_policies::PolicySet,
    path: &Path,
    rel: &str,
    exp: &Expectation,
    failures: &mut Vec<String>,
) {
    let pod = common::read_yaml(path);
    if let Some(why) = mismatch(&evaluate(policies, &pod), exp) {
        failures.push(format!("{rel} (Pod): {why}"));
    }
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or("fixture")
        .replace('_', "-");
    let meta = pod.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let deployment = WorkloadKind::Deployment.wrap(&name, meta, pod["spec"].clone());
    let decision = evaluate(policies, &deployment);
    if let Some(why) = mismatch(&decision, exp) {
        failures.push(format!("{rel} (Deployment): {why}"));
    }
    if !decision.allowed
        && !decision
            .reasons
            .iter()
            .all(|r| r.path.starts_with("spec.template."))
    {
        failures.push(format!(
            "{rel} (Deployment): reason paths must point into spec.template: {:?}",
            decision
                .reasons
                .iter()
                .map(|r| r.path.as_str())
                .collect::<Vec<_>>()
        ));
    }
}
