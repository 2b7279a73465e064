//! The CRDs in `deploy/base/webhook/crds/` are generated from the Rust policy types and must be
//! current. `PORTCULLIS_BLESS=1 cargo test -p portcullis-policies --test crd_schema` rewrites
//! them; otherwise a difference fails with that instruction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kube::CustomResourceExt;
use portcullis_policies::{
    ClusterGuardrailPolicy, ClusterImagePolicy, GuardrailPolicy, ImagePolicy, PolicyException,
    PolicySet,
};
use serde_json::Value;

const HEADER: &str = "# Generated from policies/src/spec by `PORTCULLIS_BLESS=1 cargo test -p portcullis-policies --test crd_schema`.\n# Do not edit by hand.\n";

fn render(crd: &impl serde::Serialize) -> String {
    format!("{HEADER}{}", serde_saphyr::to_string(crd).unwrap())
}

#[test]
fn checked_in_crds_match_the_rust_types() {
    let dir = common::workspace_root().join("deploy/base/webhook/crds");
    let bless = std::env::var("PORTCULLIS_BLESS").as_deref() == Ok("1");
    let mut stale = Vec::new();
    for (file, rendered) in [
        (
            "clusterimagepolicies.yaml",
            render(&ClusterImagePolicy::crd()),
        ),
        (
            "clusterguardrailpolicies.yaml",
            render(&ClusterGuardrailPolicy::crd()),
        ),
        ("imagepolicies.yaml", render(&ImagePolicy::crd())),
        ("guardrailpolicies.yaml", render(&GuardrailPolicy::crd())),
        ("policyexceptions.yaml", render(&PolicyException::crd())),
    ] {
        let path = dir.join(file);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &rendered).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(current) if current == rendered => {}
            _ => stale.push(path.display().to_string()),
        }
    }
    assert!(
        stale.is_empty(),
        "CRD files are missing or out of date: {}\nregenerate them with: PORTCULLIS_BLESS=1 cargo test -p portcullis-policies --test crd_schema",
        stale.join(", ")
    );
}

#[test]
fn crds_are_scoped_structural_and_reparse() {
    for (crd, scope) in [
        (ClusterImagePolicy::crd(), "Cluster"),
        (ClusterGuardrailPolicy::crd(), "Cluster"),
        (ImagePolicy::crd(), "Namespaced"),
        (GuardrailPolicy::crd(), "Namespaced"),
        (PolicyException::crd(), "Namespaced"),
    ] {
        let v = serde_json::to_value(&crd).unwrap();
        assert_eq!(v["spec"]["group"], "policy.portcullis.dev");
        assert_eq!(v["spec"]["scope"], scope);
        let version = &v["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        let schema = &version["schema"]["openAPIV3Schema"];
        assert_structural(schema, "openAPIV3Schema");
        // The YAML reparses into the same object.
        let again: Value = serde_saphyr::from_str(&serde_saphyr::to_string(&crd).unwrap()).unwrap();
        assert_eq!(again, v);
    }
    let spec = serde_json::to_value(ClusterGuardrailPolicy::crd()).unwrap();
    let props = &spec["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    for field in [
        "mode",
        "match",
        "exclude",
        "podSecurity",
        "resources",
        "imageHygiene",
        "rules",
        "defaults",
    ] {
        assert!(
            props.get(field).is_some(),
            "guardrail schema lacks spec.{field}"
        );
    }
    assert_eq!(
        props["podSecurity"]["properties"]["level"]["enum"],
        serde_json::json!(["baseline", "restricted"])
    );
}

/// Every schema node names a type, or is int-or-string, or preserves unknown fields; objects
/// never combine `properties` with `additionalProperties` (the API server refuses both).
fn assert_structural(s: &Value, at: &str) {
    let Some(obj) = s.as_object() else { return };
    let typed = obj.contains_key("type")
        || obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        || obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    assert!(typed, "{at}: schema node without a type: {s}");
    assert!(
        !(obj.contains_key("properties") && obj.contains_key("additionalProperties")),
        "{at}: properties + additionalProperties"
    );
    for key in ["$ref", "definitions", "$defs"] {
        assert!(
            !obj.contains_key(key),
            "{at}: {key} is not allowed in a CRD schema"
        );
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            assert_structural(v, &format!("{at}.{k}"));
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = obj.get(key) {
            assert_structural(v, &format!("{at}.{key}"));
        }
    }
}

#[test]
fn policies_round_trip_through_the_crd_types() {
    let set = common::library(&["pod-security-restricted.yaml"]);
    assert_eq!(set.len(), 1);
    // A policy as the API server would return it (extra metadata, status) still loads.
    let doc = serde_json::json!({
        "apiVersion": "policy.portcullis.dev/v1alpha1", "kind": "ClusterGuardrailPolicy",
        "metadata": {"name": "x", "uid": "1", "resourceVersion": "5", "generation": 2, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"podSecurity": {"level": "baseline"}}
    });
    let set = PolicySet::from_documents("api", &[doc], &Default::default()).unwrap();
    assert_eq!(set.policies()[0].name, "x");
}

/// The namespaced kinds take the cluster kinds' specs, field for field: only names, scope and
/// the kind's own description differ.
#[test]
fn namespaced_crds_have_the_cluster_specs() {
    let spec = |crd: &Value| {
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
    };
    let columns = |crd: &Value| crd["spec"]["versions"][0]["additionalPrinterColumns"].clone();
    for (cluster, namespaced, short) in [
        (ClusterImagePolicy::crd(), ImagePolicy::crd(), "ip"),
        (ClusterGuardrailPolicy::crd(), GuardrailPolicy::crd(), "gp"),
    ] {
        let (c, n) = (
            serde_json::to_value(&cluster).unwrap(),
            serde_json::to_value(&namespaced).unwrap(),
        );
        assert_eq!(spec(&n), spec(&c), "{}", n["metadata"]["name"]);
        assert!(spec(&n)["properties"].get("mode").is_some());
        assert_eq!(columns(&n), columns(&c));
        assert_eq!(n["spec"]["names"]["shortNames"], serde_json::json!([short]));
        assert_eq!(
            n["spec"]["names"]["categories"],
            c["spec"]["names"]["categories"]
        );
    }
}
