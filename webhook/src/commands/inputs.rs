//! Reading manifests for `evaluate` and `audit`: files, folders (every `*.yaml`, `*.yml` and
//! `*.json` below, in name order) and `-` for standard input, each holding one or more YAML or
//! JSON documents. A `List` (what `kubectl get -o yaml` prints) contributes its items, an
//! AdmissionReview its request; everything else is a manifest. Every document becomes the
//! engine's [`Request`] through the same constructors the webhook uses, so an object that is not a
//! valid instance of its kind is bad input naming the file and the field path.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use portcullis_policies::Request;
use serde_json::Value;

/// One resource read from an input.
pub struct Input {
    /// The file it came from (`-` for standard input).
    pub origin: String,
    /// 1-based document number within the file.
    pub document: usize,
    /// First line of that document.
    pub line: usize,
    pub request: Request,
}

/// A document that is not a valid instance of its kind (the file itself parsed).
pub struct BadInput {
    pub origin: String,
    pub document: usize,
    pub line: usize,
    pub kind: String,
    pub name: String,
    pub error: String,
}

/// Reads every resource of `paths`, in order; the first unreadable resource is an error.
pub fn read(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    read_all(paths)?
        .into_iter()
        .map(|r| r.map_err(|bad| anyhow::anyhow!("{}: {}", bad.origin, bad.error)))
        .collect()
}

/// Reads every resource of `paths`, in order, keeping unreadable resources as [`BadInput`]s
/// (a file that is not YAML, or cannot be read, is still an error). `-` may appear once.
pub fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Result<Input, BadInput>>> {
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        bail!("`-` (standard input) given more than once");
    }
    let mut out = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            parse("-", &text, &mut out)?;
        } else if path.is_dir() {
            for file in files_under(path)? {
                let origin = file.display().to_string();
                parse(&origin, &read_file(&file)?, &mut out)?;
            }
        } else {
            parse(&path.display().to_string(), &read_file(path)?, &mut out)?;
        }
    }
    Ok(out)
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// Manifest files below `dir`, sorted by path.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", d.display()))?;
            let path = entry.path();
            // Symbolic links to folders are not followed (no cycles); linked files are read.
            let is_dir = entry
                .file_type()
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
                .is_dir();
            if is_dir {
                pending.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn parse(origin: &str, text: &str, out: &mut Vec<Result<Input, BadInput>>) -> anyhow::Result<()> {
    for doc in portcullis_policies::load::documents(origin, text)? {
        for mut item in expand(doc.value) {
            let review = item["kind"] == "AdmissionReview";
            // Named now: the document itself is moved into the request, not copied.
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let object = if review {
                &item["request"]["object"]
            } else {
                &item
            };
            let (kind, name) = (text(&object["kind"]), text(&object["metadata"]["name"]));
            let request = if review {
                Request::from_admission_request(item["request"].take())
            } else {
                Request::from_manifest(item)
            };
            out.push(match request {
                Ok(request) => Ok(Input {
                    origin: origin.to_string(),
                    document: doc.index,
                    line: doc.line,
                    request,
                }),
                Err(e) => Err(BadInput {
                    origin: origin.to_string(),
                    document: doc.index,
                    line: doc.line,
                    kind,
                    name,
                    error: e.to_string(),
                }),
            });
        }
    }
    Ok(())
}

/// A `List` contributes its items; anything else is itself.
fn expand(mut doc: Value) -> Vec<Value> {
    if doc["kind"] != "List" {
        return vec![doc];
    }
    match doc.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}
