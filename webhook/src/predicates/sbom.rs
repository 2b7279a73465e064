//! SBOM predicates: a CycloneDX JSON document (`"bomFormat": "CycloneDX"`) is a `cyclonedx`
//! predicate, an SPDX 2.x JSON document (`"spdxVersion": "SPDX-2.3"`) an `spdxjson` one. The
//! document is the predicate, unchanged, as with `cosign attest --type cyclonedx|spdxjson`;
//! only its format is checked, so that a wrong file fails here and not at admission.
//! XML and tag-value SBOMs are not JSON and are refused.

use serde_json::{Map, Value};

use super::{Kind, Predicate, PredicateError, SBOM, belongs_elsewhere, object, parse, text};

/// The predicate for the SBOM `bytes` read from `file`.
pub fn from_sbom(file: &str, bytes: &[u8]) -> Result<Predicate, PredicateError> {
    let doc = parse(file, bytes, SBOM)?;
    let map = object(file, &doc, SBOM)?;
    let unrecognised = |found: String| PredicateError::Unrecognised {
        file: file.to_string(),
        expected: SBOM,
        found,
    };
    let kind = match kind_of(map) {
        Some(Ok(kind)) => kind,
        Some(Err(found)) => return Err(unrecognised(found)),
        None => {
            let found = match belongs_elsewhere(map) {
                Some(hint) => hint.to_string(),
                None => format!("found {}", super::describe(&doc)),
            };
            return Err(unrecognised(found));
        }
    };
    Ok(Predicate { kind, body: doc })
}

/// The SBOM kind of a document that claims to be one (`bomFormat` or `spdxVersion` present):
/// its kind, or what is wrong with the claim. `None` when it makes no such claim.
pub(super) fn kind_of(doc: &Map<String, Value>) -> Option<Result<Kind, String>> {
    if let Some(format) = doc.get("bomFormat") {
        return Some(if format != "CycloneDX" {
            Err(format!("\"bomFormat\" is {format}, expected \"CycloneDX\""))
        } else if text(doc, "specVersion").is_none() {
            Err("a CycloneDX document without \"specVersion\"".to_string())
        } else {
            Ok(Kind::CycloneDx)
        });
    }
    let version = doc.get("spdxVersion")?;
    Some(match version.as_str() {
        Some(v) if v.starts_with("SPDX-") => Ok(Kind::SpdxJson),
        _ => Err(format!(
            "\"spdxVersion\" is {version}, expected \"SPDX-\" and a version"
        )),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{golden, judge, library_conditions};
    use super::*;

    #[test]
    fn trivys_cyclonedx_sbom_is_a_cyclonedx_predicate_unchanged() {
        let bytes = golden("sbom/conda-cyclonedx.json.golden");
        let p = from_sbom("cdx.json", &bytes).unwrap();
        assert_eq!(p.kind, Kind::CycloneDx);
        assert_eq!(p.kind.uri(), "https://cyclonedx.org/bom");
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(p.body, doc);
        assert_eq!(p.body["components"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn the_licence_policy_judges_the_cyclonedx_predicate() {
        let (predicate_type, conditions) = library_conditions("sbom-licences.example.yaml");
        assert_eq!(predicate_type, Kind::CycloneDx.uri());
        let mut p = from_sbom("cdx.json", &golden("sbom/conda-cyclonedx.json.golden")).unwrap();
        judge(&conditions, &p.body, 0).unwrap_or_else(|f| panic!("{f}"));
        // The same SBOM with one component under the AGPL is refused, naming the count.
        p.body["components"][1]["licenses"] = json!([{"license": {"id": "AGPL-3.0-only"}}]);
        let f = judge(&conditions, &p.body, 0).unwrap_err();
        assert!(f.to_string().contains("expected == 0, found 1"), "{f}");
    }

    #[test]
    fn trivys_spdx_sbom_is_an_spdxjson_predicate_unchanged() {
        let bytes = golden("sbom/conda-spdx.json.golden");
        let p = from_sbom("spdx.json", &bytes).unwrap();
        assert_eq!(p.kind, Kind::SpdxJson);
        assert_eq!(p.kind.type_name(), "spdxjson");
        assert_eq!(p.kind.uri(), "https://spdx.dev/Document");
        assert_eq!(p.body, serde_json::from_slice::<Value>(&bytes).unwrap());
    }

    #[test]
    fn a_vulnerability_report_given_as_an_sbom_is_sent_to_vuln() {
        let bytes = golden("trivy/alpine-distroless.json.golden");
        let e = from_sbom("r.json", &bytes).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("r.json is not {SBOM}: it is a vulnerability report: attach it with --vuln")
        );
    }

    #[test]
    fn near_misses_say_what_is_wrong() {
        let cases = [
            (
                r#"{"bomFormat":"SWID","specVersion":"1"}"#,
                "\"bomFormat\" is \"SWID\", expected \"CycloneDX\"",
            ),
            (
                r#"{"bomFormat":"CycloneDX"}"#,
                "a CycloneDX document without \"specVersion\"",
            ),
            (
                r#"{"spdxVersion":"2.3"}"#,
                "\"spdxVersion\" is \"2.3\", expected \"SPDX-\" and a version",
            ),
            (
                r#"{"name":"x","packages":[]}"#,
                "found an object with keys name, packages",
            ),
            ("[1]", "found an array"),
            ("{}", "found an empty object"),
        ];
        for (doc, found) in cases {
            let e = from_sbom("s.json", doc.as_bytes()).unwrap_err().to_string();
            assert_eq!(e, format!("s.json is not {SBOM}: {found}"), "{doc}");
        }
    }

    #[test]
    fn xml_is_not_json() {
        let e = from_sbom("bom.xml", b"<?xml version=\"1.0\"?><bom/>")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("bom.xml is not JSON (expected value at line 1 column 1): expected a CycloneDX JSON SBOM"),
            "{e}"
        );
    }
}
