//! The predicates `portcullis attest --sbom|--vuln` and `portcullis predicate` attach, built from
//! what CI tools write: a CycloneDX or SPDX JSON SBOM is attached as it is (as `cosign attest
//! --type cyclonedx|spdxjson` does), a Trivy or Grype JSON report is wrapped in cosign's
//! vulnerability predicate (`--type vuln`, [`vuln`]).
//!
//! Pure: bytes and flag values in, JSON out. No file, clock or network is touched here; reading
//! the files, writing the output and signing are the commands' (`commands::predicate`,
//! `commands::sign`). The verifier, which only ever reads predicates, does not link this.

pub mod sbom;
pub mod vuln;

use portcullis_verifier::predicate_type_uri;
use serde_json::{Map, Value};

pub use vuln::ScanTimes;

/// What a predicate built here is, by the name `cosign attest --type` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CycloneDx,
    SpdxJson,
    Vuln,
}

impl Kind {
    /// cosign's `--type` name: `cyclonedx`, `spdxjson` or `vuln`.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::CycloneDx => "cyclonedx",
            Kind::SpdxJson => "spdxjson",
            Kind::Vuln => "vuln",
        }
    }

    /// The in-toto predicate type URI the attestation carries.
    pub fn uri(self) -> &'static str {
        predicate_type_uri(self.type_name())
    }
}

/// A predicate ready to attach.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub kind: Kind,
    pub body: Value,
}

/// Why a file cannot be made into a predicate. Each names the file and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum PredicateError {
    #[error("{file} is not JSON ({source}): expected {expected}")]
    NotJson {
        file: String,
        expected: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file} is not {expected}: {found}")]
    Unrecognised {
        file: String,
        expected: &'static str,
        found: String,
    },
    #[error(
        "{file}: the {scanner} report does not say when the scan ran ({field} is {why}): give --scan-finished-on RFC3339"
    )]
    NoScanTime {
        file: String,
        scanner: &'static str,
        field: &'static str,
        why: &'static str,
    },
    #[error("{what} {value:?} is not an RFC 3339 timestamp (such as 2026-12-03T10:00:00Z)")]
    BadTime { what: String, value: String },
    #[error("--scan-started-on {started} is after the scan finished ({finished})")]
    StartedAfterFinished { started: String, finished: String },
}

/// What an SBOM argument expects, for messages.
const SBOM: &str = "a CycloneDX JSON SBOM (\"bomFormat\": \"CycloneDX\") or an SPDX JSON SBOM (\"spdxVersion\": \"SPDX-2.x\")";
/// What a vulnerability report argument expects, for messages.
const REPORT: &str = "a Trivy JSON report (SchemaVersion and Results) or a Grype JSON report (matches and descriptor)";

/// Parses `bytes` (the file `file`) as JSON, or says it is not the `expected` kind of file.
fn parse(file: &str, bytes: &[u8], expected: &'static str) -> Result<Value, PredicateError> {
    serde_json::from_slice(bytes).map_err(|source| PredicateError::NotJson {
        file: file.to_string(),
        expected,
        source,
    })
}

/// The JSON object `doc`, or the error saying what it is instead.
fn object<'a>(
    file: &str,
    doc: &'a Value,
    expected: &'static str,
) -> Result<&'a Map<String, Value>, PredicateError> {
    doc.as_object().ok_or_else(|| PredicateError::Unrecognised {
        file: file.to_string(),
        expected,
        found: format!("found {}", describe(doc)),
    })
}

/// What another command takes this document for, when it is one of the kinds built here or a
/// finished vulnerability predicate: the hint that ends an [`PredicateError::Unrecognised`].
fn belongs_elsewhere(doc: &Map<String, Value>) -> Option<&'static str> {
    if sbom::kind_of(doc).is_some() {
        Some("it is an SBOM: attach it with --sbom")
    } else if vuln::scanner_of(doc).is_some() {
        Some("it is a vulnerability report: attach it with --vuln")
    } else if doc
        .get("scanner")
        .is_some_and(|s| s.get("result").is_some())
        && doc.get("metadata").is_some()
    {
        Some(
            "it is already a cosign vulnerability predicate (such as trivy --format cosign-vuln writes): \
             attach it with --predicate FILE --type vuln",
        )
    } else {
        None
    }
}

/// A short description of a JSON value that is not what was expected: its type, and for an
/// object its first keys.
fn describe(doc: &Value) -> String {
    match doc {
        Value::Object(map) => {
            const SHOWN: usize = 8;
            let mut keys: Vec<&str> = map.keys().map(String::as_str).take(SHOWN).collect();
            if map.len() > SHOWN {
                keys.push("...");
            }
            if keys.is_empty() {
                "an empty object".to_string()
            } else {
                format!("an object with keys {}", keys.join(", "))
            }
        }
        Value::Array(_) => "an array".to_string(),
        Value::String(_) => "a string".to_string(),
        Value::Number(_) => "a number".to_string(),
        Value::Bool(_) => "a boolean".to_string(),
        Value::Null => "null".to_string(),
    }
}

/// The string at `key` of `map`, when it is a non-empty string.
fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// What the tests of the builders share: the upstream files in `testdata/reports` and the
/// conditions a library policy puts on what is attached.
#[cfg(test)]
pub(crate) mod testing {
    use std::time::{Duration, UNIX_EPOCH};

    use portcullis_policies::{PolicySet, Request};
    use portcullis_verifier::{Authority, Condition, ConditionFailure};
    use serde_json::{Value, json};

    /// The bytes of `testdata/reports/<name>`.
    pub fn golden(name: &str) -> Vec<u8> {
        let path = portcullis_testkit::workspace_root()
            .join("testdata/reports")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The predicate type and compiled conditions of the one attestation the library policy
    /// `file` requires of the project's images.
    pub fn library_conditions(file: &str) -> (String, Vec<Condition>) {
        let path = portcullis_testkit::workspace_root()
            .join("policies/library")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let set = PolicySet::from_sources_with_roots([(file, text.as_str())], &Default::default())
            .unwrap();
        let mut pod = Request::from_manifest(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "image": "ghcr.io/portcullis-dev/portcullis:0.1.0"}]}}))
        .unwrap();
        pod.namespace = "apps".into();
        let checks = set.image_checks(&pod);
        assert_eq!(checks.len(), 1, "{file} covers the project's images");
        let Authority::Keys(req) = &checks[0].requirement.authority else {
            panic!("{file}: expected a key authority")
        };
        assert_eq!(req.attestations.len(), 1, "{file}");
        let att = &req.attestations[0];
        (att.predicate_type.clone(), att.conditions.clone())
    }

    /// Every condition on `predicate` at Unix time `now`, first failure wins, as the verifier
    /// checks an attestation.
    pub fn judge(
        conditions: &[Condition],
        predicate: &Value,
        now: u64,
    ) -> Result<(), ConditionFailure> {
        let at = UNIX_EPOCH + Duration::from_secs(now);
        conditions
            .iter()
            .try_for_each(|c| c.evaluate_at(predicate, at))
    }
}
