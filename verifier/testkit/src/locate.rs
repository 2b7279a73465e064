//! Finding the test corpora and the external tools the tests drive.
//!
//! A missing input never makes a test pass: [`corpus`] and [`tool`] panic with a message that
//! names what is missing and how to get it, on every machine (not only under `CI=true`). The
//! corpora are in the repository (`testdata/corpora`, see `testdata/README.md`) and every tool is
//! installed by `make bootstrap`, so a clone that ran `make bootstrap` has everything. A test that
//! truly cannot run somewhere is `#[ignore = "needs …"]` and counted by `make test`; it never
//! returns early.

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

/// The corpora root: `$PORTCULLIS_CORPORA` when set, else `testdata/corpora` in the repository.
pub fn corpora_root() -> PathBuf {
    env::var_os("PORTCULLIS_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("testdata/corpora"))
}

/// The folder `<corpora root>/<name>`, e.g. `corpus("psa")`. Panics when it is missing.
#[track_caller]
pub fn corpus(name: &str) -> PathBuf {
    match try_corpus(name) {
        Ok(dir) => dir,
        Err(why) => fail(&why),
    }
}

/// Like [`corpus`], with the message as an error instead of a panic.
pub fn try_corpus(name: &str) -> Result<PathBuf, String> {
    let dir = corpora_root().join(name);
    if dir.is_dir() {
        return Ok(dir);
    }
    let how = if env::var_os("PORTCULLIS_CORPORA").is_some() {
        "PORTCULLIS_CORPORA points at a folder without it: unset it to use testdata/corpora"
    } else {
        "it is part of the repository: restore it with `git checkout -- testdata/corpora`, \
         or set PORTCULLIS_CORPORA to a corpora root holding it (testdata/README.md)"
    };
    Err(format!(
        "test corpus {name} not found at {}; {how}",
        dir.display()
    ))
}

/// An external tool: `cosign`, `cosign3`, `docker-registry`, `htpasswd`, `skopeo`, or any other
/// executable. Panics when it is missing.
///
/// `$PORTCULLIS_<NAME>` (upper case, `-` → `_`, e.g. `PORTCULLIS_COSIGN`) wins when set.
/// Otherwise `cosign` (2.5) and `cosign3` (3.1) are the pinned binaries `make bootstrap` puts in
/// `.work/tools/bin` (never the one on `PATH`, which may be another version), and every other tool is searched on
/// `PATH`, then in `.work/tools/fallback/bin`, where `make bootstrap` installs the tools (kubectl)
/// a machine lacks (the Makefile puts that folder last on `PATH`).
#[track_caller]
pub fn tool(name: &str) -> PathBuf {
    match try_tool(name) {
        Ok(path) => path,
        Err(why) => fail(&why),
    }
}

/// Like [`tool`], with the message as an error instead of a panic.
pub fn try_tool(name: &str) -> Result<PathBuf, String> {
    let var = format!("PORTCULLIS_{}", name.to_uppercase().replace('-', "_"));
    if let Some(path) = env::var_os(&var) {
        let path = PathBuf::from(path);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "tool {name}: {var}={} is not an executable file; unset it to use the one \
                 `make bootstrap` installs",
                path.display()
            ))
        };
    }
    if let Some(version) = pinned_version(name) {
        let pinned = workspace_root().join(".work/tools/bin").join(name);
        return if is_executable(&pinned) {
            Ok(pinned)
        } else {
            Err(format!(
                "tool {name} not found at {}: run `make bootstrap` (it installs the pinned \
                 {name} there), or set {var} to a cosign {version} binary",
                pinned.display()
            ))
        };
    }
    let fallback = workspace_root().join(".work/tools/fallback/bin").join(name);
    let found = on_path(name).or_else(|| is_executable(&fallback).then_some(fallback));
    found.ok_or_else(|| {
        let from = match debian_package(name) {
            Some(pkg) => format!("it installs the Debian package {pkg}"),
            None => "add it to pipelines/bootstrap.sh if it is missing there".to_string(),
        };
        format!(
            "tool {name} not found on PATH: run `make bootstrap` ({from}), or set {var} to its path"
        )
    })
}

/// The cosign release a pinned tool name stands for: `make bootstrap` installs these in
/// `.work/tools/bin` from Debian's packages (pipelines/bootstrap.sh).
fn pinned_version(tool: &str) -> Option<&'static str> {
    match tool {
        "cosign" => Some("2.5"),
        "cosign3" => Some("3.1"),
        _ => None,
    }
}

/// The Debian package `make bootstrap` installs for a tool the tests run.
fn debian_package(tool: &str) -> Option<&'static str> {
    match tool {
        "docker-registry" => Some("docker-registry"),
        "skopeo" => Some("skopeo"),
        "htpasswd" => Some("apache2-utils"),
        "jq" => Some("jq"),
        "curl" => Some("curl"),
        "chromium" => Some("chromium"),
        _ => None,
    }
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

#[allow(
    clippy::panic,
    reason = "a missing test input must fail the test that needs it, never skip it"
)]
#[track_caller]
fn fail(why: &str) -> ! {
    panic!("{why}")
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
    fn repository_corpora_are_found() {
        let dir = corpus("cosign");
        assert!(dir.ends_with("cosign"), "{}", dir.display());
        assert!(dir.join("README.md").is_file());
        assert!(dir.join("SOURCES.md").is_file());
    }

    #[test]
    fn a_missing_corpus_fails_naming_it_and_the_fix() {
        let err = try_corpus("portcullis-no-such-corpus").unwrap_err();
        assert!(err.contains("portcullis-no-such-corpus"), "{err}");
        assert!(err.contains("PORTCULLIS_CORPORA"), "{err}");
        let panicked = std::panic::catch_unwind(|| corpus("portcullis-no-such-corpus"));
        assert!(panicked.is_err(), "a missing corpus must panic, not skip");
    }

    #[test]
    fn a_missing_tool_fails_naming_it_and_the_fix() {
        let err = try_tool("portcullis-no-such-tool-xyz").unwrap_err();
        assert!(err.contains("portcullis-no-such-tool-xyz"), "{err}");
        assert!(err.contains("make bootstrap"), "{err}");
        assert!(
            err.contains("PORTCULLIS_PORTCULLIS_NO_SUCH_TOOL_XYZ"),
            "{err}"
        );
        let panicked = std::panic::catch_unwind(|| tool("portcullis-no-such-tool-xyz"));
        assert!(panicked.is_err(), "a missing tool must panic, not skip");
    }

    #[test]
    fn pinned_cosigns_are_looked_for_in_work_tools_only() {
        assert_eq!(pinned_version("cosign3"), Some("3.1"));
        assert_eq!(pinned_version("docker-registry"), None);
        if env::var_os("PORTCULLIS_COSIGN3").is_none() {
            // Installed by `make bootstrap`; never taken from PATH.
            let path = tool("cosign3");
            assert_eq!(path, workspace_root().join(".work/tools/bin/cosign3"));
        }
    }

    #[test]
    fn apt_tools_name_the_package_that_brings_them() {
        assert_eq!(debian_package("htpasswd"), Some("apache2-utils"));
        assert_eq!(debian_package("docker-registry"), Some("docker-registry"));
        assert_eq!(debian_package("portcullis-no-such-tool-xyz"), None);
    }

    #[test]
    fn on_path_finds_sh_and_not_nonsense() {
        assert!(on_path("sh").is_some());
        assert!(on_path("portcullis-no-such-tool-xyz").is_none());
    }
}
