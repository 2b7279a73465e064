//! The generator against real provenance: GitHub Actions environments reconstructed from two real
//! runs whose statements are in testdata/corpora/slsa must give those statements exactly.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Parser as _;
use serde_json::{Value, json};

use super::facts::Facts;
use super::flags::BuildFlags;
use super::{parse_subject, predicate};

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    build: BuildFlags,
}

fn flags(args: &[&str]) -> BuildFlags {
    let mut argv = vec!["portcullis"];
    argv.extend_from_slice(args);
    Cli::parse_from(argv).build
}

fn corpus(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/corpora/slsa/v1/signed-statements")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("corpus statement");
    serde_json::from_str(&text).expect("corpus JSON")
}

/// The variables GitHub Actions set for run 11941425487 of loosebazooka/aa-test (a
/// workflow_dispatch on main), as its provenance in the sigstore-conformance corpus records
/// them, with the other variables every run has.
fn recorded_run() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_ACTOR", "loosebazooka"),
        ("GITHUB_API_URL", "https://api.github.com"),
        ("GITHUB_EVENT_NAME", "workflow_dispatch"),
        ("GITHUB_JOB", "build"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_REF_TYPE", "branch"),
        ("GITHUB_REPOSITORY", "loosebazooka/aa-test"),
        ("GITHUB_REPOSITORY_ID", "891715444"),
        ("GITHUB_REPOSITORY_OWNER", "loosebazooka"),
        ("GITHUB_REPOSITORY_OWNER_ID", "1304826"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_RUN_ID", "11941425487"),
        ("GITHUB_RUN_NUMBER", "3"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_SHA", "ebff8dfbd609b7b22237c7719ce07f2dc7934f5f"),
        ("GITHUB_WORKFLOW", "provenance"),
        (
            "GITHUB_WORKFLOW_REF",
            "loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main",
        ),
        (
            "GITHUB_WORKFLOW_SHA",
            "ebff8dfbd609b7b22237c7719ce07f2dc7934f5f",
        ),
        ("RUNNER_ARCH", "X64"),
        ("RUNNER_ENVIRONMENT", "github-hosted"),
        ("RUNNER_OS", "Linux"),
    ])
}

fn gather(args: &[&str], env: &HashMap<&str, &str>) -> anyhow::Result<Facts> {
    Facts::gather(&flags(args), &|k| env.get(k).map(|v| v.to_string()))
}

fn statement_for(args: &[&str], env: &HashMap<&str, &str>, subject: &str) -> Value {
    let facts = gather(args, env).expect("facts");
    let subject = parse_subject(subject).expect("subject");
    predicate::statement(&[subject], predicate::predicate(&facts))
}

#[test]
fn a_recorded_github_run_gives_githubs_own_statement() {
    let real = corpus("sigstore-conformance__happy-path-intoto-in-dsse-v3.statement.json");
    let ours = statement_for(
        &[],
        &recorded_run(),
        "a.txt@sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf",
    );
    assert_eq!(ours, real);
}

#[test]
fn an_older_github_run_is_matched_with_its_build_type_and_builder_named() {
    // actions/attest-build-provenance before the actions.github.io build type: the run of
    // sigstore/sigstore-conformance's conformance.yml in the corpus.
    let real = corpus("sigstore-conformance__intoto-with-custom-trust-root.statement.json");
    let mut env = recorded_run();
    env.extend([
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REPOSITORY", "sigstore/sigstore-conformance"),
        ("GITHUB_REPOSITORY_ID", "541893186"),
        ("GITHUB_REPOSITORY_OWNER_ID", "71096353"),
        ("GITHUB_RUN_ID", "7173620910"),
        ("GITHUB_SHA", "c5f5fb255163ed85ddb32d54dcdd710ac3f04603"),
        (
            "GITHUB_WORKFLOW_REF",
            "sigstore/sigstore-conformance/.github/workflows/conformance.yml@refs/heads/main",
        ),
    ]);
    env.remove("RUNNER_ENVIRONMENT");
    let args = [
        "--build-type",
        "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
        "--builder-id",
        "https://github.com/actions/runner/github-hosted",
    ];
    let ours = statement_for(
        &args,
        &env,
        "d.txt@sha256:330a043220fa13e01d68a7db39c89e12b0c4c3b6a0346fe624b0903f1303b5b2",
    );
    assert_eq!(ours, real);
}

#[test]
fn github_actions_is_recognised_only_by_its_variable() {
    let mut env = recorded_run();
    env.remove("GITHUB_ACTIONS");
    let err = gather(&[], &env)
        .expect_err("not GitHub, no flags")
        .to_string();
    assert!(
        err.contains("--builder-id is required outside GitHub Actions"),
        "{err}"
    );
    let facts = gather(&["--from", "github"], &env).expect("forced");
    assert_eq!(facts.commit, "ebff8dfbd609b7b22237c7719ce07f2dc7934f5f");
}

#[test]
fn flags_override_the_environment() {
    let args = ["--commit", &"ab".repeat(20), "--ref", "refs/tags/v1.0.0"];
    let facts = gather(&args, &recorded_run()).expect("facts");
    assert_eq!(facts.commit, "ab".repeat(20));
    let p = predicate::predicate(&facts);
    assert_eq!(
        p["buildDefinition"]["externalParameters"]["workflow"]["ref"],
        "refs/tags/v1.0.0"
    );
    assert_eq!(
        p["buildDefinition"]["resolvedDependencies"][0]["uri"],
        "git+https://github.com/loosebazooka/aa-test@refs/tags/v1.0.0"
    );
}

#[test]
fn a_missing_variable_is_named_with_the_flag_that_replaces_it() {
    for (var, flag) in [
        ("GITHUB_SHA", "--commit"),
        ("GITHUB_REF", "--ref"),
        ("GITHUB_RUN_ID", "--invocation-id"),
        ("GITHUB_SERVER_URL", "--repository"),
    ] {
        let mut env = recorded_run();
        env.remove(var);
        let err = gather(&[], &env).expect_err(var).to_string();
        assert!(err.contains(var) && err.contains(flag), "{var}: {err}");
    }
}

#[test]
fn events_githubs_build_type_does_not_cover_are_refused() {
    let mut env = recorded_run();
    env.insert("GITHUB_EVENT_NAME", "pull_request");
    let err = gather(&[], &env).expect_err("pull_request").to_string();
    assert!(
        err.contains("\"pull_request\"") && err.contains("workflow_dispatch"),
        "{err}"
    );
    // Naming one's own build type takes the responsibility for its meaning.
    assert!(gather(&["--build-type", "https://example.com/ci/v1"], &env).is_ok());
}

#[test]
fn githubs_build_type_keeps_its_external_parameters_fixed() {
    let err = gather(
        &["--external-parameter", "image={\"name\":\"app\"}"],
        &recorded_run(),
    )
    .expect_err("external under GitHub's type")
    .to_string();
    assert!(err.contains("--internal-parameter"), "{err}");
    let facts = gather(
        &[
            "--build-arg",
            "RUST_IMAGE=rust:1.95",
            "--internal-parameter",
            "image={\"name\":\"app\"}",
        ],
        &recorded_run(),
    )
    .expect("internal");
    let p = predicate::predicate(&facts);
    let internal = &p["buildDefinition"]["internalParameters"];
    assert_eq!(internal["buildArgs"], json!({"RUST_IMAGE": "rust:1.95"}));
    assert_eq!(internal["image"], json!({"name": "app"}));
    assert_eq!(
        p["buildDefinition"]["externalParameters"]
            .as_object()
            .map(|o| o.len()),
        Some(1)
    );
}

const LOCAL: [&str; 6] = [
    "--repository",
    "https://git.example.com/team/app",
    "--commit",
    "0123456789abcdef0123456789abcdef01234567",
    "--builder-id",
    "https://ci.example.com/runners/linux",
];

#[test]
fn a_local_build_is_described_by_flags_under_the_generic_build_type() {
    let digest = "a".repeat(64);
    let dependency = format!("RUST_IMAGE=oci://registry.example/library/rust@sha256:{digest}");
    let mut args = LOCAL.to_vec();
    args.extend([
        "--ref",
        "refs/heads/main",
        "--workflow-path",
        ".gitlab-ci.yml",
        "--invocation-id",
        "https://ci.example.com/jobs/42",
        "--dependency",
        &dependency,
        "--build-arg",
        "PROFILE=release",
        "--builder-version",
        "buildah=1.39.3",
        "--started-on",
        "2026-12-03T10:00:00Z",
        "--finished-on",
        "2026-12-03T10:04:30Z",
        "--external-parameter",
        "image={\"name\":\"app\",\"tags\":[\"1.0\"]}",
    ]);
    let facts = gather(&args, &HashMap::new()).expect("facts");
    assert_eq!(
        predicate::predicate(&facts),
        json!({
            "buildDefinition": {
                "buildType": super::facts::GENERIC_BUILD_TYPE,
                "externalParameters": {
                    "workflow": {"ref": "refs/heads/main", "repository": "https://git.example.com/team/app",
                                 "path": ".gitlab-ci.yml"},
                    "buildArgs": {"PROFILE": "release"},
                    "image": {"name": "app", "tags": ["1.0"]},
                },
                "internalParameters": {},
                "resolvedDependencies": [
                    {"uri": "git+https://git.example.com/team/app@refs/heads/main",
                     "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}},
                    {"name": "RUST_IMAGE", "uri": "oci://registry.example/library/rust",
                     "digest": {"sha256": digest}},
                ],
            },
            "runDetails": {
                "builder": {"id": "https://ci.example.com/runners/linux", "version": {"buildah": "1.39.3"}},
                "metadata": {"invocationId": "https://ci.example.com/jobs/42",
                             "startedOn": "2026-12-03T10:00:00Z", "finishedOn": "2026-12-03T10:04:30Z"},
            },
        })
    );
}

#[test]
fn wrong_facts_are_refused_by_name() {
    let cases: [(&[&str], &str); 9] = [
        (&["--commit", "main"], "is not a git commit id"),
        (&["--repository", "git.example.com/app"], "is not a URL"),
        (
            &["--dependency", "oci://x/y@sha256:abc"],
            "is not 64 hex digits",
        ),
        (
            &["--dependency", "oci://x/y"],
            "expected [NAME=]URI@sha256:HEX",
        ),
        (
            &["--dependency", "oci://x/y@md5:abc"],
            "is not sha256, sha512 or sha1",
        ),
        (
            &["--started-on", "yesterday"],
            "--started-on \"yesterday\" is not an RFC 3339 time",
        ),
        (
            &[
                "--started-on",
                "2026-12-03T10:00:00Z",
                "--finished-on",
                "2026-12-03T09:00:00Z",
            ],
            "is before --started-on",
        ),
        (
            &["--internal-parameter", "note=plain text"],
            "the value is not JSON",
        ),
        (
            &["--external-parameter", "workflow={}"],
            "written from its own flags",
        ),
    ];
    for (extra, want) in cases {
        // The case's flags replace LOCAL's of the same name.
        let mut args: Vec<&str> = LOCAL
            .chunks(2)
            .filter(|pair| !extra.contains(&pair[0]))
            .flatten()
            .copied()
            .collect();
        args.extend_from_slice(extra);
        let err = format!("{:#}", gather(&args, &HashMap::new()).expect_err(want));
        assert!(err.contains(want), "{extra:?}: {err}");
    }
}

#[test]
fn subjects_are_digests_named_or_not_or_files() {
    let hex = "b".repeat(64);
    let named = parse_subject(&format!("ghcr.io/acme/app@sha256:{hex}")).expect("named");
    assert_eq!(
        (named.name.as_deref(), named.hex.as_str()),
        (Some("ghcr.io/acme/app"), hex.as_str())
    );
    let bare = parse_subject(&format!("sha256:{}", hex.to_uppercase())).expect("bare");
    assert_eq!((bare.name, bare.hex), (None, hex));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("portcullis.tar.gz");
    std::fs::write(&file, b"abc").expect("write");
    let hashed = parse_subject(file.to_str().expect("utf-8")).expect("file");
    assert_eq!(hashed.name.as_deref(), Some("portcullis.tar.gz"));
    assert_eq!(
        hashed.hex,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let err = parse_subject("no-such-file")
        .expect_err("missing")
        .to_string();
    assert!(err.contains("neither NAME@sha256:HEX"), "{err}");
}
