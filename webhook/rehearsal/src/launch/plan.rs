//! How to start the webhook exactly as the rendered Deployment says, on this machine: its
//! container's `command`/`args` and `env`, with every path under a volume's mountPath rewritten
//! to the materialised volume, every listen address (`IP:PORT`) rewritten to
//! `127.0.0.1:<free port>` (it never binds 0.0.0.0), the image's entrypoint replaced by the
//! local binary, and extra serve args and env appended from the command line. Every change is
//! recorded as one printed substitution line.
//!
//! It also resolves what the API server would: which local port serves a Service port (through
//! the Service's selector and targetPort to the container port), and where the readiness probe
//! is. Env from Secrets, resource-field refs and other field refs than the pod's name,
//! namespace and service account are refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::volumes::{self, ConfigMapOverride, rewrite_path};
use crate::manifests::{Stream, name, namespace, str_at};
use crate::pki::LocalCa;
use crate::selector::{labels_of, matches};

/// What the command line adds to the rendered Deployment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub configmaps: Vec<ConfigMapOverride>,
    pub serve_args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Everything needed to start the process, and what it changed.
#[derive(Debug)]
pub struct Plan {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub files: Vec<(PathBuf, Vec<u8>)>,
    pub dirs: Vec<PathBuf>,
    /// containerPort → local port.
    pub ports: BTreeMap<u16, u16>,
    /// Readiness probe: (local port, path).
    pub ready: Option<(u16, String)>,
    /// (namespace, service, service port) → local port, or why the API server would find no
    /// endpoint.
    pub services: BTreeMap<(String, String, i32), Result<u16, String>>,
    pub substitutions: Vec<String>,
}

/// Which Deployment and container to start.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub container: Option<&'a str>,
}

/// Plans the start of `target` from `stream`; `free_port` hands out local ports.
pub fn plan(
    stream: &Stream,
    target: &Target<'_>,
    program: &Path,
    work_dir: &Path,
    overrides: &Overrides,
    ca: &LocalCa,
    free_port: &mut dyn FnMut() -> u16,
) -> anyhow::Result<Plan> {
    let deployment = stream
        .find("Deployment", target.namespace, target.name)
        .with_context(|| {
            format!(
                "no Deployment {}/{} in {}",
                target.namespace, target.name, stream.origin
            )
        })?;
    let pod_spec = deployment
        .pointer("/spec/template/spec")
        .context("the Deployment has no spec.template.spec")?;
    let containers = pod_spec
        .get("containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let container = match target.container {
        Some(c) => containers.iter().find(|x| str_at(x, "/name") == c),
        None => containers.first(),
    }
    .with_context(|| {
        format!(
            "Deployment {}/{} has no container {:?}",
            target.namespace, target.name, target.container
        )
    })?;
    let mut substitutions = Vec::new();

    let configmaps = volumes::configmaps(stream, &overrides.configmaps, &mut substitutions)?;
    let layout = volumes::layout(
        stream,
        target.namespace,
        pod_spec,
        container,
        &configmaps,
        ca,
        work_dir,
    )?;
    substitutions.extend(layout.substitutions.iter().cloned());

    // Ports: every declared containerPort gets a local one.
    let mut ports = BTreeMap::new();
    let mut port_names = BTreeMap::new();
    for (p, n) in numbered_ports(container.get("ports"), "containerPort") {
        let Ok(cp) = u16::try_from(n) else {
            continue;
        };
        ports.entry(cp).or_insert_with(&mut *free_port);
        if let Some(n) = p.get("name").and_then(Value::as_str) {
            port_names.insert(n.to_string(), cp);
        }
    }

    let mut rewrite = |origin: &str, value: &str, subs: &mut Vec<String>| -> String {
        let out = rewrite_value(value, &layout.mounts, &mut ports, free_port);
        if out != value {
            subs.push(format!("{origin} {value} -> {out}"));
        }
        out
    };

    // Command and args.
    let image = str_at(container, "/image");
    let mut args: Vec<String> = Vec::new();
    let command: Vec<&str> = container
        .get("command")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    substitutions.push(match command.first() {
        Some(c) => format!("command {c} (image {image}) -> {}", program.display()),
        None => format!("image {image} entrypoint -> {}", program.display()),
    });
    for a in command.iter().skip(1).copied().chain(
        container
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str),
    ) {
        args.push(rewrite("arg", a, &mut substitutions));
    }
    let mut args = without_api_server(args, &mut substitutions);
    if !overrides.serve_args.is_empty() {
        substitutions.push(format!(
            "serve args appended: {}",
            overrides.serve_args.join(" ")
        ));
        args.extend(overrides.serve_args.iter().cloned());
    }

    // Env.
    let pod_name = format!("{}-rehearsal", target.name);
    let mut env: Vec<(String, String)> = Vec::new();
    for e in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = str_at(e, "/name").to_string();
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            rewrite(&format!("env {key}"), v, &mut substitutions)
        } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
            let cm = configmaps
                .get(&(target.namespace.to_string(), str_at(r, "/name").to_string()))
                .and_then(|d| d.get(str_at(r, "/key")))
                .with_context(|| {
                    format!(
                        "env {key}: ConfigMap key {}/{} not in the rendering",
                        str_at(r, "/name"),
                        str_at(r, "/key")
                    )
                })?;
            String::from_utf8_lossy(cm).into_owned()
        } else if let Some(f) = e
            .pointer("/valueFrom/fieldRef/fieldPath")
            .and_then(Value::as_str)
        {
            match f {
                "metadata.name" => pod_name.clone(),
                "metadata.namespace" => target.namespace.to_string(),
                "spec.serviceAccountName" => str_at(pod_spec, "/serviceAccountName").to_string(),
                other => bail!("env {key}: fieldRef {other} is not supported"),
            }
        } else {
            bail!("env {key}: only value, configMapKeyRef and fieldRef are supported")
        };
        env.push((key, value));
    }
    if container.get("envFrom").is_some() {
        bail!("envFrom is not supported; list the variables under env");
    }
    for (k, v) in &overrides.env {
        substitutions.push(format!("env {k}={v} (from the command line)"));
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }

    // Readiness: the readiness probe, else the startup probe.
    let ready = ["readinessProbe", "startupProbe"].iter().find_map(|p| {
        let get = container.get(*p)?.get("httpGet")?;
        let port = match get.get("port")? {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => port_names.get(s).copied(),
            _ => None,
        }?;
        let local = *ports.get(&port)?;
        Some((
            local,
            get.get("path")
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_string(),
        ))
    });

    // Services selecting this pod template.
    let template_labels = labels_of(deployment.pointer("/spec/template").unwrap_or(&Value::Null));
    let mut services = BTreeMap::new();
    for svc in stream.of_kind("Service") {
        let selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector> = svc
            .pointer("/spec/selector")
            .and_then(|s| serde_json::from_value(serde_json::json!({"matchLabels": s})).ok());
        let selects = namespace(svc) == target.namespace
            && selector
                .as_ref()
                .is_some_and(|s| s.match_labels.as_ref().is_some_and(|m| !m.is_empty()))
            && matches(selector.as_ref(), &template_labels).unwrap_or(false);
        for (p, n) in numbered_ports(svc.pointer("/spec/ports"), "port") {
            let Ok(port) = i32::try_from(n) else {
                continue;
            };
            let target_port = match p.get("targetPort") {
                Some(Value::String(s)) => port_names.get(s).copied(),
                Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                _ => u16::try_from(port).ok(),
            };
            let local = match (selects, target_port.and_then(|t| ports.get(&t))) {
                (true, Some(l)) => Ok(*l),
                _ => Err(format!(
                    "no endpoints available for service \"{}\"",
                    name(svc)
                )),
            };
            services.insert(
                (namespace(svc).to_string(), name(svc).to_string(), port),
                local,
            );
        }
    }

    Ok(Plan {
        program: program.to_path_buf(),
        args,
        env,
        files: layout.files,
        dirs: layout.dirs,
        ports,
        ready,
        services,
        substitutions,
    })
}

/// A value with listen addresses and mounted paths rewritten (also `--flag=value` and
/// comma-separated path lists).
/// The entries of a `ports` list (absent: none) whose `field` is an integer, with it.
fn numbered_ports<'a>(
    ports: Option<&'a Value>,
    field: &'a str,
) -> impl Iterator<Item = (&'a Value, i64)> + 'a {
    ports
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |p| Some((p, p.get(field)?.as_i64()?)))
}

fn rewrite_value(
    value: &str,
    mounts: &[(String, PathBuf)],
    ports: &mut BTreeMap<u16, u16>,
    free_port: &mut dyn FnMut() -> u16,
) -> String {
    if let Some((flag, v)) = value.split_once('=').filter(|(f, _)| f.starts_with("--")) {
        return format!("{flag}={}", rewrite_value(v, mounts, ports, free_port));
    }
    // `NAME=/path` values, e.g. `--trusted-root=sigstore-public=/etc/portcullis/trust/root.json`.
    if let Some((name, v)) = value.split_once('=').filter(|(_, v)| v.starts_with('/')) {
        return format!("{name}={}", rewrite_value(v, mounts, ports, free_port));
    }
    let addr = value
        .parse::<SocketAddr>()
        .ok()
        .map(|a| a.port())
        .or_else(|| value.strip_prefix(':').and_then(|p| p.parse().ok()));
    if let Some(port) = addr {
        let local = *ports.entry(port).or_insert_with(&mut *free_port);
        return format!("127.0.0.1:{local}");
    }
    if value.contains(',') && value.split(',').all(|p| p.starts_with('/')) {
        return value
            .split(',')
            .map(|p| {
                rewrite_path(mounts, p).map_or_else(|| p.to_string(), |l| l.display().to_string())
            })
            .collect::<Vec<_>>()
            .join(",");
    }
    rewrite_path(mounts, value).map_or_else(|| value.to_string(), |l| l.display().to_string())
}

/// The serve flags that need a Kubernetes API server, which the rehearsal does not have: the
/// cluster policy watch is turned off (policies come from the mounted files only), and the pull
/// secrets it would read and the background reports it would write are dropped, each said in a
/// substitution line.
fn without_api_server(args: Vec<String>, substitutions: &mut Vec<String>) -> Vec<String> {
    const NO_API: &str = "(no API server in the rehearsal)";
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cluster-policies" => {
                let value = args.next().unwrap_or_default();
                substitutions.push(format!("arg --cluster-policies {value} -> off {NO_API}"));
                out.extend(["--cluster-policies".to_string(), "off".to_string()]);
            }
            a if a.starts_with("--cluster-policies=") => {
                substitutions.push(format!("arg {a} -> --cluster-policies=off {NO_API}"));
                out.push("--cluster-policies=off".to_string());
            }
            "--pod-pull-secrets" => {
                substitutions.push(format!("arg --pod-pull-secrets dropped {NO_API}"));
            }
            "--report-interval" => {
                let value = args.next().unwrap_or_default();
                substitutions.push(format!("arg --report-interval {value} dropped {NO_API}"));
            }
            a if a.starts_with("--report-interval=") => {
                substitutions.push(format!("arg {a} dropped {NO_API}"));
            }
            _ => out.push(arg),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_and_paths_are_rewritten() {
        let mounts = vec![("/etc/p".to_string(), PathBuf::from("/w/v/p"))];
        let mut ports = BTreeMap::from([(8443, 40001)]);
        let mut next = 50000;
        let mut free = || {
            next += 1;
            next
        };
        let mut rw = |v: &str| rewrite_value(v, &mounts, &mut ports, &mut free);
        assert_eq!(rw("0.0.0.0:8443"), "127.0.0.1:40001");
        assert_eq!(rw("[::]:8443"), "127.0.0.1:40001");
        assert_eq!(rw(":9000"), "127.0.0.1:50001");
        assert_eq!(rw("--listen=0.0.0.0:9000"), "--listen=127.0.0.1:50001");
        assert_eq!(rw("/etc/p/a.yaml"), "/w/v/p/a.yaml");
        assert_eq!(rw("/etc/p/a,/etc/p/b"), "/w/v/p/a,/w/v/p/b");
        assert_eq!(rw("--policy=/etc/p"), "--policy=/w/v/p");
        assert_eq!(
            rw("--trusted-root=public=/etc/p/root.json"),
            "--trusted-root=public=/w/v/p/root.json"
        );
        assert_eq!(rw("public=/etc/p/root.json"), "public=/w/v/p/root.json");
        assert_eq!(rw("serve"), "serve");
        assert_eq!(rw("ghcr.io=127.0.0.1:5000"), "ghcr.io=127.0.0.1:5000");
    }

    #[test]
    fn flags_that_need_an_api_server_are_turned_off_or_dropped_and_said() {
        let args = [
            "serve",
            "--cluster-policies",
            "on",
            "--pod-pull-secrets",
            "--report-interval=1h",
            "--report-interval",
            "2h",
            "--no-match=warn",
        ]
        .map(String::from)
        .to_vec();
        let mut said = Vec::new();
        let out = without_api_server(args, &mut said);
        assert_eq!(
            out,
            ["serve", "--cluster-policies", "off", "--no-match=warn"]
        );
        assert_eq!(said.len(), 4, "{said:?}");
        assert!(
            said[2].starts_with("arg --report-interval=1h dropped"),
            "{said:?}"
        );
        assert!(
            said[3].starts_with("arg --report-interval 2h dropped"),
            "{said:?}"
        );
    }
}
