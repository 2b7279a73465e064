//! `policies/compliance/controls.yaml` maps every rule the engine can report (taken from the
//! engine's own catalogue, not a list kept here) to checklist controls or says why not, maps no
//! rule the engine lacks, and uses control ids of the shape each framework numbers them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_policies::compliance::{ControlMap, SHIPPED};
use portcullis_policies::{RuleFamily, builtin_rules};

fn shipped() -> ControlMap {
    ControlMap::shipped().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_engine_rule_is_mapped_or_explicitly_unmapped() {
    let problems = shipped().problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_notices_a_missing_rule_an_unknown_rule_and_a_reasonless_unmapped() {
    let mut map = shipped();
    map.rules.remove("privileged").unwrap();
    let mut extra = map.rules["runAsNonRoot"].clone();
    extra.unmapped = None;
    map.rules.insert("noSuchRule".into(), extra);
    map.rules
        .get_mut("resources.invalidQuantity")
        .unwrap()
        .unmapped = Some(" ".into());
    let problems = map.problems();
    for needle in [
        "rule privileged is neither mapped nor marked unmapped",
        "noSuchRule is mapped but the engine has no such rule",
        "resources.invalidQuantity: unmapped needs a reason",
    ] {
        assert!(
            problems.iter().any(|p| p == needle),
            "{needle:?} not in {problems:#?}"
        );
    }
}

#[test]
fn every_framework_names_its_version() {
    let map = shipped();
    for key in ["pss", "cis", "nsa", "slsa", "ssdf"] {
        let f = map
            .frameworks
            .get(key)
            .unwrap_or_else(|| panic!("framework {key}"));
        assert!(!f.version.is_empty(), "{key}");
    }
    assert_eq!(map.frameworks["cis"].version, "v1.10.0");
    assert!(SHIPPED.contains("NSA/CISA Kubernetes Hardening Guide"));
}

#[test]
fn control_ids_have_their_frameworks_shape() {
    let map = shipped();
    let cis = regex::Regex::new(r"^5\.[1-7]\.\d{1,2}$").unwrap();
    let ssdf = regex::Regex::new(r"^(PO|PS|PW|RV)\.\d\.\d$").unwrap();
    for (rule, c) in &map.rules {
        for id in c.controls.get("cis").into_iter().flatten() {
            assert!(cis.is_match(id), "{rule}: CIS section 5 id {id:?}");
        }
        for id in c.controls.get("ssdf").into_iter().flatten() {
            assert!(ssdf.is_match(id), "{rule}: SSDF task id {id:?}");
        }
    }
}

#[test]
fn every_pod_security_check_maps_to_a_pod_security_standards_control() {
    let map = shipped();
    for rule in builtin_rules() {
        if let RuleFamily::PodSecurity(_) = rule.family {
            let pss = map.rules[rule.id].controls.get("pss");
            assert!(
                pss.is_some_and(|v| !v.is_empty()),
                "{} has no PSS control",
                rule.id
            );
        }
    }
    assert_eq!(
        map.controls_of("privileged"),
        [
            "cis:5.2.2",
            "nsa:Kubernetes Pod security / Pod security enforcement",
            "pss:Privileged Containers"
        ]
    );
    assert!(map.controls_of("resources.invalidQuantity").is_empty());
}
