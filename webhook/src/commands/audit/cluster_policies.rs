//! `portcullis audit --cluster-policies`: the policy set in force in the cluster, as the webhook
//! compiles it: its policy objects (`ClusterImagePolicy`, `ClusterGuardrailPolicy`,
//! `ImagePolicy`, `GuardrailPolicy`, `PolicyException`), listed through the API, with any
//! `--policy` files, through the webhook's own policy store ([`PolicyStore`]).
//!
//! An object the store refuses (it does not compile) is not in the set; the webhook would keep
//! enforcing its last good version, which the audit cannot know, so the audit is partial and
//! says which object and why. A policy kind that cannot be listed is an error: an audit against
//! a set it could not read would look clean where it is not.

use std::sync::Arc;

use kube::api::{Api, DynamicObject, ListParams};
use portcullis_policies::NoMatch;
use tokio::time::Instant;

use crate::commands::common::{PolicyArgs, sha256_hex};
use crate::serve::PolicyStore;
use crate::serve::cluster::{self, Kind};
use crate::serve::policy::{Loaded, ObjectChange, ObjectOutcome, read_sources, read_trusted_roots};

/// The set in force, its fingerprint, and the objects refused (origin and reason).
pub struct ClusterSet {
    pub loaded: Arc<Loaded>,
    pub fingerprint: String,
    pub refused: Vec<(String, String)>,
}

/// Lists the policy objects through `client` and compiles them with the `--policy` files.
pub async fn load(
    client: &kube::Client,
    args: &PolicyArgs,
    no_match: NoMatch,
    page_size: u32,
    deadline: Instant,
) -> anyhow::Result<ClusterSet> {
    let mut changes: Vec<ObjectChange> = Vec::new();
    for kind in cluster::policy_kinds() {
        for object in list(client, &kind, page_size, deadline).await? {
            let source = cluster::source(&kind, &object);
            changes.push((cluster::origin(&kind, &object), Some(source)));
        }
    }
    let objects: Vec<String> = changes
        .iter()
        .filter_map(|(origin, source)| {
            let text = &source.as_ref()?.text;
            Some(format!("{origin}={}", sha256_hex(text.as_bytes())))
        })
        .collect();
    let files = if args.policies.is_empty() {
        Vec::new()
    } else {
        read_sources(&args.policies)?
    };
    let fingerprint = args.fingerprint(
        &files,
        &read_trusted_roots(&args.trusted_roots)?,
        no_match,
        objects,
    );
    let store = PolicyStore::with_trusted_roots(args.policies.clone(), args.trusted_roots.clone())
        .with_no_match(no_match)
        .with_exception_namespaces(args.exception_namespaces.clone())
        .with_cluster();
    tokio::task::spawn_blocking(move || {
        if let Some(Err(e)) = store.reload() {
            anyhow::bail!("the --policy files: {e}");
        }
        let refused: Vec<(String, String)> = store
            .update_objects(changes)
            .into_iter()
            .filter_map(|(origin, outcome)| match outcome {
                ObjectOutcome::Refused(reason) => Some((origin, reason)),
                ObjectOutcome::InForce | ObjectOutcome::Inactive { .. } => None,
            })
            .collect();
        store.cluster_synced()?;
        let loaded = store
            .current()
            .ok_or_else(|| anyhow::anyhow!("no policy set compiled"))?;
        Ok(ClusterSet {
            loaded,
            fingerprint,
            refused,
        })
    })
    .await?
}

/// Every object of a policy kind: all of them, or an error.
async fn list(
    client: &kube::Client,
    kind: &Kind,
    page_size: u32,
    deadline: Instant,
) -> anyhow::Result<Vec<DynamicObject>> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.resource);
    match super::cluster::pages(&api, ListParams::default().limit(page_size), deadline).await {
        (objects, None) => Ok(objects),
        (_, Some(error)) => anyhow::bail!("listing {}: {error}", kind.plural()),
    }
}
