//! `portcullis verify` and `portcullis verify-attestation`: check an image against trusted keys
//! (and attestation conditions) straight from the registry, like `cosign verify --key`; or, with
//! `--certificate-identity … --certificate-oidc-issuer … --trusted-root FILE` instead of `--key`,
//! its keyless signatures and attestations (Fulcio certificate + Rekor proof, checked offline)
//! like `cosign verify[-attestation] --certificate-identity`, found in cosign's classic
//! `.sig`/`.att` tags or as Sigstore bundles attached as OCI referrers.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};
use portcullis_verifier::keyless::verify_keyless_digest;
use portcullis_verifier::{
    AttestationRequirement, Condition, KeyRequirement, Verified, predicate_type_uri, verify_digest,
};

use super::common::{RegistryArgs, parse_image, read_public_keys};
use super::keyless::IdentityArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Trusted public key (PEM); repeat for several keys. Or verify keyless signatures instead,
    /// with --certificate-identity[-regexp], --certificate-oidc-issuer[-regexp], --trusted-root.
    #[arg(
        long = "key",
        value_name = "FILE",
        required_unless_present_any = ["certificate_identity", "certificate_identity_regexp"],
        conflicts_with_all = ["certificate_identity", "certificate_identity_regexp"]
    )]
    pub keys: Vec<PathBuf>,
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// How many distinct trusted keys must have signed.
    #[arg(long, default_value_t = 1)]
    pub threshold: usize,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Accepted for cosign compatibility: key-based verification consults no log.
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    #[command(flatten)]
    pub verify: VerifyArgs,
    /// Predicate type: slsaprovenance1, slsaprovenance, cyclonedx, spdxjson, vuln, custom, or a URI.
    #[arg(long = "type", default_value = "custom")]
    pub predicate_type: String,
    /// 'JSONPATH OP VALUE', 'count(JSONPATH) OP NUMBER' or 'age(JSONPATH) OP DURATION' (7d) on the
    /// predicate, OP one of ==, !=, in, =~, exists, not-exists, <, <=, >, >= (docs/conditions.md).
    #[arg(long = "condition", value_name = "COND")]
    pub conditions: Vec<String>,
}

impl VerifyArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        self.check(Vec::new()).await
    }

    async fn check(self, attestations: Vec<AttestationRequirement>) -> anyhow::Result<()> {
        if self.identity.requested() {
            return self.check_keyless(attestations).await;
        }
        if self.threshold == 0 || self.threshold > self.keys.len() {
            bail!(
                "--threshold {} needs between 1 and {} (the number of --key)",
                self.threshold,
                self.keys.len()
            );
        }
        let image = parse_image(&self.image)?;
        let req = KeyRequirement {
            keys: read_public_keys(&self.keys)?,
            threshold: self.threshold,
            attestations,
            format: Default::default(),
        };
        let client = self.registry.client(&image)?;
        let deadline = self.registry.deadline();
        let budget = self.registry.timeout;
        let outcome = tokio::time::timeout_at(deadline, async {
            let digest = client.resolve(&image, deadline).await?;
            Ok::<_, anyhow::Error>(verify_digest(&client, &image, &digest, &req, deadline).await?)
        })
        .await
        .map_err(|_| anyhow::anyhow!("{image}: verification did not finish within {budget:?}"))??;
        print(&image.to_string(), &outcome, self.output, false)
    }

    /// Keyless: at least one signature (and each attestation) by the identity, certificate and
    /// log proof checked offline.
    async fn check_keyless(self, attestations: Vec<AttestationRequirement>) -> anyhow::Result<()> {
        if self.insecure_ignore_tlog {
            bail!(
                "--insecure-ignore-tlog cannot be used with keyless verification: the log's proof is what dates the certificate"
            );
        }
        let mut req = self.identity.requirement()?;
        req.attestations = attestations;
        let image = parse_image(&self.image)?;
        let client = self.registry.client(&image)?;
        let deadline = self.registry.deadline();
        let budget = self.registry.timeout;
        let outcome = tokio::time::timeout_at(deadline, async {
            let digest = client.resolve(&image, deadline).await?;
            Ok::<_, anyhow::Error>(
                verify_keyless_digest(&client, &image, &digest, &req, deadline).await?,
            )
        })
        .await
        .map_err(|_| anyhow::anyhow!("{image}: verification did not finish within {budget:?}"))??;
        print(&image.to_string(), &outcome, self.output, true)
    }
}

impl VerifyAttestationArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let conditions = self
            .conditions
            .iter()
            .map(|c| Condition::parse(c))
            .collect::<Result<Vec<_>, _>>()?;
        let want = AttestationRequirement {
            predicate_type: predicate_type_uri(&self.predicate_type).to_string(),
            conditions,
        };
        self.verify.check(vec![want]).await
    }
}

/// Prints a verdict; keyless signers (`subject (issuer)`) are shown whole, key ids shortened.
fn print(image: &str, v: &Verified, output: Output, keyless: bool) -> anyhow::Result<()> {
    match output {
        Output::Json => {
            let mut doc = serde_json::to_value(v)?;
            doc["image"] = image.into();
            println!("{}", serde_json::to_string(&doc)?);
        }
        Output::Text => {
            let keys: Vec<&str> = v
                .key_ids
                .iter()
                .map(|k| if keyless { k } else { &k[..12.min(k.len())] })
                .collect();
            // A reference given by digest already names it.
            let named = if image.contains('@') {
                image.to_string()
            } else {
                format!("{image}@{}", v.digest)
            };
            println!("Verified {named} signed by {}", keys.join(", "));
            for a in &v.attestations {
                println!(
                    "  attestation {} ({} condition(s) met)",
                    a.predicate_type,
                    a.conditions.len()
                );
                for c in &a.conditions {
                    println!("    ✓ {c}");
                }
            }
        }
    }
    Ok(())
}
