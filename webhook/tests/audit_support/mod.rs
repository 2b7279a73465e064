//! Running `portcullis audit` in its report formats over the List dump with known violations
//! (`tests/data/audit-list-dump.yaml`) under the Pod Security baseline and a warn-mode
//! `latest`-tag guardrail (`tests/data/latest-tag-warn.yaml`): 5 resources, 56 results (51 pass,
//! 4 fail, 1 warn).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use portcullis_testkit::workspace_root;

use crate::cli_support::{portcullis, portcullis_stdin};

pub const DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/audit-list-dump.yaml"
);

/// A warn-mode guardrail on `latest` tags.
pub const WARN_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/latest-tag-warn.yaml"
);

pub fn baseline() -> String {
    workspace_root()
        .join("policies/library/pod-security-baseline.yaml")
        .display()
        .to_string()
}

/// `audit` under the baseline and warn policies, `--no-images --output FORMAT`, then `rest`.
pub fn audit_args(format: &str, rest: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "audit",
        "--policy",
        &baseline(),
        "--policy",
        WARN_POLICY,
        "--no-images",
        "--output",
        format,
    ]
    .map(String::from)
    .to_vec();
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

/// [`audit_args`] run in `dir`.
pub fn run(dir: &Path, format: &str, rest: &[&str]) -> Output {
    let args = audit_args(format, rest);
    portcullis(dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The standard output of [`run`], which must exit 0.
pub fn audit(dir: &Path, format: &str, rest: &[&str]) -> String {
    stdout_ok(&run(dir, format, rest))
}

/// The standard output of [`audit_args`] (ending with `-`) over `input` on standard input.
pub fn audit_stdin(dir: &Path, format: &str, input: &str) -> String {
    let args = audit_args(format, &["-"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    stdout_ok(&portcullis_stdin(dir, &args, input))
}

pub fn stdout_ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The List dump followed by a Pod that is not a valid Pod (`spec.containers` a string), in
/// namespace `a`, and the line its document starts on (its `---`).
pub fn dump_and_broken_pod() -> (String, usize) {
    let dump = std::fs::read_to_string(DUMP).unwrap();
    let line = dump.lines().count() + 2;
    let input = format!(
        "{dump}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: broken, namespace: a}}\nspec: {{containers: nginx}}\n"
    );
    (input, line)
}

/// `check-jsonschema` from the project's virtualenv (`make bootstrap` installs it);
/// `PORTCULLIS_CHECK_JSONSCHEMA` overrides it.
pub fn check_jsonschema() -> PathBuf {
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

/// Validates `doc` against the JSON Schema `schema` (written to a file in `dir`), with `flags`
/// for `check-jsonschema`; its output when `doc` is not valid.
pub fn schema_check(
    schema: &Path,
    doc: &serde_json::Value,
    dir: &Path,
    flags: &[&str],
) -> Result<(), String> {
    let file = dir.join("document.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    let out = Command::new(check_jsonschema())
        .args(flags)
        .arg("--schemafile")
        .arg(schema)
        .arg(&file)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
