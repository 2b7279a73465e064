//! The policy kinds the cluster watch reads, and how one object becomes a policy source.
//!
//! Objects are read as [`DynamicObject`]s, not as the typed custom resources: an object the
//! policy engine refuses must still reach it, so that its status can say why. The engine
//! compiles only `apiVersion`, `kind`, `metadata.name`/`namespace` and `spec`; status and the
//! server's metadata are left out, so a status write alone never looks like a change.

use std::path::PathBuf;

use kube::api::{ApiResource, DynamicObject};
use portcullis_policies::spec::{
    ClusterGuardrailPolicy, ClusterImagePolicy, GuardrailPolicy, ImagePolicy, PolicyException,
};
use serde_json::{Map, Value, json};

use crate::serve::decide::SourceFile;

/// One watched kind.
#[derive(Debug, Clone)]
pub struct Kind {
    pub resource: ApiResource,
    pub namespaced: bool,
}

impl Kind {
    fn of<K: kube::Resource<DynamicType = ()>>(namespaced: bool) -> Self {
        Self {
            resource: ApiResource::erase::<K>(&()),
            namespaced,
        }
    }

    /// The plural name, e.g. `clusterimagepolicies`: the label on metrics and `/readyz` lines.
    pub fn plural(&self) -> &str {
        &self.resource.plural
    }
}

/// Every policy kind, cluster-scoped first, and the exceptions to them.
pub fn policy_kinds() -> Vec<Kind> {
    vec![
        Kind::of::<ClusterImagePolicy>(false),
        Kind::of::<ClusterGuardrailPolicy>(false),
        Kind::of::<ImagePolicy>(true),
        Kind::of::<GuardrailPolicy>(true),
        Kind::of::<PolicyException>(true),
    ]
}

/// Where an object comes from, as errors and `/readyz` name it: `ClusterImagePolicy/name`, or
/// `ImagePolicy/namespace/name`.
pub fn origin(kind: &Kind, object: &DynamicObject) -> String {
    let name = object.metadata.name.as_deref().unwrap_or_default();
    match object.metadata.namespace.as_deref() {
        Some(ns) if kind.namespaced => format!("{}/{ns}/{name}", kind.resource.kind),
        _ => format!("{}/{name}", kind.resource.kind),
    }
}

/// What the engine compiles of `object`: a JSON policy document under the object's origin.
pub fn source(kind: &Kind, object: &DynamicObject) -> SourceFile {
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(object.metadata.name));
    if let Some(ns) = &object.metadata.namespace {
        metadata.insert("namespace".into(), json!(ns));
    }
    let mut document = Map::new();
    document.insert("apiVersion".into(), json!(kind.resource.api_version));
    document.insert("kind".into(), json!(kind.resource.kind));
    document.insert("metadata".into(), Value::Object(metadata));
    if let Some(spec) = object.data.get("spec") {
        document.insert("spec".into(), spec.clone());
    }
    SourceFile {
        path: PathBuf::from(origin(kind, object)),
        text: Value::Object(document).to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_source_keeps_the_spec_and_drops_status_and_server_metadata() {
        let kinds = policy_kinds();
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "policy.portcullis.dev/v1alpha1",
            "kind": "ImagePolicy",
            "metadata": {"name": "signed", "namespace": "team-a", "resourceVersion": "7",
                         "generation": 2, "uid": "u"},
            "spec": {"images": ["a/*"]},
            "status": {"conditions": []},
        }))
        .unwrap();
        let kind = kinds
            .iter()
            .find(|k| k.resource.kind == "ImagePolicy")
            .unwrap();
        let source = source(kind, &object);
        assert_eq!(source.path, PathBuf::from("ImagePolicy/team-a/signed"));
        let document: Value = serde_json::from_str(&source.text).unwrap();
        assert_eq!(
            document,
            json!({
                "apiVersion": "policy.portcullis.dev/v1alpha1",
                "kind": "ImagePolicy",
                "metadata": {"name": "signed", "namespace": "team-a"},
                "spec": {"images": ["a/*"]},
            })
        );
        assert_eq!(kinds.iter().filter(|k| k.namespaced).count(), 3);
    }
}
