//! Helpers shared by the integration suites: locating the test corpora, reading YAML/JSON,
//! a tiny CSV reader for the corpus manifests, and policy-set builders.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use portcullis_policies::{PolicySet, VerdictMap};
use serde_json::Value;

/// The workspace root (`policies/..`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `<corpora root>/<name>`: `$PORTCULLIS_CORPORA/<name>`, else `testdata/corpora/<name>` in the
/// repository (the same lookup as `portcullis_testkit::corpus`, which this engine-only suite does
/// not link). A missing folder fails the test, naming the fix; it never skips.
pub fn corpus(name: &str) -> PathBuf {
    let from_env = std::env::var_os("PORTCULLIS_CORPORA");
    let root = from_env
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("testdata/corpora"));
    let dir = root.join(name);
    if dir.is_dir() {
        return dir;
    }
    let how = if from_env.is_some() {
        "PORTCULLIS_CORPORA points at a folder without it: unset it to use testdata/corpora"
    } else {
        "it is part of the repository: restore it with `git checkout -- testdata/corpora`, \
         or set PORTCULLIS_CORPORA to a corpora root holding it (testdata/README.md)"
    };
    panic!("test corpus {name} not found at {}; {how}", dir.display());
}

pub fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Rows of a CSV file with a header, as (header → value) maps; handles quoted fields.
pub fn read_csv(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = text.lines().filter(|l| !l.is_empty()).map(split_csv_line);
    let header = rows.next().expect("CSV header");
    rows.map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// A policy set with one Pod Security guardrail.
pub fn psa_policy(name: &str, level: &str, version: &str) -> PolicySet {
    let yaml = format!(
        "apiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {{name: {name}}}\nspec:\n  podSecurity: {{level: {level}, version: {version}}}\n"
    );
    PolicySet::from_yaml(name, &yaml).unwrap()
}

/// A policy set from the shipped library files.
pub fn library(files: &[&str]) -> PolicySet {
    let dir = workspace_root().join("policies/library");
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.to_string(), std::fs::read_to_string(dir.join(f)).unwrap()))
        .collect();
    PolicySet::from_sources_with_roots(
        texts.iter().map(|(a, b)| (a.as_str(), b.as_str())),
        &library_trust_roots(),
    )
    .unwrap()
}

/// The trusted roots the library's keyless examples name (an empty root: loading only needs the
/// name to resolve).
pub fn library_trust_roots() -> portcullis_policies::TrustRoots {
    let root = portcullis_verifier_types::keyless::TrustedRoot::from_json(
        br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
        "sigstore-public",
    )
    .unwrap();
    [("sigstore-public".to_string(), std::sync::Arc::new(root))].into()
}

/// No verdicts at all.
pub fn no_facts() -> VerdictMap {
    VerdictMap::new()
}
