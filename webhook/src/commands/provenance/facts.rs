//! What a provenance predicate says about one build, gathered from GitHub Actions' documented
//! variables or from flags (flags win over the environment), and validated before anything is
//! written: a wrong commit, digest or time is an error naming the flag or variable it came from.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::flags::{BuildFlags, From};

/// GitHub's build type for a top-level workflow run (actions/buildtypes, workflow/v1): the one
/// `actions/attest-build-provenance` writes.
pub const GITHUB_BUILD_TYPE: &str = "https://actions.github.io/buildtypes/workflow/v1";
/// The build type of a build described by flags: docs/provenance.md says what each field means.
pub const GENERIC_BUILD_TYPE: &str = "https://github.com/portcullis-dev/portcullis/blob/main/docs/provenance.md#generic-build-type-v1";
/// The events GitHub's workflow build type covers; it must not describe other runs.
pub const GITHUB_EVENTS: [&str; 4] = ["create", "release", "push", "workflow_dispatch"];

/// One resolved dependency or byproduct: a resource descriptor with a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub name: Option<String>,
    pub uri: Option<String>,
    pub algorithm: String,
    pub hex: String,
}

/// GitHub's context fields the workflow build type records (each only when known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubContext {
    pub event_name: Option<String>,
    pub repository_id: Option<String>,
    pub repository_owner_id: Option<String>,
    pub runner_environment: Option<String>,
}

/// Everything the predicate records.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub build_type: String,
    pub builder_id: String,
    pub builder_version: BTreeMap<String, String>,
    pub invocation_id: Option<String>,
    pub repository: String,
    pub git_ref: Option<String>,
    pub commit: String,
    pub workflow_path: Option<String>,
    pub github: Option<GithubContext>,
    pub dependencies: Vec<Resource>,
    pub build_args: BTreeMap<String, String>,
    pub started_on: Option<String>,
    pub finished_on: Option<String>,
    pub byproducts: Vec<Resource>,
    pub external: Map<String, Value>,
    pub internal: Map<String, Value>,
}

impl Facts {
    /// The facts of this build: from `env` (GitHub Actions' variables) when `flags.from` says
    /// so, else from the flags alone.
    pub fn gather(
        flags: &BuildFlags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let github = match flags.from {
            From::Github => true,
            From::Flags => false,
            From::Auto => env("GITHUB_ACTIONS").as_deref() == Some("true"),
        };
        let mut facts = if github {
            from_github(flags, env)?
        } else {
            from_flags(flags)?
        };
        facts.add_common(flags)?;
        Ok(facts)
    }

    /// Whether the build type is GitHub's, whose external parameters are fixed by its spec.
    pub fn is_github_type(&self) -> bool {
        self.build_type == GITHUB_BUILD_TYPE
    }

    fn add_common(&mut self, flags: &BuildFlags) -> anyhow::Result<()> {
        check_commit(&self.commit)?;
        if !self.repository.contains("://") {
            bail!(
                "repository {:?} is not a URL (e.g. https://github.com/OWNER/REPO)",
                self.repository
            );
        }
        for text in &flags.dependency {
            self.dependencies.push(parse_dependency(text)?);
        }
        for file in &flags.byproduct {
            self.byproducts.push(hash_file(file)?);
        }
        for text in &flags.build_arg {
            let (k, v) = key_value(text, "--build-arg")?;
            self.build_args.insert(k, v);
        }
        for text in &flags.builder_version {
            let (k, v) = key_value(text, "--builder-version")?;
            self.builder_version.insert(k, v);
        }
        self.started_on = flags
            .started_on
            .as_deref()
            .map(|t| timestamp(t, "--started-on"))
            .transpose()?;
        self.finished_on = flags
            .finished_on
            .as_deref()
            .map(|t| timestamp(t, "--finished-on"))
            .transpose()?;
        if let (Some(s), Some(f)) = (&self.started_on, &self.finished_on)
            && seconds(f) < seconds(s)
        {
            bail!("--finished-on {f} is before --started-on {s}");
        }
        let github_type = self.is_github_type();
        for text in &flags.external_parameter {
            if github_type {
                bail!(
                    "--external-parameter {text:?}: GitHub's workflow build type fixes its external \
                     parameters (consumers reject others); record it with --internal-parameter, or \
                     name your own --build-type"
                );
            }
            let (k, v) = json_parameter(text, "--external-parameter", &["workflow", "buildArgs"])?;
            self.external.insert(k, v);
        }
        for text in &flags.internal_parameter {
            let (k, v) = json_parameter(text, "--internal-parameter", &["github", "buildArgs"])?;
            self.internal.insert(k, v);
        }
        Ok(())
    }
}

fn from_flags(flags: &BuildFlags) -> anyhow::Result<Facts> {
    let need = |v: &Option<String>, flag: &str| {
        v.clone().with_context(|| {
            format!("{flag} is required outside GitHub Actions (or pass --from github with its variables set)")
        })
    };
    Ok(Facts {
        build_type: flags
            .build_type
            .clone()
            .unwrap_or_else(|| GENERIC_BUILD_TYPE.to_string()),
        builder_id: need(&flags.builder_id, "--builder-id")?,
        builder_version: BTreeMap::new(),
        invocation_id: flags.invocation_id.clone(),
        repository: need(&flags.repository, "--repository")?,
        git_ref: flags.git_ref.clone(),
        commit: need(&flags.commit, "--commit")?,
        workflow_path: flags.workflow_path.clone(),
        github: None,
        dependencies: Vec::new(),
        build_args: BTreeMap::new(),
        started_on: None,
        finished_on: None,
        byproducts: Vec::new(),
        external: Map::new(),
        internal: Map::new(),
    })
}

fn from_github(flags: &BuildFlags, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Facts> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let need = |name: &str, flag: &str| {
        var(name).with_context(|| {
            format!(
                "{name} is not set: run inside GitHub Actions, pass {flag}, or use --from flags"
            )
        })
    };
    let server = need("GITHUB_SERVER_URL", "--repository")?;
    let slug = need("GITHUB_REPOSITORY", "--repository")?;
    let git_ref = match &flags.git_ref {
        Some(r) => r.clone(),
        None => need("GITHUB_REF", "--ref")?,
    };
    let workflow_ref = need("GITHUB_WORKFLOW_REF", "--workflow-path and --builder-id")?;
    let workflow_path = match &flags.workflow_path {
        Some(p) => p.clone(),
        None => workflow_path(&workflow_ref, &slug)?,
    };
    let github = GithubContext {
        event_name: var("GITHUB_EVENT_NAME"),
        repository_id: var("GITHUB_REPOSITORY_ID"),
        repository_owner_id: var("GITHUB_REPOSITORY_OWNER_ID"),
        runner_environment: var("RUNNER_ENVIRONMENT"),
    };
    let build_type = flags
        .build_type
        .clone()
        .unwrap_or_else(|| GITHUB_BUILD_TYPE.to_string());
    if build_type == GITHUB_BUILD_TYPE {
        let event = github.event_name.as_deref().unwrap_or("");
        if !GITHUB_EVENTS.contains(&event) {
            bail!(
                "this run's event is {:?}: GitHub's workflow build type covers only {} (a pull \
                 request's build is not a release; attest the build of the merge instead, or name \
                 your own --build-type)",
                event,
                GITHUB_EVENTS.join(", ")
            );
        }
    }
    // The spec's builder: the workflow that assembles and signs the provenance.
    let builder_id = flags
        .builder_id
        .clone()
        .unwrap_or_else(|| format!("{server}/{workflow_ref}"));
    let invocation_id = match &flags.invocation_id {
        Some(id) => id.clone(),
        None => format!(
            "{server}/{slug}/actions/runs/{}/attempts/{}",
            need("GITHUB_RUN_ID", "--invocation-id")?,
            var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".to_string())
        ),
    };
    Ok(Facts {
        build_type,
        builder_id,
        builder_version: BTreeMap::new(),
        invocation_id: Some(invocation_id),
        repository: flags
            .repository
            .clone()
            .unwrap_or_else(|| format!("{server}/{slug}")),
        git_ref: Some(git_ref),
        commit: match &flags.commit {
            Some(c) => c.clone(),
            None => need("GITHUB_SHA", "--commit")?,
        },
        workflow_path: Some(workflow_path),
        github: Some(github),
        dependencies: Vec::new(),
        build_args: BTreeMap::new(),
        started_on: None,
        finished_on: None,
        byproducts: Vec::new(),
        external: Map::new(),
        internal: Map::new(),
    })
}

/// The workflow file's path from `GITHUB_WORKFLOW_REF` (`OWNER/REPO/PATH@REF`): the path and
/// the ref may both hold `@`, so the ref is cut at the last one.
fn workflow_path(workflow_ref: &str, slug: &str) -> anyhow::Result<String> {
    let rest = workflow_ref
        .strip_prefix(slug)
        .and_then(|r| r.strip_prefix('/'));
    match rest.and_then(|r| r.rsplit_once('@')) {
        Some((path, _)) if !path.is_empty() => Ok(path.to_string()),
        _ => bail!("GITHUB_WORKFLOW_REF {workflow_ref:?} is not {slug}/PATH@REF"),
    }
}

fn check_commit(commit: &str) -> anyhow::Result<()> {
    if matches!(commit.len(), 40 | 64) && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        bail!("commit {commit:?} is not a git commit id (40 or 64 hex digits)")
    }
}

/// `[NAME=]URI@ALG:HEX`, e.g. `RUST_IMAGE=oci://docker.io/library/rust@sha256:…`.
pub fn parse_dependency(text: &str) -> anyhow::Result<Resource> {
    let wrong = || format!("--dependency {text:?}: expected [NAME=]URI@sha256:HEX");
    let (name, rest) = match text.split_once('=') {
        Some((n, r))
            if !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) =>
        {
            (Some(n.to_string()), r)
        }
        _ => (None, text),
    };
    let (uri, digest) = rest.rsplit_once('@').with_context(wrong)?;
    if uri.is_empty() {
        bail!(wrong());
    }
    let (algorithm, hex) = parse_digest(digest).with_context(wrong)?;
    Ok(Resource {
        name,
        uri: Some(uri.to_string()),
        algorithm,
        hex,
    })
}

/// `sha256:HEX` (or sha512, sha1) with the right length, lower-case.
pub fn parse_digest(digest: &str) -> anyhow::Result<(String, String)> {
    let (algorithm, hex) = digest.split_once(':').context("a digest is ALG:HEX")?;
    let len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        "sha1" => 40,
        other => bail!("digest algorithm {other:?} is not sha256, sha512 or sha1"),
    };
    if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{algorithm} digest {hex:?} is not {len} hex digits");
    }
    Ok((algorithm.to_string(), hex.to_ascii_lowercase()))
}

/// A file's sha256, named by its file name.
pub fn hash_file(path: &Path) -> anyhow::Result<Resource> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(Resource {
        name,
        uri: None,
        algorithm: "sha256".to_string(),
        hex: hex::encode(Sha256::digest(&bytes)),
    })
}

fn key_value(text: &str, flag: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("{flag} {text:?}: expected KEY=VALUE"),
    }
}

fn json_parameter(text: &str, flag: &str, reserved: &[&str]) -> anyhow::Result<(String, Value)> {
    let (k, v) = key_value(text, flag)?;
    if reserved.contains(&k.as_str()) {
        bail!("{flag} {k}: that key is written from its own flags");
    }
    let value = serde_json::from_str(&v).with_context(|| {
        format!("{flag} {k}: the value is not JSON (quote strings: {k}='\"text\"')")
    })?;
    Ok((k, value))
}

fn timestamp(text: &str, flag: &str) -> anyhow::Result<String> {
    match portcullis_verifier::keyless::parse_rfc3339(text) {
        Some(_) => Ok(text.to_string()),
        None => bail!("{flag} {text:?} is not an RFC 3339 time (e.g. 2026-12-03T10:00:00Z)"),
    }
}

fn seconds(text: &str) -> i64 {
    portcullis_verifier::keyless::parse_rfc3339(text).unwrap_or_default()
}
