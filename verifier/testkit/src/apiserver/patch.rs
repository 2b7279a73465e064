//! Status patches, as the `/status` subresource takes them: a JSON merge patch (RFC 7386,
//! `application/merge-patch+json`) or a server-side apply (`application/apply-patch+yaml`,
//! which kube-rs sends as JSON).
//!
//! Only `.status` of the body is used. Server-side apply is simplified: the applied status is
//! deep-merged into the stored one, and `conditions` lists are merged by `type` (they are
//! `listType: map` keyed by `type` in the conventions); every other list is replaced. Field
//! ownership is not tracked, so a field a manager stops applying is not removed, and there are
//! no conflicts. `metadata.managedFields` gets one simplified entry per (manager, operation),
//! see the `managed` module.

use serde_json::{Map, Value, json};

use super::managed::{self, Writer};

/// How the status is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Merge,
    Apply,
}

impl PatchKind {
    /// The patch kind a `Content-Type` names, if the server takes it.
    pub(crate) fn from_content_type(content_type: &str) -> Option<Self> {
        match content_type.split(';').next().map(str::trim) {
            Some("application/merge-patch+json") => Some(Self::Merge),
            Some("application/apply-patch+yaml") => Some(Self::Apply),
            _ => None,
        }
    }

    /// The `managedFields` operation the patch is recorded as.
    pub(crate) fn operation(self) -> &'static str {
        match self {
            Self::Merge => "Update",
            Self::Apply => "Apply",
        }
    }
}

/// `stored` with the status of `body` patched in and `manager` recorded in `managedFields`.
pub(crate) fn patch_status(kind: PatchKind, stored: &Value, body: &Value, manager: &str) -> Value {
    let mut object = stored.clone();
    let patch = body.get("status").cloned().unwrap_or(Value::Null);
    let mut status = object.get("status").cloned().unwrap_or(Value::Null);
    match kind {
        PatchKind::Merge => merge_patch(&mut status, &patch),
        PatchKind::Apply => apply(&mut status, &patch),
    }
    if let Some(o) = object.as_object_mut() {
        if status.is_null() {
            o.remove("status");
        } else {
            o.insert("status".into(), status);
        }
    }
    let writer = Writer {
        manager,
        operation: kind.operation(),
        subresource: Some("status"),
    };
    managed::record(&mut object, writer, json!({"f:status": {}}));
    object
}

/// RFC 7386: objects merge recursively, `null` removes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (k, v) in patch {
            if v.is_null() {
                target.remove(k);
            } else {
                merge_patch(target.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The simplified server-side apply described in the module docs.
fn apply(target: &mut Value, applied: &Value) {
    let Value::Object(applied) = applied else {
        if !applied.is_null() {
            *target = applied.clone();
        }
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (k, v) in applied {
            let slot = target.entry(k.clone()).or_insert(Value::Null);
            match (k.as_str(), v) {
                ("conditions", Value::Array(conditions)) => merge_by_type(slot, conditions),
                _ => apply(slot, v),
            }
        }
    }
}

/// Conditions merged by `type`: an applied condition replaces the stored one of its type, the
/// others stay, new types are appended.
fn merge_by_type(stored: &mut Value, applied: &[Value]) {
    let mut merged = stored.as_array().cloned().unwrap_or_default();
    for condition in applied {
        let ty = condition.get("type");
        match merged
            .iter_mut()
            .find(|c| ty.is_some() && c.get("type") == ty)
        {
            Some(slot) => *slot = condition.clone(),
            None => merged.push(condition.clone()),
        }
    }
    *stored = Value::Array(merged);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}, "l": [3]}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
    }

    #[test]
    fn apply_merges_conditions_by_type_and_replaces_other_lists() {
        let stored = json!({"apiVersion": "g/v1", "metadata": {}, "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "Synced", "status": "True"}],
            "images": ["a"],
        }});
        let body = json!({"status": {
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Degraded", "status": "False"}],
            "images": ["b"],
        }});
        let out = patch_status(PatchKind::Apply, &stored, &body, "portcullis");
        assert_eq!(
            out["status"],
            json!({
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "Synced", "status": "True"},
                    {"type": "Degraded", "status": "False"},
                ],
                "images": ["b"],
            })
        );
        assert_eq!(out["metadata"]["managedFields"][0]["operation"], "Apply");
        assert_eq!(out["metadata"]["managedFields"][0]["subresource"], "status");
    }

    #[test]
    fn content_types_name_the_patch_kind() {
        assert_eq!(
            PatchKind::from_content_type("application/apply-patch+yaml"),
            Some(PatchKind::Apply)
        );
        assert_eq!(
            PatchKind::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchKind::Merge)
        );
        assert_eq!(
            PatchKind::from_content_type("application/json-patch+json"),
            None
        );
    }
}
