//! Expectations. By default every rendered object must be admitted and every admitted Pod's
//! images pinned to a digest. A cases file (YAML or JSON) adds variants of rendered objects,
//! each with its own expectation:
//!
//! ```yaml
//! pinned: true                       # default for the pin check (the --pins flag overrides it)
//! cases:
//!   - name: runs as root
//!     object: Deployment/jobs/jobs-api          # KIND/NAMESPACE/NAME of a rendered object
//!     patch:                                     # RFC 6902 operations on a copy of it
//!       - {op: replace, path: /spec/template/spec/securityContext/runAsUser, value: 0}
//!     images:                                    # image (or repository) -> replacement
//!       ghcr.io/portcullis-dev/jobs-api: 127.0.0.1:5000/other:1
//!     expect: deny                               # admit (default) or deny
//!     reason: runAsNonRoot                       # deny: substring of the API server's message
//!     digest: sha256:0123…                       # admit: pods of it pinned to this digest
//!     webhookDown: false                         # replay while the webhook is stopped
//!     renderings: [dev]                          # only for these renderings (default: all)
//! ```
//!
//! It does not generate variants by itself: every case is written out.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::dispatch::apply_patch;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    #[serde(default)]
    pub pinned: Option<bool>,
    #[serde(default)]
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    #[default]
    Admit,
    Deny,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Case {
    pub name: String,
    pub object: String,
    #[serde(default)]
    pub patch: Vec<Value>,
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    #[serde(default)]
    pub expect: Expect,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub webhook_down: bool,
    #[serde(default)]
    pub renderings: Vec<String>,
}

impl CasesFile {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: CasesFile = serde_saphyr::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for c in &file.cases {
            if c.expect == Expect::Admit && c.reason.is_some() {
                bail!(
                    "{}: case {:?}: reason applies to expect: deny only",
                    path.display(),
                    c.name
                );
            }
            if c.expect == Expect::Deny && c.digest.is_some() {
                bail!(
                    "{}: case {:?}: digest applies to expect: admit only",
                    path.display(),
                    c.name
                );
            }
            if c.object.splitn(3, '/').count() != 3 {
                bail!(
                    "{}: case {:?}: object {:?} is not KIND/NAMESPACE/NAME",
                    path.display(),
                    c.name,
                    c.object
                );
            }
        }
        Ok(file)
    }
}

/// What one object's admission must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub admit: bool,
    /// Substring of the denial message.
    pub reason: Option<String>,
    /// Admitted Pods' images must carry `@sha256:`.
    pub pinned: bool,
    /// …and this digest.
    pub digest: Option<String>,
}

impl Expectation {
    pub fn admitted(pinned: bool) -> Self {
        Self {
            admit: true,
            reason: None,
            pinned,
            digest: None,
        }
    }

    /// The expectation for `case`'s object; its generated children inherit it.
    pub fn of_case(case: &Case, pinned: bool) -> Self {
        Self {
            admit: case.expect == Expect::Admit,
            reason: case.reason.clone(),
            pinned: pinned || case.digest.is_some(),
            digest: case.digest.clone(),
        }
    }
}

/// The pod specs of a workload object (`spec`, `spec.template.spec` or
/// `spec.jobTemplate.spec.template.spec`) as JSON pointers.
pub fn pod_spec_pointer(object: &Value) -> Option<&'static str> {
    [
        "/spec/jobTemplate/spec/template/spec",
        "/spec/template/spec",
        "/spec",
    ]
    .into_iter()
    .find(|p| {
        object
            .pointer(p)
            .and_then(|s| s.get("containers"))
            .is_some()
    })
}

/// Every container image of a pod spec (containers, initContainers, ephemeralContainers).
pub fn images(pod_spec: &Value) -> Vec<String> {
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| {
            pod_spec
                .get(*k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// An image reference without its tag and digest.
pub fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => no_digest,
    }
}

/// The case's variant of `rendered`: images replaced, then the patch applied.
pub fn variant(case: &Case, rendered: &Value) -> anyhow::Result<Value> {
    let mut object = rendered.clone();
    if !case.images.is_empty() {
        let pointer = pod_spec_pointer(&object)
            .with_context(|| format!("case {:?}: {} has no pod spec", case.name, case.object))?;
        let mut replaced = 0;
        if let Some(spec) = object.pointer_mut(pointer) {
            for k in ["containers", "initContainers", "ephemeralContainers"] {
                for c in spec
                    .get_mut(k)
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    let Some(image) = c.get("image").and_then(Value::as_str).map(str::to_string)
                    else {
                        continue;
                    };
                    let to = case
                        .images
                        .get(&image)
                        .or_else(|| case.images.get(repository(&image)));
                    if let Some(to) = to {
                        c["image"] = Value::String(to.clone());
                        replaced += 1;
                    }
                }
            }
        }
        if replaced == 0 {
            bail!(
                "case {:?}: no container of {} runs any of {:?}",
                case.name,
                case.object,
                case.images.keys().collect::<Vec<_>>()
            );
        }
    }
    if !case.patch.is_empty() {
        object = apply_patch(&object, &case.patch)
            .map_err(|e| anyhow::anyhow!("case {:?}: {e}", case.name))?;
    }
    Ok(object)
}

/// Checks an admitted Pod's images: `Err` says what is wrong.
pub fn check_pins(pod: &Value, expectation: &Expectation) -> Result<(), String> {
    if !expectation.pinned {
        return Ok(());
    }
    for image in images(pod.get("spec").unwrap_or(&Value::Null)) {
        if !image.contains("@sha256:") {
            return Err(format!("not pinned: {image}"));
        }
        if let Some(d) = &expectation.digest
            && !image.ends_with(&format!("@{d}"))
        {
            return Err(format!("pinned to another digest: {image} (want {d})"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(yaml: &str) -> Case {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn variants_replace_images_by_reference_or_repository_and_apply_patches() {
        let d = json!({"kind": "Deployment", "spec": {"template": {"spec": {
            "securityContext": {"runAsUser": 65532},
            "containers": [{"name": "a", "image": "ghcr.io/x/api:0.1.0"}, {"name": "b", "image": "busybox:1"}]}}}});
        let c = case(
            "name: root\nobject: Deployment/jobs/api\nimages: {ghcr.io/x/api: 'reg/api:2'}\n\
            patch: [{op: replace, path: /spec/template/spec/securityContext/runAsUser, value: 0}]\nexpect: deny\n",
        );
        let v = variant(&c, &d).unwrap();
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["image"],
            "reg/api:2"
        );
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][1]["image"],
            "busybox:1"
        );
        assert_eq!(
            v["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
            0
        );
        let none = case("name: n\nobject: Deployment/jobs/api\nimages: {nothing/here: x}\n");
        assert!(
            variant(&none, &d)
                .unwrap_err()
                .to_string()
                .contains("no container")
        );
        let bad_patch =
            case("name: p\nobject: Deployment/jobs/api\npatch: [{op: remove, path: /nope}]\n");
        assert!(variant(&bad_patch, &d).is_err());
    }

    #[test]
    fn repositories_and_pins() {
        assert_eq!(repository("ghcr.io/x/api:0.1.0"), "ghcr.io/x/api");
        assert_eq!(repository("127.0.0.1:5000/x/api"), "127.0.0.1:5000/x/api");
        assert_eq!(
            repository("127.0.0.1:5000/x/api:1@sha256:ab"),
            "127.0.0.1:5000/x/api"
        );
        let pod = |image: &str| json!({"spec": {"containers": [{"name": "c", "image": image}]}});
        let e = Expectation {
            admit: true,
            reason: None,
            pinned: true,
            digest: Some("sha256:aa".into()),
        };
        assert!(check_pins(&pod("r/x:1@sha256:aa"), &e).is_ok());
        assert!(
            check_pins(&pod("r/x:1@sha256:bb"), &e)
                .unwrap_err()
                .contains("another digest")
        );
        assert!(
            check_pins(&pod("r/x:1"), &e)
                .unwrap_err()
                .contains("not pinned")
        );
        assert!(check_pins(&pod("r/x:1"), &Expectation::admitted(false)).is_ok());
    }

    #[test]
    fn cases_file_rejects_contradictions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(
            &p,
            "cases:\n- {name: a, object: Deployment/jobs/x, expect: admit, reason: r}\n",
        )
        .unwrap();
        assert!(
            CasesFile::read(&p)
                .unwrap_err()
                .to_string()
                .contains("deny only")
        );
        std::fs::write(&p, "cases:\n- {name: a, object: Deployment/x}\n").unwrap();
        assert!(
            CasesFile::read(&p)
                .unwrap_err()
                .to_string()
                .contains("KIND/NAMESPACE/NAME")
        );
        std::fs::write(
            &p,
            "cases:\n- {name: a, object: Deployment/jobs/x, colour: red}\n",
        )
        .unwrap();
        assert!(CasesFile::read(&p).is_err());
        std::fs::write(&p, "pinned: false\ncases:\n- {name: a, object: Deployment/jobs/x, expect: deny, reason: root}\n").unwrap();
        let f = CasesFile::read(&p).unwrap();
        assert_eq!(f.pinned, Some(false));
        assert_eq!(f.cases[0].expect, Expect::Deny);
    }
}
