//! `portcullis sign` and `portcullis attest`: push a signature or a signed in-toto attestation
//! for the digest an image reference resolves to. By default as cosign 3 does (`--bundle-format
//! new`): a Sigstore bundle stored as an OCI referrer of the image. `--bundle-format classic`
//! writes cosign's classic `.sig`/`.att` tags, for consumers still on cosign 2. What `attest`
//! attaches from an SBOM or a scan report is built by `super::predicate`.

use std::path::PathBuf;

use anyhow::bail;
use clap::{ArgGroup, Args, ValueEnum};
use portcullis_verifier::cosign::bundle_write::{attest_image_bundle, sign_image_bundle};
use portcullis_verifier::cosign::sign::{attest_image, sign_image};
use portcullis_verifier::predicate_type_uri;

use super::common::{RegistryArgs, parse_image, read_private_key};
use super::predicate::{ReportArgs, to_attach};
use super::provenance::{self, facts::Facts, flags::BuildFlags, predicate::SLSA_V1};

/// Flags `cosign sign` / `cosign attest` scripts pass, accepted so those scripts run unchanged.
#[derive(Debug, Args)]
pub struct CosignCompat {
    /// Accepted for cosign compatibility: portcullis never asks for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Accepted for cosign compatibility: key-based signing uploads nothing to a log.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub tlog_upload: Option<bool>,
    /// `classic`: cosign's `sha256-<hex>.sig`/`.att` tags (read by cosign 2 and 3); `new`: a
    /// Sigstore bundle stored as an OCI referrer (cosign 3's format; cosign 2 does not read it).
    #[arg(
        long,
        env = "PORTCULLIS_BUNDLE_FORMAT",
        value_enum,
        default_value_t = BundleFormat::New
    )]
    pub bundle_format: BundleFormat,
}

/// Where and how a signature is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BundleFormat {
    New,
    Classic,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Encrypted private key (cosign format); password from PORTCULLIS_PASSWORD/COSIGN_PASSWORD.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub cosign: CosignCompat,
    pub image: String,
}

// What to attach: exactly one of --predicate, --provenance, --sbom, --vuln.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("attach")
        .required(true)
        .args(["predicate", "provenance", "sbom", "vuln"])
))]
pub struct AttestArgs {
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The predicate JSON file, attached as it is.
    #[arg(long, value_name = "FILE")]
    pub predicate: Option<PathBuf>,
    /// slsaprovenance1, slsaprovenance, cyclonedx, spdxjson, spdx, vuln, custom (the default),
    /// or a URI. With --provenance, --sbom or --vuln: optional, must match what they attach.
    #[arg(long = "type")]
    pub predicate_type: Option<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Write this build's SLSA v1 provenance (the flags below; on GitHub Actions its
    /// variables) and attach it, as `portcullis provenance` would write it.
    #[arg(long)]
    pub provenance: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub cosign: CosignCompat,
    #[command(flatten, next_help_heading = "Provenance (with --provenance)")]
    pub build: BuildFlags,
    pub image: String,
}

impl SignArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let image = parse_image(&self.image)?;
        let key = read_private_key(&self.key)?;
        let client = self.registry.client(&image)?;
        let deadline = self.registry.deadline();
        let done = match self.cosign.bundle_format {
            BundleFormat::Classic => sign_image(&client, &image, &key, deadline).await?,
            BundleFormat::New => sign_image_bundle(&client, &image, &key, deadline).await?,
        };
        report("Signed", &done);
        Ok(())
    }
}

impl AttestArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let (uri, predicate) = self.predicate()?;
        let image = parse_image(&self.image)?;
        let key = read_private_key(&self.key)?;
        let uri = uri.as_str();
        let client = self.registry.client(&image)?;
        let deadline = self.registry.deadline();
        let done = match self.cosign.bundle_format {
            BundleFormat::Classic => {
                attest_image(&client, &image, &key, uri, predicate, deadline).await?
            }
            BundleFormat::New => {
                attest_image_bundle(&client, &image, &key, uri, predicate, deadline).await?
            }
        };
        report("Attested", &done);
        Ok(())
    }
}

impl AttestArgs {
    /// The predicate type URI and the predicate: this build's provenance, or the file given,
    /// or one built from an SBOM or a scan report ([`to_attach`]).
    fn predicate(&self) -> anyhow::Result<(String, serde_json::Value)> {
        self.report.times_only_with_vuln()?;
        let type_uri = self.predicate_type.as_deref().map(predicate_type_uri);
        if self.provenance {
            if type_uri.is_some_and(|t| t != SLSA_V1) {
                bail!(
                    "--provenance attaches {SLSA_V1}, not --type {:?}",
                    self.predicate_type.as_deref().unwrap_or_default()
                );
            }
            let facts = Facts::gather(&self.build, &|name| std::env::var(name).ok())?;
            return Ok((
                SLSA_V1.to_string(),
                provenance::predicate::predicate(&facts),
            ));
        }
        if !self.build.is_empty() {
            bail!(
                "the provenance flags (--repository, --commit, --build-arg, …) need --provenance"
            );
        }
        to_attach(
            self.predicate.as_deref(),
            self.predicate_type.as_deref(),
            &self.report,
        )
    }
}

fn report(verb: &str, done: &portcullis_verifier::cosign::sign::Attached) {
    let note = if done.added { "" } else { " (already present)" };
    eprintln!("{verb} {} → {}{note}", done.digest, done.artifact);
}
