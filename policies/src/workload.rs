//! Where the pod spec lives in each workload kind, and how to walk its containers.
//!
//! Pod (`spec`), Deployment, ReplicaSet, StatefulSet, DaemonSet, Job and ReplicationController
//! (`spec.template.spec`), CronJob (`spec.jobTemplate.spec.template.spec`). Every check works on
//! a [`Workload`] view so a pod spec gets the same verdict whatever wraps it, and every reason
//! carries the real path into the admitted object. Containers are visited in upstream Pod
//! Security Admission's order: init containers, containers, ephemeral containers.

use k8s_openapi::api::apps::v1::{DaemonSetSpec, DeploymentSpec, ReplicaSetSpec, StatefulSetSpec};
use k8s_openapi::api::batch::v1::{CronJobSpec, JobSpec};
use k8s_openapi::api::core::v1::{PodSpec, ReplicationControllerSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::path::FieldPath;
use crate::request::GroupVersionKind;

/// Kinds that carry a pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    Pod,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    ReplicationController,
}

impl WorkloadKind {
    /// Every workload kind, Pod first.
    pub const ALL: [WorkloadKind; 8] = [
        WorkloadKind::Pod,
        WorkloadKind::Deployment,
        WorkloadKind::ReplicaSet,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
        WorkloadKind::ReplicationController,
    ];

    /// The workload kind of `gvk`, if it carries a pod spec (group must match too).
    pub fn of(gvk: &GroupVersionKind) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == gvk.kind && k.group() == gvk.group)
    }

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "Pod",
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::ReplicationController => "ReplicationController",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            WorkloadKind::Pod | WorkloadKind::ReplicationController => "",
            WorkloadKind::Job | WorkloadKind::CronJob => "batch",
            _ => "apps",
        }
    }

    /// `apiVersion` of the kind's v1 API.
    pub fn api_version(self) -> &'static str {
        match self.group() {
            "" => "v1",
            "batch" => "batch/v1",
            _ => "apps/v1",
        }
    }

    /// Path from the object root to the pod template (the object itself for a Pod).
    fn template_path(self) -> FieldPath {
        match self {
            WorkloadKind::Pod => FieldPath::root(),
            WorkloadKind::CronJob => FieldPath::of(&["spec", "jobTemplate", "spec", "template"]),
            _ => FieldPath::of(&["spec", "template"]),
        }
    }

    /// Whether the pod template may change on UPDATE (Pods and Jobs are immutable there, apart
    /// from a Pod's images).
    pub fn template_mutable(self) -> bool {
        !matches!(self, WorkloadKind::Pod | WorkloadKind::Job)
    }

    /// Checks that `object`'s `metadata` and `spec` deserialise as this kind's Kubernetes types
    /// (k8s-openapi): what the API server's own decoding would accept, including unknown fields
    /// and missing optional ones. The rest of the object (`status`) is not read by the engine.
    pub fn check_shape(self, object: &Value) -> Result<(), ShapeError> {
        match self {
            WorkloadKind::Pod => shape::<PodSpec>(object),
            WorkloadKind::Deployment => shape::<DeploymentSpec>(object),
            WorkloadKind::ReplicaSet => shape::<ReplicaSetSpec>(object),
            WorkloadKind::StatefulSet => shape::<StatefulSetSpec>(object),
            WorkloadKind::DaemonSet => shape::<DaemonSetSpec>(object),
            WorkloadKind::Job => shape::<JobSpec>(object),
            WorkloadKind::CronJob => shape::<CronJobSpec>(object),
            WorkloadKind::ReplicationController => shape::<ReplicationControllerSpec>(object),
        }
    }

    /// Wraps a pod spec and its metadata into a minimal object of this kind, as the API
    /// server would accept it. For tests and the CLI.
    pub fn wrap(self, name: &str, pod_metadata: Value, pod_spec: Value) -> Value {
        use serde_json::json;
        let labels = json!({"app": name});
        let mut metadata = pod_metadata;
        if let Value::Object(m) = &mut metadata {
            m.remove("name");
            m.entry("labels").or_insert_with(|| labels.clone());
        }
        let template = json!({"metadata": metadata, "spec": pod_spec});
        let selector = json!({"matchLabels": labels});
        let spec = match self {
            WorkloadKind::Pod => {
                let mut meta = template["metadata"].clone();
                meta["name"] = json!(name);
                return json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]});
            }
            WorkloadKind::Deployment | WorkloadKind::ReplicaSet | WorkloadKind::DaemonSet => {
                json!({"selector": selector, "template": template})
            }
            WorkloadKind::StatefulSet => {
                json!({"selector": selector, "serviceName": name, "template": template})
            }
            WorkloadKind::Job => json!({"template": template}),
            WorkloadKind::CronJob => {
                json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}})
            }
            WorkloadKind::ReplicationController => {
                json!({"selector": labels, "template": template})
            }
        };
        json!({"apiVersion": self.api_version(), "kind": self.name(), "metadata": {"name": name}, "spec": spec})
    }
}

/// Where and why an object does not deserialise as its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// From the object root, as serde_path_to_error prints it (`spec.containers[0].ports`).
    pub path: String,
    pub cause: String,
}

/// The parts of a workload the engine reads, typed.
#[derive(Deserialize)]
#[expect(dead_code, reason = "deserialised only to check the object's shape")]
struct Typed<S> {
    // Missing or null: `None`, as serde reads an absent `Option`.
    metadata: Option<ObjectMeta>,
    spec: Option<S>,
}

fn shape<S: DeserializeOwned>(object: &Value) -> Result<(), ShapeError> {
    serde_path_to_error::deserialize::<_, Typed<S>>(object)
        .map(drop)
        .map_err(|e| ShapeError {
            path: e.path().to_string(),
            cause: e.into_inner().to_string(),
        })
}

/// Which container list a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerList {
    Init,
    Regular,
    Ephemeral,
}

impl ContainerList {
    /// In upstream's visiting order.
    pub const ALL: [ContainerList; 3] = [
        ContainerList::Init,
        ContainerList::Regular,
        ContainerList::Ephemeral,
    ];

    pub fn key(self) -> &'static str {
        match self {
            ContainerList::Init => "initContainers",
            ContainerList::Regular => "containers",
            ContainerList::Ephemeral => "ephemeralContainers",
        }
    }
}

/// One container of a pod spec.
#[derive(Debug, Clone)]
pub struct ContainerRef<'a> {
    pub list: ContainerList,
    pub index: usize,
    pub name: &'a str,
    pub value: &'a Value,
    /// From the object root, e.g. `spec.template.spec.initContainers[0]`.
    pub path: FieldPath,
}

impl ContainerRef<'_> {
    /// The image as written (empty if missing).
    pub fn image(&self) -> &str {
        self.value
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// A non-null `securityContext` member.
    pub fn security_context(&self) -> Option<&Value> {
        present(self.value.get("securityContext"))
    }
}

/// The pod spec of an admitted object, with the paths to it.
#[derive(Debug, Clone)]
pub struct Workload<'a> {
    pub kind: WorkloadKind,
    /// Pod (template) metadata, if present.
    pub metadata: Option<&'a Value>,
    pub metadata_path: FieldPath,
    pub spec: &'a Value,
    pub spec_path: FieldPath,
}

/// `None` and JSON `null` both mean "unset", as a nil pointer does upstream.
pub fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

impl<'a> Workload<'a> {
    /// Locates the pod spec of `object`; `None` when it has none (e.g. a template-less
    /// ReplicationController).
    pub fn locate(kind: WorkloadKind, object: &'a Value) -> Option<Self> {
        let template_path = kind.template_path();
        let template = template_path.get(object)?;
        let spec = present(template.get("spec")).filter(|s| s.is_object())?;
        Some(Self {
            kind,
            metadata: present(template.get("metadata")),
            metadata_path: template_path.key("metadata"),
            spec,
            spec_path: template_path.key("spec"),
        })
    }

    /// Init, regular and ephemeral containers, in that order.
    pub fn containers(&self) -> Vec<ContainerRef<'a>> {
        ContainerList::ALL
            .into_iter()
            .flat_map(|list| self.containers_in(list))
            .collect()
    }

    /// The containers of one list.
    pub fn containers_in(&self, list: ContainerList) -> Vec<ContainerRef<'a>> {
        let Some(items) = self.spec.get(list.key()).and_then(Value::as_array) else {
            return Vec::new();
        };
        let base = self.spec_path.key(list.key());
        items
            .iter()
            .enumerate()
            .map(|(index, value)| ContainerRef {
                list,
                index,
                name: value
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                value,
                path: base.index(index),
            })
            .collect()
    }

    /// A pod-spec field (`null` counts as unset).
    pub fn field(&self, key: &str) -> Option<&'a Value> {
        present(self.spec.get(key))
    }

    /// The pod-level `securityContext`.
    pub fn pod_security_context(&self) -> Option<&'a Value> {
        self.field("securityContext")
    }

    /// Pod (template) annotations.
    pub fn annotations(&self) -> Option<&'a serde_json::Map<String, Value>> {
        self.metadata?.get("annotations")?.as_object()
    }

    /// `spec.os.name == "windows"`.
    pub fn is_windows(&self) -> bool {
        self.field("os")
            .and_then(|os| os.get("name"))
            .and_then(Value::as_str)
            == Some("windows")
    }

    /// `spec.hostUsers == false` (a user-namespaced pod).
    pub fn in_user_namespace(&self) -> bool {
        self.field("hostUsers").and_then(Value::as_bool) == Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Value {
        json!({"initContainers": [{"name": "i", "image": "busybox"}],
               "containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}],
               "ephemeralContainers": [{"name": "e", "image": "debug"}]})
    }

    #[test]
    fn every_kind_wraps_and_locates_the_same_spec() {
        for kind in WorkloadKind::ALL {
            let obj = kind.wrap("w", json!({"annotations": {"x": "y"}}), spec());
            let gvk = GroupVersionKind::from_api_version(
                obj["apiVersion"].as_str().unwrap(),
                obj["kind"].as_str().unwrap(),
            );
            assert_eq!(WorkloadKind::of(&gvk), Some(kind));
            let w = Workload::locate(kind, &obj).unwrap();
            assert_eq!(w.spec, &spec(), "{kind:?}");
            assert_eq!(w.annotations().unwrap()["x"], "y");
            let names: Vec<&str> = w.containers().iter().map(|c| c.name).collect();
            assert_eq!(names, ["i", "a", "b", "e"]);
            let c = &w.containers()[2];
            assert_eq!(c.path.get(&obj), Some(c.value), "{kind:?} path {}", c.path);
        }
    }

    #[test]
    fn paths_are_real() {
        let obj = WorkloadKind::CronJob.wrap("c", json!({}), spec());
        let w = Workload::locate(WorkloadKind::CronJob, &obj).unwrap();
        assert_eq!(
            w.containers()[1].path.to_string(),
            "spec.jobTemplate.spec.template.spec.containers[0]"
        );
    }

    #[test]
    fn group_must_match() {
        assert_eq!(
            WorkloadKind::of(&GroupVersionKind::new("example.com", "v1", "Deployment")),
            None
        );
        assert_eq!(
            WorkloadKind::of(&GroupVersionKind::new("", "v1", "Service")),
            None
        );
    }
}
