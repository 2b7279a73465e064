//! What the controllers would create from an admitted object, one level at a time:
//! Deployment → ReplicaSet, ReplicaSet/ReplicationController/Job/DaemonSet → Pod (with
//! `generateName`, so the request's name is empty as the API server sends it), StatefulSet → Pod
//! `<name>-0`, CronJob → Job. Each child carries the template's labels and annotations, the
//! controller's extra labels (`pod-template-hash`, `controller-revision-hash`, the Job's
//! `controller-uid`/`job-name`, …), the parent's namespace, an ownerReference to the parent, and
//! is requested by the controller's service account (`system:serviceaccount:kube-system:
//! replicaset-controller`, …).
//!
//! One child per parent: a controller creating N replicas sends N such requests that differ only
//! in the generated name. Hashes are not byte-identical to the controllers' (they hash Go
//! structs); they are FNV-1a of the template's JSON, in the same alphabet. The API server's
//! defaulting of the child (default fields, the Job's generated selector) is not applied.

use serde_json::{Map, Value, json};

use crate::manifests::{name, namespace};
use crate::review::{Kind, UserInfo};

/// A child object and who asks the API server to create it.
#[derive(Debug, Clone)]
pub struct Child {
    pub kind: Kind,
    pub object: Value,
    pub user: UserInfo,
}

/// The alphabet of Kubernetes' generated names and hashes (no vowels, no ambiguous digits).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1a (32 bit).
pub fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// A hash written in the name alphabet, like the controllers' `pod-template-hash`.
pub fn template_hash(template: &Value) -> String {
    let mut n = fnv32a(template.to_string().as_bytes());
    let mut out = String::new();
    loop {
        out.push(char::from(ALPHABET[(n % 27) as usize]));
        n /= 27;
        if n == 0 {
            break;
        }
    }
    out
}

fn owner_reference(kind: Kind, parent: &Value) -> Value {
    json!({
        "apiVersion": kind.api_version(),
        "kind": kind.name(),
        "name": name(parent),
        "uid": parent.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn object_map(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

/// A child's metadata: from the template's, plus `extra_labels`, in the parent's namespace.
fn metadata(
    template_meta: Option<&Value>,
    parent_kind: Kind,
    parent: &Value,
    extra_labels: &[(&str, String)],
) -> Map<String, Value> {
    let mut labels = object_map(template_meta.and_then(|m| m.get("labels")));
    for (k, v) in extra_labels {
        labels.insert((*k).to_string(), json!(v));
    }
    let mut meta = Map::new();
    meta.insert("namespace".into(), json!(namespace(parent)));
    meta.insert("labels".into(), Value::Object(labels));
    let annotations = object_map(template_meta.and_then(|m| m.get("annotations")));
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    meta.insert(
        "ownerReferences".into(),
        json!([owner_reference(parent_kind, parent)]),
    );
    meta
}

fn pod(
    template: &Value,
    parent_kind: Kind,
    parent: &Value,
    name_or_prefix: Name,
    extra_labels: &[(&str, String)],
) -> Value {
    let mut meta = metadata(template.get("metadata"), parent_kind, parent, extra_labels);
    match name_or_prefix {
        Name::Fixed(n) => meta.insert("name".into(), json!(n)),
        Name::Generate(prefix) => meta.insert("generateName".into(), json!(prefix)),
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

enum Name {
    Fixed(String),
    Generate(String),
}

/// The objects the controller of `kind` creates from the admitted `parent` (one level).
pub fn children(kind: Kind, parent: &Value) -> Vec<Child> {
    let n = name(parent).to_string();
    let empty = json!({});
    match kind {
        Kind::Pod => Vec::new(),
        Kind::Deployment => {
            let template = parent.pointer("/spec/template").unwrap_or(&empty);
            let hash = template_hash(template);
            let mut rs_template = template.clone();
            if let Some(m) = rs_template.as_object_mut() {
                let meta = m.entry("metadata").or_insert_with(|| json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    let labels = meta.entry("labels").or_insert_with(|| json!({}));
                    if let Some(l) = labels.as_object_mut() {
                        l.insert("pod-template-hash".into(), json!(hash));
                    }
                }
            }
            let mut selector = parent
                .pointer("/spec/selector")
                .cloned()
                .unwrap_or_else(|| json!({}));
            if let Some(s) = selector.as_object_mut() {
                let ml = s.entry("matchLabels").or_insert_with(|| json!({}));
                if let Some(ml) = ml.as_object_mut() {
                    ml.insert("pod-template-hash".into(), json!(hash));
                }
            }
            let mut meta = metadata(
                template.get("metadata"),
                kind,
                parent,
                &[("pod-template-hash", hash.clone())],
            );
            meta.insert("name".into(), json!(format!("{n}-{hash}")));
            meta.insert(
                "annotations".into(),
                json!({
                    "deployment.kubernetes.io/revision": "1",
                    "deployment.kubernetes.io/desired-replicas": parent.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).to_string(),
                }),
            );
            let replicas = parent
                .pointer("/spec/replicas")
                .cloned()
                .unwrap_or(json!(1));
            vec![Child {
                kind: Kind::ReplicaSet,
                object: json!({
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": meta,
                    "spec": {"replicas": replicas, "selector": selector, "template": rs_template,
                             "minReadySeconds": parent.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0))},
                }),
                user: UserInfo::controller("deployment-controller"),
            }]
        }
        Kind::ReplicaSet | Kind::ReplicationController => {
            let template = parent.pointer("/spec/template").unwrap_or(&empty);
            let controller = if kind == Kind::ReplicaSet {
                "replicaset-controller"
            } else {
                "replication-controller"
            };
            vec![Child {
                kind: Kind::Pod,
                object: pod(template, kind, parent, Name::Generate(format!("{n}-")), &[]),
                user: UserInfo::controller(controller),
            }]
        }
        Kind::StatefulSet => {
            let template = parent.pointer("/spec/template").unwrap_or(&empty);
            let pod_name = format!("{n}-0");
            let revision = format!("{n}-{}", template_hash(template));
            let mut p = pod(
                template,
                kind,
                parent,
                Name::Fixed(pod_name.clone()),
                &[
                    ("controller-revision-hash", revision),
                    ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
                    ("apps.kubernetes.io/pod-index", "0".into()),
                ],
            );
            if let Some(spec) = p.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("hostname".into(), json!(pod_name));
                if let Some(svc) = parent.pointer("/spec/serviceName") {
                    spec.insert("subdomain".into(), svc.clone());
                }
                // Each volumeClaimTemplate becomes the pod's PVC volume of the same name.
                let claims: Vec<String> = parent
                    .pointer("/spec/volumeClaimTemplates")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|c| name(c).to_string())
                    .collect();
                let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
                if let Some(vs) = volumes.as_array_mut() {
                    vs.retain(|v| {
                        !claims
                            .iter()
                            .any(|c| v.get("name").and_then(Value::as_str) == Some(c.as_str()))
                    });
                    for c in &claims {
                        vs.push(json!({"name": c, "persistentVolumeClaim": {"claimName": format!("{c}-{pod_name}")}}));
                    }
                }
            }
            vec![Child {
                kind: Kind::Pod,
                object: p,
                user: UserInfo::controller("statefulset-controller"),
            }]
        }
        Kind::DaemonSet => {
            let template = parent.pointer("/spec/template").unwrap_or(&empty);
            let mut p = pod(
                template,
                kind,
                parent,
                Name::Generate(format!("{n}-")),
                &[
                    ("controller-revision-hash", template_hash(template)),
                    ("pod-template-generation", "1".into()),
                ],
            );
            if let Some(spec) = p.get_mut("spec").and_then(Value::as_object_mut) {
                let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
                if let Some(t) = tolerations.as_array_mut() {
                    for (key, effect) in [
                        ("node.kubernetes.io/not-ready", "NoExecute"),
                        ("node.kubernetes.io/unreachable", "NoExecute"),
                        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
                        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
                        ("node.kubernetes.io/unschedulable", "NoSchedule"),
                    ] {
                        t.push(json!({"key": key, "operator": "Exists", "effect": effect}));
                    }
                }
            }
            vec![Child {
                kind: Kind::Pod,
                object: p,
                user: UserInfo::controller("daemon-set-controller"),
            }]
        }
        Kind::Job => {
            let template = parent.pointer("/spec/template").unwrap_or(&empty);
            let uid = parent
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            vec![Child {
                kind: Kind::Pod,
                object: pod(
                    template,
                    kind,
                    parent,
                    Name::Generate(format!("{n}-")),
                    &[
                        ("batch.kubernetes.io/controller-uid", uid.clone()),
                        ("batch.kubernetes.io/job-name", n.clone()),
                        ("controller-uid", uid),
                        ("job-name", n.clone()),
                    ],
                ),
                user: UserInfo::controller("job-controller"),
            }]
        }
        Kind::CronJob => {
            let template = parent.pointer("/spec/jobTemplate").unwrap_or(&empty);
            let minutes = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() / 60)
                .unwrap_or(0);
            let mut meta = metadata(template.get("metadata"), kind, parent, &[]);
            meta.insert("name".into(), json!(format!("{n}-{minutes}")));
            let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = annotations.as_object_mut() {
                a.insert(
                    "batch.kubernetes.io/cronjob-scheduled-timestamp".into(),
                    json!(format!("{}", minutes * 60)),
                );
            }
            vec![Child {
                kind: Kind::Job,
                object: json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                    "spec": template.get("spec").cloned().unwrap_or_else(|| json!({}))}),
                user: UserInfo::controller("cronjob-controller"),
            }]
        }
    }
}

/// What the API server adds when it stores an admitted object: uid, creationTimestamp,
/// generation, and a generated name for `generateName` objects.
pub fn persist(object: &Value) -> Value {
    let mut out = object.clone();
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        let uid = uuid::Uuid::new_v4();
        meta.insert("uid".into(), json!(uid.to_string()));
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        let unnamed = meta
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if unnamed && let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
            let suffix: String = uid.as_bytes()[..5]
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(*b) % 27]))
                .collect();
            let generated = format!("{prefix}{suffix}");
            meta.insert("name".into(), json!(generated));
        }
    }
    out
}

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
