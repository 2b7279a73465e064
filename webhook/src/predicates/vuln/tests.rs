//! The vulnerability predicate built from Trivy's and Grype's own golden reports (and variants
//! of them made here for the fields those reports leave out), judged by the library policy
//! `vulnerability-scan.example.yaml`.

use serde_json::{Value, json};

use super::super::testing::{golden, judge, library_conditions};
use super::*;

/// 2021-08-25T12:20:30Z, when Trivy's `alpine-distroless` golden report says it was made.
const CREATED: u64 = 1_629_894_030;
/// One day later: the evaluation time of the policy checks.
const NOW: u64 = CREATED + 86_400;
const DAY_BEFORE_NOW: &str = "2021-08-25T12:20:30Z";

const TRIVY_CRITICAL: &str =
    "count($.scanner.result.Results[*].Vulnerabilities[?(@.Severity == 'CRITICAL')])";
const GRYPE_CRITICAL: &str =
    "count($.scanner.result.matches[?(@.vulnerability.severity == 'Critical')])";

fn finished(at: &str) -> ScanTimes {
    ScanTimes {
        started: None,
        finished: Some(at.to_string()),
    }
}

fn report(name: &str) -> Value {
    serde_json::from_slice(&golden(name)).unwrap()
}

fn build(name: &str, times: &ScanTimes) -> Result<Predicate, PredicateError> {
    from_vuln_report("r.json", &golden(name), times)
}

/// A predicate from `doc`, a report changed by the test.
fn build_doc(doc: &Value, times: &ScanTimes) -> Result<Predicate, PredicateError> {
    from_vuln_report("r.json", doc.to_string().as_bytes(), times)
}

fn vulnerability_policy() -> Vec<portcullis_verifier::Condition> {
    let (predicate_type, conditions) = library_conditions("vulnerability-scan.example.yaml");
    assert_eq!(predicate_type, Kind::Vuln.uri());
    conditions
}

#[test]
fn a_trivy_report_with_criticals_is_wrapped_as_is_and_denied_naming_the_count() {
    let p = build(
        "trivy/alpine-39-high-critical.json.golden",
        &finished(DAY_BEFORE_NOW),
    )
    .unwrap();
    assert_eq!(p.kind, Kind::Vuln);
    assert_eq!(
        p.kind.uri(),
        "https://cosign.sigstore.dev/attestation/vuln/v1"
    );
    let report = report("trivy/alpine-39-high-critical.json.golden");
    // cosign's fields, in full: the report is the result, unchanged.
    assert_eq!(
        p.body,
        json!({
            "invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
            "scanner": {"uri": "pkg:github/aquasecurity/trivy", "version": "",
                        "db": {"uri": "", "version": ""}, "result": report},
            "metadata": {"scanStartedOn": DAY_BEFORE_NOW, "scanFinishedOn": DAY_BEFORE_NOW}
        })
    );
    let f = judge(&vulnerability_policy(), &p.body, NOW).unwrap_err();
    assert_eq!(f.path, "any");
    assert!(
        f.actual
            .contains(&format!("[{TRIVY_CRITICAL}: expected == 0, found 2]")),
        "{f}"
    );
}

#[test]
fn trivys_created_at_is_the_scan_time_and_a_clean_fresh_scan_passes() {
    let p = build("trivy/alpine-distroless.json.golden", &ScanTimes::default()).unwrap();
    let at = "2021-08-25T12:20:30.000000005Z";
    assert_eq!(
        p.body["metadata"],
        json!({"scanStartedOn": at, "scanFinishedOn": at})
    );
    let policy = vulnerability_policy();
    judge(&policy, &p.body, NOW).unwrap_or_else(|f| panic!("{f}"));
    // The same scan a week later is too old.
    let f = judge(&policy, &p.body, CREATED + 8 * 86_400).unwrap_err();
    assert_eq!(f.path, "age($.metadata.scanFinishedOn)");
}

#[test]
fn trivys_version_names_the_scanner() {
    let mut doc = report("trivy/alpine-distroless.json.golden");
    doc["Trivy"] = json!({"Version": "0.58.1"});
    let p = build_doc(&doc, &ScanTimes::default()).unwrap();
    assert_eq!(
        p.body["scanner"]["uri"],
        "pkg:github/aquasecurity/trivy@0.58.1"
    );
    assert_eq!(p.body["scanner"]["version"], "0.58.1");
    assert_eq!(p.body["scanner"]["result"], doc);
}

#[test]
fn a_report_without_a_time_names_the_missing_field_and_the_flag() {
    let e = build(
        "trivy/alpine-39-high-critical.json.golden",
        &ScanTimes::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "r.json: the Trivy report does not say when the scan ran (CreatedAt is missing): \
         give --scan-finished-on RFC3339"
    );
    let e = build("grype/TestJsonImgsPresenter.golden", &ScanTimes::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "r.json: the Grype report does not say when the scan ran (descriptor.timestamp is empty): \
         give --scan-finished-on RFC3339"
    );
    let mut doc = report("trivy/alpine-distroless.json.golden");
    doc["CreatedAt"] = json!("0001-01-01T00:00:00Z");
    let e = build_doc(&doc, &ScanTimes::default()).unwrap_err();
    assert!(
        e.to_string().contains("(CreatedAt is the zero time)"),
        "{e}"
    );
}

#[test]
fn grype_reports_are_judged_by_their_matches() {
    let policy = vulnerability_policy();
    let critical = build(
        "grype/TestJsonImgsPresenter.golden",
        &finished(DAY_BEFORE_NOW),
    )
    .unwrap();
    // The golden report's version is "[not provided]": no version is claimed.
    assert_eq!(critical.body["scanner"]["uri"], "pkg:github/anchore/grype");
    assert_eq!(critical.body["scanner"]["version"], "");
    assert_eq!(
        critical.body["scanner"]["result"],
        report("grype/TestJsonImgsPresenter.golden")
    );
    let f = judge(&policy, &critical.body, NOW).unwrap_err();
    assert!(
        f.actual
            .contains(&format!("[{GRYPE_CRITICAL}: expected == 0, found 1]")),
        "{f}"
    );
    let clean = build(
        "grype/TestEmptyJsonPresenter.golden",
        &finished(DAY_BEFORE_NOW),
    )
    .unwrap();
    judge(&policy, &clean.body, NOW).unwrap_or_else(|f| panic!("{f}"));
}

#[test]
fn grypes_version_database_and_local_time_are_read() {
    let mut doc = report("grype/TestEmptyJsonPresenter.golden");
    let from = "https://grype.anchore.io/databases/v6/vulnerability-db_v6.0.2_2026-12-02T01:31:06Z_1764639066.tar.zst";
    doc["descriptor"]["version"] = json!("0.86.1");
    doc["descriptor"]["timestamp"] = json!("2026-12-03T09:15:30.123456789-05:00");
    doc["descriptor"]["db"] = json!({"status": {"schemaVersion": "v6.0.2", "from": from,
        "built": "2026-12-02T01:31:06Z", "valid": true}});
    let p = build_doc(&doc, &ScanTimes::default()).unwrap();
    assert_eq!(
        p.body["scanner"],
        json!({"uri": "pkg:github/anchore/grype@0.86.1", "version": "0.86.1",
               "db": {"uri": from, "version": "v6.0.2_2026-12-02T01:31:06Z"}, "result": doc})
    );
    let utc = "2026-12-03T14:15:30.123456789Z";
    assert_eq!(
        p.body["metadata"],
        json!({"scanStartedOn": utc, "scanFinishedOn": utc})
    );

    // Grype 5 kept the database facts in `db`, with a numeric schema and a local path.
    doc["descriptor"]["db"] = json!({"built": "2024-05-01T01:30:00Z", "schemaVersion": 5,
        "location": "/root/.cache/grype/db/5", "checksum": "sha256:00", "error": null});
    let p = build_doc(&doc, &ScanTimes::default()).unwrap();
    assert_eq!(
        p.body["scanner"]["db"],
        json!({"uri": "", "version": "v5_2024-05-01T01:30:00Z"})
    );
}

#[test]
fn flags_set_the_times_and_are_checked() {
    let doc = report("trivy/alpine-distroless.json.golden");
    let times = ScanTimes {
        started: Some("2026-12-03T10:00:00+01:00".into()),
        finished: Some("2026-12-03T09:05:00Z".into()),
    };
    let p = build_doc(&doc, &times).unwrap();
    assert_eq!(
        p.body["metadata"],
        json!({"scanStartedOn": "2026-12-03T09:00:00Z", "scanFinishedOn": "2026-12-03T09:05:00Z"})
    );
    let backwards = ScanTimes {
        started: Some("2026-12-03T10:00:00Z".into()),
        finished: Some("2026-12-03T09:05:00Z".into()),
    };
    assert_eq!(
        build_doc(&doc, &backwards).unwrap_err().to_string(),
        "--scan-started-on 2026-12-03T10:00:00Z is after the scan finished (2026-12-03T09:05:00Z)"
    );
    // Started alone must not be after the report's own time either.
    let late = ScanTimes {
        started: Some("2021-08-25T12:20:31Z".into()),
        finished: None,
    };
    assert!(matches!(
        build_doc(&doc, &late),
        Err(PredicateError::StartedAfterFinished { .. })
    ));
    assert_eq!(
        build_doc(&doc, &finished("yesterday"))
            .unwrap_err()
            .to_string(),
        "--scan-finished-on \"yesterday\" is not an RFC 3339 timestamp (such as 2026-12-03T10:00:00Z)"
    );
    let mut odd = doc.clone();
    odd["CreatedAt"] = json!("25/08/2021");
    assert_eq!(
        build_doc(&odd, &ScanTimes::default())
            .unwrap_err()
            .to_string(),
        "CreatedAt in r.json \"25/08/2021\" is not an RFC 3339 timestamp (such as 2026-12-03T10:00:00Z)"
    );
}

#[test]
fn files_that_are_not_reports_say_what_they_are() {
    let not = |doc: &str| {
        from_vuln_report("r.json", doc.as_bytes(), &ScanTimes::default())
            .unwrap_err()
            .to_string()
    };
    let expected = format!("r.json is not {REPORT}");
    let sbom = String::from_utf8(golden("sbom/conda-cyclonedx.json.golden")).unwrap();
    assert_eq!(
        not(&sbom),
        format!("{expected}: it is an SBOM: attach it with --sbom")
    );
    let trivy = String::from_utf8(golden("trivy/alpine-distroless.json.golden")).unwrap();
    let predicate = build("trivy/alpine-distroless.json.golden", &ScanTimes::default())
        .unwrap()
        .body
        .to_string();
    assert_eq!(
        not(&predicate),
        format!(
            "{expected}: it is already a cosign vulnerability predicate (such as trivy --format \
             cosign-vuln writes): attach it with --predicate FILE --type vuln"
        )
    );
    assert_eq!(
        not(r#"{"SchemaVersion": 2, "ArtifactName": "x"}"#),
        format!("{expected}: found \"SchemaVersion\" without \"Results\"")
    );
    assert_eq!(
        not(r#"{"matches": []}"#),
        format!("{expected}: found \"matches\" without \"descriptor\"")
    );
    assert_eq!(
        not(r#"{"version": "2.1.0", "runs": []}"#),
        format!("{expected}: found an object with keys runs, version")
    );
    let e = not(&trivy[..trivy.len() / 2]);
    assert!(
        e.starts_with("r.json is not JSON (EOF while parsing"),
        "{e}"
    );
    assert!(e.ends_with(&format!("expected {}", &REPORT)), "{e}");
}
