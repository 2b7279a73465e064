//! The pinned cosign binaries (`cosign` 2.5 and `cosign3` 3.1, from `make bootstrap`), each run in
//! a working directory of its own that is also its HOME (keys, predicates, signing config), and
//! the SLSA provenance predicate cosign's `slsaprovenance1` type accepts.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a cosign that cannot start or a directory that cannot be written must fail the test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::tool;

/// The password of every key pair cosign generates here (`COSIGN_PASSWORD`).
pub const PASSWORD: &str = "interop-pw";

/// One cosign binary and its working directory.
pub struct Cosign {
    bin: PathBuf,
    dir: TempDir,
}

impl Cosign {
    /// cosign 2.5; a panic naming the fix when it is missing (`make bootstrap`).
    pub fn v2() -> Self {
        Self::tool("cosign")
    }

    /// cosign 3.1; a panic naming the fix when it is missing (`make bootstrap`).
    pub fn v3() -> Self {
        Self::tool("cosign3")
    }

    fn tool(name: &str) -> Self {
        Self {
            bin: tool(name),
            dir: tempfile::tempdir().expect("a temporary directory for cosign"),
        }
    }

    /// The working directory (and HOME) cosign runs in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a key pair for cosign as `<name>.key` (PEM encrypted under [`PASSWORD`]) and
    /// `<name>.pub`.
    pub fn write_key_pair(&self, name: &str, encrypted_private_pem: &str, public_pem: &str) {
        for (ext, pem) in [("key", encrypted_private_pem), ("pub", public_pem)] {
            std::fs::write(self.dir().join(format!("{name}.{ext}")), pem)
                .expect("the key pair is written");
        }
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

    /// Runs cosign with `args` and fails the test, with cosign's stderr, when it fails.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        if !out.status.success() {
            panic!(
                "cosign {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
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

    /// Whether cosign verifies a signature on `image` with the public key file `key`, no log.
    pub fn verifies(&self, key: &str, image: &str) -> bool {
        self.succeeds_on(&["verify", "--key", key, "--insecure-ignore-tlog"], image)
    }

    /// Whether cosign verifies an SLSA v1 provenance attestation on `image` with `key`, no log.
    pub fn verifies_provenance(&self, key: &str, image: &str) -> bool {
        let args = [
            "verify-attestation",
            "--key",
            key,
            "--type",
            "slsaprovenance1",
            "--insecure-ignore-tlog",
        ];
        self.succeeds_on(&args, image)
    }

    /// cosign 3: `sc.json`, a signing config without Fulcio, OIDC, Rekor or TSA, so that
    /// `sign --key` / `attest --key` work offline (`--tlog-upload=false` is refused in 3.x).
    pub fn offline_signing_config(&self) -> &'static str {
        self.ok(&[
            "signing-config",
            "create",
            "--no-default-fulcio",
            "--no-default-oidc",
            "--no-default-rekor",
            "--no-default-tsa",
            "--out",
            "sc.json",
        ]);
        "sc.json"
    }
}

/// An SLSA v1 provenance predicate naming `repo`, with the fields cosign's `slsaprovenance1`
/// type requires.
pub fn provenance_predicate(repo: &str) -> serde_json::Value {
    serde_json::json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"repository": repo, "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}},
            "resolvedDependencies": []
        },
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}, "metadata": {"invocationId": "42"}}
    })
}

/// [`provenance_predicate`] naming `repo`, written into `dir` for cosign's `--predicate`; returns
/// its path.
pub fn provenance(dir: &Path, repo: &str) -> String {
    let path = dir.join(format!("provenance-{}.json", repo.len()));
    std::fs::write(&path, provenance_predicate(repo).to_string())
        .expect("the provenance predicate is written");
    path.display().to_string()
}
