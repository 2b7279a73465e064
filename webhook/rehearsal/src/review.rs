//! The AdmissionReview requests rehearse sends, built the way the API server builds them, and the
//! kinds it knows how to admit.
//!
//! Kinds: the pod-carrying workload kinds (and Namespace, for namespaceSelector look-ups). Each
//! maps to its group, version, plural resource and scope as served by a v1.35 API server. The
//! request carries `kind`/`resource` and the same `requestKind`/`requestResource` (no version
//! conversion happens here), `userInfo`, `options` (`CreateOptions`/`UpdateOptions`) and
//! `dryRun`. Not produced: DELETE and CONNECT requests, and subresource requests other than what
//! a case file asks for.

use serde_json::{Value, json};

use crate::rules::RequestAttrs;

/// A kind rehearse can send to webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Pod,
    ReplicationController,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Pod,
        Kind::ReplicationController,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
    ];

    /// The kind of a rendered object, when it is one of these (`apiVersion` must be the one
    /// a v1.35 API server serves it under).
    pub fn of(object: &Value) -> Option<Kind> {
        let api_version = object.get("apiVersion")?.as_str()?;
        let kind = object.get("kind")?.as_str()?;
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == kind && k.api_version() == api_version)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::ReplicationController => "ReplicationController",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            Kind::Pod | Kind::ReplicationController => "",
            Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet | Kind::DaemonSet => "apps",
            Kind::Job | Kind::CronJob => "batch",
        }
    }

    pub fn version(self) -> &'static str {
        "v1"
    }

    pub fn api_version(self) -> &'static str {
        match self.group() {
            "" => "v1",
            "apps" => "apps/v1",
            _ => "batch/v1",
        }
    }

    pub fn resource(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::ReplicationController => "replicationcontrollers",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::StatefulSet => "statefulsets",
            Kind::DaemonSet => "daemonsets",
            Kind::Job => "jobs",
            Kind::CronJob => "cronjobs",
        }
    }

    /// Checks that `object` decodes as this kind's k8s-openapi type (what the API server does
    /// with a patched object before it goes on).
    pub fn check_typed(self, object: &Value) -> Result<(), serde_json::Error> {
        use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
        let o = object.clone();
        match self {
            Kind::Pod => serde_json::from_value::<core::Pod>(o).map(drop),
            Kind::ReplicationController => {
                serde_json::from_value::<core::ReplicationController>(o).map(drop)
            }
            Kind::Deployment => serde_json::from_value::<apps::Deployment>(o).map(drop),
            Kind::ReplicaSet => serde_json::from_value::<apps::ReplicaSet>(o).map(drop),
            Kind::StatefulSet => serde_json::from_value::<apps::StatefulSet>(o).map(drop),
            Kind::DaemonSet => serde_json::from_value::<apps::DaemonSet>(o).map(drop),
            Kind::Job => serde_json::from_value::<batch::Job>(o).map(drop),
            Kind::CronJob => serde_json::from_value::<batch::CronJob>(o).map(drop),
        }
    }
}

/// Who sends a request (`request.userInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A service account's user, with the groups the API server gives it.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            username: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }

    /// A kube-controller-manager controller (`system:serviceaccount:kube-system:NAME`).
    pub fn controller(name: &str) -> Self {
        Self::service_account("kube-system", name)
    }
}

/// One admission request before it is wrapped for a particular webhook.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: Kind,
    pub subresource: String,
    /// `CREATE` or `UPDATE`.
    pub operation: String,
    pub namespace: String,
    /// `metadata.name`; empty for an object created with `generateName`, as the API server
    /// sends it.
    pub name: String,
    pub object: Value,
    pub old_object: Option<Value>,
    pub user: UserInfo,
    pub dry_run: bool,
}

impl Request {
    pub fn attrs(&self) -> RequestAttrs {
        RequestAttrs {
            group: self.kind.group().into(),
            version: self.kind.version().into(),
            resource: self.kind.resource().into(),
            subresource: self.subresource.clone(),
            operation: self.operation.clone(),
            namespaced: true,
        }
    }

    /// `request` of the AdmissionReview, without `object`/`oldObject` (the CEL `request`
    /// variable), for `uid`.
    pub fn request_fields(&self, uid: &str) -> Value {
        let gvk = json!({"group": self.kind.group(), "version": self.kind.version(), "kind": self.kind.name()});
        let gvr = json!({"group": self.kind.group(), "version": self.kind.version(), "resource": self.kind.resource()});
        let options_kind = if self.operation == "UPDATE" {
            "UpdateOptions"
        } else {
            "CreateOptions"
        };
        let mut r = json!({
            "uid": uid,
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": self.name,
            "namespace": self.namespace,
            "operation": self.operation,
            "userInfo": {"username": self.user.username, "groups": self.user.groups},
            "dryRun": self.dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind},
        });
        if !self.subresource.is_empty()
            && let Some(m) = r.as_object_mut()
        {
            m.insert("subResource".into(), json!(self.subresource));
            m.insert("requestSubResource".into(), json!(self.subresource));
        }
        r
    }

    /// The AdmissionReview body for one webhook call (`api_version` `admission.k8s.io/v1` or
    /// `/v1beta1`, the same shape).
    pub fn review(&self, uid: &str, api_version: &str) -> Value {
        let mut request = self.request_fields(uid);
        if let Some(m) = request.as_object_mut() {
            m.insert("object".into(), self.object.clone());
            m.insert(
                "oldObject".into(),
                self.old_object.clone().unwrap_or(Value::Null),
            );
        }
        json!({"apiVersion": api_version, "kind": "AdmissionReview", "request": request})
    }

    /// `Kind/namespace/name` (`generateName…` when the name is not generated yet).
    pub fn display_name(&self) -> String {
        display_name(self.kind, &self.object)
    }
}

/// `Kind/namespace/name` of an object; `Kind/namespace/prefix-…` for a `generateName` one.
pub fn display_name(kind: Kind, object: &Value) -> String {
    let meta = object.get("metadata");
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let name = match field("name") {
        "" => format!("{}…", field("generateName")),
        n => n.to_string(),
    };
    format!("{}/{}/{}", kind.name(), field("namespace"), name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn review_has_the_api_server_shape() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "jobs"}, "spec": {}});
        assert_eq!(Kind::of(&obj), Some(Kind::Deployment));
        assert_eq!(
            Kind::of(&json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment"})),
            None
        );
        let r = Request {
            kind: Kind::Deployment,
            subresource: String::new(),
            operation: "CREATE".into(),
            namespace: "jobs".into(),
            name: "api".into(),
            object: obj.clone(),
            old_object: None,
            user: UserInfo::service_account("flux-system", "kustomize-controller"),
            dry_run: false,
        };
        let review = r.review("uid-1", "admission.k8s.io/v1");
        assert_eq!(review["request"]["resource"]["resource"], "deployments");
        assert_eq!(review["request"]["kind"]["group"], "apps");
        assert_eq!(review["request"]["oldObject"], Value::Null);
        assert_eq!(review["request"]["object"], obj);
        assert_eq!(review["request"]["options"]["kind"], "CreateOptions");
        assert_eq!(
            review["request"]["userInfo"]["username"],
            "system:serviceaccount:flux-system:kustomize-controller"
        );
        assert!(r.request_fields("u").get("object").is_none());
        assert_eq!(r.display_name(), "Deployment/jobs/api");
    }

    #[test]
    fn typed_check_catches_wrong_field_types() {
        let good = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "x"}]}});
        Kind::Pod.check_typed(&good).unwrap();
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": 7}]}});
        assert!(Kind::Pod.check_typed(&bad).is_err());
    }
}
