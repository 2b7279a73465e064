//! Baseline checks, registered as upstream registers them: the [`CHECKS`] table with every
//! version of every baseline check, and the checks on host access and privileges (host
//! namespaces, privileged, capabilities, hostPath volumes, host ports, probe/lifecycle hosts
//! from v1.34, sysctls, Windows HostProcess). The security-profile checks (AppArmor, SELinux,
//! seccomp, procMount) are in [`super::profiles`]. Values are compared exactly as upstream does:
//! capability names are not case-folded or `CAP_`-stripped, sysctl names are matched verbatim.

use serde_json::Value;

use super::profiles::{
    app_armor, proc_mount_1_0, proc_mount_1_35, seccomp_annotations, seccomp_fields, selinux_1_0,
    selinux_1_31,
};
use super::{Check, Level, Versioned, dig, member, show};
use crate::decision::Finding;
use crate::workload::Workload;

/// Capabilities baseline allows in `capabilities.add`.
pub const ALLOWED_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

const SYSCTLS_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
const SYSCTLS_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
const SYSCTLS_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const SYSCTLS_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];
const SYSCTLS_1_37: &[&str] = &[
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

const fn v(min_minor: u32, run: super::CheckFn) -> Versioned {
    Versioned {
        min_minor,
        run,
        overrides: &[],
    }
}

/// Baseline checks in upstream's registration order.
pub(crate) static CHECKS: [Check; 12] = [
    Check {
        id: "hostNamespaces",
        level: Level::Baseline,
        versions: &[v(0, host_namespaces)],
    },
    Check {
        id: "privileged",
        level: Level::Baseline,
        versions: &[v(0, privileged)],
    },
    Check {
        id: "capabilities_baseline",
        level: Level::Baseline,
        versions: &[v(0, capabilities)],
    },
    Check {
        id: "hostPathVolumes",
        level: Level::Baseline,
        versions: &[v(0, host_path_volumes)],
    },
    Check {
        id: "hostPorts",
        level: Level::Baseline,
        versions: &[v(0, host_ports)],
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        versions: &[v(34, host_probes)],
    },
    Check {
        id: "appArmorProfile",
        level: Level::Baseline,
        versions: &[v(0, app_armor)],
    },
    Check {
        id: "seLinuxOptions",
        level: Level::Baseline,
        versions: &[v(0, selinux_1_0), v(31, selinux_1_31)],
    },
    Check {
        id: "procMount",
        level: Level::Baseline,
        versions: &[v(0, proc_mount_1_0), v(35, proc_mount_1_35)],
    },
    Check {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        versions: &[v(0, seccomp_annotations), v(19, seccomp_fields)],
    },
    Check {
        id: "sysctls",
        level: Level::Baseline,
        versions: &[
            v(0, sysctls_1_0),
            v(27, sysctls_1_27),
            v(29, sysctls_1_29),
            v(32, sysctls_1_32),
            v(37, sysctls_1_37),
        ],
    },
    Check {
        id: "windowsHostProcess",
        level: Level::Baseline,
        versions: &[v(0, windows_host_process)],
    },
];

fn host_namespaces(w: &Workload<'_>) -> Vec<Finding> {
    ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|k| w.field(k).and_then(Value::as_bool) == Some(true))
        .map(|k| {
            Finding::new("hostNamespaces", w.spec_path.key(k), "host namespaces")
                .expected("false or unset", "true")
                .fix(format!("remove {k}: true from the pod spec"))
        })
        .collect()
}

fn privileged(w: &Workload<'_>) -> Vec<Finding> {
    w.containers()
        .into_iter()
        .filter(|c| {
            dig(c.security_context(), &["privileged"]).and_then(Value::as_bool) == Some(true)
        })
        .map(|c| {
            Finding::new(
                "privileged",
                c.path.keys(&["securityContext", "privileged"]),
                "privileged",
            )
            .container(c.name)
            .expected("false or unset", "true")
            .fix("remove securityContext.privileged: true")
        })
        .collect()
}

fn capabilities(w: &Workload<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in w.containers() {
        let Some(add) =
            dig(c.security_context(), &["capabilities", "add"]).and_then(Value::as_array)
        else {
            continue;
        };
        for (j, cap) in add.iter().enumerate() {
            if cap
                .as_str()
                .is_some_and(|s| ALLOWED_CAPABILITIES.contains(&s))
            {
                continue;
            }
            out.push(
                Finding::new(
                    "capabilities_baseline",
                    c.path
                        .keys(&["securityContext", "capabilities", "add"])
                        .index(j),
                    "non-default capabilities",
                )
                .container(c.name)
                .expected("one of the baseline capabilities", show(Some(cap)))
                .fix(format!(
                    "remove {} from capabilities.add (allowed: {})",
                    show(Some(cap)),
                    ALLOWED_CAPABILITIES.join(", ")
                )),
            );
        }
    }
    out
}

fn host_path_volumes(w: &Workload<'_>) -> Vec<Finding> {
    volumes(w)
        .filter_map(|(i, vol)| {
            let hp = member(Some(vol), "hostPath")?;
            Some(
                Finding::new("hostPathVolumes", w.spec_path.key("volumes").index(i).key("hostPath"), "hostPath volumes")
                    .expected("no hostPath volume", show(member(Some(hp), "path")))
                    .fix("use emptyDir, a PersistentVolumeClaim or a projected volume instead of hostPath"),
            )
        })
        .collect()
}

pub(crate) fn volumes<'a>(w: &Workload<'a>) -> impl Iterator<Item = (usize, &'a Value)> {
    w.field("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

fn host_ports(w: &Workload<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in w.containers() {
        let Some(ports) = member(Some(c.value), "ports").and_then(Value::as_array) else {
            continue;
        };
        for (j, port) in ports.iter().enumerate() {
            let hp = member(Some(port), "hostPort");
            if hp.is_some_and(|p| p.as_i64() != Some(0)) {
                out.push(
                    Finding::new(
                        "hostPorts",
                        c.path.key("ports").index(j).key("hostPort"),
                        "hostPort",
                    )
                    .container(c.name)
                    .expected("0 or unset", show(hp))
                    .fix("remove hostPort; expose the port with a Service"),
                );
            }
        }
    }
    out
}

fn host_probes(w: &Workload<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let handlers = [
        ("livenessProbe", None),
        ("readinessProbe", None),
        ("startupProbe", None),
        ("lifecycle", Some("postStart")),
        ("lifecycle", Some("preStop")),
    ];
    for c in w.containers() {
        for (first, second) in handlers {
            let mut base = c.path.key(first);
            let mut handler = member(Some(c.value), first);
            if let Some(s) = second {
                base = base.key(s);
                handler = member(handler, s);
            }
            for action in ["httpGet", "tcpSocket"] {
                let host = dig(handler, &[action, "host"]);
                if host.and_then(Value::as_str).is_some_and(|h| !h.is_empty()) {
                    out.push(
                        Finding::new(
                            "hostProbesAndHostLifecycle",
                            base.keys(&[action, "host"]),
                            "probe or lifecycle host",
                        )
                        .container(c.name)
                        .expected("unset", show(host))
                        .fix(format!(
                            "remove {action}.host; probes and hooks target the pod's own IP"
                        )),
                    );
                }
            }
        }
    }
    out
}

fn sysctls(w: &Workload<'_>, allowed: &[&[&str]]) -> Vec<Finding> {
    let Some(list) = member(w.pod_security_context(), "sysctls").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let name = member(Some(s), "name");
            let n = name.and_then(Value::as_str).unwrap_or_default();
            (!allowed.iter().any(|set| set.contains(&n))).then(|| {
                Finding::new(
                    "sysctls",
                    w.spec_path
                        .keys(&["securityContext", "sysctls"])
                        .index(i)
                        .key("name"),
                    "forbidden sysctls",
                )
                .expected("a namespaced safe sysctl", show(name))
                .fix(format!("remove sysctl {n}"))
            })
        })
        .collect()
}

fn sysctls_1_0(w: &Workload<'_>) -> Vec<Finding> {
    sysctls(w, &[SYSCTLS_1_0])
}

fn sysctls_1_27(w: &Workload<'_>) -> Vec<Finding> {
    sysctls(w, &[SYSCTLS_1_0, SYSCTLS_1_27])
}

fn sysctls_1_29(w: &Workload<'_>) -> Vec<Finding> {
    sysctls(w, &[SYSCTLS_1_0, SYSCTLS_1_27, SYSCTLS_1_29])
}

fn sysctls_1_32(w: &Workload<'_>) -> Vec<Finding> {
    sysctls(w, &[SYSCTLS_1_0, SYSCTLS_1_27, SYSCTLS_1_29, SYSCTLS_1_32])
}

fn sysctls_1_37(w: &Workload<'_>) -> Vec<Finding> {
    sysctls(
        w,
        &[
            SYSCTLS_1_0,
            SYSCTLS_1_27,
            SYSCTLS_1_29,
            SYSCTLS_1_32,
            SYSCTLS_1_37,
        ],
    )
}

fn windows_host_process(w: &Workload<'_>) -> Vec<Finding> {
    let is_host = |sc: Option<&Value>| {
        dig(sc, &["windowsOptions", "hostProcess"]).and_then(Value::as_bool) == Some(true)
    };
    let finding = |path: crate::path::FieldPath| {
        Finding::new(
            "windowsHostProcess",
            path.keys(&["securityContext", "windowsOptions", "hostProcess"]),
            "hostProcess",
        )
        .expected("false or unset", "true")
        .fix("remove windowsOptions.hostProcess: true")
    };
    let mut out = Vec::new();
    if is_host(w.pod_security_context()) {
        out.push(finding(w.spec_path.clone()));
    }
    for c in w.containers() {
        if is_host(c.security_context()) {
            out.push(finding(c.path.clone()).container(c.name));
        }
    }
    out
}
