//! `--output sarif`: SARIF 2.1.0 for code scanning of manifests in a repository.
//!
//! One run whose `tool.driver` lists every rule the audit checked (`policy/rule`, with its
//! checklist controls in `properties` and `help`), and one result per finding: `fail` and
//! `error` as level `error`, `warn` as `warning`. Passing rules and rules not run (`skip`) are
//! not results: code scanning shows findings. A result read from a file points at it
//! (`physicalLocation`: the path relative to the working directory, else a `file://` URI, and
//! the line the resource's document starts on) and names the resource as a logical location;
//! a resource read from standard input has no location.

use std::path::Path;

use portcullis_policies::Mode;
use serde_json::{Value, json};

use super::results::{AuditResult, Status};

/// The `$schema` of the output: the OASIS SARIF 2.1.0 schema.
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

fn level(status: Status) -> Option<&'static str> {
    match status {
        Status::Fail | Status::Error => Some("error"),
        Status::Warn => Some("warning"),
        Status::Pass | Status::Skip => None,
    }
}

/// The rule's entry in `tool.driver.rules`.
fn rule(r: &AuditResult) -> Value {
    let controls = if r.controls.is_empty() {
        "no checklist control maps to this rule".to_string()
    } else {
        format!("Checklist controls: {}.", r.controls.join(", "))
    };
    let default_level = match r.mode {
        Some(Mode::Warn) => "warning",
        Some(Mode::Enforce | Mode::Audit) | None => "error",
    };
    let kind = r
        .policy_kind
        .map_or_else(|| "input".to_string(), |k| k.to_string());
    json!({
        "id": r.rule_id(),
        "name": r.rule,
        "shortDescription": {
            "text": format!("rule {} of {kind} {}", r.rule, r.policy_name()),
        },
        "help": {"text": controls},
        "defaultConfiguration": {"level": default_level},
        "properties": {
            "controls": r.controls,
            "mode": r.mode.map(Mode::as_str),
            "tags": r.controls,
        },
    })
}

/// `path` as a URI reference: relative to `cwd` when it is below it, else a `file://` URI.
fn uri_of(path: &str, cwd: &Path) -> String {
    let p = Path::new(path);
    match p.strip_prefix(cwd) {
        Ok(rel) => percent_encode(&rel.to_string_lossy()),
        Err(_) if p.is_absolute() => format!("file://{}", percent_encode(path)),
        Err(_) => percent_encode(path.strip_prefix("./").unwrap_or(path)),
    }
}

/// Percent-encodes every byte but the unreserved characters of RFC 3986 and `/`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn result(r: &AuditResult, level: &str, rule_index: usize, cwd: &Path) -> Value {
    let mut out = json!({
        "ruleId": r.rule_id(),
        "ruleIndex": rule_index,
        "level": level,
        "message": {"text": format!("{}: {}", r.resource.label(), r.message())},
        "properties": {"status": r.status, "controls": r.controls},
    });
    let logical = json!([{"fullyQualifiedName": r.resource.label(), "kind": "resource"}]);
    // A file's resource is found at its line; standard input has no place to point at; a
    // cluster's resource (no line) and a gap in its listing only by name.
    if r.resource.line > 0 && r.resource.file != "-" {
        out["locations"] = json!([{
            "physicalLocation": {
                "artifactLocation": {"uri": uri_of(&r.resource.file, cwd)},
                "region": {"startLine": r.resource.line},
            },
            "logicalLocations": logical,
        }]);
    } else if r.resource.line == 0 {
        out["locations"] = json!([{"logicalLocations": logical}]);
    }
    out
}

/// The SARIF log of `results`; file paths are made relative to `cwd`.
pub fn json(results: &[AuditResult], cwd: &Path) -> anyhow::Result<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut rules = Vec::new();
    for r in results {
        let id = r.rule_id();
        if !ids.contains(&id) {
            ids.push(id);
            rules.push(rule(r));
        }
    }
    let findings: Vec<Value> = results
        .iter()
        .filter_map(|r| {
            let level = level(r.status)?;
            let index = ids.iter().position(|id| *id == r.rule_id())?;
            Some(result(r, level, index, cwd))
        })
        .collect();
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "portcullis",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": findings,
        }],
    });
    let mut out = serde_json::to_string_pretty(&log)?;
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_relative_or_file_uris_and_are_encoded() {
        let cwd = Path::new("/repo");
        assert_eq!(uri_of("deploy/a b.yaml", cwd), "deploy/a%20b.yaml");
        assert_eq!(uri_of("./deploy/x.yaml", cwd), "deploy/x.yaml");
        assert_eq!(uri_of("/repo/deploy/x.yaml", cwd), "deploy/x.yaml");
        assert_eq!(
            uri_of("/elsewhere/#x.yaml", cwd),
            "file:///elsewhere/%23x.yaml"
        );
        assert_eq!(percent_encode("ü"), "%C3%BC");
    }
}
