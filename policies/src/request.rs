//! The parts of an admission request the engine needs, taken from an AdmissionReview v1
//! `request` member or from a plain manifest for offline evaluation (`portcullis check`).
//!
//! Parsing is tolerant where the API server itself is lenient in practice (missing `group` on
//! core kinds, missing `namespace`, unknown extra fields) and strict where the engine could
//! otherwise guess wrong: an unknown operation, a missing kind or a missing object on a
//! CREATE/UPDATE is a [`RequestError`] naming the field, which the webhook answers as invalid.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// Admission operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        })
    }
}

/// group/version/kind of the admitted object (`group` is empty for the core API group).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct GroupVersionKind {
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

/// What the engine evaluates.
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

/// Why an admission request or manifest cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("admission request: missing field `{field}`")]
    Missing { field: &'static str },
    #[error("admission request: field `{field}` must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error(
        "admission request: unknown operation {operation:?} (expected CREATE, UPDATE, DELETE or CONNECT)"
    )]
    Operation { operation: String },
    #[error("admission request: {operation} needs `object`, which is missing or null")]
    MissingObject { operation: Operation },
    #[error("manifest: missing `{field}`")]
    Manifest { field: &'static str },
}

fn str_field<'a>(v: &'a Value, field: &'static str) -> Result<Option<&'a str>, RequestError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RequestError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

fn metadata_str<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get("metadata")?.get(key)?.as_str()
}

impl Request {
    /// From the `request` member of an AdmissionReview `admission.k8s.io/v1`.
    pub fn from_admission_request(request: &Value) -> Result<Self, RequestError> {
        if !request.is_object() {
            return Err(RequestError::WrongType {
                field: "request",
                expected: "an object",
            });
        }
        let uid = str_field(request, "uid")?.ok_or(RequestError::Missing { field: "uid" })?;
        let op =
            str_field(request, "operation")?.ok_or(RequestError::Missing { field: "operation" })?;
        let operation = match op {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            "DELETE" => Operation::Delete,
            "CONNECT" => Operation::Connect,
            other => {
                return Err(RequestError::Operation {
                    operation: other.to_string(),
                });
            }
        };
        let kind_v = request
            .get("kind")
            .filter(|k| k.is_object())
            .ok_or(RequestError::Missing { field: "kind" })?;
        let kind = GroupVersionKind {
            group: str_field(kind_v, "group")?.unwrap_or_default().to_string(),
            version: str_field(kind_v, "version")?
                .ok_or(RequestError::Missing {
                    field: "kind.version",
                })?
                .to_string(),
            kind: str_field(kind_v, "kind")?
                .ok_or(RequestError::Missing { field: "kind.kind" })?
                .to_string(),
        };
        let object = match request.get("object") {
            None | Some(Value::Null) if operation.writes() => {
                return Err(RequestError::MissingObject { operation });
            }
            None => Value::Null,
            Some(o) if o.is_object() || o.is_null() => o.clone(),
            Some(_) => {
                return Err(RequestError::WrongType {
                    field: "object",
                    expected: "an object",
                });
            }
        };
        let old_object = request.get("oldObject").filter(|o| o.is_object()).cloned();
        let user = request.get("userInfo");
        let username = user
            .and_then(|u| u.get("username"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let groups = user
            .and_then(|u| u.get("groups"))
            .and_then(Value::as_array)
            .map(|gs| {
                gs.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let namespace = str_field(request, "namespace")?
            .or_else(|| metadata_str(&object, "namespace"))
            .unwrap_or_default()
            .to_string();
        let name = str_field(request, "name")?
            .or_else(|| metadata_str(&object, "name"))
            .or_else(|| metadata_str(&object, "generateName"))
            .unwrap_or_default()
            .to_string();
        Ok(Self {
            uid: uid.to_string(),
            operation,
            kind,
            sub_resource: str_field(request, "subResource")?
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            namespace,
            name,
            username,
            groups,
            object,
            old_object,
            dry_run: request
                .get("dryRun")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// A CREATE of `manifest` by an anonymous user, for offline evaluation. The namespace is
    /// the manifest's own or `default`.
    pub fn from_manifest(manifest: &Value) -> Result<Self, RequestError> {
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
        Ok(Self {
            uid: String::new(),
            operation: Operation::Create,
            kind: GroupVersionKind::from_api_version(api_version, kind),
            sub_resource: None,
            namespace: metadata_str(manifest, "namespace")
                .unwrap_or("default")
                .to_string(),
            name: metadata_str(manifest, "name")
                .unwrap_or_default()
                .to_string(),
            username: String::new(),
            groups: Vec::new(),
            object: manifest.clone(),
            old_object: None,
            dry_run: true,
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

    #[test]
    fn parses_a_minimal_request_with_defaults() {
        let r = Request::from_admission_request(&json!({
            "uid": "u1", "operation": "CREATE", "kind": {"version": "v1", "kind": "Pod"},
            "object": {"metadata": {"name": "p", "namespace": "ns1"}, "spec": {}}
        }))
        .unwrap();
        assert_eq!(r.kind, GroupVersionKind::new("", "v1", "Pod"));
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("ns1", "p"));
        assert!(r.username.is_empty() && !r.dry_run && r.old_object.is_none());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({"operation": "CREATE"}), "uid"),
            (
                json!({"uid": "x", "kind": {"version": "v1", "kind": "Pod"}}),
                "operation",
            ),
            (json!({"uid": "x", "operation": "CREATE"}), "kind"),
            (
                json!({"uid": "x", "operation": "CREATE", "kind": {"kind": "Pod"}}),
                "kind.version",
            ),
            (
                json!({"uid": "x", "operation": "PATCH", "kind": {"version": "v1", "kind": "Pod"}}),
                "PATCH",
            ),
            (
                json!({"uid": "x", "operation": "CREATE", "kind": {"version": "v1", "kind": "Pod"}}),
                "object",
            ),
            (json!({"uid": 7, "operation": "CREATE"}), "uid"),
        ];
        for (req, needle) in cases {
            let err = Request::from_admission_request(&req)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle}");
        }
    }

    #[test]
    fn delete_needs_no_object() {
        let r = Request::from_admission_request(&json!({
            "uid": "x", "operation": "DELETE", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "namespace": "default", "object": null, "oldObject": {"metadata": {"name": "d"}}
        }))
        .unwrap();
        assert_eq!(r.operation, Operation::Delete);
        assert!(r.object.is_null() && r.old_object.is_some());
    }

    #[test]
    fn manifest_defaults_namespace() {
        let r = Request::from_manifest(
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}),
        )
        .unwrap();
        assert_eq!(r.kind, GroupVersionKind::new("apps", "v1", "Deployment"));
        assert_eq!(r.namespace, "default");
        assert!(Request::from_manifest(&json!({"kind": "Pod"})).is_err());
    }
}
