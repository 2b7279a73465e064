//! `--pod-pull-secrets`: the registry credentials of the workload under review, so its images are
//! verified with what the kubelet will pull them with.
//!
//! Per review: the pull secret names the workload gives ([`PullSecretRefs`]) and those of its
//! ServiceAccount, then each secret, read through the API (`get` on `serviceaccounts` and
//! `secrets` in the review's namespace) and cached per (namespace, name) for `--pull-secret-ttl`
//! in a bounded cache. Only `kubernetes.io/dockerconfigjson` and the legacy
//! `kubernetes.io/dockercfg` secrets are read; other types are skipped with a log line. A
//! missing secret or ServiceAccount is not an error (the kubelet ignores missing pull secrets
//! too), only logged; an API error is logged and not cached. The credentials go to the verifier
//! for this review's verifications only ([`super::verify::verify_all`]); the policy engine never
//! sees them.
//!
//! Order: the pod's own secrets, then the ServiceAccount's; the verifier tries the entries that
//! apply to an image most specific key first, and equally specific ones in that order.

mod refs;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use moka::future::Cache;
use portcullis_verifier::Credentials;

pub use refs::PullSecretRefs;

/// Cached secrets and ServiceAccounts (each).
const CAPACITY: u64 = 10_000;

/// (namespace, name).
type Key = (String, String);

/// Reads and caches the workloads' pull secrets. Cheap to share.
pub struct PullSecrets {
    client: kube::Client,
    /// `None`: the secret is missing or not a docker config.
    secrets: Cache<Key, Option<Arc<Credentials>>>,
    /// A ServiceAccount's `imagePullSecrets` names (empty when it is missing).
    accounts: Cache<Key, Arc<Vec<String>>>,
}

impl std::fmt::Debug for PullSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSecrets")
            .field("secrets", &self.secrets.entry_count())
            .field("accounts", &self.accounts.entry_count())
            .finish_non_exhaustive()
    }
}

impl PullSecrets {
    pub fn new(client: kube::Client, ttl: Duration) -> Self {
        Self {
            client,
            secrets: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build(),
            accounts: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The registry credentials of the workload `refs` describes in `namespace`: its own pull
    /// secrets', then its ServiceAccount's. Empty when it has none that could be read.
    pub async fn credentials(&self, namespace: &str, refs: &PullSecretRefs) -> Arc<Credentials> {
        let mut names = refs.secrets.clone();
        let account = self.account_secrets(namespace, &refs.service_account).await;
        for name in account.iter() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let found = join_all(names.iter().map(|name| self.secret(namespace, name))).await;
        let mut credentials = Credentials::default();
        for secret in found.into_iter().flatten() {
            credentials.extend(Credentials::clone(&secret));
        }
        tracing::debug!(
            %namespace,
            secrets = names.len(),
            entries = credentials.len(),
            "Workload registry credentials"
        );
        Arc::new(credentials)
    }

    async fn account_secrets(&self, namespace: &str, name: &str) -> Arc<Vec<String>> {
        let key = (namespace.to_owned(), name.to_owned());
        let api = Api::<ServiceAccount>::namespaced(self.client.clone(), namespace);
        let read = async {
            let names = match api.get_opt(name).await? {
                Some(account) => account
                    .image_pull_secrets
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.name)
                    .filter(|n| !n.is_empty())
                    .collect(),
                None => {
                    tracing::info!(%namespace, service_account = name, "ServiceAccount not found: no pull secrets from it");
                    Vec::new()
                }
            };
            Ok::<_, kube::Error>(Arc::new(names))
        };
        match self.accounts.try_get_with(key, read).await {
            Ok(names) => names,
            Err(error) => {
                tracing::warn!(%namespace, service_account = name, %error, "Cannot read the ServiceAccount: no pull secrets from it");
                Arc::default()
            }
        }
    }

    async fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Credentials>> {
        let key = (namespace.to_owned(), name.to_owned());
        let api = Api::<Secret>::namespaced(self.client.clone(), namespace);
        let read = async {
            let credentials = match api.get_opt(name).await? {
                Some(secret) => docker_credentials(namespace, name, &secret).map(Arc::new),
                None => {
                    tracing::info!(%namespace, secret = name, "Pull secret not found: skipped");
                    None
                }
            };
            Ok::<_, kube::Error>(credentials)
        };
        match self.secrets.try_get_with(key, read).await {
            Ok(credentials) => credentials,
            Err(error) => {
                tracing::warn!(%namespace, secret = name, %error, "Cannot read the pull secret: skipped");
                None
            }
        }
    }
}

/// Reads the docker config text of one secret type.
type Parser = fn(&str) -> Result<Credentials, String>;

/// The docker config a secret holds, if it is one of the two docker config types.
fn docker_credentials(namespace: &str, name: &str, secret: &Secret) -> Option<Credentials> {
    let kind = secret.type_.as_deref().unwrap_or_default();
    let (field, parse): (&str, Parser) = match kind {
        "kubernetes.io/dockerconfigjson" => (".dockerconfigjson", Credentials::from_json),
        "kubernetes.io/dockercfg" => (".dockercfg", Credentials::from_dockercfg_json),
        _ => {
            tracing::info!(%namespace, secret = name, r#type = kind, "Pull secret is not a docker config: skipped");
            return None;
        }
    };
    let bytes = secret.data.as_ref().and_then(|d| d.get(field));
    let text = bytes.and_then(|b| std::str::from_utf8(&b.0).ok());
    match text.map(parse) {
        Some(Ok(credentials)) => Some(credentials),
        Some(Err(cause)) => {
            tracing::warn!(%namespace, secret = name, %cause, "Pull secret does not parse: skipped");
            None
        }
        None => {
            tracing::warn!(%namespace, secret = name, field, "Pull secret has no readable docker config: skipped");
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(kind: &str, field: &str, text: &str) -> Secret {
        Secret {
            type_: Some(kind.into()),
            data: Some([(field.to_owned(), ByteString(text.as_bytes().to_vec()))].into()),
            ..Secret::default()
        }
    }

    #[test]
    fn only_docker_config_secrets_give_credentials() {
        let json = r#"{"auths": {"127.0.0.1:5000": {"username": "u", "password": "p"}}}"#;
        let c = docker_credentials(
            "ns",
            "a",
            &secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", json),
        )
        .unwrap();
        assert_eq!(c.get("127.0.0.1:5000").unwrap().username, "u");
        let legacy = r#"{"127.0.0.1:5000": {"username": "l", "password": "p"}}"#;
        let c = docker_credentials(
            "ns",
            "b",
            &secret("kubernetes.io/dockercfg", ".dockercfg", legacy),
        )
        .unwrap();
        assert_eq!(c.get("127.0.0.1:5000").unwrap().username, "l");
        assert!(
            docker_credentials("ns", "c", &secret("Opaque", ".dockerconfigjson", json)).is_none()
        );
        assert!(
            docker_credentials(
                "ns",
                "d",
                &secret(
                    "kubernetes.io/dockerconfigjson",
                    ".dockerconfigjson",
                    "not json"
                )
            )
            .is_none()
        );
        assert!(
            docker_credentials(
                "ns",
                "e",
                &secret("kubernetes.io/dockerconfigjson", "other", json)
            )
            .is_none()
        );
    }
}
