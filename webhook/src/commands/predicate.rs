//! `portcullis predicate` and the `--sbom`/`--vuln` sources of `portcullis attest`: read the SBOM
//! or vulnerability report a CI stage wrote and build the predicate to attach
//! ([`crate::predicates`]). `predicate` writes it and prints the cosign `--type` name to attach
//! it with, so a keyless workflow can hand both to `cosign attest`:
//!
//! ```sh
//! cosign attest --type "$(portcullis predicate --vuln trivy.json -o vuln.json)" --predicate vuln.json IMAGE@DIGEST
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{ArgGroup, Args};
use portcullis_verifier::predicate_type_uri;
use serde_json::Value;

use crate::predicates::sbom::from_sbom;
use crate::predicates::vuln::from_vuln_report;
use crate::predicates::{Kind, Predicate, ScanTimes};

/// The SBOM or scan report to build a predicate from (`attest` and `predicate`).
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A CycloneDX or SPDX JSON SBOM, attached as it is (type cyclonedx or spdxjson).
    #[arg(long, value_name = "FILE")]
    pub sbom: Option<PathBuf>,
    /// A Trivy (--format json) or Grype (-o json) report, attached in cosign's vulnerability
    /// predicate (type vuln).
    #[arg(long, value_name = "REPORT")]
    pub vuln: Option<PathBuf>,
    /// With --vuln: when the scan finished (RFC 3339). Default: the report's own time (Trivy
    /// CreatedAt, Grype descriptor.timestamp); needed when the report has none.
    #[arg(long, value_name = "RFC3339", requires = "vuln")]
    pub scan_finished_on: Option<String>,
    /// With --vuln: when the scan started (RFC 3339). Default: when it finished.
    #[arg(long, value_name = "RFC3339", requires = "vuln")]
    pub scan_started_on: Option<String>,
}

impl ReportArgs {
    /// The predicate built from `--sbom` or `--vuln` and the bytes of the file it came from;
    /// `None` when neither was given.
    pub fn build(&self) -> anyhow::Result<Option<(Predicate, Vec<u8>)>> {
        self.times_only_with_vuln()?;
        let (path, is_sbom) = match (&self.sbom, &self.vuln) {
            (Some(path), None) => (path, true),
            (None, Some(path)) => (path, false),
            (None, None) => return Ok(None),
            // clap's groups keep the two apart; this is only reached by a caller that skips it.
            (Some(_), Some(_)) => bail!("give --sbom or --vuln, not both"),
        };
        let what = if is_sbom { "SBOM" } else { "report" };
        let bytes =
            std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))?;
        let file = path.display().to_string();
        let predicate = if is_sbom {
            from_sbom(&file, &bytes)?
        } else {
            let times = ScanTimes {
                started: self.scan_started_on.clone(),
                finished: self.scan_finished_on.clone(),
            };
            from_vuln_report(&file, &bytes, &times)?
        };
        Ok(Some((predicate, bytes)))
    }
}

impl ReportArgs {
    /// The scan times belong to a report. clap's `requires` is waived when the flag it requires
    /// conflicts with one given (--sbom, --predicate), so this is checked here.
    pub fn times_only_with_vuln(&self) -> anyhow::Result<()> {
        let flag = match (&self.scan_started_on, &self.scan_finished_on) {
            (Some(_), _) => "--scan-started-on",
            (None, Some(_)) => "--scan-finished-on",
            (None, None) => return Ok(()),
        };
        if self.vuln.is_none() {
            bail!("{flag} dates a vulnerability scan: it goes with --vuln REPORT only");
        }
        Ok(())
    }
}

/// What `attest` attaches: the predicate type URI and the predicate. `--predicate FILE` is taken
/// as it is, of `--type` (default custom); `--sbom`/`--vuln` are built, and a `--type` given with
/// them must name the type they build.
pub fn to_attach(
    predicate: Option<&Path>,
    type_name: Option<&str>,
    report: &ReportArgs,
) -> anyhow::Result<(String, Value)> {
    if let Some(path) = predicate {
        report.times_only_with_vuln()?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading predicate {}", path.display()))?;
        let value = serde_json::from_str(&text)
            .with_context(|| format!("predicate {} is not JSON", path.display()))?;
        let uri = predicate_type_uri(type_name.unwrap_or("custom")).to_string();
        return Ok((uri, value));
    }
    // --vuln always builds a vuln predicate: a --type naming another is refused before the
    // report is read. What --sbom builds depends on the document.
    if let (Some(name), Some(_)) = (type_name, &report.vuln) {
        check_type(name, Kind::Vuln, "--vuln")?;
    }
    let Some((built, _)) = report.build()? else {
        bail!(
            "nothing to attach: give --predicate FILE, --provenance, --sbom FILE or --vuln REPORT"
        );
    };
    if let (Some(name), Some(_)) = (type_name, &report.sbom) {
        check_type(name, built.kind, "--sbom")?;
    }
    Ok((built.kind.uri().to_string(), built.body))
}

/// A `--type` given beside `--sbom`/`--vuln` must name what was built.
fn check_type(name: &str, built: Kind, flag: &str) -> anyhow::Result<()> {
    if predicate_type_uri(name) != built.uri() {
        bail!(
            "--type {name} does not match what {flag} attaches (type {}, {}): drop --type, or use --predicate FILE --type {name}",
            built.type_name(),
            built.uri()
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("input").required(true).args(["sbom", "vuln"])))]
pub struct PredicateArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// Write the predicate to FILE and print its type name on standard output. Without it (or
    /// with -), the predicate goes to standard output and the type name to standard error.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl PredicateArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let Some((predicate, input)) = self.report.build()? else {
            bail!("give --sbom FILE or --vuln REPORT");
        };
        let kind = predicate.kind;
        // An SBOM is its own predicate: written byte for byte. A built predicate as JSON.
        let bytes = match kind {
            Kind::CycloneDx | Kind::SpdxJson => input,
            Kind::Vuln => {
                let mut json = serde_json::to_vec_pretty(&predicate.body)?;
                json.push(b'\n');
                json
            }
        };
        match self.output.as_deref() {
            Some(path) if path != Path::new("-") => {
                std::fs::write(path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", kind.type_name());
            }
            _ => {
                std::io::stdout()
                    .write_all(&bytes)
                    .context("writing the predicate to standard output")?;
                eprintln!("{}", kind.type_name());
            }
        }
        Ok(())
    }
}
