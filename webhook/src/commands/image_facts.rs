//! Verifying the images a set of requests needs, once per (image, requirement), with the same
//! verifier the webhook uses: the facts `evaluate` and `audit` hand to the engine.
//!
//! Up to [`Budget::concurrency`] images are verified at once, each under its own deadline
//! ([`Budget::per_image`], from when its verification starts), all within the registry
//! arguments' overall `--timeout`. An image that runs out of time gets a `Deadline` verdict, as
//! any registry failure gets its verdict: the run never hangs on one registry.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use portcullis_policies::{PolicySet, Request, VerdictMap};
use portcullis_verifier::{CacheConfig, ImageRef, Verdict, Verifier, VerifyError};
use tokio::time::Instant;

use super::common::RegistryArgs;

/// How long each image may take, and how many are verified at once.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub per_image: Duration,
    pub concurrency: usize,
}

/// Verifies every (image, requirement) the requests need, once each.
pub async fn verify_images<'a>(
    registry: &RegistryArgs,
    set: &PolicySet,
    requests: impl Iterator<Item = &'a Request>,
    budget: Budget,
) -> anyhow::Result<VerdictMap> {
    let mut seen = HashSet::new();
    let checks: Vec<_> = requests
        .flat_map(|r| set.image_checks(r))
        .filter(|c| seen.insert(c.key()))
        .collect();
    if checks.is_empty() {
        return Ok(VerdictMap::new());
    }
    let refs: Vec<Result<ImageRef, _>> =
        checks.iter().map(|c| c.image.parse::<ImageRef>()).collect();
    let registries: Vec<&str> = refs.iter().flatten().map(ImageRef::registry).collect();
    let verifier = Verifier::new(registry.client_for(&registries)?, CacheConfig::default());
    let overall = registry.deadline();
    let verifier = &verifier;
    let verdicts: Vec<((String, String), Verdict)> = futures::stream::iter(checks.iter().zip(refs))
        .map(|(check, image)| async move {
            let verdict: Verdict = match image {
                Ok(image) => {
                    let deadline = overall.min(Instant::now() + budget.per_image);
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
            (check.key(), verdict)
        })
        .buffer_unordered(budget.concurrency.max(1))
        .collect()
        .await;
    Ok(verdicts.into_iter().collect())
}
