//! The library's report policies (`vulnerability-scan.example.yaml`, `sbom-licences.example.yaml`)
//! judged on what scanners really write: Trivy's and Grype's own golden JSON reports
//! (`testdata/reports/`, byte-for-byte copies), wrapped in cosign's vulnerability predicate the
//! way `cosign attest --type vuln` does. The conditions are the ones the policy compiles to, run
//! in order as the verifier runs them, at a fixed evaluation time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_policies::Request;
use portcullis_verifier_types::condition::ConditionFailure;
use portcullis_verifier_types::{Authority, Condition};
use serde_json::{Value, json};

/// 2026-12-03T12:00:00Z: the evaluation time of every case.
const NOW: u64 = 1_796_299_200;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

/// RFC 3339 for `days` before [`NOW`].
fn days_before(days: u64) -> String {
    portcullis_verifier_types::keyless::rfc3339(i64::try_from(NOW - days * 86_400).unwrap())
}

/// The compiled conditions a library policy puts on its one attestation, and its type.
fn library_conditions(file: &str) -> (String, Vec<Condition>) {
    let set = common::library(&[file]);
    let mut pod = Request::from_manifest(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "ghcr.io/portcullis-dev/portcullis:0.1.0"}]}}))
    .unwrap();
    pod.namespace = "apps".into();
    let checks = set.image_checks(&pod);
    assert_eq!(checks.len(), 1, "{file} covers the project's images");
    let Authority::Keys(req) = &checks[0].requirement.authority else {
        panic!("{file}: expected a key authority")
    };
    assert_eq!(req.attestations.len(), 1, "{file}");
    let att = &req.attestations[0];
    (att.predicate_type.clone(), att.conditions.clone())
}

/// What the verifier does with an attestation's predicate: every condition, first failure wins.
fn judge(conditions: &[Condition], predicate: &Value) -> Result<(), ConditionFailure> {
    conditions
        .iter()
        .try_for_each(|c| c.evaluate_at(predicate, now()))
}

fn report(path: &str) -> Value {
    common::read_json(&common::workspace_root().join("testdata/reports").join(path))
}

/// cosign's vulnerability predicate (`cosign attest --type vuln`) around a scanner's report.
fn vuln_predicate(scanner: &str, result: Value, finished: &str) -> Value {
    json!({
        "invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {"uri": scanner, "version": "", "db": {"uri": "", "version": ""}, "result": result},
        "metadata": {"scanStartedOn": finished, "scanFinishedOn": finished}
    })
}

fn trivy(file: &str, finished: &str) -> Value {
    vuln_predicate(
        "pkg:github/aquasecurity/trivy",
        report(&format!("trivy/{file}")),
        finished,
    )
}

fn grype(file: &str, finished: &str) -> Value {
    vuln_predicate(
        "pkg:github/anchore/grype",
        report(&format!("grype/{file}")),
        finished,
    )
}

/// Critical findings counted by walking the report, independently of JSONPath.
fn criticals(report: &Value) -> usize {
    let trivy = report["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| {
            r["Vulnerabilities"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v["Severity"] == "CRITICAL")
        });
    let grype = report["matches"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["vulnerability"]["severity"] == "Critical");
    trivy.count() + grype.count()
}

const TRIVY_CRITICAL: &str =
    "count($.scanner.result.Results[*].Vulnerabilities[?(@.Severity == 'CRITICAL')])";
const GRYPE_CRITICAL: &str =
    "count($.scanner.result.matches[?(@.vulnerability.severity == 'Critical')])";

#[test]
fn the_vulnerability_policy_wants_a_vuln_attestation() {
    let (predicate_type, conditions) = library_conditions("vulnerability-scan.example.yaml");
    assert_eq!(
        predicate_type,
        "https://cosign.sigstore.dev/attestation/vuln/v1"
    );
    assert_eq!(conditions.len(), 2);
    assert_eq!(
        conditions[0].to_string(),
        "age($.metadata.scanFinishedOn) < 7d"
    );
}

#[test]
fn a_trivy_report_with_criticals_is_denied_naming_the_count() {
    let (_, conditions) = library_conditions("vulnerability-scan.example.yaml");
    let doc = trivy("alpine-39-high-critical.json.golden", &days_before(1));
    let n = criticals(&doc["scanner"]["result"]);
    assert_eq!(n, 2, "the upstream report has two critical findings");
    let f = judge(&conditions, &doc).unwrap_err();
    assert_eq!(f.path, "any");
    // The whole denial, as docs/conditions.md shows it.
    assert_eq!(
        f.to_string(),
        format!(
            "any: expected at least one of 2 conditions to hold, found 2 of 2 failing: \
             [all: expected all 2 conditions to hold, found 1 of 2 failing: [{TRIVY_CRITICAL}: expected == 0, found 2]], \
             [all: expected all 2 conditions to hold, found 1 of 2 failing: [$.scanner.result.matches: expected a value, found nothing]]"
        )
    );
    let named = format!("[{TRIVY_CRITICAL}: expected == 0, found {n}]");
    assert!(f.actual.contains(&named), "{f}");
    // The Grype branch fails for the right reason too: this is not a Grype report.
    assert!(
        f.actual
            .contains("[$.scanner.result.matches: expected a value, found nothing]"),
        "{f}"
    );
}

#[test]
fn a_grype_report_with_a_critical_is_denied_naming_the_count() {
    let (_, conditions) = library_conditions("vulnerability-scan.example.yaml");
    let doc = grype("TestJsonImgsPresenter.golden", &days_before(1));
    let n = criticals(&doc["scanner"]["result"]);
    assert_eq!(n, 1, "the upstream report has one Critical match");
    let f = judge(&conditions, &doc).unwrap_err();
    let named = format!("[{GRYPE_CRITICAL}: expected == 0, found {n}]");
    assert!(f.actual.contains(&named), "{f}");
    // The same check in the CLI's one-line form.
    let cli = Condition::parse(&format!("{GRYPE_CRITICAL} == 0")).unwrap();
    assert_eq!(
        cli.evaluate(&doc).unwrap_err().to_string(),
        format!("{GRYPE_CRITICAL}: expected == 0, found 1")
    );
}

#[test]
fn a_clean_report_older_than_the_limit_is_denied_naming_its_age() {
    let (_, conditions) = library_conditions("vulnerability-scan.example.yaml");
    let finished = days_before(10);
    let doc = trivy("alpine-distroless.json.golden", &finished);
    assert_eq!(criticals(&doc["scanner"]["result"]), 0);
    let f = judge(&conditions, &doc).unwrap_err();
    assert_eq!(f.path, "age($.metadata.scanFinishedOn)");
    assert_eq!(f.expected, "< 7d");
    assert_eq!(
        f.actual,
        format!("{finished} (age 10d 0h at 2026-12-03T12:00:00Z)")
    );
    // Just inside the limit passes; the limit is the policy's, not a rounding of it.
    assert!(
        judge(
            &conditions,
            &trivy("alpine-distroless.json.golden", &days_before(6))
        )
        .is_ok()
    );
    let edge =
        portcullis_verifier_types::keyless::rfc3339(i64::try_from(NOW - 7 * 86_400).unwrap());
    assert!(judge(&conditions, &trivy("alpine-distroless.json.golden", &edge)).is_err());
}

#[test]
fn clean_recent_reports_pass() {
    let (_, conditions) = library_conditions("vulnerability-scan.example.yaml");
    let trivy_clean = trivy("alpine-distroless.json.golden", &days_before(1));
    let grype_clean = grype("TestEmptyJsonPresenter.golden", &days_before(1));
    for doc in [trivy_clean, grype_clean] {
        assert_eq!(criticals(&doc["scanner"]["result"]), 0);
        judge(&conditions, &doc).unwrap_or_else(|f| panic!("{f}"));
    }
}

#[test]
fn a_report_of_neither_shape_or_without_a_date_is_denied() {
    let (_, conditions) = library_conditions("vulnerability-scan.example.yaml");
    let empty = vuln_predicate("pkg:x", json!({}), &days_before(1));
    let f = judge(&conditions, &empty).unwrap_err();
    assert!(f.actual.starts_with("2 of 2 failing"), "{f}");
    let mut undated = trivy("alpine-distroless.json.golden", "");
    undated["metadata"] = json!({"scanFinishedOn": "3 December 2026"});
    let f = judge(&conditions, &undated).unwrap_err();
    assert_eq!(f.actual, "\"3 December 2026\" (not an RFC 3339 timestamp)");
}

/// A CycloneDX 1.5 BOM (the predicate of `cosign attest --type cyclonedx`) whose components
/// carry the given `licenses` entries.
fn cyclonedx(licenses: &[Value]) -> Value {
    let components: Vec<Value> = licenses
        .iter()
        .enumerate()
        .map(|(i, l)| json!({"type": "library", "name": format!("lib{i}"), "version": "1.0.0", "licenses": [l]}))
        .collect();
    json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": components})
}

#[test]
fn an_sbom_listing_a_banned_licence_is_denied_and_a_clean_one_passes() {
    let (predicate_type, conditions) = library_conditions("sbom-licences.example.yaml");
    assert_eq!(predicate_type, "https://cyclonedx.org/bom");
    let mit = json!({"license": {"id": "MIT"}});
    let apache = json!({"license": {"id": "Apache-2.0"}});
    assert!(judge(&conditions, &cyclonedx(&[mit.clone(), apache])).is_ok());

    let agpl = json!({"license": {"id": "AGPL-3.0-only"}});
    let expression = json!({"expression": "MIT OR AGPL-3.0-or-later"});
    let f = judge(&conditions, &cyclonedx(&[mit.clone(), agpl, expression])).unwrap_err();
    assert!(f.actual.starts_with("1 of 2 failing"), "{f}");
    assert!(f.actual.contains("expected == 0, found 2]"), "{f}");

    // No components proves nothing.
    let f = judge(&conditions, &cyclonedx(&[])).unwrap_err();
    assert!(
        f.actual
            .contains("[count($.components[*]): expected > 0, found 0]"),
        "{f}"
    );
}

#[test]
fn the_documented_spdx_licence_condition_works() {
    let c =
        Condition::parse("count($.packages[?search(@.licenseConcluded, 'AGPL-3')]) == 0").unwrap();
    let spdx = |concluded: &[&str]| json!({"spdxVersion": "SPDX-2.3", "packages": concluded.iter().map(|l| json!({"name": "p", "licenseConcluded": l})).collect::<Vec<_>>()});
    assert!(
        c.evaluate(&spdx(&["MIT", "Apache-2.0", "NOASSERTION"]))
            .is_ok()
    );
    let f = c
        .evaluate(&spdx(&[
            "MIT",
            "AGPL-3.0-only",
            "GPL-2.0-only AND AGPL-3.0-or-later",
        ]))
        .unwrap_err();
    assert_eq!(f.actual, "2");
}
