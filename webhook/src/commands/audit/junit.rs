//! `--output junit`: JUnit XML for CI test reports.
//!
//! `<testsuites>` holds one `<testsuite>` per policy (in the order results come, `input` for
//! resources that could not be read) and one `<testcase>` per resource × rule: `classname` is
//! `policy/rule`, `name` the resource (`Kind namespace/name`), with `file` and `line` where it
//! was read. `fail` is a `<failure>`, `error` an `<error>`, `skip` a `<skipped>`; `warn` is a
//! `<failure>` under `--fail-on warn` (the gate fails on it) and otherwise a passing test case
//! whose `<system-out>` carries the warning. Every element carries the counts CI systems read:
//! `tests`, `failures`, `errors`, `skipped`.
//!
//! Escaping is quick-xml's; characters XML 1.0 cannot carry at all (control characters) are
//! replaced by U+FFFD first.

use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_verifier::keyless::rfc3339;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::results::{AuditResult, Status};

#[derive(Default, Clone, Copy)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

/// How one result appears in the report.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    /// Passed, with the warning in `<system-out>`.
    Warned,
    Failure,
    Error,
    Skipped,
}

fn outcome(status: Status, warn_fails: bool) -> Outcome {
    match status {
        Status::Pass => Outcome::Passed,
        Status::Warn if warn_fails => Outcome::Failure,
        Status::Warn => Outcome::Warned,
        Status::Fail => Outcome::Failure,
        Status::Error => Outcome::Error,
        Status::Skip => Outcome::Skipped,
    }
}

impl Counts {
    fn add(&mut self, o: Outcome) {
        self.tests += 1;
        match o {
            Outcome::Passed | Outcome::Warned => {}
            Outcome::Failure => self.failures += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Skipped => self.skipped += 1,
        }
    }

    fn attributes(&self) -> [(&'static str, String); 4] {
        [
            ("tests", self.tests.to_string()),
            ("failures", self.failures.to_string()),
            ("errors", self.errors.to_string()),
            ("skipped", self.skipped.to_string()),
        ]
    }
}

/// `text` with the characters XML 1.0 forbids (C0 controls but tab, newline and carriage
/// return; U+FFFE, U+FFFF) replaced by U+FFFD.
fn xml_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

fn write_case<W: std::io::Write>(
    w: &mut Writer<W>,
    r: &AuditResult,
    o: Outcome,
) -> std::io::Result<()> {
    let classname = xml_safe(&r.rule_id());
    let name = xml_safe(&r.resource.label());
    let file = xml_safe(&r.resource.file);
    let line = r.resource.line.to_string();
    let mut attributes = vec![("classname", classname.as_str()), ("name", name.as_str())];
    // A resource listed from a cluster has no file and line.
    if r.resource.line > 0 {
        attributes.extend([("file", file.as_str()), ("line", line.as_str())]);
    }
    let case = w.create_element("testcase").with_attributes(attributes);
    let message = xml_safe(&r.message());
    let details = if r.controls.is_empty() {
        message.clone()
    } else {
        xml_safe(&format!("{message}\ncontrols: {}", r.controls.join(", ")))
    };
    let status = r.status.name();
    let element = match o {
        Outcome::Passed => {
            case.write_empty()?;
            return Ok(());
        }
        Outcome::Warned => "system-out",
        Outcome::Failure => "failure",
        Outcome::Error => "error",
        Outcome::Skipped => "skipped",
    };
    case.write_inner_content(|w| {
        let child = w.create_element(element);
        let child = if element == "system-out" {
            child
        } else {
            child.with_attributes([("message", message.as_str()), ("type", status)])
        };
        child.write_text_content(BytesText::new(&details))?;
        Ok(())
    })?;
    Ok(())
}

/// The JUnit XML of `results`; `warn_fails` (`--fail-on warn`) makes warnings failures.
pub fn xml(results: &[AuditResult], warn_fails: bool, now: SystemTime) -> anyhow::Result<String> {
    // Suites in first-seen policy order, each with its results.
    let mut suites: Vec<(&str, Vec<&AuditResult>)> = Vec::new();
    for r in results {
        let policy = r.policy_name();
        match suites.iter_mut().find(|(p, _)| *p == policy) {
            Some((_, members)) => members.push(r),
            None => suites.push((policy, vec![r])),
        }
    }
    let seconds = i64::try_from(now.duration_since(UNIX_EPOCH)?.as_secs())?;
    // JUnit's timestamp is an ISO 8601 date-time without a zone (this one is UTC).
    let timestamp = rfc3339(seconds).trim_end_matches('Z').to_string();
    let mut total = Counts::default();
    let counted: Vec<Counts> = suites
        .iter()
        .map(|(_, members)| {
            let mut c = Counts::default();
            for r in members {
                c.add(outcome(r.status, warn_fails));
            }
            total.tests += c.tests;
            total.failures += c.failures;
            total.errors += c.errors;
            total.skipped += c.skipped;
            c
        })
        .collect();

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let attrs = total.attributes();
    w.create_element("testsuites")
        .with_attribute(("name", "portcullis audit"))
        .with_attributes(attrs.iter().map(|(k, v)| (*k, v.as_str())))
        .write_inner_content(|w| {
            for ((policy, members), counts) in suites.iter().zip(&counted) {
                let attrs = counts.attributes();
                let name = xml_safe(policy);
                w.create_element("testsuite")
                    .with_attribute(("name", name.as_str()))
                    .with_attributes(attrs.iter().map(|(k, v)| (*k, v.as_str())))
                    .with_attribute(("timestamp", timestamp.as_str()))
                    .write_inner_content(|w| {
                        if let Some(first) = members.first() {
                            write_properties(w, first)?;
                        }
                        for r in members {
                            write_case(w, r, outcome(r.status, warn_fails))?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    let mut out = String::from_utf8(w.into_inner())?;
    out.push('\n');
    Ok(out)
}

/// The policy's mode and kind as suite properties.
fn write_properties<W: std::io::Write>(w: &mut Writer<W>, r: &AuditResult) -> std::io::Result<()> {
    let mut props: Vec<(&str, String)> = Vec::new();
    if let Some(mode) = r.mode {
        props.push(("mode", mode.as_str().to_string()));
    }
    if let Some(kind) = r.policy_kind {
        props.push(("policyKind", kind.to_string()));
    }
    if props.is_empty() {
        return Ok(());
    }
    w.create_element("properties").write_inner_content(|w| {
        for (name, value) in &props {
            w.create_element("property")
                .with_attributes([("name", *name), ("value", value.as_str())])
                .write_empty()?;
        }
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        assert_eq!(xml_safe("a\u{1b}[0mb\tc\n"), "a\u{FFFD}[0mb\tc\n");
        assert_eq!(xml_safe("x\u{FFFF}"), "x\u{FFFD}");
        assert_eq!(xml_safe("<&>\"'"), "<&>\"'", "escaping is the writer's");
    }
}
