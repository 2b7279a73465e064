//! `portcullis attest --sbom|--vuln` and `portcullis predicate` refusing what they cannot attach:
//! files that are not JSON, JSON that is neither an SBOM nor a Trivy or Grype report (with a hint
//! when it is the other kind), reports without a scan time, and flags that conflict. Each is one
//! line naming the file or flag (clap's usage errors for the flag groups), before any key is read
//! or registry contacted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::process::Output;

use cli_support::{fails_with, portcullis, stderr};
use portcullis_testkit::workspace_root;

/// `testdata/reports/<name>`, as an argument.
fn upstream(name: &str) -> String {
    workspace_root()
        .join("testdata/reports")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn bad_files_and_conflicting_flags_are_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("junk.txt"), "Total: 3 (CRITICAL: 1)\n").unwrap();
    std::fs::write(d.join("sarif.json"), r#"{"version": "2.1.0", "runs": []}"#).unwrap();
    let trivy = upstream("trivy/alpine-39-high-critical.json.golden");
    let cdx = upstream("sbom/conda-cyclonedx.json.golden");
    // Nothing is contacted: the files are checked before the key and the registry.
    let image = "127.0.0.1:1/ci/app:1.0";
    let attest = |args: &[&str]| {
        let base = ["attest", "--key", "missing.key", "--allow-http-registry"];
        portcullis(d, &[&base[..], args, &[image]].concat())
    };
    let report = "a Trivy JSON report (SchemaVersion and Results) or a Grype JSON report (matches and descriptor)";

    fails_with(
        &attest(&["--vuln", "junk.txt"]),
        &format!("junk.txt is not JSON (expected value at line 1 column 1): expected {report}"),
    );
    fails_with(
        &attest(&["--vuln", "sarif.json"]),
        &format!("sarif.json is not {report}: found an object with keys runs, version"),
    );
    fails_with(
        &attest(&["--vuln", &cdx]),
        &format!("is not {report}: it is an SBOM: attach it with --sbom"),
    );
    fails_with(
        &attest(&["--sbom", &trivy]),
        "is not a CycloneDX JSON SBOM (\"bomFormat\": \"CycloneDX\") or an SPDX JSON SBOM \
         (\"spdxVersion\": \"SPDX-2.x\"): it is a vulnerability report: attach it with --vuln",
    );
    fails_with(
        &attest(&["--vuln", &trivy]),
        "the Trivy report does not say when the scan ran (CreatedAt is missing): give --scan-finished-on RFC3339",
    );
    fails_with(
        &attest(&["--vuln", &trivy, "--scan-finished-on", "last tuesday"]),
        "--scan-finished-on \"last tuesday\" is not an RFC 3339 timestamp",
    );
    fails_with(
        &attest(&["--vuln", "nope.json"]),
        "reading report nope.json: No such file or directory",
    );
    fails_with(
        &attest(&["--vuln", &trivy, "--type", "spdxjson"]),
        "--type spdxjson does not match what --vuln attaches (type vuln, https://cosign.sigstore.dev/attestation/vuln/v1)",
    );
    fails_with(
        &attest(&["--sbom", &cdx, "--scan-finished-on", "2026-12-03T10:00:00Z"]),
        "--scan-finished-on dates a vulnerability scan: it goes with --vuln REPORT only",
    );
    fails_with(
        &attest(&[
            "--predicate",
            &cdx,
            "--scan-started-on",
            "2026-12-03T10:00:00Z",
        ]),
        "--scan-started-on dates a vulnerability scan: it goes with --vuln REPORT only",
    );

    // Exactly one of --predicate, --provenance, --sbom, --vuln: clap's usage errors (exit 2).
    let usage = |out: &Output, needle: &str| {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
        assert!(
            stderr(out).contains(needle),
            "{needle:?} not in {}",
            stderr(out)
        );
    };
    usage(
        &attest(&["--predicate", &cdx, "--vuln", &trivy]),
        "the argument '--predicate <FILE>' cannot be used with '--vuln <REPORT>'",
    );
    usage(
        &attest(&["--provenance", "--vuln", &trivy]),
        "the argument '--provenance' cannot be used with '--vuln <REPORT>'",
    );
    usage(
        &attest(&["--sbom", &cdx, "--vuln", &trivy]),
        "the argument '--sbom <FILE>' cannot be used with '--vuln <REPORT>'",
    );
    usage(
        &attest(&[]),
        "the following required arguments were not provided:\n  \
         <--predicate <FILE>|--provenance|--sbom <FILE>|--vuln <REPORT>>",
    );
    usage(
        &portcullis(d, &["predicate", "--sbom", &cdx, "--vuln", &trivy]),
        "the argument '--sbom <FILE>' cannot be used with '--vuln <REPORT>'",
    );
    usage(
        &portcullis(d, &["predicate", "-o", "x.json"]),
        "<--sbom <FILE>|--vuln <REPORT>>",
    );
    // `predicate` refuses the same files the same way, and writes nothing.
    fails_with(
        &portcullis(d, &["predicate", "--vuln", "junk.txt", "-o", "out.json"]),
        "junk.txt is not JSON",
    );
    assert!(!d.join("out.json").exists());
}
