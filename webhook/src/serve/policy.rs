//! Loading policies from `--policy` paths and hot-reloading them.
//!
//! A [`PolicyStore`] holds the set in force behind an `ArcSwap`: a review takes one snapshot and
//! uses it throughout, a reload swaps the whole set atomically. Reloads are all-or-nothing: when
//! any file fails to read or parse, the error is recorded (log, `portcullis_policy_reloads_total
//! {result="error"}`, `/readyz` detail) and the last good set stays in force.
//!
//! Change detection compares file *contents* every poll (policy files are small), which also
//! catches ConfigMap updates (an atomic `..data` symlink swap) and same-second rewrites that an
//! mtime check could miss.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use portcullis_policies::NoMatch;

use super::config::NamedPath;
use super::decide::{NamedSource, Policies, SourceFile};
use super::metrics::Metrics;
use super::poll::Watched;

/// Why a set of policy files could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyLoadError {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: String },
    #[error("no policy files (*.yaml, *.yml) found in {paths}")]
    Empty { paths: String },
    #[error("{0}")]
    Parse(String),
    #[error("trusted root {name} ({path}): {cause}")]
    TrustedRoot {
        name: String,
        path: PathBuf,
        cause: String,
    },
}

/// The policies in force and how they got there.
#[derive(Debug)]
pub struct Loaded {
    pub policies: Policies,
    pub files: Vec<PathBuf>,
    pub loaded_at: SystemTime,
}

/// Status of the most recent (re)load attempt.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub last_error: Option<String>,
    pub last_error_at: Option<SystemTime>,
    pub successes: u64,
    pub failures: u64,
}

/// The policy set in force, swapped atomically on reload.
#[derive(Debug)]
pub struct PolicyStore {
    paths: Vec<PathBuf>,
    trusted_roots: Vec<NamedPath>,
    no_match: NoMatch,
    current: ArcSwapOption<Loaded>,
    exception_namespaces: Vec<String>,
    status: Mutex<ReloadStatus>,
    last_sources: Mutex<Option<Sources>>,
}

/// Everything a load reads: policy files and trusted roots.
type Sources = (Vec<SourceFile>, Vec<NamedSource>);

impl PolicyStore {
    /// A store watching `paths`, with nothing loaded yet (see [`PolicyStore::reload`]).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self::with_trusted_roots(paths, Vec::new())
    }

    /// A store watching policy `paths` and the trusted-root files keyless authorities name.
    pub fn with_trusted_roots(paths: Vec<PathBuf>, trusted_roots: Vec<NamedPath>) -> Self {
        Self {
            paths,
            trusted_roots,
            no_match: NoMatch::default(),
            current: ArcSwapOption::empty(),
            status: Mutex::new(ReloadStatus::default()),
            last_sources: Mutex::new(None),
            exception_namespaces: Vec::new(),
        }
    }

    /// The store, with every set it loads deciding uncovered images by `no_match`.
    pub fn with_no_match(mut self, no_match: NoMatch) -> Self {
        self.no_match = no_match;
        self
    }

    /// The store, with `PolicyException`s counting only in `namespaces` in every set it loads.
    pub fn with_exception_namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.exception_namespaces = namespaces;
        self
    }

    /// A store holding an already parsed set (tests, `evaluate`); [`PolicyStore::reload`] on it
    /// does nothing.
    pub fn fixed(policies: Policies) -> Self {
        let store = Self::new(Vec::new());
        store.current.store(Some(Arc::new(Loaded {
            policies,
            files: Vec::new(),
            loaded_at: SystemTime::now(),
        })));
        store
    }

    /// The set in force, if any has loaded.
    pub fn current(&self) -> Option<Arc<Loaded>> {
        self.current.load_full()
    }

    pub fn status(&self) -> ReloadStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Reads the paths; when the contents differ from the last attempt, parses them and swaps
    /// the set in. `None`: nothing changed. Blocking (file I/O): call from a blocking context.
    pub fn reload(&self) -> Option<Result<usize, PolicyLoadError>> {
        if self.paths.is_empty() {
            return None;
        }
        let sources = match read_sources(&self.paths)
            .and_then(|files| Ok((files, read_trusted_roots(&self.trusted_roots)?)))
        {
            Ok(s) => s,
            Err(e) => {
                // Forget what was seen: when the files come back unchanged, load them again.
                *self.last_sources.lock().unwrap_or_else(|p| p.into_inner()) = None;
                return Some(self.record(Err(e)));
            }
        };
        {
            let mut last = self.last_sources.lock().unwrap_or_else(|p| p.into_inner());
            if last.as_ref() == Some(&sources) {
                return None;
            }
            *last = Some(sources.clone());
        }
        let (files, roots) = &sources;
        let result = Policies::parse_with_roots(files, roots).map(|policies| {
            let policies = policies
                .with_no_match(self.no_match)
                .with_exception_namespaces(&self.exception_namespaces);
            let count = policies.len();
            self.current.store(Some(Arc::new(Loaded {
                policies,
                files: files.iter().map(|s| s.path.clone()).collect(),
                loaded_at: SystemTime::now(),
            })));
            count
        });
        Some(self.record(result))
    }

    fn record(&self, result: Result<usize, PolicyLoadError>) -> Result<usize, PolicyLoadError> {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => {
                status.successes += 1;
                status.last_error = None;
                status.last_error_at = None;
            }
            Err(e) => {
                status.failures += 1;
                status.last_error = Some(e.to_string());
                status.last_error_at = Some(SystemTime::now());
            }
        }
        result
    }
}

impl Watched for PolicyStore {
    type Outcome = Result<usize, PolicyLoadError>;
    const WHAT: &'static str = "Policy";

    fn check(&self) -> Option<Self::Outcome> {
        self.reload()
    }

    fn report(&self, metrics: &Metrics, outcome: Self::Outcome) {
        report(self, metrics, outcome);
    }
}

/// Logs and counts one load outcome.
pub fn report(store: &PolicyStore, metrics: &Metrics, outcome: Result<usize, PolicyLoadError>) {
    match outcome {
        Ok(count) => {
            metrics.record_policy_reload(true);
            metrics
                .policies_loaded
                .set(i64::try_from(count).unwrap_or(i64::MAX));
            let files = store.current().map_or(0, |l| l.files.len());
            tracing::info!(policies = count, files, "Policies loaded");
            for e in store
                .current()
                .map(|l| l.policies.set().inactive_exceptions())
                .unwrap_or_default()
            {
                let exception = format!("{}/{}", e.namespace, e.name);
                tracing::warn!(%exception, origin = %e.origin, reason = e.reason, message = %e.message, "PolicyException inactive");
            }
        }
        Err(error) => {
            metrics.record_policy_reload(false);
            let in_force = store.current().map_or(0, |l| l.policies.len());
            tracing::error!(%error, policies_in_force = in_force, "Policy reload failed; keeping the last good set");
        }
    }
}

fn is_policy_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Reads every policy file under `paths`: a file is taken as is, a directory contributes its
/// non-hidden `*.yaml`/`*.yml` entries (not recursive), sorted by name.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<SourceFile>, PolicyLoadError> {
    let read_err = |path: &Path, e: std::io::Error| PolicyLoadError::Read {
        path: path.to_path_buf(),
        cause: e.to_string(),
    };
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| read_err(path, e))?;
        if meta.is_dir() {
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(path).map_err(|e| read_err(path, e))? {
                let entry = entry.map_err(|e| read_err(path, e))?;
                let p = entry.path();
                if is_hidden(&p) || !is_policy_file(&p) {
                    continue;
                }
                // Follows symlinks (ConfigMap files are links into `..data`).
                if std::fs::metadata(&p)
                    .map_err(|e| read_err(&p, e))?
                    .is_file()
                {
                    entries.push(p);
                }
            }
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        let paths = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(PolicyLoadError::Empty { paths });
    }
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
            Ok(SourceFile { path, text })
        })
        .collect()
}

/// Reads each `--trusted-root NAME=FILE`.
pub fn read_trusted_roots(roots: &[NamedPath]) -> Result<Vec<NamedSource>, PolicyLoadError> {
    roots
        .iter()
        .map(|r| {
            let text =
                std::fs::read_to_string(&r.path).map_err(|e| PolicyLoadError::TrustedRoot {
                    name: r.name.clone(),
                    path: r.path.clone(),
                    cause: e.to_string(),
                })?;
            Ok(NamedSource {
                name: r.name.clone(),
                file: SourceFile {
                    path: r.path.clone(),
                    text,
                },
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const BASELINE: &str = "apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: baseline}
spec:
  podSecurity: {level: baseline, version: latest}
";

    /// A ConfigMap volume: files are symlinks into `..data`, itself a link to a timestamped dir.
    fn configmap(dir: &Path, files: &[(&str, &str)], generation: u32) {
        let stamp = dir.join(format!("..2026_11_27_00_00_0{generation}"));
        std::fs::create_dir(&stamp).unwrap();
        for (name, text) in files {
            std::fs::write(stamp.join(name), text).unwrap();
        }
        let tmp = dir.join("..data_tmp");
        std::os::unix::fs::symlink(stamp.file_name().unwrap(), &tmp).unwrap();
        std::fs::rename(&tmp, dir.join("..data")).unwrap();
        for (name, _) in files {
            let link = dir.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(Path::new("..data").join(name), &link).unwrap();
            }
        }
    }

    #[test]
    fn reads_a_configmap_volume_once_per_file() {
        let dir = tempfile::tempdir().unwrap();
        configmap(
            dir.path(),
            &[
                ("b.yaml", BASELINE),
                ("a.yml", BASELINE),
                ("README.md", "x"),
            ],
            1,
        );
        let sources = read_sources(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = sources
            .iter()
            .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.yml", "b.yaml"]);
    }

    #[test]
    fn broken_reload_keeps_the_last_good_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, BASELINE).unwrap();
        let store = PolicyStore::new(vec![dir.path().to_path_buf()]);
        assert!(store.current().is_none());
        assert_eq!(store.reload(), Some(Ok(1)));
        assert_eq!(store.reload(), None, "unchanged files are not reparsed");

        std::fs::write(
            &file,
            BASELINE.replace("baseline, version", "baselin, version"),
        )
        .unwrap();
        let err = store.reload().unwrap().unwrap_err();
        assert!(err.to_string().contains("p.yaml"), "{err}");
        assert_eq!(store.current().unwrap().policies.len(), 1);
        let status = store.status();
        assert_eq!(status.failures, 1);
        assert!(status.last_error.unwrap().contains("p.yaml"));
        assert_eq!(store.reload(), None, "a broken file is reported once");

        std::fs::write(
            &file,
            format!(
                "{BASELINE}---\n{}",
                BASELINE.replace("name: baseline", "name: second")
            ),
        )
        .unwrap();
        assert_eq!(store.reload(), Some(Ok(2)));
        assert!(store.status().last_error.is_none());

        std::fs::remove_file(&file).unwrap();
        assert!(matches!(
            store.reload(),
            Some(Err(PolicyLoadError::Empty { .. }))
        ));
        assert_eq!(store.current().unwrap().policies.len(), 2);
    }
}
