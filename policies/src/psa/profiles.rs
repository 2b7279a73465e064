//! Baseline checks on Linux security profiles and /proc masks: AppArmor (annotations and
//! fields), SELinux options, seccomp (annotations before v1.19, fields from v1.19) and procMount
//! (relaxed for user-namespaced pods from v1.35). Split from [`super::baseline`], which
//! registers them; each mirrors upstream's `check_<id>.go`.

use serde_json::Value;

use super::{member, show};
use crate::decision::Finding;
use crate::path::FieldPath;
use crate::workload::Workload;

const SELINUX_TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
const SELINUX_TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";
const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

pub(super) fn app_armor(w: &Workload<'_>) -> Vec<Finding> {
    let mut out = profile_type_findings(w, "appArmorProfile", |path, t| {
        Finding::new("appArmorProfile", path, "forbidden AppArmor profile")
            .expected("RuntimeDefault or Localhost", show(t))
            .fix("set appArmorProfile.type: RuntimeDefault (or Localhost), or remove it")
    });
    for (k, val) in w.annotations().into_iter().flatten() {
        if !k.starts_with(APPARMOR_ANNOTATION_PREFIX) {
            continue;
        }
        let s = val.as_str().unwrap_or_default();
        if s.is_empty() || s == "runtime/default" || s.starts_with("localhost/") {
            continue;
        }
        out.push(
            Finding::new(
                "appArmorProfile",
                w.metadata_path.key("annotations").key(k),
                "forbidden AppArmor profile",
            )
            .expected("runtime/default or localhost/<profile>", show(Some(val)))
            .fix(format!(
                "remove annotation {k} or set it to runtime/default"
            )),
        );
    }
    out
}

fn selinux(w: &Workload<'_>, allowed_types: &[&str]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut check = |opts: Option<&Value>, path: FieldPath, container: Option<&str>| {
        let Some(opts) = opts else { return };
        let mut push = |field: &str, expected: &str, actual: Option<&Value>, fix: &str| {
            let mut f = Finding::new("seLinuxOptions", path.key(field), "seLinuxOptions")
                .expected(expected, show(actual))
                .fix(fix);
            if let Some(c) = container {
                f = f.container(c);
            }
            out.push(f);
        };
        let t = member(Some(opts), "type");
        if !allowed_types.contains(&t.and_then(Value::as_str).unwrap_or_default()) {
            push(
                "type",
                &format!("one of {}", allowed_types[1..].join(", ")),
                t,
                "use an allowed seLinuxOptions.type or remove it",
            );
        }
        for field in ["user", "role"] {
            let val = member(Some(opts), field);
            if val.and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
                push(
                    field,
                    "unset",
                    val,
                    &format!("remove seLinuxOptions.{field}"),
                );
            }
        }
    };
    check(
        member(w.pod_security_context(), "seLinuxOptions"),
        w.spec_path.keys(&["securityContext", "seLinuxOptions"]),
        None,
    );
    for c in w.containers() {
        check(
            member(c.security_context(), "seLinuxOptions"),
            c.path.keys(&["securityContext", "seLinuxOptions"]),
            Some(c.name),
        );
    }
    out
}

pub(super) fn selinux_1_0(w: &Workload<'_>) -> Vec<Finding> {
    selinux(w, SELINUX_TYPES_1_0)
}

pub(super) fn selinux_1_31(w: &Workload<'_>) -> Vec<Finding> {
    selinux(w, SELINUX_TYPES_1_31)
}

/// Upstream `procMount_1_0`: anything but `Default` is forbidden.
pub(crate) fn proc_mount_strict(w: &Workload<'_>, rule: &str) -> Vec<Finding> {
    w.containers()
        .into_iter()
        .filter_map(|c| {
            let pm = member(c.security_context(), "procMount")?;
            (pm.as_str() != Some("Default")).then(|| {
                Finding::new(
                    rule,
                    c.path.keys(&["securityContext", "procMount"]),
                    "procMount",
                )
                .container(c.name)
                .expected("Default or unset", show(Some(pm)))
                .fix("remove securityContext.procMount")
            })
        })
        .collect()
}

pub(super) fn proc_mount_1_0(w: &Workload<'_>) -> Vec<Finding> {
    proc_mount_strict(w, "procMount")
}

/// v1.35: a user-namespaced pod (`hostUsers: false`) may use any procMount.
pub(super) fn proc_mount_1_35(w: &Workload<'_>) -> Vec<Finding> {
    if w.in_user_namespace() {
        return Vec::new();
    }
    proc_mount_strict(w, "procMount")
}

/// Before v1.19 seccomp was set with annotations.
pub(super) fn seccomp_annotations(w: &Workload<'_>) -> Vec<Finding> {
    let Some(ann) = w.annotations() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut check = |key: String, container: Option<&str>| {
        if let Some(val) = ann.get(&key).filter(|v| v.as_str() == Some("unconfined")) {
            let mut f = Finding::new(
                "seccompProfile_baseline",
                w.metadata_path.key("annotations").key(&key),
                "seccompProfile",
            )
            .expected("not unconfined", show(Some(val)))
            .fix(format!("remove annotation {key}"));
            if let Some(c) = container {
                f = f.container(c);
            }
            out.push(f);
        }
    };
    check(SECCOMP_POD_ANNOTATION.to_string(), None);
    for c in w.containers() {
        check(
            format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", c.name),
            Some(c.name),
        );
    }
    out
}

pub(super) fn seccomp_fields(w: &Workload<'_>) -> Vec<Finding> {
    profile_type_findings(w, "seccompProfile", |path, t| {
        Finding::new("seccompProfile_baseline", path, "seccompProfile")
            .expected("RuntimeDefault, Localhost or unset", show(t))
            .fix("set seccompProfile.type: RuntimeDefault")
    })
}

/// The AppArmor and seccomp field checks: wherever `securityContext.<profile>` is set, on the pod
/// or on a container, its `type` must be RuntimeDefault or Localhost; `finding` says why not.
fn profile_type_findings(
    w: &Workload<'_>,
    profile: &str,
    finding: impl Fn(FieldPath, Option<&Value>) -> Finding,
) -> Vec<Finding> {
    let allowed = |t: Option<&Value>| {
        matches!(
            t.and_then(Value::as_str),
            Some("RuntimeDefault" | "Localhost")
        )
    };
    let path = ["securityContext", profile, "type"];
    let mut out = Vec::new();
    if let Some(p) = member(w.pod_security_context(), profile) {
        let t = member(Some(p), "type");
        if !allowed(t) {
            out.push(finding(w.spec_path.keys(&path), t));
        }
    }
    for c in w.containers() {
        if let Some(p) = member(c.security_context(), profile) {
            let t = member(Some(p), "type");
            if !allowed(t) {
                out.push(finding(c.path.keys(&path), t).container(c.name));
            }
        }
    }
    out
}
