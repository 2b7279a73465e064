//! `portcullis verify-blob --bundle FILE ARTIFACT`: check a Sigstore bundle (v0.1–v0.3, or
//! cosign's legacy `--bundle` output) for a file or a `sha256:HEX` digest, offline, like
//! `cosign verify-blob --bundle`.
//!
//! Keyless (`--certificate-identity[-regexp] --certificate-oidc-issuer[-regexp] --trusted-root`)
//! checks the certificate chain, identity and log proof; with `--key` the signature is checked
//! with that key, and the bundle's log entry against `--trusted-root` when given (skipping it
//! needs `--insecure-ignore-tlog`, by name). DSSE bundles are accepted when the artifact is one of
//! the in-toto subjects (what `verify-blob-attestation` does in cosign). Exits 0 only when
//! verified; otherwise one line saying why.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use portcullis_verifier::keyless::{
    Bundle, VerificationKey, VerifiedBundle, rfc3339, verify_bundle, verify_bundle_with_key,
};
use sha2::{Digest as _, Sha256};

use super::keyless::IdentityArgs;
use super::verify::Output;

#[derive(Debug, Args)]
pub struct VerifyBlobArgs {
    /// The Sigstore bundle (or cosign legacy bundle) JSON file.
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// Public key (PEM) the bundle was signed with, instead of keyless flags.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["certificate_identity", "certificate_identity_regexp"],
        conflicts_with_all = ["certificate_identity", "certificate_identity_regexp"]
    )]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// With --key and no --trusted-root: do not check the bundle's transparency-log entry.
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// The artifact file, or its digest as sha256:HEX.
    pub artifact: String,
}

impl VerifyBlobArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let digest = artifact_digest(&self.artifact)?;
        let text = std::fs::read(&self.bundle)
            .with_context(|| format!("reading bundle {}", self.bundle.display()))?;
        let bundle = Bundle::from_json(&text)
            .with_context(|| format!("bundle {}", self.bundle.display()))?;
        let verified = match &self.key {
            None => {
                let req = self.identity.requirement()?;
                verify_bundle(&bundle, &digest, &req)
            }
            Some(path) => {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("reading public key {}", path.display()))?;
                let key = VerificationKey::from_pem(&pem)
                    .with_context(|| format!("public key {}", path.display()))?;
                let root = self.identity.read_trusted_root()?;
                if root.is_none() && !self.insecure_ignore_tlog {
                    bail!(
                        "give --trusted-root FILE to check the bundle's log entry, or --insecure-ignore-tlog to skip it"
                    );
                }
                verify_bundle_with_key(&bundle, &digest, &key, root.as_ref())
            }
        }
        .with_context(|| format!("{}: bundle {} rejected", self.artifact, self.bundle.display()))?;
        print(&self.artifact, &verified, self.output)
    }
}

/// SHA-256 of the artifact file, or the digest given as `sha256:HEX`.
fn artifact_digest(artifact: &str) -> anyhow::Result<[u8; 32]> {
    if let Some(hex_digest) = artifact.strip_prefix("sha256:") {
        let bytes = hex::decode(hex_digest)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        return bytes.with_context(|| format!("{artifact:?} is not sha256: and 64 hex digits"));
    }
    let bytes = std::fs::read(artifact).with_context(|| format!("reading artifact {artifact}"))?;
    Ok(Sha256::digest(bytes).into())
}

fn print(artifact: &str, v: &VerifiedBundle, output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => {
            let mut doc = serde_json::to_value(v)?;
            doc["artifact"] = artifact.into();
            println!("{}", serde_json::to_string(&doc)?);
        }
        Output::Text => {
            let signer = if v.identity.subjects.is_empty() {
                "the given key".to_string()
            } else {
                v.identity.to_string()
            };
            let logged = match (v.log.is_empty(), v.timestamps.first()) {
                (true, _) => "transparency log not checked".to_string(),
                // Rekor v2: the log proves inclusion only, the timestamp the time.
                (false, Some(t)) if v.integrated_time == 0 => format!(
                    "logged by {} (index {}), timestamped at {} by {}",
                    v.log,
                    v.log_index,
                    rfc3339(t.gen_time),
                    t.authority
                ),
                (false, _) => format!(
                    "logged by {} at {} (index {})",
                    v.log,
                    rfc3339(v.integrated_time),
                    v.log_index
                ),
            };
            println!("Verified OK: {artifact} signed by {signer}; {logged}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_from_text_or_file() {
        let hex64 = "ab".repeat(32);
        assert_eq!(
            artifact_digest(&format!("sha256:{hex64}")).unwrap(),
            [0xab; 32]
        );
        assert!(artifact_digest("sha256:abc").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"hello").unwrap();
        let d = artifact_digest(path.to_str().unwrap()).unwrap();
        assert_eq!(
            hex::encode(d),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(artifact_digest("/no/such/file").is_err());
    }
}
