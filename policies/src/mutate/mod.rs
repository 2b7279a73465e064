//! Mutations as RFC 6902 JSON Patch: digest pinning and defaults, built against a working copy
//! of the admitted object so later mutations (and validation) see earlier ones.
//!
//! Every operation is applied to the working copy as it is recorded, so the recorded sequence
//! is exactly one that applies cleanly to the original object with `json_patch::patch`. Setters
//! only touch unset fields (missing or `null`) and create missing parent objects in a single
//! `add`, which keeps patches small and makes a second evaluation of the patched object produce
//! no operations at all (idempotence). Which fields to default is decided in [`defaults`].

pub mod defaults;

use std::borrow::Cow;

use json_patch::{AddOperation, PatchOperation, ReplaceOperation};
use serde_json::{Map, Value};

use crate::path::{FieldPath, Segment};

/// A working copy of the object plus the operations applied to it so far. The copy is made at
/// the first operation: most admitted objects need none, and then nothing is copied.
#[derive(Debug, Clone)]
pub struct Mutator<'a> {
    doc: Cow<'a, Value>,
    ops: Vec<PatchOperation>,
}

impl<'a> Mutator<'a> {
    pub fn new(doc: Value) -> Self {
        Self {
            doc: Cow::Owned(doc),
            ops: Vec::new(),
        }
    }

    /// Mutations of `doc`, copied only once an operation is recorded.
    pub fn of(doc: &'a Value) -> Self {
        Self {
            doc: Cow::Borrowed(doc),
            ops: Vec::new(),
        }
    }

    /// The object with every recorded operation applied.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// Operations recorded so far.
    pub fn ops(&self) -> &[PatchOperation] {
        &self.ops
    }

    /// The operations, without the working copy.
    pub fn into_ops(self) -> Vec<PatchOperation> {
        self.ops
    }

    pub fn into_parts(self) -> (Value, Vec<PatchOperation>) {
        (self.doc.into_owned(), self.ops)
    }

    /// Sets `path` to `value` unless it is already set. Missing parent objects are created in
    /// the same operation. Returns whether an operation was recorded; nothing is recorded when
    /// the path crosses a missing array element or a non-object value.
    pub fn set_if_unset(&mut self, path: &FieldPath, value: Value) -> bool {
        let segs = path.segments();
        let mut cur: &Value = &self.doc;
        for (i, seg) in segs.iter().enumerate() {
            let next = match seg {
                Segment::Key(k) => cur.as_object().map(|o| o.get(k)),
                Segment::Index(n) => cur.as_array().map(|a| a.get(*n)),
            };
            let Some(next) = next else {
                return false; // parent is not a container of the right kind
            };
            match next {
                Some(v) if !v.is_null() => cur = v,
                _ => {
                    // First unset step: add it with the rest of the path nested inside.
                    if matches!(seg, Segment::Index(_)) {
                        return false;
                    }
                    let Some(nested) = nest(&segs[i + 1..], value) else {
                        return false;
                    };
                    let prefix = FieldPath::from_segments(&segs[..=i]);
                    return self.record(PatchOperation::Add(AddOperation {
                        path: prefix.pointer_buf(),
                        value: nested,
                    }));
                }
            }
        }
        false // already set
    }

    /// Fills `desired` into `path` without overwriting anything: an unset `path` gets all of
    /// `desired` in one `add`; an existing object gets each unset member of `desired`, recursing
    /// into nested objects. Returns whether anything was recorded.
    pub fn fill(&mut self, path: &FieldPath, desired: Value) -> bool {
        match (path.get(&self.doc), desired) {
            (None | Some(Value::Null), desired) => self.set_if_unset(path, desired),
            (Some(Value::Object(_)), Value::Object(members)) => {
                let mut recorded = false;
                for (k, v) in members {
                    recorded |= self.fill(&path.key(&k), v);
                }
                recorded
            }
            _ => false, // already set
        }
    }

    /// Replaces the existing value at `path` (a no-op if it already equals `value`).
    pub fn replace(&mut self, path: &FieldPath, value: Value) -> bool {
        match path.get(&self.doc) {
            Some(old) if *old == value => false,
            Some(_) => self.record(PatchOperation::Replace(ReplaceOperation {
                path: path.pointer_buf(),
                value,
            })),
            None => false,
        }
    }

    fn record(&mut self, op: PatchOperation) -> bool {
        match json_patch::patch(self.doc.to_mut(), std::slice::from_ref(&op)) {
            Ok(()) => {
                self.ops.push(op);
                true
            }
            // Cannot happen for operations built from paths checked above; if it did, the
            // working copy is unchanged (json_patch rolls back) and nothing is recorded.
            Err(_) => false,
        }
    }
}

/// `{"a": {"b": value}}` for keys `[a, b]`; `None` if the rest crosses an array index.
fn nest(rest: &[Segment], value: Value) -> Option<Value> {
    rest.iter().rev().try_fold(value, |acc, seg| match seg {
        Segment::Key(k) => {
            let mut m = Map::new();
            m.insert(k.clone(), acc);
            Some(Value::Object(m))
        }
        Segment::Index(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn creates_parents_in_one_add_and_is_idempotent() {
        let orig = json!({"spec": {"containers": [{"name": "a", "securityContext": null}]}});
        let mut m = Mutator::new(orig.clone());
        let p = FieldPath::of(&["spec", "containers"]).index(0).keys(&[
            "securityContext",
            "capabilities",
            "drop",
        ]);
        assert!(m.set_if_unset(&p, json!(["ALL"])));
        assert!(!m.set_if_unset(&p, json!(["NET_RAW"])), "already set");
        let sibling = FieldPath::of(&["spec", "containers"])
            .index(0)
            .keys(&["securityContext", "allowPrivilegeEscalation"]);
        assert!(m.set_if_unset(&sibling, json!(false)));
        assert!(!m.set_if_unset(
            &FieldPath::of(&["spec", "containers"]).index(5).key("x"),
            json!(1)
        ));
        let (doc, ops) = m.into_parts();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].path().as_str(), "/spec/containers/0/securityContext");
        let mut replayed = orig;
        json_patch::patch(&mut replayed, &ops).unwrap();
        assert_eq!(replayed, doc);
        assert_eq!(
            doc["spec"]["containers"][0]["securityContext"],
            json!({"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": false})
        );
    }

    #[test]
    fn fill_adds_only_missing_members() {
        let mut m = Mutator::new(json!({"sc": {"capabilities": {"add": ["X"]}, "runAsUser": 5}}));
        let desired = json!({"runAsUser": 0, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
        assert!(m.fill(&FieldPath::of(&["sc"]), desired.clone()));
        assert_eq!(
            m.doc()["sc"],
            json!({"runAsUser": 5, "allowPrivilegeEscalation": false, "capabilities": {"add": ["X"], "drop": ["ALL"]}})
        );
        assert_eq!(m.ops().len(), 2);
        assert!(
            !m.fill(&FieldPath::of(&["sc"]), desired.clone()),
            "idempotent"
        );
        assert!(m.fill(&FieldPath::of(&["other"]), desired));
        assert_eq!(m.ops().len(), 3, "a missing object is added whole");
    }

    #[test]
    fn escapes_keys_in_pointers() {
        let mut m = Mutator::new(json!({"resources": {"limits": {}}}));
        assert!(m.set_if_unset(
            &FieldPath::of(&["resources", "limits", "nvidia.com/gpu"]),
            json!("1")
        ));
        assert_eq!(
            m.ops()[0].path().as_str(),
            "/resources/limits/nvidia.com~1gpu"
        );
        assert_eq!(m.doc()["resources"]["limits"]["nvidia.com/gpu"], "1");
    }

    #[test]
    fn a_borrowed_object_is_copied_at_the_first_operation_only() {
        let orig = json!({"image": "a"});
        let mut m = Mutator::of(&orig);
        assert!(!m.replace(&FieldPath::of(&["image"]), json!("a")));
        assert!(matches!(m.doc, Cow::Borrowed(_)), "no operation, no copy");
        assert!(m.replace(&FieldPath::of(&["image"]), json!("b")));
        assert!(matches!(m.doc, Cow::Owned(_)));
        assert_eq!(m.doc()["image"], "b");
        assert_eq!(orig["image"], "a", "the original is untouched");
        assert_eq!(m.into_ops().len(), 1);
    }

    #[test]
    fn replace_only_when_different() {
        let mut m = Mutator::new(json!({"image": "a"}));
        assert!(!m.replace(&FieldPath::of(&["image"]), json!("a")));
        assert!(m.replace(&FieldPath::of(&["image"]), json!("b")));
        assert!(!m.replace(&FieldPath::of(&["nope"]), json!("b")));
        assert_eq!(m.ops().len(), 1);
    }
}
