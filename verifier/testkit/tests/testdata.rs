//! The repository's copied test data (`testdata/`) is whole and unmodified: every file matches
//! its line in `testdata/SHA256SUMS`, no file is missing or unlisted, every corpus carries its
//! README and SOURCES, and the corpus lookup reads it from the repository by default.
//!
//! It does not compare against the upstream collection (`../shared`): the point of `testdata/`
//! is that a clone passes without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use portcullis_testkit::workspace_root;
use sha2::{Digest, Sha256};

/// Files in `testdata/` written for this repository, not copied: not in SHA256SUMS.
const OWN_FILES: [&str; 3] = ["SHA256SUMS", "README.md", "SOURCES.md"];

fn testdata() -> PathBuf {
    workspace_root().join("testdata")
}

fn files_under(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, base, out);
        } else {
            out.push(
                path.strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

/// `SHA256SUMS` as (relative path → hex digest), in `sha256sum` format (`<hex>  ./<path>`).
fn listed() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(testdata().join("SHA256SUMS")).unwrap();
    text.lines()
        .map(|line| {
            let (hex, path) = line
                .split_once("  ")
                .unwrap_or_else(|| panic!("SHA256SUMS: not `<hex>  <path>`: {line}"));
            let path = path.strip_prefix("./").unwrap_or(path);
            (path.to_string(), hex.to_string())
        })
        .collect()
}

#[test]
fn testdata_matches_sha256sums() {
    let root = testdata();
    let listed = listed();
    assert!(listed.len() > 400, "only {} files listed", listed.len());
    let mut on_disk = Vec::new();
    files_under(&root, &root, &mut on_disk);
    on_disk.retain(|f| !OWN_FILES.contains(&f.as_str()));
    let mut problems = Vec::new();
    for file in &on_disk {
        match listed.get(file) {
            None => problems.push(format!("{file}: not in SHA256SUMS")),
            Some(want) => {
                let got = hex::encode(Sha256::digest(std::fs::read(root.join(file)).unwrap()));
                if &got != want {
                    problems.push(format!("{file}: sha256 {got}, SHA256SUMS says {want}"));
                }
            }
        }
    }
    for file in listed.keys() {
        if !on_disk.contains(file) {
            problems.push(format!("{file}: in SHA256SUMS but missing"));
        }
    }
    assert!(
        problems.is_empty(),
        "testdata/ differs from testdata/SHA256SUMS (see testdata/README.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_corpus_and_the_schemas_carry_their_readme_and_sources() {
    let corpora = testdata().join("corpora");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&corpora).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for doc in ["README.md", "SOURCES.md"] {
                assert!(path.join(doc).is_file(), "{} has no {doc}", path.display());
            }
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    assert_eq!(names, ["admissionreview", "cosign", "psa", "slsa"]);
    assert!(testdata().join("schemas/README.md").is_file());
    let sources = std::fs::read_to_string(testdata().join("SOURCES.md")).unwrap();
    for name in &names {
        assert!(
            sources.contains(&format!("`corpora/{name}/`")),
            "testdata/SOURCES.md has no row for corpora/{name}/"
        );
    }
}

#[test]
fn corpora_are_read_from_the_repository_unless_overridden() {
    let root = portcullis_testkit::corpora_root();
    match std::env::var_os("PORTCULLIS_CORPORA") {
        None => assert_eq!(root, testdata().join("corpora")),
        Some(dir) => assert_eq!(root, PathBuf::from(dir)),
    }
    assert!(
        portcullis_testkit::corpus("psa")
            .join("MANIFEST.csv")
            .is_file()
    );
}

#[test]
fn manifest_validation_reads_the_schemas_from_testdata_by_default() {
    let script =
        std::fs::read_to_string(workspace_root().join("pipelines/validate/lib.sh")).unwrap();
    assert!(
        script.contains(r#"SCHEMAS="${PORTCULLIS_SCHEMAS:-$ROOT/testdata/schemas}""#),
        "pipelines/validate/lib.sh must default to testdata/schemas, PORTCULLIS_SCHEMAS overriding it"
    );
    let flux = testdata().join("schemas/crds/kustomize.toolkit.fluxcd.io/kustomization_v1.json");
    assert!(flux.is_file(), "{}", flux.display());
}
