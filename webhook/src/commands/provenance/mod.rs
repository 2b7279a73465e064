//! `portcullis provenance [SUBJECT]...`: a SLSA v1 provenance predicate, or with `--statement`
//! the whole in-toto Statement v1, for the build this runs in. On GitHub Actions the facts come
//! from its documented variables and follow GitHub's workflow build type; on other CI systems
//! or locally they are flags (`--from flags`). docs/provenance.md lists every field.

pub mod facts;
pub mod flags;
pub mod predicate;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;

use facts::{Facts, Resource, hash_file, parse_digest};
use flags::BuildFlags;

#[derive(Debug, Args)]
pub struct ProvenanceArgs {
    /// What was built: NAME@sha256:HEX (e.g. an image repository and its digest), sha256:HEX,
    /// or a file (hashed, named by its file name).
    #[arg(value_name = "SUBJECT")]
    pub subjects: Vec<String>,
    /// Write the whole in-toto Statement v1 (needs a SUBJECT), not only the predicate.
    #[arg(long)]
    pub statement: bool,
    /// Write here instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub build: BuildFlags,
}

impl ProvenanceArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let facts = Facts::gather(&self.build, &|name| std::env::var(name).ok())?;
        let subjects = self
            .subjects
            .iter()
            .map(|s| parse_subject(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let predicate = predicate::predicate(&facts);
        let out = if self.statement {
            if subjects.is_empty() {
                bail!(
                    "--statement needs at least one SUBJECT (NAME@sha256:HEX, sha256:HEX or a file)"
                );
            }
            predicate::statement(&subjects, predicate)
        } else {
            predicate
        };
        let mut text = serde_json::to_string_pretty(&out)?;
        text.push('\n');
        match &self.output {
            Some(path) => {
                std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
            }
            None => print!("{text}"),
        }
        Ok(())
    }
}

/// `NAME@ALG:HEX`, `ALG:HEX` (named `_`, as in-toto does for a nameless subject) or a file.
pub fn parse_subject(text: &str) -> anyhow::Result<Resource> {
    if let Some((name, digest)) = text.rsplit_once('@') {
        let (algorithm, hex) = parse_digest(digest).with_context(|| format!("subject {text:?}"))?;
        if name.is_empty() {
            bail!("subject {text:?} has no name before '@'");
        }
        return Ok(Resource {
            name: Some(name.to_string()),
            uri: None,
            algorithm,
            hex,
        });
    }
    if text.starts_with("sha256:") || text.starts_with("sha512:") {
        let (algorithm, hex) = parse_digest(text).with_context(|| format!("subject {text:?}"))?;
        return Ok(Resource {
            name: None,
            uri: None,
            algorithm,
            hex,
        });
    }
    let path = Path::new(text);
    if path.is_file() {
        return hash_file(path);
    }
    bail!("subject {text:?} is neither NAME@sha256:HEX, sha256:HEX nor a file")
}
