//! Build facts for `portcullis version`: the commit the binary was built from and its build date,
//! handed to the crate as `PORTCULLIS_BUILD_*` environment variables (read with `env!`).
//!
//! Where each comes from, in order:
//! - commit: `PORTCULLIS_COMMIT` (image builds pass their `REVISION` build argument, having no
//!   `.git`), else `git rev-parse HEAD` of the repository this crate is tracked in, else "unknown";
//! - date: `SOURCE_DATE_EPOCH` (seconds since 1970, the reproducible-builds convention), else
//!   `PORTCULLIS_SOURCE_DATE_EPOCH` (the same, for builders that must not hand SOURCE_DATE_EPOCH
//!   to every crate: the C-compiling ones, aws-lc-sys, ring and psm, re-run and recompile whenever
//!   it changes, so a target directory shared by several images would rebuild them over and over),
//!   else the commit date of that git commit, else "unknown". Never the time of the build: two
//!   builds of the same commit give the same binary.
//!
//! The script re-runs when either variable changes, and when git's HEAD moves: it watches
//! `HEAD` and the branch ref (or `packed-refs`) it points to, so a new commit re-runs it (and
//! recompiles this package), while builds without one stay no-ops. A snapshot of the sources
//! without `.git` (the image builds, a crate download) watches nothing from git and says
//! "unknown" unless told.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<(), String> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PORTCULLIS_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-env-changed=PORTCULLIS_SOURCE_DATE_EPOCH");
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let git = Git::find(&manifest_dir);
    if let Some(git) = &git {
        git.watch_head();
    }
    let git_head = git.as_ref().and_then(Git::head);

    let from_env = non_empty("PORTCULLIS_COMMIT");
    let (commit, commit_from) = match (&from_env, &git_head) {
        (Some(c), _) => (c.clone(), "PORTCULLIS_COMMIT"),
        (None, Some(head)) => (head.clone(), "git"),
        (None, None) => ("unknown".to_string(), "unknown"),
    };
    let given = ["SOURCE_DATE_EPOCH", "PORTCULLIS_SOURCE_DATE_EPOCH"]
        .into_iter()
        .find_map(|var| non_empty(var).map(|value| (var, value)));
    let (date, date_from) = match given {
        Some((var, s)) => {
            let epoch: u64 = s.trim().parse().map_err(|_| {
                format!(
                    "{var}={s:?} is not a number of seconds since 1970 (unset it to use the commit date)"
                )
            })?;
            (epoch.to_string(), var)
        }
        // The commit's date only for the commit the binary says it is: a PORTCULLIS_COMMIT that
        // is not git's HEAD gets no date from git.
        None => match (git.as_ref(), &git_head) {
            (Some(git), Some(head)) if *head == commit => match git.commit_epoch() {
                Some(epoch) => (epoch, "git commit date"),
                None => ("unknown".to_string(), "unknown"),
            },
            _ => ("unknown".to_string(), "unknown"),
        },
    };
    let target = env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    let rustc = env::var("RUSTC")
        .ok()
        .and_then(|rustc| output(Command::new(rustc).arg("-V")))
        .unwrap_or_else(|| "unknown".to_string());

    println!("cargo:rustc-env=PORTCULLIS_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=PORTCULLIS_BUILD_COMMIT_FROM={commit_from}");
    println!("cargo:rustc-env=PORTCULLIS_BUILD_EPOCH={date}");
    println!("cargo:rustc-env=PORTCULLIS_BUILD_DATE_FROM={date_from}");
    println!("cargo:rustc-env=PORTCULLIS_BUILD_TARGET={target}");
    println!("cargo:rustc-env=PORTCULLIS_BUILD_RUSTC={rustc}");
    Ok(())
}

fn non_empty(var: &str) -> Option<String> {
    env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// A command's trimmed stdout when it succeeds with some.
fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The git repository this crate's sources are tracked in.
struct Git {
    dir: PathBuf,
    git_dir: PathBuf,
    common_dir: PathBuf,
}

impl Git {
    fn git(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.dir);
        cmd
    }

    /// `None` without git, outside a repository, or when this crate's Cargo.toml is not tracked
    /// in the repository found (a copy of the sources inside some other checkout's ignored
    /// folders must not take that checkout's commit).
    fn find(dir: &Path) -> Option<Self> {
        let git = |args: &[&str]| output(Command::new("git").arg("-C").arg(dir).args(args));
        git(&["ls-files", "--error-unmatch", "Cargo.toml"])?;
        let absolute = |p: String| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { dir.join(p) }
        };
        Some(Self {
            dir: dir.to_path_buf(),
            git_dir: absolute(git(&["rev-parse", "--git-dir"])?),
            common_dir: absolute(git(&["rev-parse", "--git-common-dir"])?),
        })
    }

    /// Re-run when HEAD moves: HEAD itself (a checkout), and the branch it names (a commit), as a
    /// loose ref or else in packed-refs. Only files that exist: cargo re-runs a script on every
    /// build while a watched file is missing.
    fn watch_head(&self) {
        let head = self.git_dir.join("HEAD");
        let mut watched = vec![head.clone()];
        if let Some(name) = std::fs::read_to_string(&head)
            .ok()
            .and_then(|h| h.strip_prefix("ref:").map(|r| r.trim().to_string()))
        {
            let loose = self.common_dir.join(name);
            // A loose ref wins over packed-refs; packing deletes it, which re-runs this script.
            watched.push(if loose.is_file() {
                loose
            } else {
                self.common_dir.join("packed-refs")
            });
        }
        for path in watched.iter().filter(|p| p.is_file()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }

    fn head(&self) -> Option<String> {
        output(self.git().args(["rev-parse", "--verify", "HEAD"]))
    }

    /// The committer date of HEAD, in seconds since 1970.
    fn commit_epoch(&self) -> Option<String> {
        output(self.git().args(["show", "-s", "--format=%ct", "HEAD"]))
            .filter(|s| s.parse::<u64>().is_ok())
    }
}
