//! Image reference hygiene: allowed registries, no `:latest`, no untagged references, digests
//! required. Checked on every container list (ephemeral debug containers pull images too).
//!
//! References are parsed with the verifier's `ImageRef`, so `nginx` is `docker.io/library/nginx`
//! with no tag, exactly as the kubelet will resolve it. A reference that does not parse is a
//! violation of its own (`imageHygiene.invalidReference`): the kubelet could not pull it either.

use std::str::FromStr;

use portcullis_verifier_types::ImageRef;

use crate::catalog;
use crate::decision::Finding;
use crate::matching::{GlobList, MatchError, Matcher};
use crate::spec::ImageHygieneSpec;
use crate::workload::Workload;

/// Compiled hygiene rules.
#[derive(Debug, Clone)]
pub struct HygieneRules {
    registries: GlobList,
    forbid_latest_tag: bool,
    forbid_untagged: bool,
    require_digest: bool,
}

impl HygieneRules {
    pub fn new(spec: &ImageHygieneSpec) -> Result<Self, MatchError> {
        Ok(Self {
            registries: GlobList::new(
                "spec.imageHygiene.allowedRegistries",
                &spec.allowed_registries,
            )?,
            forbid_latest_tag: spec.forbid_latest_tag,
            forbid_untagged: spec.forbid_untagged,
            require_digest: spec.require_digest,
        })
    }

    /// The rules this configuration checks (a reference that does not parse always counts).
    pub(crate) fn rule_ids(&self) -> Vec<&'static str> {
        [
            (catalog::INVALID_REFERENCE, true),
            (catalog::ALLOWED_REGISTRIES, !self.registries.is_empty()),
            (catalog::LATEST_TAG, self.forbid_latest_tag),
            (catalog::UNTAGGED, self.forbid_untagged),
            (catalog::REQUIRE_DIGEST, self.require_digest),
        ]
        .into_iter()
        .filter_map(|(id, on)| on.then_some(id))
        .collect()
    }

    pub(crate) fn evaluate(&self, w: &Workload<'_>, matcher: &Matcher) -> Vec<Finding> {
        let mut out = Vec::new();
        for c in w.containers() {
            let image = c.image();
            if matcher.excludes_image(image) {
                continue;
            }
            let path = c.path.key("image");
            let finding =
                |rule: &str, message: &str| Finding::new(rule, &path, message).container(c.name);
            let r = match ImageRef::from_str(image) {
                Ok(r) => r,
                Err(e) => {
                    out.push(
                        finding(catalog::INVALID_REFERENCE, "invalid image reference")
                            .expected("a valid image reference", format!("{image:?} ({e})"))
                            .fix("write the image as [registry/]repository[:tag][@sha256:digest]"),
                    );
                    continue;
                }
            };
            if !self.registries.is_empty() && !self.registries.matches(r.registry()) {
                out.push(
                    finding(catalog::ALLOWED_REGISTRIES, "registry not allowed")
                        .expected(
                            format!("a registry matching {}", self.registries_text()),
                            r.registry(),
                        )
                        .fix("push the image to an allowed registry and reference it from there"),
                );
            }
            let pinned = r.digest().is_some();
            if self.forbid_latest_tag && !pinned && r.tag() == Some("latest") {
                out.push(
                    finding(catalog::LATEST_TAG, "mutable :latest tag")
                        .expected("a version tag or a digest", image)
                        .fix("use a version tag (e.g. :1.27.3) or pin a digest"),
                );
            }
            if self.forbid_untagged && !pinned && r.tag().is_none() {
                out.push(
                    finding(
                        catalog::UNTAGGED,
                        "image without tag or digest (means :latest)",
                    )
                    .expected("a version tag or a digest", image)
                    .fix("add a version tag (e.g. :1.27.3) or pin a digest"),
                );
            }
            if self.require_digest && !pinned {
                out.push(
                    finding(catalog::REQUIRE_DIGEST, "image not pinned by digest")
                        .expected("@sha256:<digest>", image)
                        .fix("reference the image by digest (repo:tag@sha256:…)"),
                );
            }
        }
        out
    }

    fn registries_text(&self) -> String {
        self.registries.patterns().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ExcludeSpec;
    use crate::workload::WorkloadKind;
    use serde_json::json;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn rules_for(images: &[&str], exclude: &[&str]) -> Vec<(String, String)> {
        let rules = HygieneRules::new(&ImageHygieneSpec {
            allowed_registries: vec!["ghcr.io".into(), "127.0.0.1:*".into()],
            forbid_latest_tag: true,
            forbid_untagged: true,
            require_digest: false,
        })
        .unwrap();
        let x = ExcludeSpec {
            images: exclude.iter().map(|s| s.to_string()).collect(),
            ..ExcludeSpec::default()
        };
        let matcher = Matcher::new(&Default::default(), &x).unwrap();
        let containers: Vec<_> = images
            .iter()
            .enumerate()
            .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
            .collect();
        let pod = WorkloadKind::Pod.wrap("p", json!({}), json!({"containers": containers}));
        let w = Workload::locate(WorkloadKind::Pod, &pod).unwrap();
        rules
            .evaluate(&w, &matcher)
            .into_iter()
            .map(|f| (f.rule, f.container.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn flags_registry_latest_and_untagged() {
        let got = rules_for(
            &[
                "ghcr.io/a/b:1.0",
                "nginx",
                "ghcr.io/a/b:latest",
                "127.0.0.1:5000/x:1",
                &format!("ghcr.io/a/b:latest@{D}"),
                "UPPER/case",
            ],
            &[],
        );
        let want = [
            ("imageHygiene.allowedRegistries", "c1"),
            ("imageHygiene.untagged", "c1"),
            ("imageHygiene.latestTag", "c2"),
            ("imageHygiene.invalidReference", "c5"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    #[test]
    fn excluded_images_are_skipped() {
        assert!(rules_for(&["nginx"], &["docker.io/library/*"]).is_empty());
    }
}
