//! The pinned cosign binaries (`cosign` 2.5, `cosign3` 3.1, from `make bootstrap`), each run in
//! a working directory of its own (its HOME, keys, predicates and signing config).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

pub const PASSWORD: &str = "interop-pw";

pub struct Cosign {
    bin: PathBuf,
    dir: TempDir,
}

impl Cosign {
    /// cosign 2.5; a panic naming the fix when it is missing (`make bootstrap`).
    pub fn new() -> Self {
        Self::tool("cosign")
    }

    /// cosign 3.1; a panic naming the fix when it is missing (`make bootstrap`).
    pub fn v3() -> Self {
        Self::tool("cosign3")
    }

    fn tool(name: &str) -> Self {
        Self {
            bin: portcullis_testkit::tool(name),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs cosign with `args`; its stderr is printed when it fails.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(&self.bin)
            .args(args)
            .current_dir(self.dir())
            .env("COSIGN_PASSWORD", PASSWORD)
            .env("HOME", self.dir())
            .env("SIGSTORE_NO_CACHE", "true")
            .output()
            .expect("cosign runs");
        if !out.status.success() {
            eprintln!("cosign {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        out
    }

    /// Runs cosign with `args` on `image` in the plain-HTTP test registry.
    pub fn on(&self, args: &[&str], image: &str) -> Output {
        let insecure = ["--allow-insecure-registry", "--allow-http-registry"];
        self.run(&[args, &insecure, &[image]].concat())
    }

    /// Whether [`Self::on`] succeeds.
    pub fn succeeds_on(&self, args: &[&str], image: &str) -> bool {
        self.on(args, image).status.success()
    }

    /// cosign 3: `sc.json`, a signing config without Fulcio, OIDC, Rekor or TSA, so that
    /// `sign --key` / `attest --key` work offline (`--tlog-upload=false` is refused in 3.x).
    pub fn offline_signing_config(&self) -> &'static str {
        let args = [
            "signing-config",
            "create",
            "--no-default-fulcio",
            "--no-default-oidc",
            "--no-default-rekor",
            "--no-default-tsa",
            "--out",
            "sc.json",
        ];
        assert!(
            self.run(&args).status.success(),
            "cosign signing-config create"
        );
        "sc.json"
    }
}

/// An SLSA v1 provenance predicate (with the fields cosign's `slsaprovenance1` type requires)
/// naming `repo`, written into `dir`; returns its path.
pub fn provenance(dir: &Path, repo: &str) -> String {
    let path = dir.join(format!("provenance-{}.json", repo.len()));
    let predicate = serde_json::json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"repository": repo, "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}},
            "resolvedDependencies": []
        },
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}, "metadata": {"invocationId": "42"}}
    });
    std::fs::write(&path, serde_json::to_vec(&predicate).unwrap()).unwrap();
    path.display().to_string()
}
