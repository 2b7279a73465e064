//! Verifying the images a set of requests needs, once per (image, requirement), with the same
//! verifier the webhook uses: the facts `evaluate` and `audit` hand to the engine.

use std::sync::Arc;

use portcullis_policies::{PolicySet, Request, VerdictMap};
use portcullis_verifier::{CacheConfig, ImageRef, Verdict, Verifier, VerifyError};

use super::common::RegistryArgs;

/// Verifies every (image, requirement) the requests need, once each.
pub async fn verify_images<'a>(
    registry: &RegistryArgs,
    set: &PolicySet,
    requests: impl Iterator<Item = &'a Request>,
) -> anyhow::Result<VerdictMap> {
    let checks: Vec<_> = requests.flat_map(|r| set.image_checks(r)).collect();
    let mut facts = VerdictMap::new();
    if checks.is_empty() {
        return Ok(facts);
    }
    let refs: Vec<Result<ImageRef, _>> =
        checks.iter().map(|c| c.image.parse::<ImageRef>()).collect();
    let registries: Vec<&str> = refs.iter().flatten().map(ImageRef::registry).collect();
    let verifier = Verifier::new(registry.client_for(&registries)?, CacheConfig::default());
    let deadline = registry.deadline();
    for (check, image) in checks.iter().zip(refs) {
        if facts.contains_key(&check.key()) {
            continue;
        }
        let verdict: Verdict = match image {
            Ok(image) => {
                verifier
                    .verify_requirement(&image, &check.requirement, deadline)
                    .await
            }
            Err(e) => Arc::new(Err(VerifyError::Malformed {
                image: check.image.clone(),
                what: "image reference".into(),
                cause: e.to_string(),
            })),
        };
        facts.insert(check.key(), verdict);
    }
    Ok(facts)
}
