//! `portcullis audit` over the upstream Pod Security Admission fixtures (the shared corpus,
//! `testdata/corpora/psa`, newest version folder) under the shipped baseline and restricted
//! policies: per fixture, the per-control results must be what the fixture exercises: no `fail`
//! for a `pass` fixture; for a `fail` fixture a `fail` of its check (or the restricted check
//! that overrides it), and no `fail` of a control it is not documented to violate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::collections::{BTreeMap, BTreeSet};

use cli_support::portcullis;
use portcullis_testkit::workspace_root;
use serde_json::Value;

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

/// MANIFEST.csv: file → (expected, the rules a failure may name).
fn manifest(root: &std::path::Path) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(root.join("MANIFEST.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            // The first five columns and the last have no commas; the message between may.
            let cells: Vec<&str> = line.split(',').collect();
            let (file, expected, check) = (cells[0], cells[3], cells[4]);
            let also = cells[cells.len() - 1];
            let mut allowed = BTreeSet::new();
            for id in std::iter::once(check).chain(also.split(['|', ';', ' '])) {
                if id.is_empty() {
                    continue;
                }
                allowed.insert(id.to_string());
                if let Some(o) = restricted_override(id) {
                    allowed.insert(o.to_string());
                }
            }
            (file.to_string(), (expected.to_string(), allowed))
        })
        .collect()
}

#[test]
fn audit_results_per_control_match_what_each_psa_fixture_exercises() {
    let root = portcullis_testkit::corpus("psa");
    let manifest = manifest(&root);
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for level in ["baseline", "restricted"] {
        let mut versions: Vec<String> = std::fs::read_dir(root.join(level))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        versions.sort_by_key(|v| {
            v.trim_start_matches("v1.")
                .parse::<u32>()
                .unwrap_or_else(|_| panic!("version folder {v}"))
        });
        let newest = root.join(level).join(versions.last().unwrap());
        let policy = workspace_root().join(format!("policies/library/pod-security-{level}.yaml"));
        let out = portcullis(
            dir.path(),
            &[
                "audit",
                "--policy",
                policy.to_str().unwrap(),
                "--no-images",
                "--output",
                "jsonl",
                newest.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let mut by_file: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            let file = row["resource"]["file"].as_str().unwrap().to_string();
            by_file.entry(file).or_default().push(row);
        }
        let mut problems = Vec::new();
        for (file, rows) in &by_file {
            let rel = std::path::Path::new(file)
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let (expected, allowed) = manifest
                .get(&rel)
                .unwrap_or_else(|| panic!("{rel} is not in MANIFEST.csv"));
            assert!(
                rows.iter().all(|r| r["status"] != "error"),
                "{rel}: {rows:?}"
            );
            let failing: BTreeSet<&str> = rows
                .iter()
                .filter(|r| r["status"] == "fail")
                .map(|r| r["rule"].as_str().unwrap())
                .collect();
            let ok = if expected == "pass" {
                failing.is_empty()
            } else {
                failing.iter().any(|r| allowed.contains(*r))
                    && failing.iter().all(|r| allowed.contains(*r))
            };
            if !ok {
                problems.push(format!(
                    "{rel}: expected {expected} {allowed:?}, failing {failing:?}"
                ));
            }
            checked += 1;
        }
        let fixtures = manifest
            .keys()
            .filter(|f| f.starts_with(&format!("{level}/{}/", versions.last().unwrap())))
            .count();
        assert_eq!(by_file.len(), fixtures, "{level}: every fixture is audited");
        assert!(problems.is_empty(), "{level}:\n{}", problems.join("\n"));
    }
    assert!(checked > 100, "{checked} fixtures");
}
