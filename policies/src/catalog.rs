//! The catalogue of built-in rules: every rule id the engine itself can put in a [`Reason`]
//! (custom `rules` are named by their policies and are not in it).
//!
//! Pod Security ids come from the check registry ([`crate::psa`]); resource, hygiene and image
//! verification ids are the constants below, which the checks use when they report. Tooling
//! that needs the full list (the compliance mapping under `policies/compliance/`, `portcullis
//! audit`) reads it from here rather than keeping its own copy.
//!
//! [`Reason`]: crate::Reason

use serde::Serialize;

use crate::psa::{Level, registry};

pub const REQUIRE_REQUESTS: &str = "resources.requireRequests";
pub const REQUIRE_LIMITS: &str = "resources.requireLimits";
pub const MAX_REQUESTS: &str = "resources.maxRequests";
pub const MAX_LIMITS: &str = "resources.maxLimits";
pub const MAX_LIMIT_REQUEST_RATIO: &str = "resources.maxLimitRequestRatio";
pub const INVALID_QUANTITY: &str = "resources.invalidQuantity";

pub const INVALID_REFERENCE: &str = "imageHygiene.invalidReference";
pub const ALLOWED_REGISTRIES: &str = "imageHygiene.allowedRegistries";
pub const LATEST_TAG: &str = "imageHygiene.latestTag";
pub const UNTAGGED: &str = "imageHygiene.untagged";
pub const REQUIRE_DIGEST: &str = "imageHygiene.requireDigest";

/// The rule of `ClusterImagePolicy` verification (signatures, attestations, provenance).
pub const VERIFY_IMAGE: &str = "verifyImage";

const RESOURCE_RULES: [&str; 6] = [
    REQUIRE_REQUESTS,
    REQUIRE_LIMITS,
    MAX_REQUESTS,
    MAX_LIMITS,
    MAX_LIMIT_REQUEST_RATIO,
    INVALID_QUANTITY,
];

const HYGIENE_RULES: [&str; 5] = [
    INVALID_REFERENCE,
    ALLOWED_REGISTRIES,
    LATEST_TAG,
    UNTAGGED,
    REQUIRE_DIGEST,
];

/// Which part of a policy a built-in rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RuleFamily {
    /// `spec.podSecurity` of a guardrail policy, at the given level.
    PodSecurity(Level),
    /// `spec.resources` of a guardrail policy.
    Resources,
    /// `spec.imageHygiene` of a guardrail policy.
    ImageHygiene,
    /// A `ClusterImagePolicy`.
    ImageVerification,
}

/// One built-in rule id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BuiltinRule {
    pub id: &'static str,
    pub family: RuleFamily,
}

/// Every built-in rule id, Pod Security checks first in registry order.
pub fn builtin_rules() -> Vec<BuiltinRule> {
    let psa = registry().map(|c| BuiltinRule {
        id: c.id,
        family: RuleFamily::PodSecurity(c.level),
    });
    let of = |family| move |id| BuiltinRule { id, family };
    psa.chain(RESOURCE_RULES.into_iter().map(of(RuleFamily::Resources)))
        .chain(HYGIENE_RULES.into_iter().map(of(RuleFamily::ImageHygiene)))
        .chain(std::iter::once(VERIFY_IMAGE).map(of(RuleFamily::ImageVerification)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_cover_every_family() {
        let rules = builtin_rules();
        let mut ids: Vec<_> = rules.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), rules.len(), "duplicate rule id");
        for id in [
            "privileged",
            "runAsNonRoot",
            LATEST_TAG,
            MAX_LIMITS,
            VERIFY_IMAGE,
        ] {
            assert!(ids.contains(&id), "{id}");
        }
    }
}
