//! Image indexes (multi-platform images): which platform manifests an image must have signed
//! besides the index itself ([`PlatformRule`]), and the whole of what an image must satisfy
//! ([`ImageRequirement`]: an [`Authority`] plus an optional platform rule).
//!
//! A signature on an index covers the index's bytes, that is the list of platform digests; a
//! node pulls the platform manifest for its own platform. A policy may therefore require the
//! platform manifests of named platforms to be signed too (`indexAndPlatforms`), or accept a
//! signature found on each named platform's manifest when the index carries none
//! (`indexOrPlatforms`). Either way the digest pinned into the pod stays the index's, so every
//! node still picks its own platform. A single-platform manifest is the manifest that runs: it
//! is verified by its own signature and the rule does not apply.
//!
//! Only the values live here; `portcullis_verifier::Verifier::verify_requirement` applies them.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::authority::Authority;

/// A platform as `os/architecture[/variant]`, e.g. `linux/amd64`, `linux/arm/v7`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    /// `None` matches an index entry without a variant, or the only entry for the os and
    /// architecture (see [`Platform::select`]).
    pub variant: Option<String>,
}

/// A platform name that is not `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a platform: expected os/architecture[/variant], e.g. linux/arm64")]
pub struct PlatformError {
    pub name: String,
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PlatformError { name: s.into() };
        let valid = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid) {
            return Err(err());
        }
        Ok(Self {
            os: parts[0].into(),
            architecture: parts[1].into(),
            variant: parts.get(2).map(|v| (*v).to_string()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// Which of `entries` (an index's platforms, in order) this platform names: the entry with
    /// the same os, architecture and variant; without a variant, the entry without one, else the
    /// only entry for the os and architecture. `Err` holds how many entries matched ambiguously
    /// (0: absent).
    pub fn select(&self, entries: &[Platform]) -> Result<usize, usize> {
        let same_arch = |p: &&Platform| p.os == self.os && p.architecture == self.architecture;
        if let Some(i) = entries
            .iter()
            .position(|p| same_arch(&p) && p.variant == self.variant)
        {
            return Ok(i);
        }
        if self.variant.is_some() {
            return Err(0);
        }
        let candidates: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(_, p)| same_arch(p))
            .map(|(i, _)| i)
            .collect();
        match candidates.as_slice() {
            [only] => Ok(*only),
            other => Err(other.len()),
        }
    }
}

/// What must be signed when an image is an index (policy `platformSignatures`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PlatformSignatures {
    /// The index and the manifest of every listed platform must each verify.
    #[default]
    IndexAndPlatforms,
    /// The index verifies, or else the manifest of every listed platform verifies.
    IndexOrPlatforms,
}

impl fmt::Display for PlatformSignatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlatformSignatures::IndexAndPlatforms => "indexAndPlatforms",
            PlatformSignatures::IndexOrPlatforms => "indexOrPlatforms",
        })
    }
}

/// The platform manifests of an index that must (or may) carry the signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformRule {
    /// At least one, no duplicates (the policy compiler checks).
    pub platforms: Vec<Platform>,
    pub signatures: PlatformSignatures,
}

/// Everything an image must satisfy: who signed ([`Authority`]) and, for an index, which
/// platform manifests too.
#[derive(Debug, Clone)]
pub struct ImageRequirement {
    pub authority: Authority,
    pub platforms: Option<PlatformRule>,
}

impl ImageRequirement {
    /// The authority's fingerprint, extended by the platform rule when there is one; each
    /// platform manifest is verified (and cached) under the authority's own fingerprint.
    pub fn fingerprint(&self) -> String {
        let base = self.authority.fingerprint();
        match &self.platforms {
            None => base,
            Some(rule) => {
                let names: Vec<String> = rule.platforms.iter().map(ToString::to_string).collect();
                format!("{base}+{}:{}", rule.signatures, names.join(","))
            }
        }
    }
}

impl From<Authority> for ImageRequirement {
    fn from(authority: Authority) -> Self {
        Self {
            authority,
            platforms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn platform_names_parse_and_print_back() {
        for name in [
            "linux/amd64",
            "linux/arm/v7",
            "windows/amd64",
            "linux/ppc64le",
        ] {
            assert_eq!(p(name).to_string(), name);
        }
        assert_eq!(p("linux/arm64/v8").variant.as_deref(), Some("v8"));
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/arm/v7/x",
            "linux amd64",
            "",
        ] {
            let e = bad.parse::<Platform>().unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "{bad:?} is not a platform: expected os/architecture[/variant], e.g. linux/arm64"
                )
            );
        }
    }

    #[test]
    fn a_platform_without_variant_selects_the_plain_or_the_only_entry() {
        let index = [
            p("linux/amd64"),
            p("linux/arm64/v8"),
            p("linux/arm/v6"),
            p("linux/arm/v7"),
        ];
        assert_eq!(p("linux/amd64").select(&index), Ok(0));
        assert_eq!(p("linux/arm64").select(&index), Ok(1));
        assert_eq!(p("linux/arm64/v8").select(&index), Ok(1));
        assert_eq!(p("linux/arm/v7").select(&index), Ok(3));
        assert_eq!(p("linux/arm").select(&index), Err(2));
        assert_eq!(p("linux/amd64/v3").select(&index), Err(0));
        assert_eq!(p("linux/s390x").select(&index), Err(0));
        let plain_and_variant = [p("linux/arm64/v8"), p("linux/arm64")];
        assert_eq!(p("linux/arm64").select(&plain_and_variant), Ok(1));
    }
}
