//! Finding the API server: `--kubeconfig FILE`, else the standard kube-rs resolution
//! (`KUBECONFIG`, `~/.kube/config`, the in-cluster service account). Used by `serve` (policy
//! objects, pull secrets) and by `audit --cluster`.

use std::path::Path;

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Whether anything says where an API server is without a `--kubeconfig`: `KUBECONFIG` or an
/// in-cluster service account (`KUBERNETES_SERVICE_HOST`).
pub fn configured() -> bool {
    std::env::var_os("KUBECONFIG").is_some()
        || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

/// An API client for the kubeconfig `file`, or for the standard resolution when `None`, and
/// the API server's URL.
pub async fn connect(file: Option<&Path>) -> anyhow::Result<(kube::Client, String)> {
    let config = match file {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("the kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("finding the API server (KUBECONFIG, ~/.kube/config, in-cluster)")?,
    };
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).context("building the API client")?;
    Ok((client, server))
}
