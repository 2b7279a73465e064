//! Rendered manifest streams (multi-document YAML, as `kubectl kustomize` prints them) read into
//! `serde_json` values, and the look-ups the rest of rehearse needs: objects by kind and name,
//! and the namespaces they render (with the `kubernetes.io/metadata.name` label the API server
//! adds to every Namespace).
//!
//! It does not validate objects against their schemas (`make manifests` does that); it only
//! refuses what it cannot read: YAML errors, documents that are not objects, objects without
//! `kind`, `apiVersion` or `metadata.name`. `List` documents are flattened.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

/// Input that cannot be read as rendered manifests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("{origin}: cannot be read: {message}")]
    Io { origin: String, message: String },
    #[error("{origin}: not YAML: {message}")]
    Yaml { origin: String, message: String },
    #[error("{origin}: document {index} is not a mapping")]
    NotAnObject { origin: String, index: usize },
    #[error("{origin}: document {index} ({what}) has no {field}")]
    Missing {
        origin: String,
        index: usize,
        what: String,
        field: &'static str,
    },
}

/// One rendered stream.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Where it came from (file path), for messages.
    pub origin: String,
    pub objects: Vec<Value>,
}

impl Stream {
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Io {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&origin, &text)
    }

    pub fn parse(origin: &str, text: &str) -> Result<Self, ManifestError> {
        // kubectl reads YAML 1.1 numbers: `defaultMode: 0440` is octal (288), not 440.
        let mut options = serde_saphyr::Options::default();
        options.legacy_octal_numbers = true;
        let docs: Vec<Value> =
            serde_saphyr::from_multiple_with_options(text, options).map_err(|e| {
                ManifestError::Yaml {
                    origin: origin.to_string(),
                    message: e.to_string().lines().next().unwrap_or_default().to_string(),
                }
            })?;
        let mut objects = Vec::new();
        for (i, doc) in docs.into_iter().enumerate() {
            let index = i + 1;
            match doc {
                Value::Null => {}
                Value::Object(_) if kind(&doc) == "List" => {
                    for item in doc
                        .get("items")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        check(origin, index, item)?;
                        objects.push(item.clone());
                    }
                }
                Value::Object(_) => {
                    check(origin, index, &doc)?;
                    objects.push(doc);
                }
                _ => {
                    return Err(ManifestError::NotAnObject {
                        origin: origin.to_string(),
                        index,
                    });
                }
            }
        }
        Ok(Self {
            origin: origin.to_string(),
            objects,
        })
    }

    /// Objects of `kind` (any apiVersion).
    pub fn of_kind<'a, 'k>(&'a self, k: &'k str) -> impl Iterator<Item = &'a Value> + use<'a, 'k> {
        self.objects.iter().filter(move |o| kind(o) == k)
    }

    /// The object of `kind` named `name` in `namespace` (`""` for cluster-scoped).
    pub fn find(&self, k: &str, namespace: &str, n: &str) -> Option<&Value> {
        self.of_kind(k)
            .find(|o| name(o) == n && self::namespace(o) == namespace)
    }
}

fn check(origin: &str, index: usize, doc: &Value) -> Result<(), ManifestError> {
    let missing = |field| ManifestError::Missing {
        origin: origin.to_string(),
        index,
        what: format!("{} {}", kind(doc), name(doc)).trim().to_string(),
        field,
    };
    if !doc.is_object() {
        return Err(ManifestError::NotAnObject {
            origin: origin.to_string(),
            index,
        });
    }
    if kind(doc).is_empty() {
        return Err(missing("kind"));
    }
    if str_at(doc, "/apiVersion").is_empty() {
        return Err(missing("apiVersion"));
    }
    if name(doc).is_empty() {
        return Err(missing("metadata.name"));
    }
    Ok(())
}

/// The string at a JSON pointer, or `""`.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

pub fn kind(v: &Value) -> &str {
    str_at(v, "/kind")
}

pub fn name(v: &Value) -> &str {
    str_at(v, "/metadata/name")
}

pub fn namespace(v: &Value) -> &str {
    str_at(v, "/metadata/namespace")
}

/// The Namespaces of all streams, as the API server stores them.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    by_name: BTreeMap<String, Value>,
}

impl Namespaces {
    pub fn collect<'a>(streams: impl IntoIterator<Item = &'a Stream>) -> Self {
        let mut by_name = BTreeMap::new();
        for s in streams {
            for ns in s.of_kind("Namespace") {
                let mut ns = ns.clone();
                let n = name(&ns).to_string();
                // The API server sets this label on every Namespace (immutable, always there).
                if let Some(meta) = ns.get_mut("metadata").and_then(Value::as_object_mut) {
                    let labels = meta.entry("labels").or_insert_with(|| json!({}));
                    if let Some(l) = labels.as_object_mut() {
                        l.insert("kubernetes.io/metadata.name".into(), json!(n));
                    }
                }
                by_name.insert(n, ns);
            }
        }
        Self { by_name }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_streams_with_lists_and_empty_documents() {
        let text = "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: jobs\n  labels: {a: b}\n---\n---\n\
            apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c, namespace: jobs}\n  data: {k: v}\n";
        let s = Stream::parse("t.yaml", text).unwrap();
        assert_eq!(s.objects.len(), 2);
        assert_eq!(
            str_at(s.find("ConfigMap", "jobs", "c").unwrap(), "/data/k"),
            "v"
        );
        let ns = Namespaces::collect([&s]);
        let jobs = ns.get("jobs").unwrap();
        assert_eq!(
            str_at(jobs, "/metadata/labels/kubernetes.io~1metadata.name"),
            "jobs"
        );
        assert_eq!(str_at(jobs, "/metadata/labels/a"), "b");
    }

    #[test]
    fn modes_are_yaml_1_1_octal_as_kubectl_reads_them() {
        let s = Stream::parse(
            "t",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {mode: 0440, plain: 440}\n",
        )
        .unwrap();
        assert_eq!(s.objects[0]["spec"]["mode"], 288);
        assert_eq!(s.objects[0]["spec"]["plain"], 440);
    }

    #[test]
    fn unreadable_input_is_a_specific_error() {
        let e = Stream::parse("t.yaml", "a: [").unwrap_err();
        assert!(matches!(e, ManifestError::Yaml { .. }), "{e}");
        let e = Stream::parse("t.yaml", "- 1\n- 2\n").unwrap_err();
        assert_eq!(
            e,
            ManifestError::NotAnObject {
                origin: "t.yaml".into(),
                index: 1
            }
        );
        let e = Stream::parse("t.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {}\n").unwrap_err();
        assert!(e.to_string().contains("has no metadata.name"), "{e}");
    }
}
