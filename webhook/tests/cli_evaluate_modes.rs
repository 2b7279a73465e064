//! `portcullis evaluate` shows what `warn` and `audit` policies find, labelled with their mode,
//! without denying; reads `-` as standard input; and `--show-patches` prints the JSON Patch
//! admission returns and the object it yields.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::process::Output;

use cli_support::{ok, portcullis, portcullis_stdin, stdout};
use serde_json::{Value, json};

const SECURE_DEFAULTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../policies/library/secure-defaults.yaml"
);

const LENIENT_POLICIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/lenient-policies.yaml"
);

const PRIVILEGED_POD: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: a
    image: nginx:latest
    securityContext: {privileged: true}
";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(LENIENT_POLICIES, dir.path().join("policies.yaml")).unwrap();
    std::fs::write(dir.path().join("pod.yaml"), PRIVILEGED_POD).unwrap();
    dir
}

/// `portcullis evaluate --policy policies.yaml --no-match allow ARGS…` in the [`setup`] folder
/// (these policies cover no image: `no_match_*` below checks what the default adds).
fn evaluate(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    let all: Vec<&str> = [
        "evaluate",
        "--policy",
        "policies.yaml",
        "--no-match",
        "allow",
    ]
    .iter()
    .chain(args)
    .copied()
    .collect();
    portcullis(dir.path(), &all)
}

#[test]
fn audit_and_warn_findings_are_shown_with_their_mode_and_do_not_deny() {
    let dir = setup();
    let text = ok(&evaluate(&dir, &["pod.yaml"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ALLOW pod.yaml Pod/p", "{text}");
    assert!(
        lines[1].starts_with(
            "  ! audit: baseline-audit/privileged: container \"a\" (spec.containers[0].securityContext.privileged)"
        ),
        "{text}"
    );
    assert!(
        lines[2].starts_with("  ! warn: hygiene-warn/imageHygiene.latestTag: container \"a\""),
        "{text}"
    );
    assert_eq!(lines.len(), 3, "{text}");

    let out = evaluate(&dir, &["--output", "json", "pod.yaml"]);
    let line: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(line["allowed"], true);
    let found: Vec<(&str, &str, &str)> = line["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["mode"].as_str().unwrap(),
                f["policy"].as_str().unwrap(),
                f["rule"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("audit", "baseline-audit", "privileged"),
            ("warn", "hygiene-warn", "imageHygiene.latestTag")
        ]
    );
}

#[test]
fn a_compliant_pod_has_no_findings() {
    let dir = setup();
    let pod = PRIVILEGED_POD
        .replace("nginx:latest", "nginx:1.27")
        .replace("{privileged: true}", "{privileged: false}");
    std::fs::write(dir.path().join("pod.yaml"), pod).unwrap();
    assert_eq!(ok(&evaluate(&dir, &["pod.yaml"])), "ALLOW pod.yaml Pod/p");
}

#[test]
fn no_match_warns_by_default_and_deny_denies() {
    let dir = setup();
    let pod = PRIVILEGED_POD
        .replace("nginx:latest", "nginx:1.27")
        .replace("{privileged: true}", "{privileged: false}");
    std::fs::write(dir.path().join("pod.yaml"), pod).unwrap();
    let warned = ok(&portcullis(
        dir.path(),
        &["evaluate", "--policy", "policies.yaml", "pod.yaml"],
    ));
    assert_eq!(
        warned.lines().collect::<Vec<_>>()[..],
        [
            "ALLOW pod.yaml Pod/p",
            "  ! warn: no-match/imagePolicy: container \"a\" (spec.containers[0].image): no \
             ClusterImagePolicy matches image \"nginx:1.27\" — add a ClusterImagePolicy (or an \
             ImagePolicy in the object's namespace) whose spec.images matches it, or exclude it \
             in one; portcullis --no-match=allow admits such images silently"
        ],
        "{warned}"
    );
    let args = [
        "evaluate",
        "--policy",
        "policies.yaml",
        "--no-match",
        "deny",
        "pod.yaml",
    ];
    let denied = portcullis(dir.path(), &args);
    assert_eq!(denied.status.code(), Some(1), "{denied:?}");
    let text = stdout(&denied);
    assert!(
        text.starts_with("DENY  pod.yaml Pod/p") && text.contains("no-match/imagePolicy"),
        "{text}"
    );
}

#[test]
fn dash_reads_standard_input_once() {
    let dir = setup();
    let out = portcullis_stdin(
        dir.path(),
        &["evaluate", "--policy", "policies.yaml", "-"],
        PRIVILEGED_POD,
    );
    let text = ok(&out);
    assert!(
        text.starts_with("ALLOW - Pod/p\n  ! audit: baseline-audit/privileged"),
        "{text}"
    );

    let out = portcullis_stdin(
        dir.path(),
        &["evaluate", "--policy", "policies.yaml", "-", "-"],
        PRIVILEGED_POD,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`-` (standard input) given more than once"),
        "{err}"
    );
}

#[test]
fn show_patches_prints_the_patch_and_the_patched_object() {
    let dir = setup();
    let args = [
        "evaluate",
        "--policy",
        SECURE_DEFAULTS,
        "--show-patches",
        "--output",
        "json",
        "pod.yaml",
    ];
    let line: Value = serde_json::from_str(&ok(&portcullis(dir.path(), &args))).unwrap();
    let patch = line["patch"].as_array().unwrap();
    assert!(
        !patch.is_empty(),
        "secure-defaults mutates this pod: {line}"
    );
    assert!(
        patch
            .iter()
            .any(|op| op["path"] == "/spec/containers/0/securityContext/capabilities"),
        "{line}"
    );
    let patched = &line["patchedObject"];
    assert_eq!(
        patched["spec"]["containers"][0]["securityContext"]["capabilities"],
        json!({"drop": ["ALL"]})
    );
    assert_eq!(patched["spec"]["securityContext"]["runAsNonRoot"], true);
    // The original fields survive.
    assert_eq!(patched["spec"]["containers"][0]["image"], "nginx:latest");

    // Text: the patch on one line, then the patched object, indented.
    let text = ok(&portcullis(
        dir.path(),
        &[
            "evaluate",
            "--policy",
            SECURE_DEFAULTS,
            "--no-match",
            "allow",
            "--show-patches",
            "pod.yaml",
        ],
    ));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("  patch: [{\"op\":\"add\""), "{text}");
    assert_eq!(lines[2], "  patched object:", "{text}");
    assert!(text.contains("\"drop\": ["), "{text}");

    // Without the flag, neither is printed.
    let plain = stdout(&portcullis(
        dir.path(),
        &[
            "evaluate",
            "--policy",
            SECURE_DEFAULTS,
            "--no-match",
            "allow",
            "pod.yaml",
        ],
    ));
    assert_eq!(plain, "ALLOW pod.yaml Pod/p");
}
