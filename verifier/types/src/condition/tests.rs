//! The condition language end to end: text and YAML forms, every operator, measures and groups.

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;
use serde_json::json;

fn doc() -> Value {
    json!({
        "buildDefinition": {
            "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"repository": "https://github.com/org/repo", "ref": "refs/heads/main"}}
        },
        "runDetails": {"builder": {"id": "https://github.com/actions/runner"}},
        "materials": [{"uri": "git+https://github.com/org/repo"}, {"uri": "pkg:docker/base"}],
        "count": 3
    })
}

#[test]
fn parses_and_evaluates_each_operator() {
    let d = doc();
    let cases = [
        (
            "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo",
            true,
        ),
        (
            "$.buildDefinition.externalParameters.workflow.repository == https://github.com/evil/repo",
            false,
        ),
        ("$.runDetails.builder.id != https://example.com", true),
        (
            "$.buildDefinition.externalParameters.workflow.ref in refs/heads/main, refs/heads/release",
            true,
        ),
        (
            "$.buildDefinition.externalParameters.workflow.ref in [\"refs/tags/v1\"]",
            false,
        ),
        ("$.runDetails.builder.id =~ ^https://github\\.com/", true),
        ("$.materials[*].uri =~ ^git\\+", false),
        ("$.count == 3", true),
        ("$.count == \"3\"", false),
        ("$.runDetails exists", true),
        ("$.runDetails.nope exists", false),
        ("$.runDetails.nope not-exists", true),
        ("$.nothing == x", false),
    ];
    for (text, want) in cases {
        let c = Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(c.evaluate(&d).is_ok(), want, "{text}");
    }
}

#[test]
fn failure_names_path_expected_and_actual() {
    let c = Condition::parse(
        "$.buildDefinition.externalParameters.workflow.repository == https://github.com/evil/repo",
    )
    .unwrap();
    let f = c.evaluate(&doc()).unwrap_err();
    assert_eq!(
        f.path,
        "$.buildDefinition.externalParameters.workflow.repository"
    );
    assert_eq!(f.expected, "== https://github.com/evil/repo");
    assert_eq!(f.actual, "https://github.com/org/repo");
}

#[test]
fn filter_paths_with_spaces_stay_whole() {
    let c = Condition::parse("$.materials[?(@.uri == 'pkg:docker/base')].uri exists").unwrap();
    assert!(c.evaluate(&doc()).is_ok());
}

#[test]
fn rejects_bad_syntax_paths_and_regexes() {
    assert!(matches!(
        Condition::parse("builder.id == x"),
        Err(ConditionError::Syntax { .. })
    ));
    assert!(matches!(
        Condition::parse("$.a ~~ x"),
        Err(ConditionError::Syntax { .. })
    ));
    assert!(matches!(
        Condition::parse("$.a =="),
        Err(ConditionError::Syntax { .. })
    ));
    assert!(matches!(
        Condition::parse("$.a[ == x"),
        Err(ConditionError::Syntax { .. })
    ));
    assert!(matches!(
        Condition::parse("$.a.. == x"),
        Err(ConditionError::Path { .. })
    ));
    assert!(matches!(
        Condition::parse("$.a =~ (unclosed"),
        Err(ConditionError::Regex { .. })
    ));
}

#[test]
fn yaml_form_compiles() {
    let spec: ConditionSpec = serde_json::from_value(json!({
        "path": "$.runDetails.builder.id", "operator": "in",
        "values": ["https://github.com/actions/runner", "https://gitlab.com/runner"]
    }))
    .unwrap();
    assert!(Condition::compile(spec).unwrap().evaluate(&doc()).is_ok());
    let missing: ConditionSpec =
        serde_json::from_value(json!({"path": "$.a", "operator": "equals"})).unwrap();
    assert!(matches!(
        Condition::compile(missing),
        Err(ConditionError::MissingValue { .. })
    ));
}

/// 2025-12-03T12:00:00Z, the evaluation time of the measure tests.
fn noon() -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_secs(1_764_763_200)
}

fn report() -> Value {
    json!({
        "scanner": {"result": {"Results": [
            {"Target": "os", "Vulnerabilities": [
                {"VulnerabilityID": "CVE-1", "Severity": "CRITICAL", "CVSS": {"nvd": {"V3Score": 9.8}}},
                {"VulnerabilityID": "CVE-2", "Severity": "LOW", "CVSS": {"nvd": {"V3Score": "3.1"}}}
            ]},
            {"Target": "app"},
            {"Target": "lib", "Vulnerabilities": [
                {"VulnerabilityID": "CVE-3", "Severity": "CRITICAL", "CVSS": {"nvd": {"V3Score": "n/a"}}}
            ]}
        ]}},
        "metadata": {"scanStartedOn": "2025-11-24T07:59:00Z", "scanFinishedOn": "2025-11-24T08:00:00Z"}
    })
}

#[test]
fn numbers_compare_and_non_numbers_fail_by_name() {
    let r = report();
    let cases = [
        (
            "$.scanner.result.Results[0].Vulnerabilities[0].CVSS.nvd.V3Score >= 9",
            true,
        ),
        (
            "$.scanner.result.Results[0].Vulnerabilities[0].CVSS.nvd.V3Score < 9",
            false,
        ),
        (
            "$.scanner.result.Results[0].Vulnerabilities[*].CVSS.nvd.V3Score <= 9.8",
            true,
        ),
        (
            "$.scanner.result.Results[0].Vulnerabilities[*].CVSS.nvd.V3Score > 3.1",
            false,
        ),
        (
            "$.scanner.result.Results[0].Vulnerabilities[1].CVSS.nvd.V3Score > 3",
            true,
        ),
        (
            "$.scanner.result.Results[2].Vulnerabilities[0].CVSS.nvd.V3Score < 10",
            false,
        ),
        ("$.nothing < 10", false),
    ];
    for (text, want) in cases {
        let c = Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(c.evaluate(&r).is_ok(), want, "{text}");
    }
    let f = Condition::parse("$.scanner.result.Results[*].Vulnerabilities[*].CVSS.nvd.V3Score < 9")
        .unwrap()
        .evaluate(&r)
        .unwrap_err();
    assert_eq!(f.expected, "< 9");
    assert_eq!(f.actual, "[9.8, n/a (not a number)]");
    assert!(matches!(
        Condition::parse("$.a < high"),
        Err(ConditionError::MissingValue {
            needs: "a number value",
            ..
        })
    ));
}

#[test]
fn counts_use_jsonpath_filters_and_name_the_count() {
    let r = report();
    let critical = "$.scanner.result.Results[*].Vulnerabilities[?(@.Severity == 'CRITICAL')]";
    let cases = [
        (format!("count({critical}) == 2"), true),
        (format!("count({critical}) == 0"), false),
        (format!("count({critical}) < 3"), true),
        (format!("count({critical}) >= 3"), false),
        (format!("count({critical}) != 0"), true),
        ("count($.scanner.result.Results[*].Vulnerabilities[?(@.Severity=='HIGH')]) == 0".into(), true),
        ("count($.scanner.result.Results[*]) == 3".into(), true),
        ("count($.no.such.path) == 0".into(), true),
        (
            "count($.scanner.result.Results[*].Vulnerabilities[?(@.Severity == 'CRITICAL' || @.Severity == 'LOW')]) == 3".into(),
            true,
        ),
        (
            "count($.scanner.result.Results[*].Vulnerabilities[?match(@.VulnerabilityID, 'CVE-[12]')]) == 2".into(),
            true,
        ),
    ];
    for (text, want) in cases {
        let c = Condition::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(c.evaluate(&r).is_ok(), want, "{text}");
    }
    let c = Condition::parse(&format!("count({critical}) == 0")).unwrap();
    assert_eq!(c.to_string(), format!("count({critical}) == 0"));
    let f = c.evaluate(&r).unwrap_err();
    assert_eq!(
        f.to_string(),
        format!("count({critical}): expected == 0, found 2")
    );
    assert!(matches!(
        Condition::parse("count($.a) =~ x"),
        Err(ConditionError::Measure {
            measure: "count",
            ..
        })
    ));
    assert!(matches!(
        Condition::parse("count($.a == 0"),
        Err(ConditionError::Syntax { .. })
    ));
}

#[test]
fn ages_are_measured_at_the_callers_time() {
    let r = report();
    let at = |text: &str| Condition::parse(text).unwrap().evaluate_at(&r, noon());
    assert!(at("age($.metadata.scanFinishedOn) < 10d").is_ok());
    assert!(at("age($.metadata.scanFinishedOn) > 9d").is_ok());
    assert!(at("age($.metadata.scanFinishedOn) <= 220h").is_ok());
    let f = at("age($.metadata.scanFinishedOn) < 7d").unwrap_err();
    assert_eq!(
        f.to_string(),
        "age($.metadata.scanFinishedOn): expected < 7d, found 2025-11-24T08:00:00Z (age 9d 4h at 2025-12-03T12:00:00Z)"
    );
    // Every selected timestamp must hold; a missing one fails.
    let both = at("age($.metadata.*) < 7d").unwrap_err();
    assert!(
        both.actual.contains("2025-11-24T07:59:00Z (age 9d 4h"),
        "{both}"
    );
    assert!(
        both.actual.contains("2025-11-24T08:00:00Z (age 9d 4h"),
        "{both}"
    );
    assert!(at("age($.metadata.missing) < 7d").is_err());
    // The same report is fresh when judged eight hours after its scan.
    let same_day = UNIX_EPOCH + std::time::Duration::from_secs(1_764_000_000);
    assert!(
        Condition::parse("age($.metadata.scanFinishedOn) < 7d")
            .unwrap()
            .evaluate_at(&r, same_day)
            .is_ok()
    );
}

#[test]
fn bad_timestamps_missing_clocks_and_bad_durations_fail_clearly() {
    let c = Condition::parse("age($.metadata.scanFinishedOn) < 7d").unwrap();
    let f = c
        .evaluate_at(
            &json!({"metadata": {"scanFinishedOn": "24/11/2025"}}),
            noon(),
        )
        .unwrap_err();
    assert_eq!(f.actual, "\"24/11/2025\" (not an RFC 3339 timestamp)");
    let f = c.evaluate(&report()).unwrap_err();
    assert_eq!(
        f.actual,
        "2025-11-24T08:00:00Z (no evaluation time was given to measure its age)"
    );
    for bad in [
        "age($.t) < 7",
        "age($.t) < 7w",
        "age($.t) < 1.5d",
        "age($.t) < d",
    ] {
        assert!(
            matches!(
                Condition::parse(bad),
                Err(ConditionError::MissingValue { op: "<", .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        Condition::parse("age($.t) == 7d"),
        Err(ConditionError::Measure { measure: "age", .. })
    ));
}

#[test]
fn groups_nest_and_list_their_failing_members() {
    let spec: ConditionSpec = serde_json::from_value(json!({"all": [
        {"path": "$.metadata.scanFinishedOn", "measure": "age", "operator": "less-than", "value": "7d"},
        {"any": [
            {"path": "$.scanner.result.Results[*].Vulnerabilities[?(@.Severity == 'CRITICAL')]",
             "measure": "count", "operator": "equals", "value": 0},
            {"path": "$.waiver", "operator": "exists"}
        ]},
        {"path": "$.scanner.result.Results[*].Target", "operator": "exists"}
    ]}))
    .unwrap();
    let c = Condition::compile(spec).unwrap();
    let f = c.evaluate_at(&report(), noon()).unwrap_err();
    assert_eq!(f.path, "all");
    assert_eq!(f.expected, "all 3 conditions to hold");
    assert_eq!(
        f.actual,
        "2 of 3 failing: \
         [age($.metadata.scanFinishedOn): expected < 7d, found 2025-11-24T08:00:00Z (age 9d 4h at 2025-12-03T12:00:00Z)], \
         [any: expected at least one of 2 conditions to hold, found 2 of 2 failing: \
         [count($.scanner.result.Results[*].Vulnerabilities[?(@.Severity == 'CRITICAL')]): expected == 0, found 2], \
         [$.waiver: expected a value, found nothing]]"
    );
    let mut waived = report();
    waived["waiver"] = json!("SEC-42");
    waived["metadata"]["scanFinishedOn"] = json!("2025-12-02T12:00:00Z");
    assert!(c.evaluate_at(&waived, noon()).is_ok());
    assert!(
        c.to_string()
            .starts_with("all(age($.metadata.scanFinishedOn) < 7d; any(count(")
    );
}

#[test]
fn malformed_groups_are_refused_with_their_location() {
    let compile = |v: Value| {
        Condition::compile(serde_json::from_value::<ConditionSpec>(v).unwrap()).unwrap_err()
    };
    let e = compile(
        json!({"all": [{"path": "$.a", "operator": "exists"}, {"any": [{"path": "$.b"}]}]}),
    );
    assert_eq!(
        e.to_string(),
        "condition all[1].any[0]: a comparison needs both path and operator"
    );
    let e = compile(
        json!({"path": "$.a", "operator": "exists", "all": [{"path": "$.b", "operator": "exists"}]}),
    );
    assert!(e.to_string().contains("mixes forms"), "{e}");
    let e = compile(json!({}));
    assert!(e.to_string().contains("is empty"), "{e}");
    let e = compile(
        json!({"any": [{"path": "$.a", "measure": "age", "operator": "less-than", "value": "soon"}]}),
    );
    assert!(matches!(e, ConditionError::MissingValue { .. }), "{e}");
    assert!(
        serde_json::from_value::<ConditionSpec>(
            json!({"path": "$.a", "operator": "exists", "measure": "size"})
        )
        .is_err()
    );
}

#[test]
fn comparisons_serialise_as_before_so_cache_fingerprints_stay() {
    let c =
        Condition::parse("$.runDetails.builder.id == https://github.com/actions/runner").unwrap();
    assert_eq!(
        serde_json::to_value(c.spec()).unwrap(),
        json!({"path": "$.runDetails.builder.id", "operator": "equals", "value": "https://github.com/actions/runner"})
    );
}

#[test]
fn every_operator_has_a_distinct_symbol_and_name() {
    let mut symbols: Vec<&str> = Operator::ALL.iter().map(|o| o.symbol()).collect();
    symbols.sort_unstable();
    symbols.dedup();
    assert_eq!(symbols.len(), Operator::ALL.len());
    for op in Operator::ALL {
        let name = serde_json::to_value(op).unwrap();
        assert_eq!(serde_json::from_value::<Operator>(name).unwrap(), op);
    }
}
