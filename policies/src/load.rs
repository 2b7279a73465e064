//! Loading policy files: multi-document YAML → compiled policies, all or nothing.
//!
//! A file may hold several `---`-separated documents; empty documents are skipped. Any problem
//! in any document of any source fails the whole load with a [`LoadError`] that names the
//! source, the document number (1-based, counting non-empty documents), the line it starts on,
//! the policy kind and name when known, and the problem with its field path. The caller (the
//! webhook) then keeps serving with its last good set. Parsing is pure: callers read the files.

use serde_json::Value;

use crate::compile::{Compiled, Policy, PolicyError, compile, identity, label, namespace_of};
use crate::exception::{self, Exception};
use crate::images::TrustRoots;

/// Why a set of policies could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{origin}: document {document} (line {line}): not valid YAML: {message}")]
    Yaml {
        origin: String,
        document: usize,
        line: usize,
        message: String,
    },
    #[error("{origin}: document {document} (line {line}), {}: {source}", describe(.kind, .name))]
    Policy {
        origin: String,
        document: usize,
        line: usize,
        kind: Option<String>,
        name: Option<String>,
        #[source]
        source: Box<PolicyError>,
    },
    #[error("{kind} {:?} is defined twice: in {first} and in {second}", label(.namespace.as_deref(), .name))]
    Duplicate {
        kind: String,
        /// The namespace of a namespaced policy.
        namespace: Option<String>,
        name: String,
        first: String,
        second: String,
    },
}

fn describe(kind: &Option<String>, name: &Option<String>) -> String {
    match (kind, name) {
        (Some(k), Some(n)) => format!("{k} {n:?}"),
        (None, Some(n)) => format!("policy {n:?}"),
        (Some(k), None) => format!("{k} without a name"),
        (None, None) => "policy without kind or name".into(),
    }
}

/// A YAML document of a source, with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 1-based, counting non-empty documents.
    pub index: usize,
    /// 1-based line of the document's first line.
    pub line: usize,
    pub value: Value,
}

fn is_separator(line: &str) -> bool {
    line == "---" || line.starts_with("--- ") || line.starts_with("---\t")
}

/// Splits `text` at `---` lines (column 0, as YAML requires) and parses each document. YAML
/// errors report the line numbers of the file.
pub fn documents(origin: &str, text: &str) -> Result<Vec<Document>, LoadError> {
    // (first line number, lines)
    let mut chunks: Vec<(usize, Vec<&str>)> = vec![(1, Vec::new())];
    for (i, line) in text.lines().enumerate() {
        if is_separator(line) {
            chunks.push((i + 1, vec![line[3..].trim_start()]));
        } else if line == "..." {
            chunks.push((i + 2, Vec::new()));
        } else if let Some((_, lines)) = chunks.last_mut() {
            lines.push(line);
        }
    }
    let meaningful: Vec<(usize, String)> = chunks
        .into_iter()
        .filter(|(_, lines)| {
            lines
                .iter()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|(line, lines)| (line, lines.join("\n")))
        .collect();
    // Documents are independent: a long stream (a cluster dump, a kustomize rendering) is
    // parsed on every core, in order.
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(meaningful.len() / PARALLEL_FROM)
        .max(1);
    let per_thread = meaningful.len().div_ceil(threads).max(1);
    let parsed: Vec<Result<Option<Document>, LoadError>> = if threads == 1 {
        meaningful
            .iter()
            .map(|d| parse_document(origin, d))
            .collect()
    } else {
        std::thread::scope(|scope| {
            let workers: Vec<_> = meaningful
                .chunks(per_thread)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|d| parse_document(origin, d))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    // Numbered as documents that are not empty, as before they were parsed apart.
    let mut out = Vec::new();
    for result in parsed {
        match result {
            Ok(Some(mut doc)) => {
                doc.index = out.len() + 1;
                out.push(doc);
            }
            Ok(None) => {}
            Err(LoadError::Yaml {
                origin,
                line,
                message,
                ..
            }) => {
                return Err(LoadError::Yaml {
                    origin,
                    document: out.len() + 1,
                    line,
                    message,
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Below this many documents per core, one thread parses them all.
const PARALLEL_FROM: usize = 256;

/// One document (its first line and text); `None` when it is empty (`null`). Its number is
/// set by the caller, which alone knows how many documents before it were empty.
fn parse_document(
    origin: &str,
    (line, text): &(usize, String),
) -> Result<Option<Document>, LoadError> {
    let (document, line) = (0, *line);
    // A JSON document (`kubectl get -o json`, one object per document) is read as JSON, which
    // YAML 1.2 contains, several times faster. Only a document that fails is parsed again,
    // padded to its position so that the error names the file's line: padding every one would
    // make n documents cost O(n²).
    let json = text.trim_start().starts_with('{');
    let value: Value =
        match json
            .then(|| serde_json::from_str(text).ok())
            .flatten()
            .map_or_else(|| serde_saphyr::from_str(text), Ok)
        {
            Ok(value) => value,
            Err(_) => serde_saphyr::from_str(&format!("{}{text}", "\n".repeat(line - 1))).map_err(
                |e| LoadError::Yaml {
                    origin: origin.to_string(),
                    document,
                    line,
                    message: e.to_string().lines().next().unwrap_or_default().to_string(),
                },
            )?,
        };
    Ok((!value.is_null()).then_some(Document {
        index: document,
        line,
        value,
    }))
}

/// What a load compiled: policies, and exceptions to them.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub policies: Vec<Policy>,
    pub exceptions: Vec<Exception>,
}

/// Compiles every document of every source; fails on the first problem.
pub(crate) fn load<'a>(
    sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    roots: &TrustRoots,
) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    for (origin, text) in sources {
        for doc in documents(origin, text)? {
            compile_into(&mut loaded, origin, &doc, roots)?;
        }
    }
    sort(&mut loaded);
    Ok(loaded)
}

/// Compiles already-parsed documents (e.g. custom resources read from the API server).
pub(crate) fn load_values(
    origin: &str,
    values: &[Value],
    roots: &TrustRoots,
) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    for (i, value) in values.iter().enumerate() {
        let doc = Document {
            index: i + 1,
            line: 0,
            value: value.clone(),
        };
        compile_into(&mut loaded, origin, &doc, roots)?;
    }
    sort(&mut loaded);
    Ok(loaded)
}

/// Policies: cluster kinds first, then by namespace and name, the order mutations apply in.
/// Exceptions: by namespace and name.
fn sort(loaded: &mut Loaded) {
    loaded
        .policies
        .sort_by(|a, b| (a.kind, &a.namespace, &a.name).cmp(&(b.kind, &b.namespace, &b.name)));
    loaded
        .exceptions
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
}

fn compile_into(
    loaded: &mut Loaded,
    origin: &str,
    doc: &Document,
    roots: &TrustRoots,
) -> Result<(), LoadError> {
    let place = format!("{origin} document {}", doc.index);
    let compiled = compile(&doc.value, &place, roots).map_err(|source| {
        let (kind, name) = identity(&doc.value);
        let namespaced = matches!(
            kind.as_deref(),
            Some("ImagePolicy" | "GuardrailPolicy" | exception::KIND)
        );
        let name = match (name, namespace_of(&doc.value)) {
            (Some(n), Some(ns)) if namespaced && !ns.is_empty() => Some(label(Some(&ns), &n)),
            (name, _) => name,
        };
        LoadError::Policy {
            origin: origin.to_string(),
            document: doc.index,
            line: doc.line,
            kind,
            name,
            source: Box::new(source),
        }
    })?;
    let policy = match compiled {
        Compiled::Policy(policy) => policy,
        Compiled::Exception(e) => {
            if let Some(first) = loaded
                .exceptions
                .iter()
                .find(|x| x.namespace == e.namespace && x.name == e.name)
            {
                return Err(LoadError::Duplicate {
                    kind: exception::KIND.to_string(),
                    namespace: Some(e.namespace.clone()),
                    name: e.name.clone(),
                    first: first.origin.clone(),
                    second: e.origin,
                });
            }
            loaded.exceptions.push(e);
            return Ok(());
        }
    };
    if let Some(first) = loaded
        .policies
        .iter()
        .find(|p| p.kind == policy.kind && p.namespace == policy.namespace && p.name == policy.name)
    {
        return Err(LoadError::Duplicate {
            kind: policy.kind.to_string(),
            namespace: policy.namespace.clone(),
            name: policy.name.clone(),
            first: first.origin.clone(),
            second: policy.origin,
        });
    }
    loaded.policies.push(policy);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_keeps_line_numbers() {
        let text = "# header\n---\na: 1\n---\n# only a comment\n---\nb:\n  c: |\n    -----BEGIN X-----\n    ---\n";
        let docs = documents("f.yaml", text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].index, docs[0].line), (1, 2));
        assert_eq!((docs[1].index, docs[1].line), (2, 6));
        assert_eq!(docs[1].value["b"]["c"], "-----BEGIN X-----\n---\n");
    }

    #[test]
    fn yaml_errors_name_source_and_document() {
        let err = documents("p.yaml", "a: 1\n---\nb: 1\nc: [unclosed\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("p.yaml: document 2 (line 2): not valid YAML"),
            "{msg}"
        );
        assert!(
            msg.contains("line 4"),
            "YAML error lines are file lines: {msg}"
        );
    }

    /// A stream long enough to be parsed on several threads keeps its order, numbering and
    /// lines, skips empty (`null`) documents, and fails on its first bad document.
    #[test]
    fn a_long_stream_keeps_order_numbers_and_lines() {
        let mut parts: Vec<String> = (0..1500).map(|i| format!("n: {i}\nk: v")).collect();
        parts[10] = "~".into();
        let text = parts.join("\n---\n");
        let docs = documents("long.yaml", &text).unwrap();
        assert_eq!(docs.len(), 1499);
        for (i, doc) in docs.iter().enumerate() {
            let n = if i < 10 { i } else { i + 1 };
            assert_eq!(doc.index, i + 1);
            assert_eq!(doc.value["n"], n, "document {}", doc.index);
            // Document n starts at its `---`: each part before it is 2 lines (the `~` 1) and a
            // `---` line.
            let line = match n {
                0 => 1,
                1..=10 => 3 * n,
                _ => 3 * n - 1,
            };
            assert_eq!(doc.line, line, "document {}", doc.index);
        }
        parts[1200] = "c: [unclosed".into();
        parts[1400] = "d: [unclosed".into();
        let err = documents("long.yaml", &parts.join("\n---\n")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("long.yaml: document 1200 (line 3599)"),
            "{err}"
        );
    }

    #[test]
    fn describes_unknown_identity() {
        assert_eq!(describe(&None, &None), "policy without kind or name");
        assert_eq!(describe(&Some("K".into()), &Some("n".into())), "K \"n\"");
    }
}
