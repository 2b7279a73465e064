//! Invalid policies never load: every case in `tests/data/invalid_policies.yaml` fails with a
//! LoadError naming the source, document, policy and field, and a set with one bad document is
//! refused as a whole (the webhook keeps its last good set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use portcullis_policies::{LoadError, PolicyError, PolicySet};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    sources: BTreeMap<String, String>,
    error: Vec<String>,
}

#[test]
fn invalid_policies_fail_with_precise_errors() {
    let path = common::workspace_root().join("policies/tests/data/invalid_policies.yaml");
    let cases: Vec<Case> =
        serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in &cases {
        match PolicySet::from_sources(case.sources.iter().map(|(a, b)| (a.as_str(), b.as_str()))) {
            Ok(set) => failures.push(format!("{}: loaded {} policies", case.name, set.len())),
            Err(e) => {
                let msg = e.to_string();
                for want in &case.error {
                    if !msg.contains(want.as_str()) {
                        failures.push(format!("{}: {msg:?} lacks {want:?}", case.name));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_carry_typed_fields() {
    let text = "apiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {name: ok}\nspec: {podSecurity: {level: baseline}}\n---\n\n---\napiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {name: bad}\nspec: {podSecurity: {level: baseline, version: v2.0}}\n";
    match PolicySet::from_yaml("set.yaml", text) {
        Err(LoadError::Policy {
            origin,
            document,
            line,
            kind,
            name,
            source,
        }) => {
            let PolicyError::Version(v) = *source else {
                panic!("unexpected source: {source}")
            };
            assert_eq!((origin.as_str(), document, line), ("set.yaml", 2, 7));
            assert_eq!(kind.as_deref(), Some("ClusterGuardrailPolicy"));
            assert_eq!(name.as_deref(), Some("bad"));
            assert_eq!(v.text, "v2.0");
        }
        other => panic!("unexpected: {other:?}"),
    }
}

#[test]
fn valid_multi_document_sources_load_sorted() {
    let a = "apiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {name: zeta}\nspec: {podSecurity: {level: baseline}}\n---\napiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {name: alpha}\nspec: {rules: [{name: r, path: $.metadata.name, operator: exists}]}\n";
    let set = PolicySet::from_sources([("a.yaml", a), ("empty.yaml", "# nothing here\n")]).unwrap();
    let names: Vec<String> = set.policies().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(set.policies()[1].origin, "a.yaml document 1");
    assert!(
        PolicySet::from_sources(Vec::<(&str, &str)>::new())
            .unwrap()
            .is_empty()
    );
}
