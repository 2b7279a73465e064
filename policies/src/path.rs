//! Field paths into the admitted object, printed two ways: the dotted form humans read in deny
//! reasons (`spec.template.spec.containers[0].securityContext.runAsNonRoot`) and the RFC 6901 JSON
//! Pointer that JSON Patch operations need (`/spec/template/spec/containers/0/securityContext`).
//!
//! One type builds both, so a reason's path and the patch that would fix it never disagree. Keys
//! that are not plain identifiers (annotation keys, resource names such as `nvidia.com/gpu`) print
//! in bracket form (`metadata.annotations["a.b/c"]`) and are escaped in pointers (`~1`, `~0`).

use std::fmt;

use json_patch::jsonptr::PointerBuf;

/// One step of a path: an object member or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the root of a JSON document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        Self::default()
    }

    /// A path from its segments.
    pub fn from_segments(segments: &[Segment]) -> Self {
        Self(segments.to_vec())
    }

    /// A path made of object keys only.
    pub fn of(keys: &[&str]) -> Self {
        Self(
            keys.iter()
                .map(|k| Segment::Key((*k).to_string()))
                .collect(),
        )
    }

    /// This path extended by an object member.
    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_string()));
        next
    }

    /// This path extended by several object members.
    pub fn keys(&self, keys: &[&str]) -> Self {
        let mut next = self.clone();
        next.0
            .extend(keys.iter().map(|k| Segment::Key((*k).to_string())));
        next
    }

    /// This path extended by an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The RFC 6901 JSON Pointer (`""` for the root).
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            out.push('/');
            match seg {
                Segment::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
                Segment::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }

    /// The pointer as json-patch's type. Escaping is done by `from_tokens`, which encodes `~`
    /// and `/` in each token exactly like [`FieldPath::pointer`].
    pub fn pointer_buf(&self) -> PointerBuf {
        PointerBuf::from_tokens(self.0.iter().map(|seg| match seg {
            Segment::Key(k) => json_patch::jsonptr::Token::new(k.clone()),
            Segment::Index(i) => json_patch::jsonptr::Token::new(i.to_string()),
        }))
    }

    /// Looks the path up in `doc`.
    pub fn get<'a>(&self, doc: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        let mut cur = doc;
        for seg in &self.0 {
            cur = match seg {
                Segment::Key(k) => cur.get(k.as_str())?,
                Segment::Index(i) => cur.get(*i)?,
            };
        }
        Some(cur)
    }
}

fn plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if plain(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Segment::Key(k) => write!(f, "[{k:?}]")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_and_pointer_forms() {
        let p = FieldPath::of(&["spec", "template", "spec", "containers"])
            .index(0)
            .keys(&["securityContext", "runAsNonRoot"]);
        assert_eq!(
            p.to_string(),
            "spec.template.spec.containers[0].securityContext.runAsNonRoot"
        );
        assert_eq!(
            p.pointer(),
            "/spec/template/spec/containers/0/securityContext/runAsNonRoot"
        );
        assert_eq!(FieldPath::root().pointer(), "");
    }

    #[test]
    fn special_keys_are_bracketed_and_escaped() {
        let p = FieldPath::of(&["metadata", "annotations"])
            .key("container.apparmor.security.beta.kubernetes.io/app");
        assert_eq!(
            p.to_string(),
            r#"metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"]"#
        );
        assert_eq!(
            p.pointer(),
            "/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1app"
        );
        let tilde = FieldPath::of(&["limits", "a~b/c"]);
        assert_eq!(tilde.pointer(), "/limits/a~0b~1c");
        assert_eq!(tilde.pointer_buf().as_str(), tilde.pointer());
    }

    #[test]
    fn get_follows_keys_and_indexes() {
        let doc = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let p = FieldPath::of(&["spec", "containers"]).index(1).key("name");
        assert_eq!(p.get(&doc), Some(&json!("b")));
        assert_eq!(FieldPath::of(&["spec", "nope"]).get(&doc), None);
    }
}
