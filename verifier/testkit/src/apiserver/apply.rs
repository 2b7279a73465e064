//! Writes of a whole object through its main resource (`PATCH …/{plural}/{name}`): a
//! server-side apply, which creates the object when there is none, and a JSON merge patch.
//! These functions only compute the object to store; the store stamps it (uid,
//! resourceVersion, generation, the stored status) and emits the watch event.
//!
//! Server-side apply is simplified to a single manager's view of the object. Ownership is
//! tracked per top-level field, per `metadata` field and per label and annotation key, read back
//! from the manager's own `managedFields` entry: an applied field replaces the stored one whole
//! (no merging inside `spec` or lists), and a field (or key) the manager applied last time and
//! no longer applies is removed. An applied `null` removes the field and is not owned. Other
//! managers' fields are never removed and never conflict, so `force` changes nothing. `status`
//! is not written through the main resource, and the fields the server sets (`uid`,
//! `resourceVersion`, `generation`, `creationTimestamp`, …) are ignored in a body.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::Resource;
use super::managed::{self, Owned, Writer};
use super::patch::merge_patch;
use super::wire::Failure;

/// The top-level fields that are not the manager's to apply.
const NOT_APPLIED: &[&str] = &["apiVersion", "kind", "metadata", "status"];

/// `metadata` fields that name the object or that the server sets; a body's values are ignored.
const FIXED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// `metadata` maps whose keys are owned one by one.
const KEYED_METADATA: [&str; 2] = ["labels", "annotations"];

/// The object a write names by its path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) resource: &'a Resource,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) name: &'a str,
}

/// The object after `manager` applied `body` to `stored` (`None`: a create).
pub(crate) fn apply(
    target: Target<'_>,
    stored: Option<&Value>,
    body: &Value,
    manager: &str,
) -> Result<Value, Failure> {
    check_applied(target, body)?;
    let writer = Writer {
        manager,
        operation: "Apply",
        subresource: None,
    };
    let mut object = stored.cloned().unwrap_or_else(|| skeleton(target));
    let before = stored
        .map(|s| managed::owned_by(s, writer))
        .unwrap_or_default();
    let mut owned = Owned::default();
    let empty = Map::new();
    let applied = body.as_object().unwrap_or(&empty);
    let applied_meta = applied
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(top) = object.as_object_mut() {
        owned.fields = apply_map(top, applied, &before.fields, NOT_APPLIED);
    }
    let mut meta = take_metadata(&mut object);
    let skip: Vec<&str> = FIXED_METADATA
        .iter()
        .chain(&KEYED_METADATA)
        .copied()
        .collect();
    owned.metadata = apply_map(&mut meta, applied_meta, &before.metadata, &skip);
    for (field, before) in KEYED_METADATA
        .into_iter()
        .zip([&before.labels, &before.annotations])
    {
        let applied = applied_meta
            .get(field)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut keys = meta
            .get(field)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let now = apply_map(&mut keys, applied, before, &[]);
        if keys.is_empty() {
            meta.remove(field);
        } else {
            meta.insert(field.into(), Value::Object(keys));
        }
        match field {
            "labels" => owned.labels = now,
            _ => owned.annotations = now,
        }
    }
    object["metadata"] = Value::Object(meta);
    managed::record_owned(&mut object, writer, &owned);
    Ok(object)
}

/// `stored` with `body` merged in (RFC 7386) everywhere but `status`, the object's identity and
/// the fields the server sets; `manager` is recorded as an `Update`.
pub(crate) fn merge(stored: &Value, body: &Value, manager: &str) -> Value {
    let mut object = stored.clone();
    let mut patch = body.clone();
    if let Some(p) = patch.as_object_mut() {
        p.remove("status");
        p.remove("apiVersion");
        p.remove("kind");
    }
    merge_patch(&mut object, &patch);
    let mut meta = take_metadata(&mut object);
    for field in FIXED_METADATA {
        match stored["metadata"].get(*field) {
            Some(v) => meta.insert((*field).to_owned(), v.clone()),
            None => meta.remove(*field),
        };
    }
    object["metadata"] = Value::Object(meta);
    match stored.get("status") {
        Some(status) => object["status"] = status.clone(),
        None => {
            if let Some(o) = object.as_object_mut() {
                o.remove("status");
            }
        }
    }
    let writer = Writer {
        manager,
        operation: "Update",
        subresource: None,
    };
    managed::record_owned(&mut object, writer, &patched(&patch));
    object
}

/// `400 Bad Request` unless the body is an object of the served kind named as the path names it.
fn check_applied(target: Target<'_>, body: &Value) -> Result<(), Failure> {
    let expected = target.resource.api_version();
    let api_version = body["apiVersion"].as_str().unwrap_or_default();
    if api_version != expected {
        return Err(Failure::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {api_version}, expected: {expected}"
        )));
    }
    let kind = body["kind"].as_str().unwrap_or_default();
    if kind != target.resource.kind {
        return Err(Failure::bad_request(format!(
            "the kind in the apply patch ({kind}) is not the kind served at this path ({})",
            target.resource.kind
        )));
    }
    let meta = &body["metadata"];
    if meta.get("managedFields").is_some() {
        return Err(Failure::bad_request("metadata.managedFields must be nil"));
    }
    let name = meta["name"].as_str().unwrap_or_default();
    if name != target.name {
        return Err(Failure::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            target.name
        )));
    }
    // As the real server does, a namespace is only checked against a namespace in the path.
    if let (Some(path_ns), Some(ns)) = (target.namespace, meta["namespace"].as_str())
        && ns != path_ns
    {
        return Err(Failure::bad_request(format!(
            "the namespace of the object ({ns}) does not match the namespace on the URL ({path_ns})"
        )));
    }
    Ok(())
}

/// The object a create starts from: its kind and identity, nothing else.
fn skeleton(target: Target<'_>) -> Value {
    let mut metadata = json!({ "name": target.name });
    if let Some(ns) = target.namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": target.resource.api_version(),
        "kind": target.resource.kind,
        "metadata": metadata,
    })
}

/// `object.metadata`, taken out of the object (an empty map when it has none).
fn take_metadata(object: &mut Value) -> Map<String, Value> {
    match object.as_object_mut().and_then(|o| o.remove("metadata")) {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    }
}

/// Applies the fields of `applied` (but `skip`) to `target`: each replaces the stored one, a
/// `null` removes it, and the fields in `before` that are applied no more are removed. Returns
/// the fields now owned.
fn apply_map(
    target: &mut Map<String, Value>,
    applied: &Map<String, Value>,
    before: &BTreeSet<String>,
    skip: &[&str],
) -> BTreeSet<String> {
    let mut now = BTreeSet::new();
    for (k, v) in applied.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
        if v.is_null() {
            target.remove(k);
        } else {
            target.insert(k.clone(), v.clone());
            now.insert(k.clone());
        }
    }
    for gone in before.difference(&now) {
        if !skip.contains(&gone.as_str()) {
            target.remove(gone);
        }
    }
    now
}

/// What a merge patch set (its non-null fields), for its `managedFields` entry.
fn patched(patch: &Value) -> Owned {
    let set = |v: &Value, skip: &[&str]| -> BTreeSet<String> {
        v.as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| !v.is_null() && !skip.contains(&k.as_str()))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let meta = &patch["metadata"];
    let skip: Vec<&str> = FIXED_METADATA
        .iter()
        .chain(&KEYED_METADATA)
        .copied()
        .collect();
    Owned {
        fields: set(patch, NOT_APPLIED),
        metadata: set(meta, &skip),
        labels: set(&meta["labels"], &[]),
        annotations: set(&meta["annotations"], &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reports() -> Resource {
        Resource::namespaced(
            "wgpolicyk8s.io",
            "v1alpha2",
            "PolicyReport",
            "policyreports",
        )
    }

    fn target(resource: &Resource) -> Target<'_> {
        Target {
            resource,
            namespace: Some("apps"),
            name: "r",
        }
    }

    fn report(metadata: Value, rest: Value) -> Value {
        let mut body = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
                              "metadata": metadata});
        if let (Some(b), Some(r)) = (body.as_object_mut(), rest.as_object()) {
            b.extend(r.clone());
        }
        body
    }

    #[test]
    fn a_create_takes_the_applied_fields_and_ignores_status_and_server_fields() {
        let r = reports();
        let body = report(
            json!({"name": "r", "uid": "forged", "labels": {"app": "web"}}),
            json!({"summary": {"pass": 1}, "status": {"x": 1}, "scope": null}),
        );
        let out = apply(target(&r), None, &body, "portcullis").unwrap();
        assert_eq!(out["metadata"]["namespace"], "apps");
        assert_eq!(out["metadata"].get("uid"), None);
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(out["summary"], json!({"pass": 1}));
        assert_eq!((out.get("status"), out.get("scope")), (None, None));
        let entry = &out["metadata"]["managedFields"][0];
        assert_eq!(
            entry["fieldsV1"],
            json!({"f:summary": {}, "f:metadata": {"f:labels": {"f:app": {}}}})
        );
    }

    #[test]
    fn a_reapply_drops_what_the_manager_no_longer_applies_and_keeps_the_rest() {
        let r = reports();
        let first = report(
            json!({"name": "r", "labels": {"a": "1", "b": "2"}, "annotations": {"n": "x"}}),
            json!({"results": [1], "summary": {"pass": 1}}),
        );
        let mut stored = apply(target(&r), None, &first, "portcullis").unwrap();
        // Someone else's label, field and the status stay.
        stored["metadata"]["labels"]["team"] = json!("t");
        stored["extra"] = json!(true);
        stored["status"] = json!({"s": 1});
        let second = report(
            json!({"name": "r", "labels": {"a": "3"}}),
            json!({"summary": {"pass": 0}}),
        );
        let out = apply(target(&r), Some(&stored), &second, "portcullis").unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"a": "3", "team": "t"}));
        assert_eq!(out["metadata"].get("annotations"), None);
        assert_eq!(out.get("results"), None);
        assert_eq!(out["summary"], json!({"pass": 0}));
        assert_eq!(
            (&out["extra"], &out["status"]),
            (&json!(true), &json!({"s": 1}))
        );
        // Another manager owns nothing here, so its apply removes nothing.
        let other = report(json!({"name": "r"}), json!({}));
        let kept = apply(target(&r), Some(&out), &other, "kubectl").unwrap();
        assert_eq!(kept["summary"], json!({"pass": 0}));
        assert_eq!(
            kept["metadata"]["managedFields"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn an_apply_names_the_served_kind_and_the_object_of_the_path() {
        let r = reports();
        let refused = |body: Value| {
            apply(target(&r), None, &body, "m")
                .err()
                .map(|f| (f.code.as_u16(), f.message))
        };
        let named =
            |name: &str, ns: &str| report(json!({"name": name, "namespace": ns}), json!({}));
        assert_eq!(
            refused(named("other", "apps")),
            Some((
                400,
                "the name of the object (other) does not match the name on the URL (r)".into()
            ))
        );
        assert_eq!(
            refused(named("r", "else")),
            Some((
                400,
                "the namespace of the object (else) does not match the namespace on the URL (apps)"
                    .into()
            ))
        );
        let mut old = named("r", "apps");
        old["apiVersion"] = json!("wgpolicyk8s.io/v1alpha1");
        assert_eq!(
            refused(old),
            Some((
                400,
                "Incorrect version specified in apply patch. Specified patch version: wgpolicyk8s.io/v1alpha1, expected: wgpolicyk8s.io/v1alpha2".into()
            ))
        );
        let mut cluster = named("r", "apps");
        cluster["kind"] = json!("ClusterPolicyReport");
        assert_eq!(refused(cluster).map(|(c, _)| c), Some(400));
        let mut owned = named("r", "apps");
        owned["metadata"]["managedFields"] = json!([]);
        assert_eq!(
            refused(owned),
            Some((400, "metadata.managedFields must be nil".into()))
        );
    }

    #[test]
    fn a_merge_patch_leaves_identity_status_and_server_fields_alone() {
        let stored = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": {"name": "r", "namespace": "apps", "uid": "u", "labels": {"a": "1"}},
            "summary": {"pass": 1, "fail": 0}, "status": {"s": 1}});
        let patch = json!({"kind": "Other", "status": null,
            "metadata": {"name": "x", "uid": "forged", "labels": {"a": null, "b": "2"}},
            "summary": {"fail": 2}});
        let out = merge(&stored, &patch, "unknown");
        assert_eq!(out["kind"], "PolicyReport");
        assert_eq!(
            (&out["metadata"]["name"], &out["metadata"]["uid"]),
            (&json!("r"), &json!("u"))
        );
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(out["summary"], json!({"pass": 1, "fail": 2}));
        assert_eq!(out["status"], json!({"s": 1}));
        let entry = &out["metadata"]["managedFields"][0];
        assert_eq!(
            (entry["operation"].as_str(), &entry["fieldsV1"]),
            (
                Some("Update"),
                &json!({"f:summary": {}, "f:metadata": {"f:labels": {"f:b": {}}}})
            )
        );
    }
}
