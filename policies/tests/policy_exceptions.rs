//! `PolicyException`: an exception waives exactly the policies, rules and Pod Security controls
//! (and images) it names, for exactly the objects it selects in its own namespace, and only when
//! the operator lists that namespace; elsewhere it is loaded but inactive, with a reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_policies::{Decision, PolicySet, Request, VerdictMap};
use serde_json::{Value, json};

const POLICIES: &str = "apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: baseline}
spec: {podSecurity: {level: baseline}}
---
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: tags}
spec: {mode: warn, imageHygiene: {forbidLatestTag: true}}
";

const EXCEPTIONS: &str = "apiVersion: policy.portcullis.dev/v1alpha1
kind: PolicyException
metadata: {name: debug-tools, namespace: team-a}
spec:
  match:
    kinds: [Pod, Deployment]
    names: [\"debug-*\"]
    selector: {matchLabels: {app: debug}}
  exceptions:
    - policyName: baseline
  podSecurity:
    - controlName: capabilities
      images: [\"registry.example/debug/*\"]
---
apiVersion: policy.portcullis.dev/v1alpha1
kind: PolicyException
metadata: {name: host-logs, namespace: team-a}
spec:
  match: {names: [\"logs-*\"]}
  exceptions:
    - policyName: baseline
      ruleNames: [hostPathVolumes]
    - policyName: tags
---
apiVersion: policy.portcullis.dev/v1alpha1
kind: PolicyException
metadata: {name: debug-tools, namespace: team-b}
spec:
  exceptions:
    - policyName: baseline
";

const DEBUG: &str = "registry.example/debug/tool:1";
const OTHER: &str = "registry.example/other/tool:1";

fn set(allowed: &[&str]) -> PolicySet {
    PolicySet::from_sources([("policies.yaml", POLICIES), ("exceptions.yaml", EXCEPTIONS)])
        .unwrap_or_else(|e| panic!("{e}"))
        .with_exception_namespaces(allowed.iter().copied())
}

fn with_caps(image: &str, name: &str) -> Value {
    json!({"name": name, "image": image, "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}})
}

fn pod(ns: &str, name: &str, app: &str, containers: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
           "spec": {"containers": containers}})
}

/// The pod as the template of a controller `kind`, with the pod's name and labels.
fn wrapped(kind: &str, api_version: &str, pod: &Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": pod["metadata"].clone(),
           "spec": {"selector": {"matchLabels": pod["metadata"]["labels"].clone()},
                    "template": {"metadata": {"labels": pod["metadata"]["labels"].clone()},
                                 "spec": pod["spec"].clone()}}})
}

fn decide(set: &PolicySet, object: &Value) -> Decision {
    let req = Request::from_manifest(object.clone()).unwrap_or_else(|e| panic!("{e}"));
    set.evaluate(&req, &VerdictMap::new())
}

/// `exception: policy/rule (container "c")` of every exemption.
fn exempted(d: &Decision) -> Vec<String> {
    d.exemptions
        .iter()
        .map(|e| format!("{}: {e}", e.exception))
        .collect()
}

#[test]
fn an_exception_admits_exactly_the_control_and_images_it_names() {
    let set = set(&["team-a"]);
    let debug_pod = pod("team-a", "debug-1", "debug", vec![with_caps(DEBUG, "tool")]);
    let other_image = pod("team-a", "debug-1", "debug", vec![with_caps(OTHER, "tool")]);
    let mut privileged = debug_pod.clone();
    privileged["spec"]["containers"][0]["securityContext"]["privileged"] = json!(true);
    let two = pod(
        "team-a",
        "debug-1",
        "debug",
        vec![with_caps(DEBUG, "tool"), with_caps(OTHER, "app")],
    );
    let waived = "team-a/debug-tools: baseline/capabilities_baseline (container \"tool\")";
    // (case, object, denied rules, exempted findings)
    let cases: Vec<(&str, Value, Vec<&str>, Vec<&str>)> = vec![
        (
            "the named control on a matching image",
            debug_pod.clone(),
            vec![],
            vec![waived],
        ),
        (
            "another image",
            other_image,
            vec!["baseline/capabilities_baseline"],
            vec![],
        ),
        (
            "another control",
            privileged,
            vec!["baseline/privileged"],
            vec![waived],
        ),
        (
            "a container with another image",
            two,
            vec!["baseline/capabilities_baseline"],
            vec![waived],
        ),
        (
            "another name",
            pod("team-a", "web-1", "debug", vec![with_caps(DEBUG, "tool")]),
            vec!["baseline/capabilities_baseline"],
            vec![],
        ),
        (
            "other labels",
            pod("team-a", "debug-1", "web", vec![with_caps(DEBUG, "tool")]),
            vec!["baseline/capabilities_baseline"],
            vec![],
        ),
        (
            "a listed kind",
            wrapped("Deployment", "apps/v1", &debug_pod),
            vec![],
            vec![waived],
        ),
        (
            "another kind",
            wrapped("StatefulSet", "apps/v1", &debug_pod),
            vec!["baseline/capabilities_baseline"],
            vec![],
        ),
        (
            "another namespace, whose exception is not allowed",
            pod("team-b", "debug-1", "debug", vec![with_caps(DEBUG, "tool")]),
            vec!["baseline/capabilities_baseline"],
            vec![],
        ),
        (
            "a namespace without exceptions",
            pod("team-c", "debug-1", "debug", vec![with_caps(DEBUG, "tool")]),
            vec!["baseline/capabilities_baseline"],
            vec![],
        ),
    ];
    let mut failures = Vec::new();
    for (name, object, denied, exempt) in &cases {
        let d = decide(&set, object);
        let got = (d.allowed, d.denied_rules(), exempted(&d));
        let want = (
            denied.is_empty(),
            denied.iter().map(|s| s.to_string()).collect(),
            exempt.iter().map(|s| s.to_string()).collect(),
        );
        if got != want {
            failures.push(format!("{name}: got {got:?}, expected {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_admitting_exception_shows_in_a_warning_and_an_audit_annotation() {
    let d = decide(
        &set(&["team-a"]),
        &pod("team-a", "debug-1", "debug", vec![with_caps(DEBUG, "tool")]),
    );
    assert!(d.allowed, "{}", d.message());
    let line = "policy exception team-a/debug-tools waived baseline/capabilities_baseline (container \"tool\")";
    assert_eq!(d.warnings, [line]);
    assert_eq!(d.audit_annotations["exceptions"], line);
    assert_eq!(d.exceptions_applied(), [("team-a/debug-tools", "baseline")]);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["exemptions"][0]["mode"], "enforce");
}

#[test]
fn rule_names_waive_those_rules_and_warnings_too() {
    let set = set(&["team-a"]);
    let containers = vec![json!({"name": "c", "image": "busybox:latest"})];
    let mut logs = pod("team-a", "logs-1", "logs", containers);
    logs["spec"]["volumes"] = json!([{"name": "v", "hostPath": {"path": "/var/log"}}]);
    let d = decide(&set, &logs);
    assert!(d.allowed, "{}", d.message());
    assert_eq!(
        exempted(&d),
        [
            "team-a/host-logs: baseline/hostPathVolumes",
            "team-a/host-logs: tags/imageHygiene.latestTag (container \"c\")",
        ]
    );
    assert_eq!(
        d.warnings,
        [
            "policy exception team-a/host-logs waived baseline/hostPathVolumes, tags/imageHygiene.latestTag (container \"c\")"
        ],
        "the waived warning is gone, the exception's own is there"
    );
    assert_eq!(
        d.exceptions_applied(),
        [
            ("team-a/host-logs", "baseline"),
            ("team-a/host-logs", "tags")
        ]
    );

    logs["spec"]["hostNetwork"] = json!(true);
    let d = decide(&set, &logs);
    assert_eq!(
        d.denied_rules(),
        ["baseline/hostNamespaces"],
        "an unnamed rule"
    );

    // Without the exception, the same pod is denied and warned about.
    let d = decide(
        &set,
        &json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "team-a"}, "spec": logs["spec"].clone()}),
    );
    assert_eq!(
        d.denied_rules(),
        ["baseline/hostNamespaces", "baseline/hostPathVolumes"]
    );
    assert!(
        d.warnings[0].starts_with("tags/imageHygiene.latestTag"),
        "{:?}",
        d.warnings
    );
    assert!(d.exemptions.is_empty());
}

#[test]
fn exceptions_count_only_in_listed_namespaces_and_say_why_elsewhere() {
    let object = pod("team-a", "debug-1", "debug", vec![with_caps(DEBUG, "tool")]);
    let none = set(&[]);
    assert_eq!(
        decide(&none, &object).denied_rules(),
        ["baseline/capabilities_baseline"]
    );
    let inactive = none.inactive_exceptions();
    assert_eq!(inactive.len(), 3, "every exception: none is listed");
    assert_eq!(
        inactive[0].message,
        "namespace \"team-a\" is not in --exception-namespaces (none listed)"
    );

    let a = set(&["team-a", "ops"]);
    let all = a.exceptions();
    let ready: Vec<(&str, &str, bool, &str)> = all
        .iter()
        .map(|e| (e.namespace.as_str(), e.name.as_str(), e.ready, e.reason))
        .collect();
    assert_eq!(
        ready,
        [
            ("team-a", "debug-tools", true, "Active"),
            ("team-a", "host-logs", true, "Active"),
            ("team-b", "debug-tools", false, "NamespaceNotAllowed"),
        ]
    );
    let b = &a.inactive_exceptions()[0];
    assert_eq!(
        b.message,
        "namespace \"team-b\" is not in --exception-namespaces (team-a, ops)"
    );
    assert_eq!(b.origin, "exceptions.yaml document 3");

    // `*` lets every namespace's exceptions count; team-b's waives all of baseline there.
    let star = set(&["*"]);
    assert!(star.inactive_exceptions().is_empty());
    let mut b_pod = pod("team-b", "any", "x", vec![with_caps(OTHER, "tool")]);
    b_pod["spec"]["hostPID"] = json!(true);
    let d = decide(&star, &b_pod);
    assert!(d.allowed, "{}", d.message());
    assert_eq!(d.exemptions.len(), 2);
}

#[test]
fn the_detailed_view_omits_waived_findings() {
    let set = set(&["team-a"]);
    let req = Request::from_manifest(pod(
        "team-a",
        "debug-1",
        "debug",
        vec![with_caps(DEBUG, "tool")],
    ))
    .unwrap();
    let e = set.evaluate_detailed(&req, &VerdictMap::new());
    assert_eq!(e.decision, set.evaluate(&req, &VerdictMap::new()));
    let baseline = e.outcomes.iter().find(|o| o.policy == "baseline").unwrap();
    assert!(baseline.findings.is_empty(), "{:?}", baseline.findings);
    assert_eq!(e.decision.exemptions.len(), 1);
}

#[test]
fn bad_exceptions_fail_the_load_naming_the_field() {
    let doc = |ns: &str, spec: &str| {
        format!(
            "apiVersion: policy.portcullis.dev/v1alpha1\nkind: PolicyException\nmetadata: {{name: x{ns}}}\nspec: {spec}\n"
        )
    };
    let cases = [
        (
            doc(", namespace: a", "{exceptions: []}"),
            "spec.exceptions is empty",
        ),
        (
            doc(
                ", namespace: a",
                "{exceptions: [{policyName: p}], podSecurity: [{controlName: Capabilities}]}",
            ),
            "spec.podSecurity[0].controlName: \"Capabilities\" is not a Pod Security check id",
        ),
        (
            doc(
                ", namespace: a",
                "{exceptions: [{policyName: p}], podSecurity: [{controlName: capabilities, images: [\"a[\"]}]}",
            ),
            "spec.podSecurity.images: \"a[\" is not a valid glob",
        ),
        (
            doc(
                ", namespace: a",
                "{match: {names: [\"[\"]}, exceptions: [{policyName: p}]}",
            ),
            "spec.match.names",
        ),
        (
            doc(
                ", namespace: a",
                "{exceptions: [{policyName: p, rules: [r]}]}",
            ),
            "unknown field `rules`",
        ),
        (
            doc(", namespace: a", "{exceptions: [{policyName: \"\"}]}"),
            "spec.exceptions[0].policyName is empty",
        ),
        (
            doc("", "{exceptions: [{policyName: p}]}"),
            "PolicyException is namespaced",
        ),
    ];
    for (text, want) in cases {
        let err = PolicySet::from_yaml("x.yaml", &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}\nlacks {want:?}");
        assert!(err.contains("PolicyException"), "{err}");
    }
    let one = doc(", namespace: a", "{exceptions: [{policyName: p}]}");
    let err = PolicySet::from_sources([("1.yaml", one.as_str()), ("2.yaml", one.as_str())])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("PolicyException \"a/x\" is defined twice: in 1.yaml document 1"),
        "{err}"
    );
}
