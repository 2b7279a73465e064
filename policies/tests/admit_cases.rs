//! Table-driven admission cases from `tests/cases/*.yaml`: each file declares a policy set and
//! cases (object, request overrides, image verdicts) with the expected decision: allowed, the
//! exact set of denied `policy/rule`s, reason paths, warnings, audit annotations and patch.
//!
//! Every case also proves the engine's invariants: a case marked `wrap` gets the same verdict
//! and rules in each listed controller kind; an admitted case's patch applies cleanly, is
//! idempotent (evaluating the patched object yields no patch and the same verdict), and leaves
//! an object that still deserialises as its k8s-openapi type.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;

use portcullis_policies::workload::WorkloadKind;
use portcullis_policies::{Decision, Operation, PolicySet, Request, VerdictMap};
use portcullis_verifier_types::condition::ConditionFailure;
use portcullis_verifier_types::{Digest, RegistryError, Verified, VerifyError};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    policies: Vec<Value>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Case {
    name: String,
    object: Value,
    #[serde(default)]
    request: RequestOverrides,
    /// image as written → `sha256:…` (verified with that digest) or a VerifyError code.
    #[serde(default)]
    images: BTreeMap<String, String>,
    #[serde(default)]
    wrap: Vec<String>,
    expect: Expect,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequestOverrides {
    operation: Option<String>,
    namespace: Option<String>,
    username: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    sub_resource: Option<String>,
    old_object: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Expect {
    allowed: bool,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    /// `policy/rule` of each warning.
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    audit: Vec<String>,
    /// `op path` of each patch operation, in order.
    #[serde(default)]
    patch: Vec<String>,
    /// JSON pointer → value in the patched object.
    #[serde(default)]
    patched: BTreeMap<String, Value>,
    /// Substrings the deny message must contain.
    #[serde(default)]
    message: Vec<String>,
}

fn verify_error(code: &str, image: &str) -> VerifyError {
    let image = image.to_string();
    match code {
        "no-signature" => VerifyError::NoSignature {
            image,
            tag: "sha256-0.sig".into(),
        },
        "no-trusted-key" => VerifyError::ThresholdNotMet {
            image,
            found: 1,
            valid: 0,
            threshold: 1,
        },
        "attestation-missing" => VerifyError::AttestationMissing {
            image,
            predicate_type: "https://slsa.dev/provenance/v1".into(),
        },
        "condition-failed" => VerifyError::ConditionFailed {
            image,
            predicate_type: "https://slsa.dev/provenance/v1".into(),
            failure: ConditionFailure {
                path: "$.buildDefinition.externalParameters.workflow.repository".into(),
                expected: "== https://github.com/acme/app".into(),
                actual: "https://github.com/evil/app".into(),
            },
        },
        "registry-unreachable" => VerifyError::Registry {
            image,
            source: RegistryError::Unreachable {
                registry: "ghcr.io".into(),
                cause: "connection refused".into(),
            },
        },
        "deadline" => VerifyError::Deadline {
            image,
            registry: "ghcr.io".into(),
            budget_ms: 3000,
        },
        other => panic!("unknown verdict code {other:?}"),
    }
}

/// Verdicts for every check the request needs, from the case's `images` table (pinned variants
/// `image@digest` verify too, so re-evaluating a patched object works).
fn facts(policies: &PolicySet, req: &Request, images: &BTreeMap<String, String>) -> VerdictMap {
    let mut table: BTreeMap<String, String> = images.clone();
    for (image, v) in images {
        if v.starts_with("sha256:") {
            table.insert(format!("{image}@{v}"), v.clone());
        }
    }
    let mut map = VerdictMap::new();
    for check in policies.image_checks(req) {
        let Some(v) = table.get(&check.image) else {
            continue;
        };
        let verdict = match Digest::from_str(v) {
            Ok(digest) => Ok(Verified {
                digest,
                key_ids: vec!["k".into()],
                attestations: vec![],
            }),
            Err(_) => Err(verify_error(v, &check.image)),
        };
        map.insert(check.key(), Arc::new(verdict));
    }
    map
}

fn request(object: &Value, o: &RequestOverrides) -> Request {
    let mut req = Request::from_manifest(object.clone()).unwrap();
    req.operation = match o.operation.as_deref().unwrap_or("CREATE") {
        "CREATE" => Operation::Create,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        "CONNECT" => Operation::Connect,
        other => panic!("operation {other}"),
    };
    req.namespace = o.namespace.clone().unwrap_or_else(|| "default".into());
    req.username = o.username.clone().unwrap_or_else(|| "alice".into());
    req.groups = o.groups.clone();
    req.sub_resource = o.sub_resource.clone();
    req.old_object = o.old_object.clone();
    req
}

fn summary(d: &Decision) -> (bool, BTreeSet<String>) {
    (d.allowed, d.denied_rules().into_iter().collect())
}

fn deserializes_as_kind(object: &Value) -> Result<(), String> {
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    let v = object.clone();
    let r = match object["kind"].as_str().unwrap_or_default() {
        "Pod" => serde_json::from_value::<core::Pod>(v).map(drop),
        "ReplicationController" => {
            serde_json::from_value::<core::ReplicationController>(v).map(drop)
        }
        "Deployment" => serde_json::from_value::<apps::Deployment>(v).map(drop),
        "ReplicaSet" => serde_json::from_value::<apps::ReplicaSet>(v).map(drop),
        "StatefulSet" => serde_json::from_value::<apps::StatefulSet>(v).map(drop),
        "DaemonSet" => serde_json::from_value::<apps::DaemonSet>(v).map(drop),
        "Job" => serde_json::from_value::<batch::Job>(v).map(drop),
        "CronJob" => serde_json::from_value::<batch::CronJob>(v).map(drop),
        _ => Ok(()),
    };
    r.map_err(|e| e.to_string())
}

fn run_case(policies: &PolicySet, case: &Case) -> Vec<String> {
    let mut errs = Vec::new();
    let req = request(&case.object, &case.request);
    let verdicts = facts(policies, &req, &case.images);
    let d = policies.evaluate(&req, &verdicts);
    let e = &case.expect;
    let (allowed, rules) = summary(&d);
    if allowed != e.allowed {
        errs.push(format!(
            "allowed = {allowed}, expected {} ({})",
            e.allowed,
            d.message().replace('\n', " | ")
        ));
    }
    let want: BTreeSet<String> = e.rules.iter().cloned().collect();
    if rules != want {
        errs.push(format!(
            "rules {rules:?}, expected {want:?}: {}",
            d.message().replace('\n', " | ")
        ));
    }
    for p in &e.paths {
        if !d.reasons.iter().any(|r| &r.path == p) {
            errs.push(format!(
                "no reason at path {p}; paths: {:?}",
                d.reasons.iter().map(|r| &r.path).collect::<Vec<_>>()
            ));
        }
    }
    for m in &e.message {
        if !d.message().contains(m.as_str()) {
            errs.push(format!("deny message lacks {m:?}: {}", d.message()));
        }
    }
    let warned: BTreeSet<String> = d
        .warnings
        .iter()
        .map(|w| w.split(':').next().unwrap_or_default().to_string())
        .collect();
    if warned != e.warnings.iter().cloned().collect() {
        errs.push(format!(
            "warnings {:?}, expected {:?}",
            d.warnings, e.warnings
        ));
    }
    let audited: BTreeSet<String> = d.audit_annotations.keys().cloned().collect();
    if audited != e.audit.iter().cloned().collect() {
        errs.push(format!(
            "audit annotations {:?}, expected {:?}",
            d.audit_annotations, e.audit
        ));
    }
    let ops: Vec<String> = serde_json::to_value(&d.patch)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            format!(
                "{} {}",
                op["op"].as_str().unwrap(),
                op["path"].as_str().unwrap()
            )
        })
        .collect();
    if ops != e.patch {
        errs.push(format!("patch {ops:?}, expected {:?}", e.patch));
    }
    if d.allowed && req.operation.writes() {
        let mut patched = req.object.clone();
        if let Err(err) = json_patch::patch(&mut patched, &d.patch) {
            errs.push(format!("patch does not apply: {err}"));
        }
        for (ptr, want) in &e.patched {
            if patched.pointer(ptr) != Some(want) {
                errs.push(format!(
                    "patched {ptr} = {:?}, expected {want}",
                    patched.pointer(ptr)
                ));
            }
        }
        if let Some(Err(err)) = WorkloadKind::of(&req.kind).map(|_| deserializes_as_kind(&patched))
        {
            errs.push(format!("patched object no longer deserialises: {err}"));
        }
        let mut again = req.clone();
        again.object = patched;
        let d2 = policies.evaluate(&again, &facts(policies, &again, &case.images));
        if !d2.patch.is_empty() || d2.allowed != d.allowed {
            errs.push(format!(
                "not idempotent: second evaluation allowed={} patch={}",
                d2.allowed,
                serde_json::to_string(&d2.patch).unwrap()
            ));
        }
    }
    for kind_name in &case.wrap {
        let kind = WorkloadKind::ALL
            .into_iter()
            .find(|k| k.name() == kind_name)
            .unwrap_or_else(|| panic!("wrap kind {kind_name}"));
        let wrapped = kind.wrap(
            "wrapped",
            case.object["metadata"].clone(),
            case.object["spec"].clone(),
        );
        let wreq = request(&wrapped, &case.request);
        let wd = policies.evaluate(&wreq, &facts(policies, &wreq, &case.images));
        if summary(&wd) != summary(&d) {
            errs.push(format!(
                "{kind_name}: {:?}, Pod: {:?}",
                summary(&wd),
                summary(&d)
            ));
        }
    }
    errs
}

#[test]
fn admission_cases_from_data_files() {
    let dir = common::workspace_root().join("policies/tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "case files missing in {}", dir.display());
    let mut failures = Vec::new();
    let mut count = 0;
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let cf: CaseFile = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let policies = PolicySet::from_documents(&name, &cf.policies, &Default::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for case in &cf.cases {
            count += 1;
            for err in run_case(&policies, case) {
                failures.push(format!("{name} / {}: {err}", case.name));
            }
        }
    }
    println!("admission cases: {count}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
