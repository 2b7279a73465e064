//! Verifying an image index together with its platform manifests
//! ([`Verifier::verify_requirement`]), as a policy's [`PlatformRule`] asks.
//!
//! The image resolves to one digest, which is what the webhook pins. When that digest is an index
//! (OCI image index or Docker manifest list) and the requirement has a platform rule, each named
//! platform is looked up in the index (absent or ambiguous: denied, naming it), then the index and
//! every named platform manifest are verified concurrently, each through the per-digest path and
//! its cache entry (a platform manifest's verdict is the one `portcullis verify IMAGE@DIGEST`
//! would give), all within the caller's deadline. The combined verdict is cached under the
//! requirement's own fingerprint. A single-platform manifest is verified as it would be without
//! the rule: it is the manifest that runs.
//!
//! It deliberately reads only `manifests[].digest` and `manifests[].platform` of the index.

use futures::future::{join, join_all};
use serde::Deserialize;
use tokio::time::Instant;

use crate::cached::Verifier;
use crate::error::{RegistryError, VerifyError};
use crate::reference::{Digest, ImageRef};
use crate::requirement::{Verdict, Verified};
use portcullis_verifier_types::{
    Authority, ImageRequirement, Platform, PlatformRule, PlatformSignatures,
};

/// The part of an index (or of a manifest, which has no `manifests`) read here.
#[derive(Deserialize)]
struct IndexPlatforms {
    manifests: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    digest: String,
    #[serde(default)]
    platform: Option<EntryPlatform>,
}

#[derive(Deserialize)]
struct EntryPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl Verifier {
    /// Verifies `image` against `req`: its authority, and for an index the platform rule too.
    /// Without a platform rule this is [`Verifier::verify_authority`].
    pub async fn verify_requirement(
        &self,
        image: &ImageRef,
        req: &ImageRequirement,
        deadline: Instant,
    ) -> Verdict {
        let Some(rule) = &req.platforms else {
            return self.verify_authority(image, &req.authority, deadline).await;
        };
        let authority = &req.authority;
        self.resolve_then(image, deadline, |digest, budget_ms| async move {
            let check = |digest: Digest| async move {
                self.verify_index(image, digest, authority, rule, deadline, budget_ms)
                    .await
            };
            self.cached_at(image, digest, req.fingerprint(), deadline, budget_ms, check)
                .await
        })
        .await
    }

    async fn verify_index(
        &self,
        image: &ImageRef,
        digest: Digest,
        authority: &Authority,
        rule: &PlatformRule,
        deadline: Instant,
        budget_ms: u64,
    ) -> Result<Verified, VerifyError> {
        let name = image.to_string();
        let registry_err = |source| VerifyError::Registry {
            image: name.clone(),
            source,
        };
        let manifest = self
            .registry()
            .get_manifest(image, digest.as_str(), deadline)
            .await
            .map_err(registry_err)?
            .ok_or_else(|| {
                registry_err(RegistryError::NotFound {
                    registry: image.registry().into(),
                    what: format!("manifest {}@{digest}", image.name()),
                })
            })?;
        let Some(targets) = platform_targets(&name, &digest, &manifest.bytes, &rule.platforms)?
        else {
            // A single-platform manifest: the rule does not apply.
            let verdict = self
                .verify_authority_at(image, digest, authority, deadline, budget_ms)
                .await;
            return Verdict::unwrap_or_clone(verdict);
        };
        let index = self.verify_authority_at(image, digest.clone(), authority, deadline, budget_ms);
        let platforms = join_all(targets.iter().map(|(_, d)| {
            let at = image.with_digest(d.clone());
            async move {
                self.verify_authority_at(&at, d.clone(), authority, deadline, budget_ms)
                    .await
            }
        }));
        let (index, platforms) = join(index, platforms).await;
        let platforms: Vec<(&Platform, &Digest, Verdict)> = targets
            .iter()
            .zip(platforms)
            .map(|((p, d), v)| (*p, d, v))
            .collect();
        combine(&name, &digest, rule.signatures, index, &platforms)
    }
}

/// The manifest digest of each of `wanted` in `index` (the JSON of `image`'s manifest `digest`),
/// or why one cannot be chosen; `None` when it is a single-platform manifest, not an index.
/// Public for the fuzz targets (`verifier/fuzz`).
pub fn platform_targets<'w>(
    image: &str,
    digest: &Digest,
    index: &[u8],
    wanted: &'w [Platform],
) -> Result<Option<Vec<(&'w Platform, Digest)>>, VerifyError> {
    let malformed = |cause: String| VerifyError::Malformed {
        image: image.into(),
        what: format!("image index {digest}"),
        cause,
    };
    let parsed: IndexPlatforms =
        serde_json::from_slice(index).map_err(|e| malformed(e.to_string()))?;
    let Some(entries) = parsed.manifests else {
        return Ok(None);
    };
    select(image, &entries, wanted)?
        .into_iter()
        .map(|(platform, d)| d.parse::<Digest>().map(|d| (platform, d)))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|e| malformed(e.to_string()))
}

/// The index entry of each named platform, or why one cannot be chosen.
fn select<'e, 'w>(
    image: &str,
    entries: &'e [Entry],
    wanted: &'w [Platform],
) -> Result<Vec<(&'w Platform, &'e str)>, VerifyError> {
    let listed: Vec<(Platform, &str)> = entries
        .iter()
        .filter_map(|e| {
            let p = e.platform.as_ref()?;
            let platform = Platform {
                os: p.os.clone(),
                architecture: p.architecture.clone(),
                variant: p.variant.clone().filter(|v| !v.is_empty()),
            };
            Some((platform, e.digest.as_str()))
        })
        .collect();
    let platforms: Vec<Platform> = listed.iter().map(|(p, _)| p.clone()).collect();
    let available = || {
        if platforms.is_empty() {
            "no platform manifests".to_string()
        } else {
            let names: Vec<String> = platforms.iter().map(ToString::to_string).collect();
            names.join(", ")
        }
    };
    wanted
        .iter()
        .map(|want| match want.select(&platforms) {
            Ok(i) => Ok((want, listed[i].1)),
            Err(0) => Err(VerifyError::PlatformMissing {
                image: image.into(),
                platform: want.to_string(),
                available: available(),
            }),
            Err(count) => Err(VerifyError::PlatformAmbiguous {
                image: image.into(),
                platform: want.to_string(),
                count,
                available: available(),
            }),
        })
        .collect()
}

/// The verdict on the index from the index's own and each named platform's.
fn combine(
    image: &str,
    index_digest: &Digest,
    signatures: PlatformSignatures,
    index: Verdict,
    platforms: &[(&Platform, &Digest, Verdict)],
) -> Result<Verified, VerifyError> {
    let failed = platforms.iter().find_map(|(p, d, v)| match v.as_ref() {
        Ok(_) => None,
        Err(e) => Some(VerifyError::PlatformNotVerified {
            image: image.into(),
            platform: p.to_string(),
            digest: d.to_string(),
            signatures,
            source: Box::new(e.clone()),
        }),
    });
    let index = Verdict::unwrap_or_clone(index);
    match (signatures, index, failed) {
        (PlatformSignatures::IndexAndPlatforms, Err(e), _) => Err(e),
        (PlatformSignatures::IndexAndPlatforms, Ok(_), Some(e)) => Err(e),
        (PlatformSignatures::IndexAndPlatforms, Ok(v), None) => Ok(v),
        (PlatformSignatures::IndexOrPlatforms, Ok(v), _) => Ok(v),
        (PlatformSignatures::IndexOrPlatforms, Err(_), None) => {
            Ok(by_platforms(index_digest, platforms))
        }
        // A registry failure on the index says nothing about its signature: not "nor is the
        // index", and not cached.
        (PlatformSignatures::IndexOrPlatforms, Err(e), Some(_)) if e.is_transient() => Err(e),
        (PlatformSignatures::IndexOrPlatforms, Err(_), Some(e)) => Err(e),
    }
}

/// Every named platform verified, the index not: the index digest (still what is pinned), with
/// the keys and attestations of every platform manifest.
fn by_platforms(index: &Digest, platforms: &[(&Platform, &Digest, Verdict)]) -> Verified {
    let mut out = Verified {
        digest: index.clone(),
        key_ids: Vec::new(),
        attestations: Vec::new(),
    };
    for (_, _, v) in platforms {
        if let Ok(v) = v.as_ref() {
            out.key_ids.extend(v.key_ids.iter().cloned());
            for a in &v.attestations {
                if !out.attestations.contains(a) {
                    out.attestations.push(a.clone());
                }
            }
        }
    }
    out.key_ids.sort_unstable();
    out.key_ids.dedup();
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ok(digest: &Digest, key: &str) -> Verdict {
        Arc::new(Ok(Verified {
            digest: digest.clone(),
            key_ids: vec![key.into()],
            attestations: Vec::new(),
        }))
    }

    fn unsigned(image: &str) -> Verdict {
        Arc::new(Err(VerifyError::NoSignatureIn {
            image: image.into(),
            looked: "tag x.sig".into(),
        }))
    }

    fn slow(image: &str) -> Verdict {
        Arc::new(Err(VerifyError::Deadline {
            image: image.into(),
            registry: "r".into(),
            budget_ms: 1,
        }))
    }

    #[test]
    fn registry_failures_are_kept_apart_from_missing_signatures() {
        let (index, amd, arm) = (Digest::of(b"i"), Digest::of(b"a"), Digest::of(b"b"));
        let (p_amd, p_arm): (Platform, Platform) = (
            "linux/amd64".parse().unwrap(),
            "linux/arm64".parse().unwrap(),
        );
        let both_ok = [
            (&p_amd, &amd, ok(&amd, "k2")),
            (&p_arm, &arm, ok(&arm, "k1")),
        ];
        let or = PlatformSignatures::IndexOrPlatforms;
        let and = PlatformSignatures::IndexAndPlatforms;

        // An index the registry could not answer for does not matter when every platform verified.
        let v = combine("img", &index, or, slow("img"), &both_ok).unwrap();
        assert_eq!(
            (v.digest, v.key_ids),
            (index.clone(), vec!["k1".into(), "k2".into()])
        );

        // ...but it is not reported as unsigned when a platform is not verified either.
        let one_unsigned = [
            (&p_amd, &amd, ok(&amd, "k1")),
            (&p_arm, &arm, unsigned("img@arm")),
        ];
        let e = combine("img", &index, or, slow("img"), &one_unsigned).unwrap_err();
        assert!(
            matches!(e, VerifyError::Deadline { .. }) && e.is_transient(),
            "{e:?}"
        );
        let e = combine("img", &index, or, unsigned("img"), &one_unsigned).unwrap_err();
        assert!(
            matches!(&e, VerifyError::PlatformNotVerified { platform, .. } if platform == "linux/arm64"),
            "{e:?}"
        );
        assert!(!e.is_transient());

        // A platform the registry could not answer for is a transient failure (never cached).
        let one_slow = [
            (&p_amd, &amd, ok(&amd, "k1")),
            (&p_arm, &arm, slow("img@arm")),
        ];
        let e = combine("img", &index, and, ok(&index, "k1"), &one_slow).unwrap_err();
        assert!(
            matches!(&e, VerifyError::PlatformNotVerified { platform, .. } if platform == "linux/arm64"),
            "{e:?}"
        );
        assert!(e.is_transient());
        assert_eq!(e.code(), "deadline");
    }
}
