//! Which pull secrets a workload names: its pod spec's `imagePullSecrets` and the
//! ServiceAccount it runs as (`serviceAccountName`, else the deprecated `serviceAccount`, else
//! `default`), read from a Pod's spec or a controller's pod template. Pure: no API calls.

use portcullis_policies::Request;
use portcullis_policies::workload::{Workload, WorkloadKind};
use serde_json::Value;

/// The pull secret names of one workload, and the ServiceAccount whose ones are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSecretRefs {
    /// In the order the pod spec lists them, without duplicates.
    pub secrets: Vec<String>,
    pub service_account: String,
}

impl PullSecretRefs {
    /// `None` when the object carries no pod spec (not a workload kind, or no template).
    pub fn of(request: &Request) -> Option<Self> {
        let kind = WorkloadKind::of(&request.kind)?;
        let workload = Workload::locate(kind, &request.object)?;
        let mut secrets: Vec<String> = Vec::new();
        let listed = workload.field("imagePullSecrets").and_then(Value::as_array);
        for name in listed
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("name")?.as_str())
        {
            if !name.is_empty() && !secrets.iter().any(|s| s == name) {
                secrets.push(name.to_owned());
            }
        }
        let account = ["serviceAccountName", "serviceAccount"]
            .into_iter()
            .find_map(|key| workload.field(key)?.as_str().filter(|s| !s.is_empty()))
            .unwrap_or("default");
        Some(Self {
            secrets,
            service_account: account.to_owned(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refs(manifest: Value) -> Option<PullSecretRefs> {
        PullSecretRefs::of(&Request::from_manifest(manifest).unwrap())
    }

    #[test]
    fn a_pod_names_its_secrets_and_account() {
        let r = refs(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"serviceAccountName": "builder",
                     "imagePullSecrets": [{"name": "a"}, {"name": "b"}, {"name": "a"}, {}],
                     "containers": [{"name": "c", "image": "x"}]}}),
        )
        .unwrap();
        assert_eq!(r.secrets, ["a", "b"]);
        assert_eq!(r.service_account, "builder");
    }

    #[test]
    fn templates_are_read_and_the_account_defaults() {
        let r = refs(
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "j"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "imagePullSecrets": [{"name": "cron"}],
                "containers": [{"name": "c", "image": "x"}]}}}}}}),
        )
        .unwrap();
        assert_eq!(r.secrets, ["cron"]);
        assert_eq!(r.service_account, "default");
        let r = refs(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {}, "template": {"spec": {"serviceAccount": "legacy",
                "containers": [{"name": "c", "image": "x"}]}}}}),
        )
        .unwrap();
        assert!(r.secrets.is_empty());
        assert_eq!(r.service_account, "legacy");
    }

    #[test]
    fn objects_without_a_pod_spec_name_nothing() {
        assert_eq!(
            refs(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})),
            None
        );
    }
}
