//! The keyless flags shared by `verify` and `verify-blob`, named as cosign names them:
//! `--certificate-identity[-regexp]`, `--certificate-oidc-issuer[-regexp]`, the
//! `--certificate-github-workflow-*` claims, and `--trusted-root`, turned into a
//! [`KeylessRequirement`].
//!
//! Like cosign, an identity and an issuer are both required, and regular expressions are
//! unanchored (write `^…$`). Unlike cosign, nothing is fetched: the trusted root is a file the
//! operator supplies (a Sigstore `trusted_root.json`), so verification works offline and the
//! trust it grants is exactly what that file says.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use portcullis_verifier::keyless::{
    Claim, Identity, KeylessRequirement, StringMatcher, TrustedRoot, TrustedRootFile,
};

/// Who must have signed (keyless), and what to trust.
#[derive(Debug, Clone, Default, Args)]
pub struct IdentityArgs {
    /// Exact certificate identity (SAN e-mail or URI) of the signer.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "certificate_identity_regexp"
    )]
    pub certificate_identity: Option<String>,
    /// Certificate identity as a regular expression (unanchored, like cosign's).
    #[arg(long, value_name = "REGEX")]
    pub certificate_identity_regexp: Option<String>,
    /// Exact OIDC issuer in the certificate (e.g. https://token.actions.githubusercontent.com).
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "certificate_oidc_issuer_regexp"
    )]
    pub certificate_oidc_issuer: Option<String>,
    /// OIDC issuer as a regular expression (unanchored).
    #[arg(long, value_name = "REGEX")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// GitHub workflow trigger claim (e.g. push).
    #[arg(long, value_name = "TEXT")]
    pub certificate_github_workflow_trigger: Option<String>,
    /// GitHub workflow commit SHA claim.
    #[arg(long, value_name = "SHA")]
    pub certificate_github_workflow_sha: Option<String>,
    /// GitHub workflow name claim.
    #[arg(long, value_name = "TEXT")]
    pub certificate_github_workflow_name: Option<String>,
    /// GitHub workflow repository claim (`org/repo`).
    #[arg(long, value_name = "REPO")]
    pub certificate_github_workflow_repository: Option<String>,
    /// GitHub workflow git ref claim (e.g. refs/tags/v1.2.3).
    #[arg(long, value_name = "REF")]
    pub certificate_github_workflow_ref: Option<String>,
    /// Sigstore trusted_root.json: Fulcio CAs and Rekor keys to trust (required for keyless).
    #[arg(long, env = "PORTCULLIS_TRUSTED_ROOT", value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
}

impl IdentityArgs {
    /// Whether keyless verification was asked for (an identity flag is present).
    pub fn requested(&self) -> bool {
        self.certificate_identity.is_some() || self.certificate_identity_regexp.is_some()
    }

    /// Reads the trusted root, if one was given.
    pub fn read_trusted_root(&self) -> anyhow::Result<Option<TrustedRoot>> {
        self.trusted_root
            .as_deref()
            .map(|p| TrustedRoot::from_file(p).context("--trusted-root"))
            .transpose()
    }

    /// The requirement these flags describe; a missing issuer or trusted root is an error.
    pub fn requirement(&self) -> anyhow::Result<KeylessRequirement> {
        let subject = matcher(
            "certificate-identity",
            &self.certificate_identity,
            &self.certificate_identity_regexp,
        )?;
        let issuer = matcher(
            "certificate-oidc-issuer",
            &self.certificate_oidc_issuer,
            &self.certificate_oidc_issuer_regexp,
        )?;
        let Some(root) = self.read_trusted_root()? else {
            bail!(
                "keyless verification needs --trusted-root FILE (a Sigstore trusted_root.json); nothing is fetched online"
            );
        };
        let mut identity = Identity::new(subject, Some(issuer));
        for (claim, value) in [
            (
                Claim::GithubWorkflowTrigger,
                &self.certificate_github_workflow_trigger,
            ),
            (
                Claim::GithubWorkflowSha,
                &self.certificate_github_workflow_sha,
            ),
            (
                Claim::GithubWorkflowName,
                &self.certificate_github_workflow_name,
            ),
            (
                Claim::GithubWorkflowRepository,
                &self.certificate_github_workflow_repository,
            ),
            (
                Claim::GithubWorkflowRef,
                &self.certificate_github_workflow_ref,
            ),
        ] {
            if let Some(v) = value {
                identity = identity.with_claim(claim, StringMatcher::exact(v.as_str()));
            }
        }
        Ok(KeylessRequirement {
            trusted_root: Arc::new(root),
            identities: vec![identity],
            attestations: Vec::new(),
        })
    }
}

/// `--FLAG` (exact) or else `--FLAG-regexp`; a flag pair with neither set is an error naming both.
fn matcher(
    flag: &str,
    exact: &Option<String>,
    regexp: &Option<String>,
) -> anyhow::Result<StringMatcher> {
    match (exact, regexp) {
        (Some(exact), _) => Ok(StringMatcher::exact(exact.as_str())),
        (None, Some(re)) => StringMatcher::regex(re).with_context(|| format!("--{flag}-regexp")),
        (None, None) => bail!("keyless verification needs --{flag} or --{flag}-regexp"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_issuer_and_root_are_all_required() {
        let mut args = IdentityArgs {
            certificate_identity: Some("a@b.c".into()),
            ..IdentityArgs::default()
        };
        assert!(args.requested());
        let e = args.requirement().unwrap_err().to_string();
        assert!(e.contains("--certificate-oidc-issuer"), "{e}");
        args.certificate_oidc_issuer_regexp = Some("(".into());
        let e = format!("{:#}", args.requirement().unwrap_err());
        assert!(e.contains("--certificate-oidc-issuer-regexp"), "{e}");
        args.certificate_oidc_issuer_regexp = Some("^https://".into());
        let e = args.requirement().unwrap_err().to_string();
        assert!(e.contains("--trusted-root"), "{e}");
        assert!(!IdentityArgs::default().requested());
    }
}
