//! The flags that describe a build, shared by `portcullis provenance` and
//! `portcullis attest --provenance`. On GitHub Actions every required fact comes from the
//! documented `GITHUB_*`/`RUNNER_*` variables; elsewhere the flags carry them.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Where the facts of the build come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum From {
    /// GitHub Actions' variables when GITHUB_ACTIONS=true, else the flags.
    #[default]
    Auto,
    /// GitHub Actions' variables (flags override single facts).
    Github,
    /// The flags only: any other CI system, or a developer machine.
    Flags,
}

#[derive(Debug, Clone, Default, Args)]
pub struct BuildFlags {
    /// Where the build's facts come from.
    #[arg(long, value_enum, default_value_t = From::Auto, value_name = "SOURCE")]
    pub from: From,
    /// The build type URI (default: GitHub's workflow build type on GitHub, else portcullis'
    /// generic one, docs/provenance.md).
    #[arg(long, value_name = "URI")]
    pub build_type: Option<String>,
    /// Who ran the build and vouches for this provenance (runDetails.builder.id).
    #[arg(long, value_name = "URI")]
    pub builder_id: Option<String>,
    /// A version of the builder, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub builder_version: Vec<String>,
    /// This run's id (runDetails.metadata.invocationId), e.g. the CI job's URL.
    #[arg(long, value_name = "ID")]
    pub invocation_id: Option<String>,
    /// The source repository URL (e.g. https://github.com/OWNER/REPO).
    #[arg(long, value_name = "URL")]
    pub repository: Option<String>,
    /// The git ref that was built (e.g. refs/tags/v1.2.0).
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// The git commit that was built (40 or 64 hex digits).
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// The workflow or pipeline file that ran the build, relative to the repository.
    #[arg(long, value_name = "PATH")]
    pub workflow_path: Option<String>,
    /// A resolved dependency, [NAME=]URI@sha256:HEX: a base image by digest, a lock file
    /// (repeatable).
    #[arg(long, value_name = "[NAME=]URI@DIGEST")]
    pub dependency: Vec<String>,
    /// A build argument, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    /// When the build started (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub started_on: Option<String>,
    /// When the build finished (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub finished_on: Option<String>,
    /// A file the build also produced (its sha256 is recorded; repeatable).
    #[arg(long, value_name = "FILE")]
    pub byproduct: Vec<PathBuf>,
    /// An extra external parameter, KEY=JSON (repeatable; not with GitHub's build type).
    #[arg(long, value_name = "KEY=JSON")]
    pub external_parameter: Vec<String>,
    /// An extra internal parameter, KEY=JSON (repeatable).
    #[arg(long, value_name = "KEY=JSON")]
    pub internal_parameter: Vec<String>,
}

impl BuildFlags {
    /// Whether any build fact was given (`attest` refuses them without `--provenance`).
    pub fn is_empty(&self) -> bool {
        self.from == From::Auto
            && self.build_type.is_none()
            && self.builder_id.is_none()
            && self.builder_version.is_empty()
            && self.invocation_id.is_none()
            && self.repository.is_none()
            && self.git_ref.is_none()
            && self.commit.is_none()
            && self.workflow_path.is_none()
            && self.dependency.is_empty()
            && self.build_arg.is_empty()
            && self.started_on.is_none()
            && self.finished_on.is_none()
            && self.byproduct.is_empty()
            && self.external_parameter.is_empty()
            && self.internal_parameter.is_empty()
    }
}
