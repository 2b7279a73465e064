//! The GitHub workflows, the pre-commit hooks and the toolchain pin run what a developer runs:
//! every `run:` step of every workflow is `make <target>` or a `pipelines/` script (a few
//! GitHub-only glue steps are named below, each with its reason); `ci.yml` runs `make lint`,
//! `make test` and `make manifests` on the checkout's own test data; the pre-commit hooks are
//! exactly the linters `pipelines/lint.sh` lists; the toolchain pin matches CI's image.
//!
//! It reads files only; it does not run the workflows or the linters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use portcullis_testkit::{stdout_of, workspace_root};
use serde_json::Value;

/// Steps allowed to run other commands: (workflow file, job, step name, reason).
const GLUE_STEPS: [(&str, &str, &str, &str); 4] = [
    (
        "release.yml",
        "images",
        "Signing key (offline path)",
        "writes the repository's signing secrets to files for pipelines/release.sh; secrets exist only on GitHub",
    ),
    (
        "release.yml",
        "images",
        "Digests for the promotion jobs",
        "hands the pipeline's digests to the promotion jobs through $GITHUB_OUTPUT",
    ),
    (
        "release.yml",
        "promote-stage",
        "pipelines/promote-pr.sh stage",
        "writes the public key variable to a file and marks the downloaded artifact executable before the script",
    ),
    (
        "release.yml",
        "promote-prod",
        "pipelines/promote-pr.sh prod",
        "as promote-stage",
    ),
];

fn read_yaml(path: &PathBuf) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn workflows() -> Vec<(String, Value)> {
    let dir = workspace_root().join(".github/workflows");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                read_yaml(&p),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no workflows in {}", dir.display());
    out
}

/// Make targets: `name:` at the start of a Makefile line.
fn make_targets() -> BTreeSet<String> {
    let text = std::fs::read_to_string(workspace_root().join("Makefile")).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':').map(|(t, _)| t))
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .map(str::to_string)
        .collect()
}

/// The commands of a `run:` script: continuation lines joined, blank lines and comments dropped.
fn commands(script: &str) -> Vec<String> {
    script
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Why `command` is neither `make <targets>` nor a `pipelines/` script, or `None` when it is one.
/// Leading `VAR=value` assignments are allowed.
fn not_a_make_target(command: &str, targets: &BTreeSet<String>) -> Option<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let rest: Vec<&str> = words
        .iter()
        .copied()
        .skip_while(|w| {
            w.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
        .collect();
    match rest.as_slice() {
        ["make", goals @ ..] if !goals.is_empty() => goals
            .iter()
            .find(|g| !targets.contains(**g))
            .map(|g| format!("`make {g}`: no such Makefile target")),
        [script, ..] if script.starts_with("pipelines/") => {
            let path = workspace_root().join(script);
            (!path.is_file()).then(|| format!("{script}: no such script"))
        }
        _ => Some(format!(
            "`{command}` is not a make target or pipelines/ script"
        )),
    }
}

#[test]
fn every_workflow_run_step_is_a_make_target_or_pipelines_script() {
    let targets = make_targets();
    assert!(
        targets.contains("test") && targets.contains("lint"),
        "{targets:?}"
    );
    let mut problems = Vec::new();
    let mut glue_seen = BTreeSet::new();
    let mut runs = 0;
    for (file, wf) in workflows() {
        let jobs = wf["jobs"]
            .as_object()
            .unwrap_or_else(|| panic!("{file}: no jobs"));
        for (job, spec) in jobs {
            for step in spec["steps"].as_array().into_iter().flatten() {
                let Some(script) = step.get("run").and_then(Value::as_str) else {
                    continue; // a `uses:` step
                };
                runs += 1;
                let name = step["name"].as_str().unwrap_or("");
                if let Some(glue) = GLUE_STEPS
                    .iter()
                    .find(|(f, j, n, _)| *f == file && j == job && *n == name)
                {
                    glue_seen.insert((glue.0, glue.1, glue.2));
                    continue;
                }
                for command in commands(script) {
                    if let Some(why) = not_a_make_target(&command, &targets) {
                        problems.push(format!("{file}: job {job}, step {name:?}: {why}"));
                    }
                }
            }
        }
    }
    for (file, job, name, _) in GLUE_STEPS {
        if !glue_seen.contains(&(file, job, name)) {
            problems.push(format!(
                "{file}: job {job}: no step {name:?} any more: drop it from GLUE_STEPS"
            ));
        }
    }
    assert!(runs >= 5, "only {runs} run: steps found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checks_refuse_what_is_not_a_make_target() {
    let targets = make_targets();
    assert_eq!(not_a_make_target("make test", &targets), None);
    assert_eq!(not_a_make_target("CI=true make lint test", &targets), None);
    assert_eq!(
        not_a_make_target("PIPELINE_PUB=k pipelines/release.sh", &targets),
        None
    );
    for bad in [
        "cargo test --workspace",
        "make no-such-target",
        "pipelines/no-such-script.sh",
        "rustup component add rustfmt",
    ] {
        assert!(
            not_a_make_target(bad, &targets).is_some(),
            "{bad} was accepted"
        );
    }
    assert_eq!(
        commands("make a \\\n  b\n# note\n\nmake c\n"),
        ["make a    b", "make c"]
    );
}

#[test]
fn ci_runs_lint_test_and_manifests_on_the_checkouts_own_testdata() {
    let text = std::fs::read_to_string(workspace_root().join(".github/workflows/ci.yml")).unwrap();
    let wf: Value = serde_saphyr::from_str(&text).unwrap();
    let runs: BTreeSet<String> = wf["jobs"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|job| job["steps"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s.get("run").and_then(Value::as_str).map(str::to_string))
        .flat_map(|s| commands(&s))
        .collect();
    for want in ["make lint", "make test", "make manifests", "make coverage"] {
        assert!(runs.contains(want), "ci.yml has no `{want}` step: {runs:?}");
    }
    for outside in [
        "PORTCULLIS_SCHEMAS",
        "PORTCULLIS_CORPORA",
        "CRDs-catalog",
        "shared/",
    ] {
        assert!(
            !text.contains(outside),
            "ci.yml must use testdata/ from the checkout, found {outside}"
        );
    }
}

#[test]
fn pre_commit_hooks_are_the_lint_list() {
    let root = workspace_root();
    let out = stdout_of(
        Command::new("bash")
            .arg(root.join("pipelines/lint.sh"))
            .arg("--list"),
    );
    let linters: BTreeSet<String> = out.lines().map(str::to_string).collect();
    assert!(
        linters.contains("clippy") && linters.contains("cargo-deny"),
        "{linters:?}"
    );
    let config = read_yaml(&root.join(".pre-commit-config.yaml"));
    let mut hooks = BTreeSet::new();
    for repo in config["repos"].as_array().unwrap() {
        assert_eq!(
            repo["repo"], "local",
            "hooks must be local (nothing downloaded)"
        );
        for hook in repo["hooks"].as_array().unwrap() {
            let id = hook["id"].as_str().unwrap();
            assert_eq!(
                hook["entry"],
                format!("pipelines/lint.sh {id}"),
                "hook {id}"
            );
            assert_eq!(hook["language"], "system", "hook {id}");
            assert_eq!(hook["pass_filenames"], false, "hook {id}");
            hooks.insert(id.to_string());
        }
    }
    assert_eq!(
        hooks, linters,
        "pre-commit hooks vs pipelines/lint.sh --list"
    );
}

#[test]
fn toolchain_pin_is_the_release_ci_builds_with() {
    let root = workspace_root();
    let pin = std::fs::read_to_string(root.join("rust-toolchain.toml")).unwrap();
    let channel = pin
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .map(|c| c.trim_matches('"'))
        .expect("rust-toolchain.toml: channel");
    let parts: Vec<&str> = channel.split('.').collect();
    assert!(
        parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "channel {channel} must be an exact release, as installed"
    );
    assert!(
        pin.contains(r#"components = ["rustfmt", "clippy"]"#),
        "{pin}"
    );
    let image = format!("rust:{}.{}-bookworm", parts[0], parts[1]);
    for (file, wf) in workflows() {
        for (job, spec) in wf["jobs"].as_object().unwrap() {
            if let Some(found) = spec["container"]["image"].as_str() {
                assert_eq!(found, image, "{file}: job {job} builds in another Rust");
            }
        }
    }
}
