//! Restricted checks, each mirroring upstream's `check_<id>.go` at every registered version.
//!
//! Restricted adds hardening on top of baseline: only ephemeral-safe volume types, no privilege
//! escalation, non-root users, a seccomp profile, `drop: [ALL]`, and (v1.35+) an unconditional
//! default procMount. From v1.25 Windows pods (`spec.os.name: windows`) are exempt from the
//! Linux-only checks; from v1.35 user-namespaced pods (`hostUsers: false`) are exempt from the
//! runAsNonRoot/runAsUser checks. Three restricted checks replace their baseline counterparts
//! (`overrides`), as upstream registers them.

use serde_json::Value;

use super::baseline::volumes;
use super::profiles::proc_mount_strict;
use super::{Check, Level, Versioned, dig, member, show};
use crate::decision::Finding;
use crate::workload::Workload;

/// Volume sources restricted allows (`image` was patched into the 1.0 check upstream).
const ALLOWED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Every other volume source of core/v1 `Volume`.
const OTHER_VOLUMES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

const fn v(min_minor: u32, run: super::CheckFn, overrides: &'static [&'static str]) -> Versioned {
    Versioned {
        min_minor,
        run,
        overrides,
    }
}

/// Restricted checks in upstream's registration order.
pub(crate) static CHECKS: [Check; 7] = [
    Check {
        id: "restrictedVolumes",
        level: Level::Restricted,
        versions: &[v(0, restricted_volumes, &["hostPathVolumes"])],
    },
    Check {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        versions: &[v(8, ape_1_8, &[]), v(25, ape_1_25, &[])],
    },
    Check {
        id: "runAsNonRoot",
        level: Level::Restricted,
        versions: &[
            v(0, run_as_non_root_1_0, &[]),
            v(35, run_as_non_root_1_35, &[]),
        ],
    },
    Check {
        id: "runAsUser",
        level: Level::Restricted,
        versions: &[v(23, run_as_user_1_23, &[]), v(35, run_as_user_1_35, &[])],
    },
    Check {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        versions: &[
            v(19, seccomp_1_19, &["seccompProfile_baseline"]),
            v(25, seccomp_1_25, &["seccompProfile_baseline"]),
        ],
    },
    Check {
        id: "capabilities_restricted",
        level: Level::Restricted,
        versions: &[
            v(22, capabilities_1_22, &["capabilities_baseline"]),
            v(25, capabilities_1_25, &["capabilities_baseline"]),
        ],
    },
    Check {
        id: "procMount_restricted",
        level: Level::Restricted,
        versions: &[v(35, proc_mount_restricted, &["procMount"])],
    },
];

fn restricted_volumes(w: &Workload<'_>) -> Vec<Finding> {
    volumes(w)
        .filter_map(|(i, vol)| {
            let sources: Vec<&str> = vol
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, val)| k.as_str() != "name" && !val.is_null())
                .map(|(k, _)| k.as_str())
                .collect();
            // No source at all: the API server defaults it to emptyDir before admission.
            if sources.is_empty() || sources.iter().any(|s| ALLOWED_VOLUMES.contains(s)) {
                return None;
            }
            let kind = sources
                .iter()
                .find(|s| OTHER_VOLUMES.contains(s))
                .copied()
                .unwrap_or("unknown");
            let path = w.spec_path.key("volumes").index(i);
            let path = if kind == "unknown" { path } else { path.key(kind) };
            Some(
                Finding::new("restrictedVolumes", path, "restricted volume types")
                    .expected(format!("one of {}", ALLOWED_VOLUMES.join(", ")), kind)
                    .fix("use a configMap, secret, projected, emptyDir, PersistentVolumeClaim or CSI volume"),
            )
        })
        .collect()
}

fn ape_1_8(w: &Workload<'_>) -> Vec<Finding> {
    w.containers()
        .into_iter()
        .filter_map(|c| {
            let ape = member(c.security_context(), "allowPrivilegeEscalation");
            (ape.and_then(Value::as_bool) != Some(false)).then(|| {
                Finding::new(
                    "allowPrivilegeEscalation",
                    c.path
                        .keys(&["securityContext", "allowPrivilegeEscalation"]),
                    "allowPrivilegeEscalation != false",
                )
                .container(c.name)
                .expected("false", show(ape))
                .fix("set securityContext.allowPrivilegeEscalation: false")
            })
        })
        .collect()
}

fn ape_1_25(w: &Workload<'_>) -> Vec<Finding> {
    if w.is_windows() {
        return Vec::new();
    }
    ape_1_8(w)
}

fn run_as_non_root_1_0(w: &Workload<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let pod = member(w.pod_security_context(), "runAsNonRoot");
    let pod_true = pod.and_then(Value::as_bool) == Some(true);
    if pod.is_some() && !pod_true {
        out.push(
            Finding::new(
                "runAsNonRoot",
                w.spec_path.keys(&["securityContext", "runAsNonRoot"]),
                "runAsNonRoot != true",
            )
            .expected("true", show(pod))
            .fix("set securityContext.runAsNonRoot: true"),
        );
    }
    for c in w.containers() {
        let own = member(c.security_context(), "runAsNonRoot");
        let bad = match own {
            Some(v) => v.as_bool() != Some(true),
            None => !pod_true,
        };
        if bad {
            out.push(
                Finding::new(
                    "runAsNonRoot",
                    c.path.keys(&["securityContext", "runAsNonRoot"]),
                    "runAsNonRoot != true",
                )
                .container(c.name)
                .expected("true", show(own))
                .fix("set securityContext.runAsNonRoot: true"),
            );
        }
    }
    out
}

fn run_as_non_root_1_35(w: &Workload<'_>) -> Vec<Finding> {
    if w.in_user_namespace() {
        return Vec::new();
    }
    run_as_non_root_1_0(w)
}

fn run_as_user_1_23(w: &Workload<'_>) -> Vec<Finding> {
    let is_root = |v: Option<&Value>| v.and_then(Value::as_i64) == Some(0);
    let mut out = Vec::new();
    if is_root(member(w.pod_security_context(), "runAsUser")) {
        out.push(
            Finding::new(
                "runAsUser",
                w.spec_path.keys(&["securityContext", "runAsUser"]),
                "runAsUser=0",
            )
            .expected("a non-zero UID or unset", "0")
            .fix("set securityContext.runAsUser to a non-zero UID, e.g. 65532"),
        );
    }
    for c in w.containers() {
        if is_root(member(c.security_context(), "runAsUser")) {
            out.push(
                Finding::new(
                    "runAsUser",
                    c.path.keys(&["securityContext", "runAsUser"]),
                    "runAsUser=0",
                )
                .container(c.name)
                .expected("a non-zero UID or unset", "0")
                .fix("set securityContext.runAsUser to a non-zero UID, e.g. 65532"),
            );
        }
    }
    out
}

fn run_as_user_1_35(w: &Workload<'_>) -> Vec<Finding> {
    if w.in_user_namespace() {
        return Vec::new();
    }
    run_as_user_1_23(w)
}

fn seccomp_1_19(w: &Workload<'_>) -> Vec<Finding> {
    let valid = |t: Option<&Value>| {
        matches!(
            t.and_then(Value::as_str),
            Some("RuntimeDefault" | "Localhost")
        )
    };
    let fix = "set securityContext.seccompProfile.type: RuntimeDefault";
    let mut out = Vec::new();
    let mut pod_set = false;
    if let Some(p) = member(w.pod_security_context(), "seccompProfile") {
        let t = member(Some(p), "type");
        if valid(t) {
            pod_set = true;
        } else {
            out.push(
                Finding::new(
                    "seccompProfile_restricted",
                    w.spec_path
                        .keys(&["securityContext", "seccompProfile", "type"]),
                    "seccompProfile",
                )
                .expected("RuntimeDefault or Localhost", show(t))
                .fix(fix),
            );
        }
    }
    for c in w.containers() {
        let path = c.path.keys(&["securityContext", "seccompProfile", "type"]);
        match member(c.security_context(), "seccompProfile") {
            Some(p) => {
                let t = member(Some(p), "type");
                if !valid(t) {
                    out.push(
                        Finding::new("seccompProfile_restricted", path, "seccompProfile")
                            .container(c.name)
                            .expected("RuntimeDefault or Localhost", show(t))
                            .fix(fix),
                    );
                }
            }
            None if !pod_set => out.push(
                Finding::new("seccompProfile_restricted", path, "seccompProfile")
                    .container(c.name)
                    .expected("RuntimeDefault or Localhost", "unset")
                    .fix(format!("{fix} (on the pod or on this container)")),
            ),
            None => {}
        }
    }
    out
}

fn seccomp_1_25(w: &Workload<'_>) -> Vec<Finding> {
    if w.is_windows() {
        return Vec::new();
    }
    seccomp_1_19(w)
}

fn capabilities_1_22(w: &Workload<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in w.containers() {
        let caps = member(c.security_context(), "capabilities");
        let drop = member(caps, "drop");
        let drops_all = drop
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x.as_str() == Some("ALL")));
        if !drops_all {
            out.push(
                Finding::new(
                    "capabilities_restricted",
                    c.path.keys(&["securityContext", "capabilities", "drop"]),
                    "unrestricted capabilities",
                )
                .container(c.name)
                .expected("a list containing ALL", show(drop))
                .fix("set securityContext.capabilities.drop: [ALL]"),
            );
        }
        for (j, cap) in dig(caps, &["add"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if cap.as_str() != Some("NET_BIND_SERVICE") {
                out.push(
                    Finding::new(
                        "capabilities_restricted",
                        c.path
                            .keys(&["securityContext", "capabilities", "add"])
                            .index(j),
                        "unrestricted capabilities",
                    )
                    .container(c.name)
                    .expected("only NET_BIND_SERVICE", show(Some(cap)))
                    .fix(format!("remove {} from capabilities.add", show(Some(cap)))),
                );
            }
        }
    }
    out
}

fn capabilities_1_25(w: &Workload<'_>) -> Vec<Finding> {
    if w.is_windows() {
        return Vec::new();
    }
    capabilities_1_22(w)
}

fn proc_mount_restricted(w: &Workload<'_>) -> Vec<Finding> {
    proc_mount_strict(w, "procMount_restricted")
}
