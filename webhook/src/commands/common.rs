//! Flags and helpers shared by the subcommands: registry access, timeouts, keys, and the policy
//! set `evaluate` and `audit` load.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use portcullis_policies::NoMatch;

use crate::duration::clap_duration;
use crate::mirrors::MirrorArgs;
use crate::serve::config::{NamedPath, named_path};
use crate::serve::decide::{NamedSource, Policies, SourceFile};
use crate::serve::policy::{read_sources, read_trusted_roots};
use portcullis_verifier::{
    Credentials, ImageRef, PrivateKey, PublicKey, RegistryClient, RegistryConfig,
};

/// How to reach the registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Talk plain HTTP to the image's registry (like cosign's flag of the same name).
    #[arg(long, env = "PORTCULLIS_ALLOW_HTTP_REGISTRY")]
    pub allow_http_registry: bool,
    /// Docker config.json (or Kubernetes .dockerconfigjson) with registry credentials.
    #[arg(long, env = "PORTCULLIS_REGISTRY_CONFIG", value_name = "FILE")]
    pub registry_config: Option<PathBuf>,
    #[clap(flatten)]
    pub mirrors: MirrorArgs,
    /// Give up after this long (e.g. 30s, 500ms, 2m).
    #[arg(long, env = "PORTCULLIS_TIMEOUT", default_value = "30s", value_parser = clap_duration)]
    pub timeout: Duration,
}

impl RegistryArgs {
    pub fn client(&self, image: &ImageRef) -> anyhow::Result<RegistryClient> {
        self.client_for(&[image.registry()])
    }

    /// A client for images on `registries` (plain HTTP to them, or to their mirrors, when the
    /// flag allows it).
    pub fn client_for(&self, registries: &[&str]) -> anyhow::Result<RegistryClient> {
        let credentials = match &self.registry_config {
            Some(path) => Credentials::from_file(path)?,
            None => Credentials::default(),
        };
        let insecure = if self.allow_http_registry {
            let mirrors = self
                .mirrors
                .registry_mirrors
                .iter()
                .filter(|m| registries.contains(&m.registry.as_str()))
                .map(|m| m.host.as_str());
            registries
                .iter()
                .copied()
                .chain(mirrors)
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        Ok(RegistryClient::new(RegistryConfig {
            insecure,
            credentials,
            mirrors: self.mirrors.registry_mirrors.clone(),
            ..RegistryConfig::default()
        })?)
    }

    pub fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.timeout
    }
}

/// The policy set to evaluate against, as `evaluate` and `audit` take it.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Policy file or directory of *.yaml policies; repeatable. Needed unless `audit
    /// --cluster-policies` reads the cluster's.
    #[arg(long = "policy", value_name = "FILE|DIR")]
    pub policies: Vec<PathBuf>,
    /// A Sigstore `trusted_root.json` for keyless authorities naming NAME; repeatable.
    #[arg(long = "trusted-root", value_name = "NAME=FILE", value_parser = named_path)]
    pub trusted_roots: Vec<NamedPath>,
    /// Namespaces where PolicyExceptions count (`*`: every namespace), as `portcullis serve
    /// --exception-namespaces`. Unset: no exception counts.
    #[arg(long, value_name = "NAMESPACE", value_delimiter = ',')]
    pub exception_namespaces: Vec<String>,
}

impl PolicyArgs {
    /// Reads and parses the policies with their trusted roots; images no image policy covers
    /// are decided by `no_match`.
    pub fn load(&self, no_match: NoMatch) -> anyhow::Result<Policies> {
        Ok(self.load_fingerprinted(no_match)?.0)
    }

    /// [`Self::load`], with the sha256 of what was read: over the sorted sha256s of each policy
    /// file's and trusted root's content (a root with its name), the `--no-match` setting and
    /// any `--exception-namespaces`, so that the same policies elsewhere, or in another order,
    /// have the same fingerprint.
    pub fn load_fingerprinted(&self, no_match: NoMatch) -> anyhow::Result<(Policies, String)> {
        anyhow::ensure!(
            !self.policies.is_empty(),
            "no policies: give --policy FILE|DIR (repeatable)"
        );
        let files = read_sources(&self.policies)?;
        let roots = read_trusted_roots(&self.trusted_roots)?;
        let fingerprint = self.fingerprint(&files, &roots, no_match, Vec::new());
        let policies = Policies::parse_with_roots(&files, &roots)?
            .with_no_match(no_match)
            .with_exception_namespaces(&self.exception_namespaces);
        Ok((policies, fingerprint))
    }

    /// The fingerprint of [`Self::load_fingerprinted`], with `more` parts (cluster objects).
    pub fn fingerprint(
        &self,
        files: &[SourceFile],
        roots: &[NamedSource],
        no_match: NoMatch,
        more: Vec<String>,
    ) -> String {
        let mut parts: Vec<String> = files
            .iter()
            .map(|f| sha256_hex(f.text.as_bytes()))
            .chain(
                roots
                    .iter()
                    .map(|r| format!("{}={}", r.name, sha256_hex(r.file.text.as_bytes()))),
            )
            .chain([format!("no-match={no_match}")])
            .chain((!self.exception_namespaces.is_empty()).then(|| {
                format!(
                    "exception-namespaces={}",
                    self.exception_namespaces.join(",")
                )
            }))
            .chain(more)
            .collect();
        parts.sort_unstable();
        sha256_hex(parts.join("\n").as_bytes())
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

/// The exit status of `evaluate` and `audit`: 2 for bad input or usage (the error on standard
/// error), 1 when the run `failed` (denied, or `--fail-on` met), 0 otherwise.
pub fn exit_status(failed: anyhow::Result<bool>) -> ExitCode {
    match failed {
        Ok(true) => ExitCode::from(1),
        Ok(false) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(2)
        }
    }
}

pub fn parse_image(text: &str) -> anyhow::Result<ImageRef> {
    text.parse::<ImageRef>().map_err(anyhow::Error::from)
}

/// The key password from `PORTCULLIS_PASSWORD` or `COSIGN_PASSWORD` (empty is allowed).
pub fn password() -> anyhow::Result<Vec<u8>> {
    for var in ["PORTCULLIS_PASSWORD", "COSIGN_PASSWORD"] {
        if let Ok(p) = std::env::var(var) {
            return Ok(p.into_bytes());
        }
    }
    bail!("set PORTCULLIS_PASSWORD (or COSIGN_PASSWORD) to the key's password")
}

pub fn read_private_key(path: &Path) -> anyhow::Result<PrivateKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading private key {}", path.display()))?;
    PrivateKey::from_pem(&pem, &password()?)
        .with_context(|| format!("private key {}", path.display()))
}

pub fn read_public_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<PublicKey>> {
    if paths.is_empty() {
        bail!("no --key given: name at least one trusted public key");
    }
    paths
        .iter()
        .map(|p| {
            let pem = std::fs::read_to_string(p)
                .with_context(|| format!("reading public key {}", p.display()))?;
            Ok(PublicKey::from_pem(&pem, &p.display().to_string())?)
        })
        .collect()
}
