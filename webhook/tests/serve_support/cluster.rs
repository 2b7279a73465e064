//! What the test API server serves for `portcullis serve`'s cluster connection.

use portcullis_testkit::apiserver::Resource;

/// The kinds `portcullis serve` watches, as the test API server serves them.
pub fn policy_resources() -> Vec<Resource> {
    portcullis_webhook::serve::cluster::policy_kinds()
        .iter()
        .map(|kind| {
            let r = &kind.resource;
            Resource::new(&r.group, &r.version, &r.kind, &r.plural, kind.namespaced)
        })
        .collect()
}

/// The core kinds `--pod-pull-secrets` reads.
pub fn pull_secret_resources() -> Vec<Resource> {
    vec![
        Resource::namespaced("", "v1", "Secret", "secrets"),
        Resource::namespaced("", "v1", "ServiceAccount", "serviceaccounts"),
    ]
}
