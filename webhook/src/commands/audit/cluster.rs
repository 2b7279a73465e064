//! `portcullis audit --cluster`: the resources of a live cluster, listed through the API.
//!
//! Namespaces (a guardrail may check their labels) and every pod-carrying kind are listed across
//! all namespaces, page by page (`limit`/`continue`, as `kubectl get --chunk-size`), a few kinds
//! at once, within one deadline. The identity needs `list` on those kinds and nothing else.
//!
//! A kind the API server did not list to the end (an error, a `403`, the API server gone, the
//! deadline) makes the audit partial: what was listed is audited, and the gap is a [`Gap`] that
//! the report shows as an `error` result and in its header. If nothing at all could be listed
//! the audit is an error, not a report.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use futures::StreamExt as _;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use portcullis_policies::Request;
use serde_json::Value;
use tokio::time::Instant;

use crate::commands::inputs::{BadInput, Input};
use crate::duration::clap_duration;

#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Audit a live cluster: namespaces and every pod-carrying kind, listed through the API
    /// (read-only; needs list on them). Where the API server is: --kubeconfig, else
    /// KUBECONFIG, ~/.kube/config, the in-cluster service account.
    #[arg(long)]
    pub cluster: bool,
    /// The kubeconfig for --cluster.
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub kubeconfig: Option<PathBuf>,
    /// Audit against the cluster's own policy objects (ClusterImagePolicy,
    /// ClusterGuardrailPolicy, ImagePolicy, GuardrailPolicy, PolicyException), compiled as the
    /// webhook compiles them, with any --policy files. Needs list on them.
    #[arg(long, requires = "cluster")]
    pub cluster_policies: bool,
    /// Objects per list request (`limit`), as `kubectl get --chunk-size`.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,
    /// How many kinds are listed at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub list_concurrency: u16,
    /// Stop listing after this long: what is not listed by then makes the report partial.
    #[arg(long, default_value = "2m", value_parser = clap_duration)]
    pub list_timeout: Duration,
}

/// A kind listed: group, version, kind, plural, namespaced.
type Kind = (&'static str, &'static str, &'static str, &'static str, bool);

/// What is listed, in this order.
pub const KINDS: [Kind; 9] = [
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "Pod", "pods", true),
    (
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        true,
    ),
    ("apps", "v1", "Deployment", "deployments", true),
    ("apps", "v1", "ReplicaSet", "replicasets", true),
    ("apps", "v1", "StatefulSet", "statefulsets", true),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("batch", "v1", "Job", "jobs", true),
    ("batch", "v1", "CronJob", "cronjobs", true),
];

/// A kind the API server did not list to the end.
#[derive(Debug, Clone)]
pub struct Gap {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
    /// Objects of the kind listed before it stopped (they are audited).
    pub listed: usize,
    pub error: String,
}

impl Gap {
    /// One line for a report's header.
    pub fn line(&self) -> String {
        format!(
            "{}: {} listed, then {}",
            self.plural, self.listed, self.error
        )
    }
}

/// What the cluster gave.
pub struct Listing {
    /// The API server's URL, the origin of every resource.
    pub server: String,
    pub inputs: Vec<Result<Input, BadInput>>,
    pub gaps: Vec<Gap>,
}

impl ClusterArgs {
    /// The API client and the API server's URL.
    pub async fn connect(&self) -> anyhow::Result<(kube::Client, String)> {
        let (client, server) = crate::kubeconfig::connect(self.kubeconfig.as_deref()).await?;
        Ok((client, server.trim_end_matches('/').to_string()))
    }

    /// When listing must end.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.list_timeout
    }

    /// Everything [`KINDS`] names; an error when nothing at all could be listed.
    pub async fn list(
        &self,
        client: &kube::Client,
        server: &str,
        deadline: Instant,
    ) -> anyhow::Result<Listing> {
        let listing = list(
            client,
            server,
            self.page_size,
            usize::from(self.list_concurrency),
            deadline,
        )
        .await;
        if listing.inputs.is_empty() && listing.gaps.len() == KINDS.len() {
            anyhow::bail!(
                "cannot list anything from the API server {}: {}",
                listing.server,
                listing.gaps[0].error
            );
        }
        Ok(listing)
    }
}

/// Lists every kind of [`KINDS`] through `client`, `page_size` objects a request, up to
/// `concurrency` kinds at once, until `deadline`; `server` names the objects' origin.
pub async fn list(
    client: &kube::Client,
    server: &str,
    page_size: u32,
    concurrency: usize,
    deadline: Instant,
) -> Listing {
    let mut per_kind: Vec<(usize, Vec<Value>, Option<String>)> =
        futures::stream::iter(0..KINDS.len())
            .map(|i| {
                let client = client.clone();
                async move {
                    let (items, error) = list_kind(client, KINDS[i], page_size, deadline).await;
                    (i, items, error)
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    per_kind.sort_by_key(|(i, ..)| *i);
    let mut inputs = Vec::new();
    let mut gaps = Vec::new();
    for (i, items, error) in per_kind {
        let (group, version, kind, plural, namespaced) = KINDS[i];
        if let Some(error) = error {
            gaps.push(Gap {
                api_version: api_version(group, version),
                kind: kind.into(),
                plural: plural.into(),
                listed: items.len(),
                error,
            });
        }
        for (n, item) in items.into_iter().enumerate() {
            inputs.push(input(server, n + 1, item, namespaced));
        }
    }
    Listing {
        server: server.to_string(),
        inputs,
        gaps,
    }
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Every object of `kind`, page by page; on the first failure, what was listed and why it
/// stopped.
async fn list_kind(
    client: kube::Client,
    (group, version, kind, plural, _): Kind,
    page_size: u32,
    deadline: Instant,
) -> (Vec<Value>, Option<String>) {
    let resource = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version(group, version),
        kind: kind.into(),
        plural: plural.into(),
    };
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let (objects, mut error) = pages(&api, ListParams::default().limit(page_size), deadline).await;
    let mut items = Vec::with_capacity(objects.len());
    for object in objects {
        match serde_json::to_value(object) {
            // A list's items carry no apiVersion and kind; admission's objects do.
            Ok(mut item) => {
                item["apiVersion"] = Value::from(resource.api_version.clone());
                item["kind"] = Value::from(kind);
                items.push(item);
            }
            Err(e) => {
                error = Some(format!("an unreadable object: {e}"));
                break;
            }
        }
    }
    (items, error)
}

/// Every object `api` lists with `params`, page by page (`continue`), until `deadline`; on the
/// first failure, what was listed and why it stopped (the API server's words).
pub async fn pages(
    api: &Api<DynamicObject>,
    mut params: ListParams,
    deadline: Instant,
) -> (Vec<DynamicObject>, Option<String>) {
    let mut items = Vec::new();
    loop {
        let page = match tokio::time::timeout_at(deadline, api.list(&params)).await {
            Err(_) => return (items, Some("the listing deadline passed".into())),
            Ok(Err(e)) => return (items, Some(describe(e))),
            Ok(Ok(page)) => page,
        };
        items.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return (items, None),
        }
    }
}

/// The API server's own words for a refusal; the cause chain for anything else.
fn describe(error: kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            format!("{} {}: {}", status.code, status.reason, status.message)
        }
        other => format!("{:#}", anyhow::Error::from(other)),
    }
}

/// The listed object as a resource to audit, read as `from_manifest` reads a file's.
fn input(server: &str, n: usize, item: Value, namespaced: bool) -> Result<Input, BadInput> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let (kind, name) = (text(&item["kind"]), text(&item["metadata"]["name"]));
    match Request::from_manifest(item) {
        Ok(mut request) => {
            if !namespaced {
                request.namespace.clear();
            }
            Ok(Input {
                origin: server.to_string(),
                document: n,
                line: 0,
                request,
            })
        }
        Err(e) => Err(BadInput {
            origin: server.to_string(),
            document: n,
            line: 0,
            kind,
            name,
            error: e.to_string(),
        }),
    }
}
