//! Where each webhook of a rendering is reached, as the API server would resolve it, and the
//! [`Caller`] that calls it over HTTPS.
//!
//! `clientConfig.service` → the rendered Service's port → its targetPort → the started
//! container's port → `127.0.0.1:<local port>`, dialled with SNI and certificate verification
//! for `<name>.<namespace>.svc`. The CA is the one cainjector would inject
//! (`cert-manager.io/inject-ca-from`, which must name a Certificate of the rendering) or the
//! configuration's own `caBundle`. A `clientConfig.url` is called only when its host is a
//! loopback address; any other is reported as a failed call (rehearse sends nothing off this
//! machine).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use crate::client::{self, CallTarget};
use crate::dispatch::Caller;
use crate::launch::Plan;
use crate::manifests::Stream;
use crate::webhooks::{CaSource, Endpoint, Hook};

/// Call targets by `configuration/webhook`.
#[derive(Debug, Default)]
pub struct HttpCaller {
    targets: BTreeMap<String, Result<CallTarget, String>>,
}

fn key(hook: &Hook) -> String {
    format!("{}/{}", hook.configuration, hook.name)
}

impl HttpCaller {
    /// Resolves every hook; returns the caller and one printed line per hook.
    pub fn resolve(
        hooks: &[Hook],
        plan: &Plan,
        stream: &Stream,
        ca_pem: &str,
    ) -> (Self, Vec<String>) {
        let mut targets = BTreeMap::new();
        let mut lines = Vec::new();
        for hook in hooks {
            let ca = match &hook.ca {
                CaSource::Injected(from) => {
                    let (ns, name) = from.split_once('/').unwrap_or(("", from.as_str()));
                    if stream.find("Certificate", ns, name).is_some() {
                        lines.push(format!(
                            "caBundle of {} ({}) <- the local CA (cert-manager.io/inject-ca-from: {from})",
                            hook.configuration, hook.name
                        ));
                        Some(ca_pem.to_string())
                    } else {
                        lines.push(format!(
                            "caBundle of {} ({}): Certificate {from} is not in the rendering, nothing is injected",
                            hook.configuration, hook.name
                        ));
                        None
                    }
                }
                CaSource::Bundle(pem) => Some(pem.clone()),
                CaSource::System => None,
            };
            let path_and_query = |path: &str| format!("{path}?timeout={}s", hook.timeout.as_secs());
            let target = match &hook.endpoint {
                Endpoint::Service {
                    namespace,
                    name,
                    port,
                    path,
                } => match plan.services.get(&(namespace.clone(), name.clone(), *port)) {
                    None => Err(format!("service \"{name}\" not found")),
                    Some(Err(e)) => Err(e.clone()),
                    Some(Ok(local)) => {
                        let addr = SocketAddr::from(([127, 0, 0, 1], *local));
                        lines.push(format!(
                                "clientConfig.service {namespace}/{name}:{port}{path} ({}) -> {addr}, TLS verified as {}",
                                hook.name,
                                hook.endpoint.host()
                            ));
                        Ok(CallTarget {
                            addr,
                            host: hook.endpoint.host(),
                            path_and_query: path_and_query(path),
                            authority: format!("{}:{port}", hook.endpoint.host()),
                            ca_pem: ca.clone(),
                            timeout: hook.timeout,
                        })
                    }
                },
                Endpoint::Url(url) => loopback_target(url, hook, ca.clone()),
            };
            if let Err(e) = &target {
                lines.push(format!(
                    "{} ({}) cannot be reached: {e}",
                    hook.configuration, hook.name
                ));
            }
            targets.insert(key(hook), target);
        }
        (Self { targets }, lines)
    }
}

fn loopback_target(url: &str, hook: &Hook, ca_pem: Option<String>) -> Result<CallTarget, String> {
    let rest = url.strip_prefix("https://").ok_or("not an https URL")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = hook.endpoint.host();
    let port: u16 = authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(443);
    let ip: IpAddr = host
        .parse()
        .map_err(|_| format!("rehearse calls URLs on loopback addresses only, not {host}"))?;
    if !ip.is_loopback() {
        return Err(format!(
            "rehearse calls URLs on loopback addresses only, not {host}"
        ));
    }
    let path = if path.is_empty() { "/" } else { path };
    let sep = if path.contains('?') { '&' } else { '?' };
    Ok(CallTarget {
        addr: SocketAddr::new(ip, port),
        host,
        path_and_query: format!("{path}{sep}timeout={}s", hook.timeout.as_secs()),
        authority: authority.to_string(),
        ca_pem,
        timeout: hook.timeout,
    })
}

impl Caller for HttpCaller {
    async fn call(&self, hook: &Hook, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        match self.targets.get(&key(hook)) {
            None => Err(format!("no target resolved for {}", hook.name)),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(target)) => client::post(target, body)
                .await
                .map(|(status, bytes)| (status, bytes.to_vec()))
                .map_err(|e| e.to_string()),
        }
    }
}
