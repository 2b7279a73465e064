//! `portcullis audit` report formats over the List dump with known violations
//! (`tests/data/audit-list-dump.yaml`): `policyreport` and `openreports` are valid against the
//! CRD schemas in `testdata/schemas/crds` (checked with `check-jsonschema`, as
//! `make manifests` checks custom resources) and carry the counts of `--output jsonl`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cli_support::{portcullis, portcullis_stdin};
use portcullis_testkit::workspace_root;
use serde_json::{Value, json};

const DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/audit-list-dump.yaml"
);

const HYGIENE_WARN: &str = "\
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: latest-tag-warn}
spec:
  mode: warn
  imageHygiene: {forbidLatestTag: true}
";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("warn.yaml"), HYGIENE_WARN).unwrap();
    dir
}

fn baseline() -> String {
    workspace_root()
        .join("policies/library/pod-security-baseline.yaml")
        .display()
        .to_string()
}

/// `audit --output FORMAT --no-images` of `inputs` under the baseline and `warn.yaml` policies.
fn audit(dir: &Path, format: &str, inputs: &[&str]) -> String {
    let baseline = baseline();
    let mut args = vec![
        "audit",
        "--policy",
        &baseline,
        "--policy",
        "warn.yaml",
        "--no-images",
        "--output",
        format,
    ];
    args.extend(inputs);
    stdout_ok(&portcullis(dir, &args))
}

fn stdout_ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

// === schema validation ===

/// `check-jsonschema` from the project's virtualenv (`make bootstrap` installs it);
/// `PORTCULLIS_CHECK_JSONSCHEMA` overrides it.
fn check_jsonschema() -> PathBuf {
    let path = std::env::var_os("PORTCULLIS_CHECK_JSONSCHEMA").map_or_else(
        || workspace_root().join(".work/venv/bin/check-jsonschema"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "check-jsonschema not found at {}: run `make bootstrap` (it installs the pinned Python \
         tools into .work/venv), or set PORTCULLIS_CHECK_JSONSCHEMA",
        path.display()
    );
    path
}

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
        let file = dir.path().join(format!("doc{i}.json"));
        std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
        let out = Command::new(check_jsonschema())
            .arg("--schemafile")
            .arg(schema_of(doc))
            .arg(&file)
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(format!(
                "document {i} ({}): {}{}",
                doc["kind"],
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
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
    let dir = setup();
    let docs = documents(&audit(dir.path(), "policyreport", &[DUMP]));
    validate(&docs).unwrap();
    assert!(
        docs.iter()
            .all(|d| d["apiVersion"] == "wgpolicyk8s.io/v1alpha2")
    );
    // a: priv (privileged fail, latest tag warn) and good; b: hostnet (hostNamespaces);
    // c: agent (hostPath volume and hostPort). 14 rules per pod-carrying resource.
    let s = |k: &str, ns: &str, c: [u64; 5]| (k.to_string(), ns.to_string(), c);
    assert_eq!(
        shape(&docs),
        [
            s("ClusterPolicyReport", "", [0, 0, 0, 0, 0]),
            s("PolicyReport", "a", [26, 1, 1, 0, 0]),
            s("PolicyReport", "b", [13, 1, 0, 0, 0]),
            s("PolicyReport", "c", [12, 2, 0, 0, 0]),
        ]
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
    let dir = setup();
    let input = format!(
        "{}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: broken, namespace: a}}\nspec: {{containers: nginx}}\n",
        std::fs::read_to_string(DUMP).unwrap()
    );
    let baseline = baseline();
    let args = [
        "audit",
        "--policy",
        &baseline,
        "--policy",
        "warn.yaml",
        "--no-images",
        "--output",
        "openreports",
        "-",
    ];
    let docs = documents(&stdout_ok(&portcullis_stdin(dir.path(), &args, &input)));
    validate(&docs).unwrap();
    assert!(
        docs.iter()
            .all(|d| d["apiVersion"] == "openreports.io/v1alpha1")
    );
    assert!(docs.iter().all(|d| d["source"] == "portcullis"));
    let s = |k: &str, ns: &str, c: [u64; 5]| (k.to_string(), ns.to_string(), c);
    assert_eq!(
        shape(&docs),
        [
            s("ClusterReport", "", [0, 0, 0, 0, 1]),
            s("Report", "a", [26, 1, 1, 0, 0]),
            s("Report", "b", [13, 1, 0, 0, 0]),
            s("Report", "c", [12, 2, 0, 0, 0]),
        ]
    );
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
    // The broken document starts at the `---` after the dump and its blank line.
    let line = std::fs::read_to_string(DUMP).unwrap().lines().count() + 2;
    assert_eq!(
        error["properties"]["source"],
        format!("-:{line}"),
        "{error:#}"
    );
}

#[test]
fn the_schema_check_rejects_a_report_that_breaks_its_schema() {
    let dir = setup();
    let mut docs = documents(&audit(dir.path(), "policyreport", &[DUMP]));
    docs[1]["results"][0]["result"] = json!("failed");
    let err = validate(&docs[1..2]).unwrap_err();
    assert!(err.contains("failed"), "{err}");
    let mut docs = documents(&audit(dir.path(), "openreports", &[DUMP]));
    docs[1]["summary"]["passed"] = json!(1);
    assert!(validate(&docs[1..2]).is_err());
}

// === SARIF ===

/// A compliant Pod, then a privileged one with a `latest` image in the second document.
const TWO_PODS: &str = "\
# two documents
apiVersion: v1
kind: Pod
metadata: {name: good, namespace: a}
spec:
  containers: [{name: app, image: 'registry.example/app:1.0'}]
---
apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: a}
spec:
  containers:
  - name: app
    image: nginx:latest
    securityContext: {privileged: true}
";

fn sarif(text: &str) -> Value {
    let log: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(log["version"], "2.1.0");
    assert!(
        log["$schema"]
            .as_str()
            .unwrap()
            .ends_with("sarif-schema-2.1.0.json"),
        "{}",
        log["$schema"]
    );
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "portcullis");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().unwrap();
    for r in runs[0]["results"].as_array().unwrap() {
        let id = r["ruleId"].as_str().unwrap();
        let index = usize::try_from(r["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(rules[index]["id"], id, "ruleIndex of {r:#}");
        assert!(!r["message"]["text"].as_str().unwrap().is_empty(), "{r:#}");
        assert!(
            ["error", "warning"].contains(&r["level"].as_str().unwrap()),
            "{r:#}"
        );
    }
    log
}

fn results_of(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().unwrap()
}

#[test]
fn sarif_points_at_the_file_and_line_of_each_finding() {
    let dir = setup();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    std::fs::write(dir.path().join("manifests/pods.yaml"), TWO_PODS).unwrap();
    let log = sarif(&audit(dir.path(), "sarif", &["manifests/pods.yaml"]));
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    // Every rule checked is described, passing or not: 12 baseline checks and 2 hygiene rules.
    assert_eq!(rules.len(), 14, "{rules:#?}");
    let privileged = rules
        .iter()
        .find(|r| r["id"] == "pod-security-baseline/privileged")
        .unwrap();
    assert!(
        privileged["properties"]["controls"]
            .as_array()
            .unwrap()
            .contains(&json!("pss:Privileged Containers")),
        "{privileged:#}"
    );
    assert!(
        privileged["help"]["text"]
            .as_str()
            .unwrap()
            .contains("cis:5.2.2")
    );

    let results = results_of(&log);
    let found: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["ruleId"].as_str().unwrap(), r["level"].as_str().unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            ("latest-tag-warn/imageHygiene.latestTag", "warning"),
            ("pod-security-baseline/privileged", "error"),
        ]
    );
    let second_document = TWO_PODS.lines().position(|l| l == "---").unwrap() + 1;
    for r in results {
        let location = &r["locations"][0];
        assert_eq!(
            location["physicalLocation"],
            json!({"artifactLocation": {"uri": "manifests/pods.yaml"}, "region": {"startLine": second_document}}),
            "{r:#}"
        );
        assert_eq!(
            location["logicalLocations"][0]["fullyQualifiedName"],
            "Pod a/priv"
        );
    }
    assert!(
        results[1]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("securityContext.privileged"),
        "{:#}",
        results[1]
    );
}

#[test]
fn sarif_counts_the_findings_of_the_list_dump_and_standard_input_has_no_location() {
    let dir = setup();
    let log = sarif(&audit(dir.path(), "sarif", &[DUMP]));
    // 4 fail and 1 warn results (the passing 51 are not findings).
    let levels: Vec<&str> = results_of(&log)
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["warning", "error", "error", "error", "error"]);
    // The dump is outside the working directory: an absolute file URI.
    let uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"]
        .as_str()
        .unwrap();
    assert!(
        uri.starts_with("file:///") && uri.ends_with("/tests/data/audit-list-dump.yaml"),
        "{uri}"
    );

    let baseline = baseline();
    let args = [
        "audit",
        "--policy",
        &baseline,
        "--no-images",
        "--output",
        "sarif",
        "-",
    ];
    let dump = std::fs::read_to_string(DUMP).unwrap();
    let log = sarif(&stdout_ok(&portcullis_stdin(dir.path(), &args, &dump)));
    assert_eq!(results_of(&log).len(), 4);
    assert!(
        results_of(&log)
            .iter()
            .all(|r| r.get("locations").is_none())
    );
}

// === JUnit ===

/// A `<testsuites>`, `<testsuite>` or `<testcase>` read back: its attributes and, for a test
/// case, the names of its child elements.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: std::collections::BTreeMap<String, String>,
    children: Vec<String>,
}

impl Element {
    fn count(&self, attribute: &str) -> usize {
        self.attributes[attribute].parse().unwrap()
    }
}

/// Every `testsuites`, `testsuite` and `testcase` element of a JUnit document, in order.
fn junit(xml: &str) -> Vec<Element> {
    use quick_xml::events::{BytesStart, Event};
    let read = |e: &BytesStart<'_>| Element {
        name: e.name().as_ref().to_string(),
        attributes: e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                let key = a.key.as_ref().to_string();
                let value = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .unwrap();
                (key, value.into_owned())
            })
            .collect(),
        children: Vec::new(),
    };
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out: Vec<Element> = Vec::new();
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("{e}\n{xml}")) {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let element = read(&e);
                if ["testsuites", "testsuite", "testcase"].contains(&element.name.as_str()) {
                    out.push(element);
                } else if let Some(case) = out.last_mut().filter(|c| c.name == "testcase") {
                    case.children.push(element.name);
                }
            }
            _ => {}
        }
    }
    out
}

/// Checks the counts of every suite and of the whole against its test cases; the totals
/// (tests, failures, errors, skipped) and the suite names.
fn junit_counts(elements: &[Element]) -> ([usize; 4], Vec<String>) {
    assert_eq!(elements[0].name, "testsuites");
    let of = |cases: &[&Element]| {
        let n = |child: &str| {
            cases
                .iter()
                .filter(|c| c.children.iter().any(|n| n == child))
                .count()
        };
        [cases.len(), n("failure"), n("error"), n("skipped")]
    };
    let stated = |e: &Element| ["tests", "failures", "errors", "skipped"].map(|a| e.count(a));
    let mut suites = Vec::new();
    let mut i = 1;
    while i < elements.len() {
        let suite = &elements[i];
        assert_eq!(suite.name, "testsuite");
        let cases: Vec<&Element> = elements[i + 1..]
            .iter()
            .take_while(|e| e.name == "testcase")
            .collect();
        assert_eq!(stated(suite), of(&cases), "suite {:?}", suite.attributes);
        suites.push(suite.attributes["name"].clone());
        i += 1 + cases.len();
    }
    let cases: Vec<&Element> = elements.iter().filter(|e| e.name == "testcase").collect();
    assert_eq!(stated(&elements[0]), of(&cases), "testsuites");
    (of(&cases), suites)
}

#[test]
fn junit_counts_match_the_results_of_the_list_dump() {
    let dir = setup();
    let xml = audit(dir.path(), "junit", &[DUMP]);
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{xml}"
    );
    let elements = junit(&xml);
    // 56 results: 4 fail; the warning passes (with the warning in system-out).
    let (totals, suites) = junit_counts(&elements);
    assert_eq!(totals, [56, 4, 0, 0]);
    assert_eq!(suites, ["latest-tag-warn", "pod-security-baseline"]);
    let case = elements
        .iter()
        .find(|e| {
            e.name == "testcase"
                && e.attributes["classname"] == "pod-security-baseline/hostNamespaces"
                && e.attributes["name"] == "Deployment b/hostnet"
        })
        .unwrap();
    assert_eq!(case.children, ["failure"]);
    assert!(case.attributes["file"].ends_with("audit-list-dump.yaml"));
    let warned = elements
        .iter()
        .find(|e| {
            e.attributes
                .get("classname")
                .is_some_and(|c| c == "latest-tag-warn/imageHygiene.latestTag")
                && e.attributes["name"] == "Pod a/priv"
        })
        .unwrap();
    assert_eq!(warned.children, ["system-out"]);

    // Under `--fail-on warn` the warning is a failure too (and the exit status 1).
    let baseline = baseline();
    let args = [
        "audit",
        "--policy",
        &baseline,
        "--policy",
        "warn.yaml",
        "--no-images",
        "--output",
        "junit",
        "--fail-on",
        "warn",
        DUMP,
    ];
    let out = portcullis(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1));
    let (totals, _) = junit_counts(&junit(&String::from_utf8(out.stdout).unwrap()));
    assert_eq!(totals, [56, 5, 0, 0]);
}

#[test]
fn junit_reports_unreadable_resources_as_errors_and_escapes_what_it_quotes() {
    let dir = setup();
    // A name XML must escape, and an unreadable Pod.
    let input = "apiVersion: v1\nkind: Pod\nmetadata: {name: 'a<b>&\"c', namespace: x}\nspec:\n  containers: [{name: app, image: 'nginx:latest'}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: broken, namespace: x}\nspec: {containers: nginx}\n";
    let baseline = baseline();
    let args = [
        "audit",
        "--policy",
        &baseline,
        "--policy",
        "warn.yaml",
        "--no-images",
        "--output",
        "junit",
        "-",
    ];
    let xml = stdout_ok(&portcullis_stdin(dir.path(), &args, input));
    let elements = junit(&xml);
    let (totals, suites) = junit_counts(&elements);
    assert_eq!(totals, [14 + 1, 0, 1, 0]);
    assert_eq!(
        suites,
        ["latest-tag-warn", "pod-security-baseline", "input"]
    );
    assert!(
        elements.iter().any(|e| e
            .attributes
            .get("name")
            .is_some_and(|n| n == "Pod x/a<b>&\"c")),
        "{xml}"
    );
    let error = elements.last().unwrap();
    assert_eq!(error.attributes["classname"], "input/readable");
    assert_eq!(error.children, ["error"]);
}
