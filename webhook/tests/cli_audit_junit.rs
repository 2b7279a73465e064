//! `portcullis audit --output junit`, read back as XML: the counts CI systems read (`tests`,
//! `failures`, `errors`, `skipped`) on every suite and on the whole match the test cases, and
//! the test cases match the audit results.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_support;
mod cli_support;

use audit_support::{DUMP, audit, audit_stdin, run};

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
    let dir = tempfile::tempdir().unwrap();
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
    let out = run(dir.path(), "junit", &["--fail-on", "warn", DUMP]);
    assert_eq!(out.status.code(), Some(1));
    let (totals, _) = junit_counts(&junit(&String::from_utf8(out.stdout).unwrap()));
    assert_eq!(totals, [56, 5, 0, 0]);
}

#[test]
fn junit_reports_unreadable_resources_as_errors_and_escapes_what_it_quotes() {
    let dir = tempfile::tempdir().unwrap();
    // A name XML must escape, and an unreadable Pod.
    let input = "apiVersion: v1\nkind: Pod\nmetadata: {name: 'a<b>&\"c', namespace: x}\nspec:\n  containers: [{name: app, image: 'nginx:latest'}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: broken, namespace: x}\nspec: {containers: nginx}\n";
    let xml = audit_stdin(dir.path(), "junit", input);
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
