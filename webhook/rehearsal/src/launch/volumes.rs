//! The container's volumes as the kubelet would lay them out, materialised under the work dir:
//! a ConfigMap volume becomes one file per key (or per `items` entry), a Secret volume written by
//! a cert-manager Certificate becomes `tls.crt`/`tls.key`/`ca.crt` issued by the local CA, and an
//! emptyDir becomes an empty directory. ConfigMap keys can be replaced or added from files
//! (`--configmap NAMESPACE/NAME/KEY=FILE`), each such substitution printed.
//!
//! Not materialised: other Secrets (rehearse never invents credentials), projected,
//! downwardAPI, hostPath and persistent volumes; a mount of one of those is an error. File modes
//! (`defaultMode`) and the kubelet's `..data` symlink layout are not reproduced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::Value;

use crate::manifests::{Stream, name, namespace, str_at};
use crate::pki::LocalCa;

/// `--configmap NAMESPACE/NAME/KEY=FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMapOverride {
    pub namespace: String,
    pub name: String,
    pub key: String,
    pub file: PathBuf,
}

impl std::str::FromStr for ConfigMapOverride {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected NAMESPACE/NAME/KEY=FILE, got {s:?}");
        let (target, file) = s.split_once('=').ok_or_else(bad)?;
        let mut parts = target.splitn(3, '/');
        let (Some(ns), Some(n), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if [ns, n, key, file].iter().any(|p| p.is_empty()) || key.contains('/') {
            return Err(bad());
        }
        Ok(Self {
            namespace: ns.into(),
            name: n.into(),
            key: key.into(),
            file: file.into(),
        })
    }
}

/// ConfigMap data by (namespace, name): key → bytes.
pub type ConfigMaps = BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>;

/// Files and directories to create, and what each mount path maps to.
#[derive(Debug, Default)]
pub struct Layout {
    pub files: Vec<(PathBuf, Vec<u8>)>,
    pub dirs: Vec<PathBuf>,
    /// (mountPath, local path), longest mountPath first.
    pub mounts: Vec<(String, PathBuf)>,
    pub substitutions: Vec<String>,
}

/// The ConfigMaps of the rendering, as key → bytes, with the overrides applied.
pub fn configmaps(
    stream: &Stream,
    overrides: &[ConfigMapOverride],
    substitutions: &mut Vec<String>,
) -> anyhow::Result<ConfigMaps> {
    let mut out = BTreeMap::new();
    for cm in stream.of_kind("ConfigMap") {
        let mut data = BTreeMap::new();
        for (k, v) in cm
            .get("data")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            data.insert(
                k.clone(),
                v.as_str().unwrap_or_default().as_bytes().to_vec(),
            );
        }
        for (k, v) in cm
            .get("binaryData")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .with_context(|| {
                    format!(
                        "ConfigMap {}/{} binaryData {k} is not base64",
                        namespace(cm),
                        name(cm)
                    )
                })?;
            data.insert(k.clone(), bytes);
        }
        out.insert((namespace(cm).to_string(), name(cm).to_string()), data);
    }
    for o in overrides {
        // Exact name, or the generator's name with kustomize's hash suffix (`NAME-0123456789`).
        let candidates: Vec<(String, String)> = out
            .keys()
            .filter(|(ns, n)| {
                ns == &o.namespace
                    && (n == &o.name
                        || n.strip_prefix(&o.name)
                            .and_then(|rest| rest.strip_prefix('-'))
                            .is_some_and(|h| {
                                h.len() == 10 && h.chars().all(|c| c.is_ascii_alphanumeric())
                            }))
            })
            .cloned()
            .collect();
        let key = match candidates.as_slice() {
            [one] => one.clone(),
            [] => bail!(
                "--configmap {}/{}/{}: no ConfigMap {}/{} (or {}-<hash>) in the rendering",
                o.namespace,
                o.name,
                o.key,
                o.namespace,
                o.name,
                o.name
            ),
            many => bail!(
                "--configmap {}/{}: ambiguous, matches {many:?}",
                o.namespace,
                o.name
            ),
        };
        let bytes = std::fs::read(&o.file).with_context(|| {
            format!(
                "--configmap {}/{}/{}: reading {}",
                o.namespace,
                o.name,
                o.key,
                o.file.display()
            )
        })?;
        let data = out.entry(key.clone()).or_default();
        let verb = if data.contains_key(&o.key) {
            "replaced"
        } else {
            "added"
        };
        substitutions.push(format!(
            "ConfigMap {}/{} key {} {verb} by {} ({} bytes)",
            key.0,
            key.1,
            o.key,
            o.file.display(),
            bytes.len()
        ));
        data.insert(o.key.clone(), bytes);
    }
    Ok(out)
}

/// Lays out the volumes `container` mounts, under `root`.
pub fn layout(
    stream: &Stream,
    pod_namespace: &str,
    pod_spec: &Value,
    container: &Value,
    configmaps: &ConfigMaps,
    ca: &LocalCa,
    root: &Path,
) -> anyhow::Result<Layout> {
    let mut out = Layout::default();
    let volumes: BTreeMap<&str, &Value> = pod_spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| (str_at(v, "/name"), v))
        .collect();
    let mut done: BTreeMap<String, PathBuf> = BTreeMap::new();
    for mount in container
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let vname = str_at(mount, "/name");
        let mount_path = str_at(mount, "/mountPath")
            .trim_end_matches('/')
            .to_string();
        let volume = volumes.get(vname).with_context(|| {
            format!("volumeMount {vname}: no volume of that name in the pod spec")
        })?;
        let dir = match done.get(vname) {
            Some(d) => d.clone(),
            None => {
                let dir = root.join("volumes").join(vname);
                materialise(
                    stream,
                    pod_namespace,
                    volume,
                    configmaps,
                    ca,
                    &dir,
                    &mut out,
                )
                .with_context(|| format!("volume {vname}"))?;
                done.insert(vname.to_string(), dir.clone());
                dir
            }
        };
        let local = match str_at(mount, "/subPath") {
            "" => dir,
            sub => dir.join(sub),
        };
        out.mounts.push((mount_path, local));
    }
    out.mounts.sort_by_key(|(m, _)| std::cmp::Reverse(m.len()));
    Ok(out)
}

fn materialise(
    stream: &Stream,
    ns: &str,
    volume: &Value,
    configmaps: &ConfigMaps,
    ca: &LocalCa,
    dir: &Path,
    out: &mut Layout,
) -> anyhow::Result<()> {
    out.dirs.push(dir.to_path_buf());
    if let Some(cm) = volume.get("configMap") {
        let cm_name = str_at(cm, "/name");
        let Some(data) = configmaps.get(&(ns.to_string(), cm_name.to_string())) else {
            if cm.get("optional").and_then(Value::as_bool) == Some(true) {
                return Ok(());
            }
            bail!("ConfigMap {ns}/{cm_name} is not in the rendering");
        };
        match cm.get("items").and_then(Value::as_array) {
            Some(items) => {
                for item in items {
                    let key = str_at(item, "/key");
                    let bytes = data
                        .get(key)
                        .with_context(|| format!("ConfigMap {ns}/{cm_name} has no key {key}"))?;
                    out.files
                        .push((dir.join(str_at(item, "/path")), bytes.clone()));
                }
            }
            None => {
                for (key, bytes) in data {
                    out.files.push((dir.join(key), bytes.clone()));
                }
            }
        }
        return Ok(());
    }
    if let Some(secret) = volume.get("secret") {
        let secret_name = str_at(secret, "/secretName");
        let certificate = stream
            .of_kind("Certificate")
            .find(|c| namespace(c) == ns && str_at(c, "/spec/secretName") == secret_name)
            .with_context(|| {
                format!(
                    "Secret {ns}/{secret_name}: no cert-manager Certificate in the rendering writes it, \
                     and rehearse generates no other Secrets"
                )
            })?;
        let mut dns: Vec<String> = certificate
            .pointer("/spec/dnsNames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect();
        if dns.is_empty() {
            let cn = str_at(certificate, "/spec/commonName");
            anyhow::ensure!(
                !cn.is_empty(),
                "Certificate {ns}/{} has neither dnsNames nor commonName",
                name(certificate)
            );
            dns.push(cn.to_string());
        }
        let leaf = ca.issue(&dns)?;
        out.files
            .push((dir.join("tls.crt"), leaf.cert_pem.into_bytes()));
        out.files
            .push((dir.join("tls.key"), leaf.key_pem.into_bytes()));
        out.files.push((dir.join("ca.crt"), ca.pem().into_bytes()));
        out.substitutions.push(format!(
            "Secret {ns}/{secret_name} generated in place of cert-manager's Certificate {}: \
             local CA + serving certificate for {}",
            name(certificate),
            dns.join(", ")
        ));
        return Ok(());
    }
    if volume.get("emptyDir").is_some() {
        return Ok(());
    }
    bail!("only configMap, secret (cert-manager) and emptyDir volumes can be materialised")
}

/// `value` rewritten to the local path when it lies under a mount path.
pub fn rewrite_path(mounts: &[(String, PathBuf)], value: &str) -> Option<PathBuf> {
    if !value.starts_with('/') {
        return None;
    }
    mounts.iter().find_map(|(m, local)| {
        if value == m {
            Some(local.clone())
        } else {
            value
                .strip_prefix(m.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .map(|rest| local.join(rest))
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn configmap_override_syntax() {
        let o: ConfigMapOverride = "portcullis-system/portcullis-policies/extra.yaml=/tmp/p.yaml"
            .parse()
            .unwrap();
        assert_eq!(
            (o.namespace.as_str(), o.name.as_str(), o.key.as_str()),
            ("portcullis-system", "portcullis-policies", "extra.yaml")
        );
        for bad in ["a/b=c", "a/b/c", "/b/c=f", "a/b/c/d=f", "a/b/c="] {
            assert!(bad.parse::<ConfigMapOverride>().is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_under_mounts_are_rewritten_longest_first() {
        let mounts = vec![
            (
                "/etc/portcullis/tls".to_string(),
                PathBuf::from("/w/volumes/tls"),
            ),
            (
                "/etc/portcullis".to_string(),
                PathBuf::from("/w/volumes/all"),
            ),
        ];
        assert_eq!(
            rewrite_path(&mounts, "/etc/portcullis/tls/tls.crt"),
            Some("/w/volumes/tls/tls.crt".into())
        );
        assert_eq!(
            rewrite_path(&mounts, "/etc/portcullis/policies"),
            Some("/w/volumes/all/policies".into())
        );
        assert_eq!(
            rewrite_path(&mounts, "/etc/portcullis"),
            Some("/w/volumes/all".into())
        );
        assert_eq!(rewrite_path(&mounts, "/etc/portcullis-other"), None);
        assert_eq!(rewrite_path(&mounts, "relative/path"), None);
    }
}
