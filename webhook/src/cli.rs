//! Command-line entry point: one subcommand per capability; every server flag is also an env
//! var under `PORTCULLIS_`. Failures print one line on stderr and exit non-zero.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::audit::AuditArgs;
use crate::commands::evaluate::EvaluateArgs;
use crate::commands::keygen::KeygenArgs;
use crate::commands::predicate::PredicateArgs;
use crate::commands::provenance::ProvenanceArgs;
use crate::commands::sign::{AttestArgs, SignArgs};
use crate::commands::verify::{VerifyArgs, VerifyAttestationArgs};
use crate::commands::verify_blob::VerifyBlobArgs;
use crate::commands::version::VersionArgs;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Kubernetes admission webhook and supply-chain verifier"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the admission webhook server.
    Serve(crate::serve::ServeArgs),
    /// Evaluate manifests against policies offline (exit 0 allowed, 1 denied, 2 bad input).
    Evaluate(EvaluateArgs),
    /// Audit manifests against policies, read-only: results by checklist control (exit 1 only
    /// with --fail-on, 2 bad input).
    Audit(AuditArgs),
    /// Generate a key pair (cosign-compatible encrypted PEM).
    Keygen(KeygenArgs),
    /// Sign an image's digest and push the signature (cosign's .sig format).
    Sign(SignArgs),
    /// Attach a signed in-toto attestation to an image (cosign's .att format): a predicate
    /// file, this build's provenance, an SBOM or a vulnerability scan report.
    Attest(AttestArgs),
    /// Write the SLSA v1 provenance of this build (GitHub Actions' facts, or flags elsewhere).
    Provenance(ProvenanceArgs),
    /// Build the predicate to attach from an SBOM or a Trivy/Grype report and print its cosign
    /// --type name (for `cosign attest --type "$(portcullis predicate ...)"`).
    Predicate(PredicateArgs),
    /// Verify an image's signatures against trusted keys, or keyless against identities.
    Verify(VerifyArgs),
    /// Verify an image's attestations and their predicate conditions.
    VerifyAttestation(VerifyAttestationArgs),
    /// Verify a Sigstore bundle for a file or sha256 digest, offline.
    VerifyBlob(VerifyBlobArgs),
    /// Print the version, commit and build date (--json for scripts).
    Version(VersionArgs),
}

impl Args {
    pub async fn run(self) -> ExitCode {
        let result = match self.command {
            Command::Serve(args) => return args.run().await,
            Command::Evaluate(args) => return args.run().await,
            Command::Audit(args) => return args.run().await,
            Command::Keygen(args) => args.run(),
            Command::Sign(args) => args.run().await,
            Command::Attest(args) => args.run().await,
            Command::Provenance(args) => args.run(),
            Command::Predicate(args) => args.run(),
            Command::Verify(args) => args.run().await,
            Command::VerifyAttestation(args) => args.run().await,
            Command::VerifyBlob(args) => args.run().await,
            Command::Version(args) => args.run(),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {}", one_line(&e));
                ExitCode::FAILURE
            }
        }
    }
}

/// The error and its causes on one line, without repeating a cause the message already holds.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}
