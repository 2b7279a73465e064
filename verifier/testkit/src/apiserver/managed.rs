//! `metadata.managedFields`, simplified: one entry per (manager, operation, subresource), whose
//! `fieldsV1` names what that write touched, in the real `f:` notation but only as deep as this
//! server tracks ownership: top-level fields, `metadata` fields, and label and annotation keys.
//!
//! The entries are also where the simplified server-side apply of the main resource (see the
//! `apply` module) reads back what a manager applied last time, so the ownership a test sees in
//! the object is the ownership the server acts on. Entries of other managers are written but
//! never consulted: there are no conflicts and no shared ownership.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::wire::now_rfc3339;

/// What one write set, as far as ownership is tracked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Owned {
    /// Top-level fields other than `apiVersion`, `kind`, `metadata` and `status`.
    pub(crate) fields: BTreeSet<String>,
    /// `metadata` fields other than the object's identity, `labels` and `annotations`.
    pub(crate) metadata: BTreeSet<String>,
    pub(crate) labels: BTreeSet<String>,
    pub(crate) annotations: BTreeSet<String>,
}

impl Owned {
    /// The `fieldsV1` document naming these fields.
    fn to_fields_v1(&self) -> Value {
        let set = |keys: &BTreeSet<String>| -> Map<String, Value> {
            keys.iter().map(|k| (format!("f:{k}"), json!({}))).collect()
        };
        let mut metadata = set(&self.metadata);
        for (name, keys) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            if !keys.is_empty() {
                metadata.insert(format!("f:{name}"), Value::Object(set(keys)));
            }
        }
        let mut fields = set(&self.fields);
        if !metadata.is_empty() {
            fields.insert("f:metadata".into(), Value::Object(metadata));
        }
        Value::Object(fields)
    }

    /// The fields a `fieldsV1` document names (the inverse of `to_fields_v1`).
    fn from_fields_v1(fields: &Value) -> Self {
        let keys = |v: &Value| -> BTreeSet<String> {
            v.as_object()
                .into_iter()
                .flat_map(|m| m.keys())
                .filter_map(|k| k.strip_prefix("f:"))
                .map(str::to_owned)
                .collect()
        };
        let metadata = &fields["f:metadata"];
        let mut owned = Self {
            fields: keys(fields),
            metadata: keys(metadata),
            labels: keys(&metadata["f:labels"]),
            annotations: keys(&metadata["f:annotations"]),
        };
        owned.fields.remove("metadata");
        owned.metadata.remove("labels");
        owned.metadata.remove("annotations");
        owned
    }
}

/// One write: who, how, and through which subresource (`None`: the main resource).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writer<'a> {
    pub(crate) manager: &'a str,
    /// `Apply` or `Update`.
    pub(crate) operation: &'static str,
    pub(crate) subresource: Option<&'static str>,
}

impl Writer<'_> {
    fn is_author_of(&self, entry: &Value) -> bool {
        entry["manager"].as_str() == Some(self.manager)
            && entry["operation"].as_str() == Some(self.operation)
            && entry["subresource"].as_str() == self.subresource
    }
}

/// Records `writer` in `object`'s `managedFields`, replacing its previous entry.
pub(crate) fn record(object: &mut Value, writer: Writer<'_>, fields_v1: Value) {
    let mut entry = json!({
        "manager": writer.manager,
        "operation": writer.operation,
        "apiVersion": object["apiVersion"].clone(),
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1,
    });
    if let Some(sub) = writer.subresource {
        entry["subresource"] = json!(sub);
    }
    let meta = &mut object["metadata"];
    let mut entries = meta["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    entries.retain(|e| !writer.is_author_of(e));
    entries.push(entry);
    meta["managedFields"] = Value::Array(entries);
}

/// Records `writer` as the owner of `owned` in `object`.
pub(crate) fn record_owned(object: &mut Value, writer: Writer<'_>, owned: &Owned) {
    record(object, writer, owned.to_fields_v1());
}

/// What `writer` owned in `object` after its last write (nothing when it never wrote).
pub(crate) fn owned_by(object: &Value, writer: Writer<'_>) -> Owned {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| writer.is_author_of(e))
        .map(|e| Owned::from_fields_v1(&e["fieldsV1"]))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPLY: Writer<'static> = Writer {
        manager: "portcullis",
        operation: "Apply",
        subresource: None,
    };

    #[test]
    fn ownership_round_trips_through_the_managed_fields_entry() {
        let owned = Owned {
            fields: ["results".into(), "summary".into()].into(),
            metadata: ["ownerReferences".into()].into(),
            labels: ["app".into()].into(),
            annotations: BTreeSet::new(),
        };
        let mut object = json!({"apiVersion": "g/v1", "metadata": {}});
        record_owned(&mut object, APPLY, &owned);
        let entry = &object["metadata"]["managedFields"][0];
        assert_eq!(
            entry["fieldsV1"],
            json!({"f:results": {}, "f:summary": {},
                   "f:metadata": {"f:ownerReferences": {}, "f:labels": {"f:app": {}}}})
        );
        assert_eq!(entry.get("subresource"), None);
        assert_eq!(owned_by(&object, APPLY), owned);
    }

    #[test]
    fn each_writer_keeps_one_entry_and_others_own_nothing_of_it() {
        let mut object = json!({"apiVersion": "g/v1", "metadata": {}});
        let status = Writer {
            subresource: Some("status"),
            ..APPLY
        };
        record(&mut object, status, json!({"f:status": {}}));
        record_owned(&mut object, APPLY, &Owned::default());
        record_owned(
            &mut object,
            APPLY,
            &Owned {
                fields: ["spec".into()].into(),
                ..Owned::default()
            },
        );
        let entries = object["metadata"]["managedFields"].as_array().cloned();
        assert_eq!(entries.map(|e| e.len()), Some(2));
        assert_eq!(owned_by(&object, APPLY).fields.len(), 1);
        let other = Writer {
            manager: "kubectl",
            ..APPLY
        };
        assert_eq!(owned_by(&object, other), Owned::default());
    }
}
