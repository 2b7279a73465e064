//! cosign's vulnerability predicate (`https://cosign.sigstore.dev/attestation/vuln/v1`, `cosign
//! attest --type vuln`) around a scanner's JSON report:
//!
//! ```json
//! {"invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
//!  "scanner": {"uri": "pkg:github/aquasecurity/trivy@0.58.1", "version": "0.58.1",
//!              "db": {"uri": "", "version": ""}, "result": {<the report as is>}},
//!  "metadata": {"scanStartedOn": "2026-12-03T10:00:00Z", "scanFinishedOn": "2026-12-03T10:00:00Z"}}
//! ```
//!
//! The field names are cosign's (`CosignVulnPredicate`, which `cosign attest --type vuln`
//! decodes the predicate into, keeping only these fields). The invocation is left empty, as
//! Trivy's own `--format cosign-vuln` leaves it. Scanner facts come from the report:
//!
//! | | Trivy (`--format json`) | Grype (`-o json`) |
//! |---|---|---|
//! | recognised by | `SchemaVersion` and `Results` | `matches` and `descriptor` |
//! | version | `Trivy.Version` (newer reports) | `descriptor.version` |
//! | database | not in the report | `descriptor.db.status` (Grype 6) or `descriptor.db` (5): `from` as uri, `<schemaVersion>_<built>` as version, as Grype names its archives |
//! | scan time | `CreatedAt` | `descriptor.timestamp` |
//!
//! Both times are that one time unless `--scan-started-on`/`--scan-finished-on` say otherwise;
//! a report without a time (`GRYPE_TIMESTAMP=false`, old Trivy) needs `--scan-finished-on`.
//! Times are written in UTC (RFC 3339, fractions kept), which Go's `time.Time` (cosign) and
//! portcullis' `age(...)` conditions both read.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    Kind, Predicate, PredicateError, REPORT, belongs_elsewhere, describe, object, parse, text,
};

/// Scan times given on the command line, as written there (checked when the predicate is built).
#[derive(Debug, Clone, Default)]
pub struct ScanTimes {
    /// `--scan-started-on`.
    pub started: Option<String>,
    /// `--scan-finished-on`.
    pub finished: Option<String>,
}

/// The scanners whose reports are understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanner {
    Trivy,
    Grype,
}

impl Scanner {
    fn name(self) -> &'static str {
        match self {
            Scanner::Trivy => "Trivy",
            Scanner::Grype => "Grype",
        }
    }

    /// The package URL of the scanner's source, as Trivy writes it in its own predicate.
    fn purl(self) -> &'static str {
        match self {
            Scanner::Trivy => "pkg:github/aquasecurity/trivy",
            Scanner::Grype => "pkg:github/anchore/grype",
        }
    }

    /// Where the report says when it was made.
    fn time_field(self) -> &'static str {
        match self {
            Scanner::Trivy => "CreatedAt",
            Scanner::Grype => "descriptor.timestamp",
        }
    }
}

/// The scanner whose report `doc` is, by the fields that make its shape.
pub(super) fn scanner_of(doc: &Map<String, Value>) -> Option<Scanner> {
    let has = |key: &str, is: fn(&Value) -> bool| doc.get(key).is_some_and(is);
    if has("SchemaVersion", Value::is_number) && has("Results", Value::is_array) {
        Some(Scanner::Trivy)
    } else if has("matches", Value::is_array) && has("descriptor", Value::is_object) {
        Some(Scanner::Grype)
    } else {
        None
    }
}

/// What a report says about its scanner.
struct Facts<'a> {
    version: Option<&'a str>,
    db_uri: String,
    db_version: String,
    /// The scan time, or why there is none.
    time: Result<&'a str, &'static str>,
}

/// cosign's vulnerability predicate for the report `bytes` read from `file`.
pub fn from_vuln_report(
    file: &str,
    bytes: &[u8],
    times: &ScanTimes,
) -> Result<Predicate, PredicateError> {
    let report = parse(file, bytes, REPORT)?;
    let map = object(file, &report, REPORT)?;
    let Some(scanner) = scanner_of(map) else {
        return Err(PredicateError::Unrecognised {
            file: file.to_string(),
            expected: REPORT,
            found: not_a_report(map, &report),
        });
    };
    let facts = match scanner {
        Scanner::Trivy => trivy(map),
        Scanner::Grype => grype(map),
    };
    let finished = match (&times.finished, facts.time) {
        (Some(flag), _) => utc("--scan-finished-on".to_string(), flag)?,
        (None, Ok(t)) => utc(format!("{} in {file}", scanner.time_field()), t)?,
        (None, Err(why)) => {
            return Err(PredicateError::NoScanTime {
                file: file.to_string(),
                scanner: scanner.name(),
                field: scanner.time_field(),
                why,
            });
        }
    };
    let started = match &times.started {
        Some(flag) => utc("--scan-started-on".to_string(), flag)?,
        None => finished.clone(),
    };
    if started.0 > finished.0 {
        return Err(PredicateError::StartedAfterFinished {
            started: started.1,
            finished: finished.1,
        });
    }
    let uri = match facts.version {
        Some(v) => format!("{}@{v}", scanner.purl()),
        None => scanner.purl().to_string(),
    };
    let body = json!({
        "invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": uri,
            "version": facts.version.unwrap_or_default(),
            "db": {"uri": facts.db_uri, "version": facts.db_version},
            "result": report,
        },
        "metadata": {"scanStartedOn": started.1, "scanFinishedOn": finished.1},
    });
    Ok(Predicate {
        kind: Kind::Vuln,
        body,
    })
}

/// Why `doc` is not a report: half a report's shape, another command's file, or what it is.
fn not_a_report(doc: &Map<String, Value>, whole: &Value) -> String {
    for (have, want) in [
        ("SchemaVersion", "Results"),
        ("Results", "SchemaVersion"),
        ("matches", "descriptor"),
        ("descriptor", "matches"),
    ] {
        if doc.contains_key(have) && !doc.contains_key(want) {
            return format!("found \"{have}\" without \"{want}\"");
        }
    }
    match belongs_elsewhere(doc) {
        Some(hint) => hint.to_string(),
        None => format!("found {}", describe(whole)),
    }
}

fn trivy(doc: &Map<String, Value>) -> Facts<'_> {
    let version = doc
        .get("Trivy")
        .and_then(Value::as_object)
        .and_then(|t| text(t, "Version"));
    Facts {
        version,
        // A Trivy JSON report does not name its database.
        db_uri: String::new(),
        db_version: String::new(),
        time: time_at(doc, "CreatedAt"),
    }
}

fn grype(doc: &Map<String, Value>) -> Facts<'_> {
    let descriptor = doc.get("descriptor").and_then(Value::as_object);
    // Grype writes "[not provided]" when built without version information.
    let version = descriptor
        .and_then(|d| text(d, "version"))
        .filter(|v| !v.starts_with('['));
    let db = descriptor
        .and_then(|d| d.get("db"))
        .and_then(Value::as_object);
    // Grype 6 nests the database facts under `status`; Grype 5 put them in `db` itself.
    let status = db
        .and_then(|db| db.get("status"))
        .and_then(Value::as_object)
        .or(db);
    let (db_uri, db_version) = status.map_or_else(Default::default, |s| {
        let uri = text(s, "from")
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .unwrap_or_default();
        let schema = match s.get("schemaVersion") {
            Some(Value::String(v)) => v.clone(),
            Some(Value::Number(n)) => format!("v{n}"),
            _ => String::new(),
        };
        let parts: Vec<&str> = [schema.as_str(), text(s, "built").unwrap_or_default()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        (uri.to_string(), parts.join("_"))
    });
    Facts {
        version,
        db_uri,
        db_version,
        time: descriptor.map_or(Err("missing"), |d| time_at(d, "timestamp")),
    }
}

/// The time text at `key`, or why there is none.
fn time_at<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str, &'static str> {
    match map.get(key) {
        None | Some(Value::Null) => Err("missing"),
        Some(Value::String(s)) if s.is_empty() => Err("empty"),
        // Go's zero time.Time, which an unset time serialises to.
        Some(Value::String(s)) if s.starts_with("0001-01-01T00:00:00") => Err("the zero time"),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err("not a string"),
    }
}

/// A point in time and its RFC 3339 text in UTC (fractions of a second kept).
type Utc = (OffsetDateTime, String);

/// `value` (named `what` in errors) as a point in time, in UTC.
fn utc(what: String, value: &str) -> Result<Utc, PredicateError> {
    let bad = || PredicateError::BadTime {
        what: what.clone(),
        value: value.to_string(),
    };
    let parsed = OffsetDateTime::parse(value, &Rfc3339).map_err(|_| bad())?;
    // Through the Unix time rather than `to_offset`, which panics past the year 9999.
    let t = OffsetDateTime::from_unix_timestamp_nanos(parsed.unix_timestamp_nanos())
        .map_err(|_| bad())?;
    let text = t.format(&Rfc3339).map_err(|_| bad())?;
    Ok((t, text))
}

#[cfg(test)]
mod tests;
