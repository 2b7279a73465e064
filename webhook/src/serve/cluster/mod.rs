//! Policies from the cluster: `portcullis serve` watches the policy custom resources through
//! kube-rs and compiles each object into the set in force next to the `--policy` files.
//!
//! Where the API server is: `--kubeconfig FILE`, else the standard kube-rs resolution
//! (`KUBECONFIG`, `~/.kube/config`, the in-cluster service account). With
//! `--cluster-policies=auto` (the default) the watch is on when there is a `--kubeconfig`, a
//! `KUBECONFIG` or an in-cluster service account, so `portcullis serve` next to compose or on a
//! laptop stays file-only unless asked.
//!
//! What the API server is trusted with, and what happens when it is away, is in
//! `threat-model/`: the last good set keeps enforcing while the watch retries, and `/readyz`
//! says so.

mod health;
mod kinds;
mod status;
mod watch;

use std::path::Path;
use std::sync::Arc;

use clap::ValueEnum;
use prometheus_client::registry::Registry;
use tokio::sync::watch as signal;

pub use health::{ClusterHealth, WatchMetrics};
pub use kinds::{Kind, origin, policy_kinds, source};
pub use status::FIELD_MANAGER;

use super::policy::PolicyStore;

/// `--cluster-policies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ClusterPolicies {
    /// On when a kubeconfig or an in-cluster service account is present.
    #[default]
    Auto,
    On,
    Off,
}

/// The API client the watch uses, or `None` when the watch is off.
pub async fn client(
    mode: ClusterPolicies,
    kubeconfig: Option<&Path>,
) -> anyhow::Result<Option<kube::Client>> {
    let on = match mode {
        ClusterPolicies::Off => false,
        ClusterPolicies::On => true,
        ClusterPolicies::Auto => kubeconfig.is_some() || crate::kubeconfig::configured(),
    };
    if !on {
        return Ok(None);
    }
    let (client, server) = crate::kubeconfig::connect(kubeconfig).await?;
    tracing::info!(%server, "Watching policy objects");
    Ok(Some(client))
}

/// Starts one watch per policy kind, until `stop` fires; the health `/readyz` reads.
pub fn start(
    client: kube::Client,
    store: Arc<PolicyStore>,
    registry: &mut Registry,
    stop: &signal::Receiver<bool>,
) -> Arc<ClusterHealth> {
    let kinds = policy_kinds();
    let metrics = WatchMetrics::register(registry);
    let health = Arc::new(ClusterHealth::new(
        kinds.iter().map(|k| k.plural().to_string()),
        metrics,
    ));
    let watches = Arc::new(watch::Watches::new(client, store, health.clone()));
    for kind in kinds {
        tokio::spawn(watches.clone().run(kind, stop.clone()));
    }
    health
}
