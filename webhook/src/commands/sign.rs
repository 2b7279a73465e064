//! `portcullis sign` and `portcullis attest`: push a signature or a signed in-toto attestation
//! for the digest an image reference resolves to. By default as cosign 3 does (`--bundle-format
//! new`): a Sigstore bundle stored as an OCI referrer of the image. `--bundle-format classic`
//! writes cosign's classic `.sig`/`.att` tags, for consumers still on cosign 2.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use portcullis_verifier::cosign::bundle_write::{attest_image_bundle, sign_image_bundle};
use portcullis_verifier::cosign::sign::{attest_image, sign_image};
use portcullis_verifier::predicate_type_uri;

use super::common::{RegistryArgs, parse_image, read_private_key};

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

#[derive(Debug, Args)]
pub struct AttestArgs {
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The predicate JSON file.
    #[arg(long, value_name = "FILE")]
    pub predicate: PathBuf,
    /// slsaprovenance1, slsaprovenance, cyclonedx, spdxjson, spdx, vuln, custom, or a URI.
    #[arg(long = "type", default_value = "custom")]
    pub predicate_type: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub cosign: CosignCompat,
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
        let image = parse_image(&self.image)?;
        let key = read_private_key(&self.key)?;
        let text = std::fs::read_to_string(&self.predicate)
            .with_context(|| format!("reading predicate {}", self.predicate.display()))?;
        let predicate: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("predicate {} is not JSON", self.predicate.display()))?;
        let uri = predicate_type_uri(&self.predicate_type);
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

fn report(verb: &str, done: &portcullis_verifier::cosign::sign::Attached) {
    let note = if done.added { "" } else { " (already present)" };
    eprintln!("{verb} {} → {}{note}", done.digest, done.artifact);
}
