//! Finding the shared test corpora and the external tools the tests drive.
//!
//! A missing input never makes a test pass silently: outside CI the lookup prints a loud
//! `SKIPPED:` line on stderr and returns `None` (the test returns early); under `CI=true` it
//! panics naming what is missing, because CI installs everything (`make bootstrap`) and a skip
//! there would hide a broken setup.

use std::env;
use std::path::{Path, PathBuf};

/// The workspace root (the folder holding the root `Cargo.toml`), found from this crate's
/// compile-time manifest directory `verifier/testkit`.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// The folder `<corpora root>/<name>`, e.g. `corpus("psa")`.
///
/// The corpora root is `$PORTCULLIS_CORPORA` when set, else `../shared/corpora` relative to the
/// workspace root. Missing folder: `None` after a `SKIPPED:` line, or a panic under `CI=true`.
pub fn corpus(name: &str) -> Option<PathBuf> {
    let root = env::var_os("PORTCULLIS_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/corpora"));
    let dir = root.join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        missing(&format!(
            "corpus {} not found (set PORTCULLIS_CORPORA to the corpora root)",
            dir.display()
        ))
    }
}

/// An external tool: `cosign`, `docker-registry`, `skopeo`, or any other executable.
///
/// `$PORTCULLIS_<NAME>` (upper case, `-` → `_`, e.g. `PORTCULLIS_COSIGN`) wins when set.
/// Otherwise `cosign` is the pinned binary `make bootstrap` puts in `.work/tools/bin/cosign`
/// (never the one on `PATH`, which may be another version), and every other tool is searched on
/// `PATH`. Missing tool: `None` after a `SKIPPED:` line, or a panic under `CI=true`.
pub fn tool(name: &str) -> Option<PathBuf> {
    let var = format!("PORTCULLIS_{}", name.to_uppercase().replace('-', "_"));
    let found = if let Some(path) = env::var_os(&var) {
        Some(PathBuf::from(path)).filter(|p| is_executable(p))
    } else if name == "cosign" {
        Some(workspace_root().join(".work/tools/bin/cosign")).filter(|p| is_executable(p))
    } else {
        on_path(name)
    };
    found.or_else(|| {
        missing(&format!(
            "tool {name} not found (run `make bootstrap`, or set {var} to its path)"
        ))
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

#[allow(
    clippy::panic,
    reason = "under CI a missing test input must fail the test run"
)]
fn missing(what: &str) -> Option<PathBuf> {
    if in_ci() {
        panic!("{what}; CI=true, so this is a failure, not a skip");
    }
    eprintln!("SKIPPED: {what} … this test did not run");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let root = workspace_root();
        assert!(root.join("Cargo.toml").is_file(), "{}", root.display());
        assert!(root.join("verifier/testkit/Cargo.toml").is_file());
    }

    #[test]
    fn shared_corpora_are_found() {
        let Some(dir) = corpus("cosign") else { return };
        assert!(dir.ends_with("corpora/cosign"), "{}", dir.display());
        assert!(dir.join("README.md").is_file());
    }

    #[test]
    fn a_missing_corpus_skips_or_fails_under_ci() {
        let looked_up = std::panic::catch_unwind(|| corpus("portcullis-no-such-corpus"));
        if in_ci() {
            assert!(
                looked_up.is_err(),
                "CI=true must turn a missing corpus into a failure"
            );
        } else {
            assert!(
                matches!(looked_up, Ok(None)),
                "outside CI a missing corpus is skipped"
            );
        }
    }

    #[test]
    fn on_path_finds_sh_and_not_nonsense() {
        assert!(on_path("sh").is_some());
        assert!(on_path("portcullis-no-such-tool-xyz").is_none());
    }
}
