//! Pod Security Standards, evaluated exactly as upstream Pod Security Admission
//! (`k8s.io/pod-security-admission/policy`) does for a given level and policy version.
//!
//! Upstream is a registry of checks; each has a level, one implementation per minimum policy
//! version, and may override baseline checks when restricted is enforced. This module mirrors
//! that registry ([`registry`]) and its resolution: the highest implementation whose minimum
//! version is at or below the requested one; `latest` and any version newer than
//! [`NEWEST_MINOR`] resolve to the newest; at restricted, baseline checks named in an active
//! restricted check's overrides are dropped. The checks themselves are in [`baseline`],
//! [`profiles`] and [`restricted`]; each returns one finding per offending field, with its path.
//!
//! Upstream evaluates the API server's defaulted object; the only defaulting that changes a
//! verdict (a volume without a source becoming `emptyDir`) is reproduced in `restrictedVolumes`.
//! Feature gates that no longer exist upstream are not modelled: the user-namespace relaxations
//! apply from policy v1.35, where upstream made them unconditional.

pub mod baseline;
pub mod profiles;
pub mod restricted;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decision::Finding;
use crate::workload::Workload;

/// The newest policy version implemented (what `latest` means).
pub const NEWEST_MINOR: u32 = 37;

/// Pod Security Standards levels that carry checks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Baseline,
    Restricted,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        })
    }
}

/// A policy version: `latest` or `v1.N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PsaVersion {
    Latest,
    V1(u32),
}

/// An unparsable policy version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Pod Security version {text:?}: expected \"latest\" or \"v1.N\" (e.g. v1.30)")]
pub struct VersionError {
    pub text: String,
}

impl PsaVersion {
    /// Parses `latest` or `v1.N` (as `pod-security.kubernetes.io/enforce-version`).
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let err = || VersionError {
            text: text.to_string(),
        };
        if text == "latest" {
            return Ok(PsaVersion::Latest);
        }
        let minor = text.strip_prefix("v1.").ok_or_else(err)?;
        if minor.is_empty()
            || !minor.bytes().all(|b| b.is_ascii_digit())
            || (minor.len() > 1 && minor.starts_with('0'))
        {
            return Err(err());
        }
        minor.parse().map(PsaVersion::V1).map_err(|_| err())
    }

    /// The minor version whose checks apply (newer than implemented → newest).
    pub fn effective_minor(self) -> u32 {
        match self {
            PsaVersion::Latest => NEWEST_MINOR,
            PsaVersion::V1(m) => m.min(NEWEST_MINOR),
        }
    }
}

impl fmt::Display for PsaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PsaVersion::Latest => f.write_str("latest"),
            PsaVersion::V1(m) => write!(f, "v1.{m}"),
        }
    }
}

/// A check implementation: one finding per offending field.
pub(crate) type CheckFn = fn(&Workload<'_>) -> Vec<Finding>;

/// One implementation of a check, valid from `min_minor` on.
pub(crate) struct Versioned {
    pub(crate) min_minor: u32,
    pub(crate) run: CheckFn,
    /// Baseline check IDs this implementation replaces at restricted.
    pub(crate) overrides: &'static [&'static str],
}

/// A registered check.
pub(crate) struct Check {
    pub(crate) id: &'static str,
    pub(crate) level: Level,
    pub(crate) versions: &'static [Versioned],
}

/// Every check, baseline first, as registered upstream.
pub(crate) fn registry() -> impl Iterator<Item = &'static Check> {
    baseline::CHECKS.iter().chain(restricted::CHECKS.iter())
}

/// A resolved level + version: the list of check implementations to run.
#[derive(Clone)]
pub struct Profile {
    level: Level,
    version: PsaVersion,
    checks: Vec<(&'static str, CheckFn)>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("level", &self.level)
            .field("version", &self.version)
            .field("checks", &self.check_ids())
            .finish()
    }
}

impl Profile {
    /// Resolves the checks for `level` at `version`, once.
    pub fn new(level: Level, version: PsaVersion) -> Self {
        let minor = version.effective_minor();
        let active: Vec<(&Check, &Versioned)> = registry()
            .filter(|c| c.level <= level)
            .filter_map(|c| {
                c.versions
                    .iter()
                    .filter(|v| v.min_minor <= minor)
                    .max_by_key(|v| v.min_minor)
                    .map(|v| (c, v))
            })
            .collect();
        let overridden: Vec<&str> = active
            .iter()
            .filter(|(c, _)| c.level == Level::Restricted && level == Level::Restricted)
            .flat_map(|(_, v)| v.overrides.iter().copied())
            .collect();
        let checks = active
            .into_iter()
            .filter(|(c, _)| !overridden.contains(&c.id))
            .map(|(c, v)| (c.id, v.run))
            .collect();
        Self {
            level,
            version,
            checks,
        }
    }

    pub fn level(&self) -> Level {
        self.level
    }

    pub fn version(&self) -> PsaVersion {
        self.version
    }

    /// IDs of the checks this profile runs.
    pub fn check_ids(&self) -> Vec<&'static str> {
        self.checks.iter().map(|(id, _)| *id).collect()
    }

    /// Every violation of the pod spec, in check order.
    pub(crate) fn evaluate(&self, workload: &Workload<'_>) -> Vec<Finding> {
        self.checks
            .iter()
            .flat_map(|(_, run)| run(workload))
            .collect()
    }
}

// === helpers shared by the checks ===

/// A member of an optional object, `null` counting as unset.
pub(crate) fn member<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    v?.get(key).filter(|x| !x.is_null())
}

/// `v.a.b.c`, `null` anywhere counting as unset.
pub(crate) fn dig<'a>(v: Option<&'a Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v?, |cur, k| member(Some(cur), k))
}

/// A value for a reason's `actual`: `unset`, a bare string, or JSON.
pub(crate) fn show(v: Option<&Value>) -> String {
    match v {
        None => "unset".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_like_upstream() {
        assert_eq!(PsaVersion::parse("latest"), Ok(PsaVersion::Latest));
        assert_eq!(PsaVersion::parse("v1.30"), Ok(PsaVersion::V1(30)));
        assert_eq!(PsaVersion::parse("v1.0"), Ok(PsaVersion::V1(0)));
        for bad in ["1.30", "v1.", "v1.030", "v2.1", "v1.3a", "Latest", ""] {
            assert!(PsaVersion::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(PsaVersion::V1(99).effective_minor(), NEWEST_MINOR);
    }

    #[test]
    fn resolution_picks_versions_and_overrides() {
        let ids = |l, v| Profile::new(l, PsaVersion::V1(v)).check_ids();
        let b30 = ids(Level::Baseline, 30);
        assert!(!b30.contains(&"hostProbesAndHostLifecycle"), "1.34+ only");
        assert!(ids(Level::Baseline, 34).contains(&"hostProbesAndHostLifecycle"));
        assert!(!b30.contains(&"runAsNonRoot"));
        let r30 = ids(Level::Restricted, 30);
        for gone in [
            "hostPathVolumes",
            "capabilities_baseline",
            "seccompProfile_baseline",
        ] {
            assert!(!r30.contains(&gone), "{gone} is overridden at restricted");
        }
        assert!(r30.contains(&"procMount") && !r30.contains(&"procMount_restricted"));
        let r37 = ids(Level::Restricted, 37);
        assert!(r37.contains(&"procMount_restricted") && !r37.contains(&"procMount"));
        // Before v1.19 restricted has no seccomp field check and keeps the baseline one.
        let r18 = ids(Level::Restricted, 18);
        assert!(
            r18.contains(&"seccompProfile_baseline") && !r18.contains(&"seccompProfile_restricted")
        );
        assert!(!ids(Level::Restricted, 7).contains(&"allowPrivilegeEscalation"));
        assert!(!ids(Level::Restricted, 22).contains(&"runAsUser"));
        assert_eq!(
            Profile::new(Level::Restricted, PsaVersion::Latest).check_ids(),
            r37
        );
    }
}
