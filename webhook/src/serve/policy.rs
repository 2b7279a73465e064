//! Loading policies from `--policy` paths and cluster objects, and hot-reloading them.
//!
//! A [`PolicyStore`] holds the set in force behind an `ArcSwap`: a review takes one snapshot and
//! uses it throughout, a reload swaps the whole set atomically. The set is compiled from two
//! sources at once: the files under `--policy` and the policy objects the cluster watch
//! ([`super::cluster`]) hands in.
//!
//! - File reloads are all-or-nothing: when any file fails to read or parse, the error is
//!   recorded (log, `portcullis_policy_reloads_total{result="error"}`, `/readyz` detail) and the
//!   last good files stay in force.
//! - Cluster objects are taken one by one: an object that does not compile is refused on its
//!   own, its last good version (if any) stays in force, and the others are unaffected.
//!
//! No set is published until every source has delivered once: the files read, and the cluster's
//! first complete list when the watch is on. Until then `/readyz` fails and reviews are refused.
//!
//! Change detection compares file *contents* every poll (policy files are small), which also
//! catches ConfigMap updates (an atomic `..data` symlink swap) and same-second rewrites that an
//! mtime check could miss.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
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
    /// Cluster objects compiled into the set.
    pub objects: usize,
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

/// One change to the cluster objects: the object's origin (its kind, namespace and name), and its
/// new text, or `None` when it was deleted.
pub type ObjectChange = (String, Option<SourceFile>);

/// What became of one cluster object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutcome {
    /// Compiled and in force.
    InForce,
    /// Compiled, but it does not count (a `PolicyException` outside `--exception-namespaces`):
    /// the condition's reason and message.
    Inactive {
        reason: &'static str,
        message: String,
    },
    /// Refused with this error; its previous version, if any, stays.
    Refused(String),
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
    inputs: Mutex<Inputs>,
}

/// Everything a load reads: policy files and trusted roots.
type Sources = (Vec<SourceFile>, Vec<NamedSource>);

/// What the set in force is built from.
#[derive(Debug, Default)]
struct Inputs {
    /// The last good files and roots; `None` until they first load.
    files: Option<Sources>,
    /// The cluster objects in force, by origin: each one's last good version.
    objects: BTreeMap<String, SourceFile>,
    /// Whether the set waits for the cluster's first complete list.
    cluster_pending: bool,
}

impl Inputs {
    fn roots(&self) -> &[NamedSource] {
        self.files.as_ref().map_or(&[], |(_, roots)| roots)
    }
}

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
            inputs: Mutex::new(Inputs::default()),
            exception_namespaces: Vec::new(),
        }
    }

    /// The store, with every set it loads deciding uncovered images by `no_match`.
    pub fn with_no_match(mut self, no_match: NoMatch) -> Self {
        self.no_match = no_match;
        self
    }

    /// The store, publishing no set before the cluster watch reports its first complete list
    /// ([`PolicyStore::cluster_synced`]).
    pub fn with_cluster(self) -> Self {
        self.lock_inputs().cluster_pending = true;
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
            objects: 0,
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

    fn lock_inputs(&self) -> MutexGuard<'_, Inputs> {
        self.inputs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the paths; when the contents differ from the last attempt, compiles them with the
    /// cluster objects and swaps the set in. `None`: nothing changed. Blocking (file I/O and
    /// compilation): call from a blocking context.
    pub fn reload(&self) -> Option<Result<usize, PolicyLoadError>> {
        if self.paths.is_empty() && self.trusted_roots.is_empty() {
            let mut inputs = self.lock_inputs();
            if inputs.files.is_some() {
                return None;
            }
            inputs.files = Some((Vec::new(), Vec::new()));
            return Some(self.record(self.publish(&inputs)));
        }
        let sources = match self
            .read_files()
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
        let mut inputs = self.lock_inputs();
        let (files, roots) = &sources;
        let result = self
            .compile(files, roots, &inputs.objects)
            .map(|_| ())
            .and_then(|()| {
                inputs.files = Some(sources);
                self.publish(&inputs)
            });
        Some(self.record(result))
    }

    fn read_files(&self) -> Result<Vec<SourceFile>, PolicyLoadError> {
        if self.paths.is_empty() {
            return Ok(Vec::new());
        }
        read_sources(&self.paths)
    }

    /// Applies changes to the cluster objects, each on its own: an object that does not compile
    /// (alone, or with the rest of the set) is refused and its last good version stays. Returns
    /// each change's outcome, in order. Blocking (compilation).
    pub fn update_objects(&self, changes: Vec<ObjectChange>) -> Vec<(String, ObjectOutcome)> {
        let mut inputs = self.lock_inputs();
        let roots = inputs.roots().to_vec();
        let mut outcomes = Vec::with_capacity(changes.len());
        let mut accepted = Vec::with_capacity(changes.len());
        for (origin, text) in changes {
            let alone = match &text {
                Some(file) => self.compile_alone(file, &roots),
                None => ObjectOutcome::InForce,
            };
            if !matches!(alone, ObjectOutcome::Refused(_)) {
                accepted.push((origin.clone(), text));
            }
            outcomes.push((origin, alone));
        }
        let files = inputs
            .files
            .as_ref()
            .map(|(f, _)| f.clone())
            .unwrap_or_default();
        let mut candidate = inputs.objects.clone();
        for (origin, text) in &accepted {
            apply_change(&mut candidate, origin, text.clone());
        }
        if self.compile(&files, &roots, &candidate).is_ok() {
            inputs.objects = candidate;
        } else {
            // Something compiles alone but not with the rest (a name the files also define):
            // take the changes one at a time to refuse only the ones that clash.
            for (origin, text) in accepted {
                let mut one = inputs.objects.clone();
                apply_change(&mut one, &origin, text);
                match self.compile(&files, &roots, &one) {
                    Ok(_) => inputs.objects = one,
                    Err(e) => {
                        if let Some(outcome) = outcomes.iter_mut().rev().find(|(o, _)| *o == origin)
                        {
                            outcome.1 = ObjectOutcome::Refused(e.to_string());
                        }
                    }
                }
            }
        }
        if let Err(e) = self.publish(&inputs) {
            tracing::error!(error = %e, "Policy set with the cluster objects failed to compile");
        }
        outcomes
    }

    /// One object compiled on its own, with the store's settings.
    fn compile_alone(&self, file: &SourceFile, roots: &[NamedSource]) -> ObjectOutcome {
        match self.compile(std::slice::from_ref(file), roots, &BTreeMap::new()) {
            Err(e) => ObjectOutcome::Refused(e.to_string()),
            Ok(policies) => match policies.set().inactive_exceptions().into_iter().next() {
                Some(e) => ObjectOutcome::Inactive {
                    reason: e.reason,
                    message: e.message,
                },
                None => ObjectOutcome::InForce,
            },
        }
    }

    /// The cluster watch has listed every kind once: the set may be published.
    pub fn cluster_synced(&self) -> Result<usize, PolicyLoadError> {
        let mut inputs = self.lock_inputs();
        inputs.cluster_pending = false;
        self.publish(&inputs)
    }

    /// Compiles `inputs` and swaps the result in, once every source has delivered; the number
    /// of policies compiled.
    fn publish(&self, inputs: &Inputs) -> Result<usize, PolicyLoadError> {
        let Some((files, roots)) = &inputs.files else {
            return Ok(0);
        };
        let policies = self.compile(files, roots, &inputs.objects)?;
        let count = policies.len();
        if !inputs.cluster_pending {
            self.current.store(Some(Arc::new(Loaded {
                policies,
                files: files.iter().map(|s| s.path.clone()).collect(),
                objects: inputs.objects.len(),
                loaded_at: SystemTime::now(),
            })));
        }
        Ok(count)
    }

    fn compile(
        &self,
        files: &[SourceFile],
        roots: &[NamedSource],
        objects: &BTreeMap<String, SourceFile>,
    ) -> Result<Policies, PolicyLoadError> {
        let all: Vec<SourceFile> = files.iter().chain(objects.values()).cloned().collect();
        Policies::parse_with_roots(&all, roots).map(|p| {
            p.with_no_match(self.no_match)
                .with_exception_namespaces(&self.exception_namespaces)
        })
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

fn apply_change(
    objects: &mut BTreeMap<String, SourceFile>,
    origin: &str,
    text: Option<SourceFile>,
) {
    match text {
        Some(file) => {
            objects.insert(origin.to_string(), file);
        }
        None => {
            objects.remove(origin);
        }
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

    fn object(name: &str, level: &str) -> SourceFile {
        SourceFile {
            path: PathBuf::from(format!("ClusterGuardrailPolicy/{name}")),
            text: BASELINE
                .replace("name: baseline", &format!("name: {name}"))
                .replace("level: baseline", &format!("level: {level}")),
        }
    }

    fn refused(outcome: &ObjectOutcome) -> &str {
        match outcome {
            ObjectOutcome::Refused(error) => error,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn origin(name: &str) -> String {
        format!("ClusterGuardrailPolicy/{name}")
    }

    #[test]
    fn cluster_objects_are_taken_one_by_one_after_the_first_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.yaml"), BASELINE).unwrap();
        let store = PolicyStore::new(vec![dir.path().to_path_buf()]).with_cluster();
        assert_eq!(store.reload(), Some(Ok(1)));
        let outcomes = store.update_objects(vec![
            (origin("strict"), Some(object("strict", "restricted"))),
            (origin("typo"), Some(object("typo", "restrictd"))),
        ]);
        assert_eq!(outcomes[0].1, ObjectOutcome::InForce, "{outcomes:?}");
        let error = refused(&outcomes[1].1);
        assert!(error.contains("ClusterGuardrailPolicy/typo"), "{error}");
        assert!(
            store.current().is_none(),
            "nothing is published before the first list"
        );

        assert_eq!(store.cluster_synced(), Ok(2));
        let loaded = store.current().unwrap();
        assert_eq!((loaded.policies.len(), loaded.objects), (2, 1));

        // A broken update of an object in force keeps its last good version.
        let outcomes = store.update_objects(vec![(origin("strict"), Some(object("strict", "x")))]);
        refused(&outcomes[0].1);
        assert_eq!(store.current().unwrap().objects, 1);

        // A name the files define compiles alone but not with them: refused on its own.
        let outcomes = store.update_objects(vec![
            (origin("baseline"), Some(object("baseline", "restricted"))),
            (origin("typo"), Some(object("typo", "baseline"))),
        ]);
        let error = refused(&outcomes[0].1);
        assert!(error.contains("defined twice"), "{error}");
        assert_eq!(outcomes[1].1, ObjectOutcome::InForce, "{outcomes:?}");
        assert_eq!(store.current().unwrap().policies.len(), 3);

        store.update_objects(vec![(origin("strict"), None)]);
        let loaded = store.current().unwrap();
        assert_eq!((loaded.policies.len(), loaded.objects), (2, 1));
    }
}
