//! The one model of an admission request: what the engine evaluates, read from the `request`
//! member of an AdmissionReview `admission.k8s.io/v1` (the webhook) or built from a plain
//! manifest (`portcullis evaluate`). Both go through one constructor and its checks, so a review
//! and the same object as a manifest are read alike.
//!
//! The envelope is plain serde ([`Request`] deserialises from the wire form) with the tolerance
//! the API server itself has: `group` may be missing on core kinds, `namespace` and `name` may be
//! missing (they fall back to the object's metadata), unknown extra fields are ignored. It is
//! strict where the engine could otherwise guess wrong: an unknown operation, a missing kind or a
//! missing object on CREATE/UPDATE is a [`RequestError`] naming the field.
//!
//! The object is strict too, for the kinds the engine reads ([`WorkloadKind`]): its `metadata`
//! and `spec` must deserialise as the Kubernetes types (k8s-openapi), or the request is
//! [`RequestError::Unreadable`] with the field path (`request.object.spec.containers: invalid
//! type: map, expected a sequence`). A pod spec the engine cannot read is refused, never waved
//! through because no container was found in it. Other kinds are policy-matched and custom rules
//! read them as JSON; they have no fixed type here.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::workload::WorkloadKind;

/// Admission operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    /// Whether the request carries a new object to check (CREATE/UPDATE).
    pub fn writes(self) -> bool {
        matches!(self, Operation::Create | Operation::Update)
    }

    /// The wire name (`CREATE`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// group/version/kind of the admitted object (`group` is empty, or absent on the wire, for the
/// core API group).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl GroupVersionKind {
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// The `apiVersion` (`apps/v1`, `v1`): the inverse of [`GroupVersionKind::from_api_version`].
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// From an `apiVersion` (`apps/v1`, `v1`) and a kind.
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        match api_version.split_once('/') {
            Some((group, version)) => Self::new(group, version, kind),
            None => Self::new("", api_version, kind),
        }
    }
}

impl fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}/{}", self.version, self.kind)
        } else {
            write!(f, "{}/{}/{}", self.group, self.version, self.kind)
        }
    }
}

/// What the engine evaluates, built by [`Request::from_admission_request`] or
/// [`Request::from_manifest`].
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Echoed by the webhook; empty for manifests.
    pub uid: String,
    pub operation: Operation,
    pub kind: GroupVersionKind,
    /// e.g. `ephemeralcontainers` for `pods/ephemeralcontainers`.
    pub sub_resource: Option<String>,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    pub username: String,
    pub groups: Vec<String>,
    /// The new object (`Value::Null` for DELETE/CONNECT).
    pub object: Value,
    pub old_object: Option<Value>,
    pub dry_run: bool,
}

/// The `request` member of an AdmissionReview v1 as it is on the wire: the fields the engine
/// reads, everything else ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmissionRequest {
    uid: String,
    kind: GroupVersionKind,
    operation: Operation,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    user_info: UserInfo,
    #[serde(default)]
    object: Option<Value>,
    #[serde(default)]
    old_object: Option<Value>,
    #[serde(default)]
    dry_run: Option<bool>,
}

/// `request.userInfo` (the fields policies match on).
#[derive(Debug, Clone, Default, Deserialize)]
struct UserInfo {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    groups: Option<Vec<String>>,
}

/// Why an admission request or manifest cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The envelope does not deserialise; `field` is `request` or `request.<path>`.
    #[error("{field}: {cause}")]
    Malformed { field: String, cause: String },
    #[error("request.object: {operation} needs an object, which is missing or null")]
    MissingObject { operation: Operation },
    /// The object (or old object) is not a readable instance of its kind.
    #[error("{field}: {cause} (not a valid {kind})")]
    Unreadable {
        /// From the request (`request.object.spec.containers`) or the manifest root.
        field: String,
        kind: GroupVersionKind,
        cause: String,
    },
    #[error("manifest: missing `{field}`")]
    Manifest { field: &'static str },
}

fn metadata_str<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get("metadata")?.get(key)?.as_str()
}

/// `prefix.path`, where either may be empty (`.` is serde_path_to_error's root).
fn join(prefix: &str, path: &str) -> String {
    match (prefix, path) {
        (p, "." | "") => p.to_string(),
        ("", p) => p.to_string(),
        (prefix, p) if p.starts_with('[') => format!("{prefix}{p}"),
        (prefix, p) => format!("{prefix}.{p}"),
    }
}

/// A JSON value's type, as serde names it in its errors.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a map",
    }
}

/// Refuses an object (`field` names where it is) that is not a JSON object or, for a kind the
/// engine reads, whose metadata or spec does not deserialise as the Kubernetes type.
fn check_object(field: &str, kind: &GroupVersionKind, object: &Value) -> Result<(), RequestError> {
    if !object.is_object() {
        return Err(RequestError::Unreadable {
            field: join(field, ""),
            kind: kind.clone(),
            cause: format!("expected an object, found {}", type_name(object)),
        });
    }
    match WorkloadKind::of(kind).map(|k| k.check_shape(object)) {
        Some(Err(e)) => Err(RequestError::Unreadable {
            field: join(field, &e.path),
            kind: kind.clone(),
            cause: e.cause,
        }),
        _ => Ok(()),
    }
}

impl Request {
    /// From the `request` member of an AdmissionReview `admission.k8s.io/v1`: a
    /// `serde_json::Value` (by value, so the object is moved rather than copied), a `&Value`, or
    /// any other serde deserializer. Errors name the field (`request.operation`,
    /// `request.object.spec.containers`).
    pub fn from_admission_request<'de, D>(request: D) -> Result<Self, RequestError>
    where
        D: serde::Deserializer<'de>,
    {
        let wire: AdmissionRequest =
            serde_path_to_error::deserialize(request).map_err(|e| RequestError::Malformed {
                field: join("request", &e.path().to_string()),
                cause: e.into_inner().to_string(),
            })?;
        Self::build(wire, "request.object")
    }

    /// A CREATE of `manifest` by an anonymous user, for offline evaluation, read with the same
    /// checks as an admission request. The namespace is the manifest's own or `default`; error
    /// paths start at the manifest's root (`spec.containers`). The manifest is moved in, not
    /// copied.
    pub fn from_manifest(manifest: Value) -> Result<Self, RequestError> {
        let api_version =
            manifest
                .get("apiVersion")
                .and_then(Value::as_str)
                .ok_or(RequestError::Manifest {
                    field: "apiVersion",
                })?;
        let kind = manifest
            .get("kind")
            .and_then(Value::as_str)
            .ok_or(RequestError::Manifest { field: "kind" })?;
        let wire = AdmissionRequest {
            uid: String::new(),
            kind: GroupVersionKind::from_api_version(api_version, kind),
            operation: Operation::Create,
            sub_resource: None,
            name: None,
            namespace: Some(
                metadata_str(&manifest, "namespace")
                    .unwrap_or("default")
                    .to_string(),
            ),
            user_info: UserInfo::default(),
            object: Some(manifest),
            old_object: None,
            dry_run: Some(true),
        };
        Self::build(wire, "")
    }

    /// The one constructor: checks the object (at `object_field`) and fills the defaults.
    fn build(wire: AdmissionRequest, object_field: &str) -> Result<Self, RequestError> {
        let operation = wire.operation;
        let object = match wire.object {
            None | Some(Value::Null) if operation.writes() => {
                return Err(RequestError::MissingObject { operation });
            }
            None => Value::Null,
            Some(object) => object,
        };
        let old_object = wire.old_object.filter(|o| !o.is_null());
        if operation.writes() {
            check_object(object_field, &wire.kind, &object)?;
            if operation == Operation::Update
                && let Some(old) = &old_object
            {
                check_object("request.oldObject", &wire.kind, old)?;
            }
        }
        let namespace = wire
            .namespace
            .or_else(|| metadata_str(&object, "namespace").map(str::to_string))
            .unwrap_or_default();
        let name = wire
            .name
            .or_else(|| {
                metadata_str(&object, "name")
                    .or_else(|| metadata_str(&object, "generateName"))
                    .map(str::to_string)
            })
            .unwrap_or_default();
        Ok(Self {
            uid: wire.uid,
            operation,
            kind: wire.kind,
            sub_resource: wire.sub_resource.filter(|s| !s.is_empty()),
            namespace,
            name,
            username: wire.user_info.username.unwrap_or_default(),
            groups: wire.user_info.groups.unwrap_or_default(),
            object,
            // DELETE/CONNECT: kept only when it is an object, as nothing reads it.
            old_object: old_object.filter(Value::is_object),
            dry_run: wire.dry_run.unwrap_or(false),
        })
    }

    /// The admitted object's own labels.
    pub fn labels(&self) -> Option<&serde_json::Map<String, Value>> {
        self.object.get("metadata")?.get("labels")?.as_object()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_request(object: Value) -> Value {
        json!({"uid": "u1", "operation": "CREATE", "kind": {"version": "v1", "kind": "Pod"},
               "object": object})
    }

    #[test]
    fn parses_a_minimal_request_with_defaults() {
        let r = Request::from_admission_request(pod_request(json!({
            "metadata": {"name": "p", "namespace": "ns1"}, "spec": {}, "unknownField": [1]
        })))
        .unwrap();
        assert_eq!(r.kind, GroupVersionKind::new("", "v1", "Pod"));
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("ns1", "p"));
        assert!(r.username.is_empty() && !r.dry_run && r.old_object.is_none());
    }

    #[test]
    fn api_version_round_trips() {
        for api_version in ["v1", "apps/v1", "batch/v1"] {
            assert_eq!(
                GroupVersionKind::from_api_version(api_version, "K").api_version(),
                api_version
            );
        }
    }

    #[test]
    fn the_constructor_reads_every_field() {
        let wire = json!({
            "uid": "u2", "operation": "UPDATE", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "namespace": "ns", "subResource": "", "dryRun": true,
            "userInfo": {"username": "alice", "groups": ["devs"], "uid": "x"},
            "object": {"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": []}}}},
            "oldObject": {"metadata": {"name": "d"}}
        });
        let r = Request::from_admission_request(&wire).unwrap();
        assert_eq!(r.username, "alice");
        assert_eq!(r.groups, ["devs"]);
        assert!(r.dry_run && r.sub_resource.is_none());
        assert_eq!(r.name, "d");
        let bad = pod_request(json!({"spec": {"containers": {}}}));
        let err = Request::from_admission_request(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("request.object.spec.containers"), "{err}");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                json!({"operation": "CREATE"}),
                "request: missing field `uid`",
            ),
            (
                json!({"uid": "x", "kind": {"version": "v1", "kind": "Pod"}}),
                "operation",
            ),
            (json!({"uid": "x", "operation": "CREATE"}), "kind"),
            (
                json!({"uid": "x", "operation": "CREATE", "kind": {"kind": "Pod"}}),
                "request.kind: missing field `version`",
            ),
            (
                json!({"uid": "x", "operation": "PATCH", "kind": {"version": "v1", "kind": "Pod"}}),
                "request.operation: unknown variant `PATCH`",
            ),
            (
                json!({"uid": "x", "operation": "CREATE", "kind": {"version": "v1", "kind": "Pod"}}),
                "object",
            ),
            (json!({"uid": 7, "operation": "CREATE"}), "request.uid"),
            (
                pod_request(json!("a pod")),
                "request.object: expected an object, found a string",
            ),
        ];
        for (req, needle) in cases {
            let err = Request::from_admission_request(&req)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle}");
        }
    }

    #[test]
    fn an_object_that_is_not_its_kind_is_unreadable() {
        let cases = [
            (
                json!({"spec": {"containers": {"name": "a", "image": "x"}}}),
                "request.object.spec.containers: invalid type: map, expected a sequence",
            ),
            (
                json!({"spec": {"containers": "nginx"}}),
                "request.object.spec.containers: invalid type: string \"nginx\", expected a sequence",
            ),
            (
                json!({"spec": {"containers": [{"name": "a", "securityContext": []}]}}),
                "request.object.spec.containers[0].securityContext: invalid type: sequence",
            ),
            (
                json!({"spec": 7}),
                "request.object.spec: invalid type: integer `7`",
            ),
            (
                json!({"metadata": {"labels": {"a": 1}}, "spec": {}}),
                "request.object.metadata.labels.a: invalid type: integer `1`",
            ),
        ];
        for (object, needle) in cases {
            let err = Request::from_admission_request(pod_request(object)).unwrap_err();
            assert!(matches!(err, RequestError::Unreadable { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.contains(needle), "{text:?} should contain {needle:?}");
            assert!(text.contains("v1/Pod"), "{text}");
        }
    }

    #[test]
    fn the_old_object_is_checked_on_update_only() {
        let mut update = json!({
            "uid": "x", "operation": "UPDATE", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "object": {"spec": {"template": {"spec": {"containers": []}}}},
            "oldObject": {"spec": {"template": {"spec": {"containers": {}}}}}
        });
        let err = Request::from_admission_request(&update)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("request.oldObject.spec.template.spec.containers: invalid type: map"),
            "{err}"
        );
        update["operation"] = json!("DELETE");
        update["object"] = Value::Null;
        assert!(Request::from_admission_request(&update).is_ok());
    }

    #[test]
    fn kinds_the_engine_does_not_read_are_not_typed() {
        let r = Request::from_admission_request(json!({
            "uid": "x", "operation": "CREATE", "kind": {"version": "v1", "kind": "ConfigMap"},
            "object": {"metadata": {"name": "c"}, "data": {"a": 1}, "spec": 7}
        }))
        .unwrap();
        assert_eq!(r.name, "c");
    }

    #[test]
    fn delete_needs_no_object() {
        let r = Request::from_admission_request(json!({
            "uid": "x", "operation": "DELETE", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "namespace": "default", "object": null, "oldObject": {"metadata": {"name": "d"}}
        }))
        .unwrap();
        assert_eq!(r.operation, Operation::Delete);
        assert!(r.object.is_null() && r.old_object.is_some());
    }

    #[test]
    fn manifests_are_read_with_the_same_checks() {
        let r = Request::from_manifest(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}),
        )
        .unwrap();
        assert_eq!(r.kind, GroupVersionKind::new("apps", "v1", "Deployment"));
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("default", "d"));
        assert!(r.dry_run && r.uid.is_empty());
        assert!(Request::from_manifest(json!({"kind": "Pod"})).is_err());
        let err = Request::from_manifest(json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": {}}}}}}}))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("spec.jobTemplate.spec.template.spec.containers: invalid type: map"),
            "{err}"
        );
    }
}
