//! What the test API server serves for `portcullis serve`'s cluster connection.

use portcullis_testkit::apiserver::Resource;

/// The policy custom resources' API group.
pub const GROUP: &str = "policy.portcullis.dev";

/// The policy kinds `portcullis serve` watches.
pub fn policy_resources() -> Vec<Resource> {
    vec![
        Resource::cluster(
            GROUP,
            "v1alpha1",
            "ClusterImagePolicy",
            "clusterimagepolicies",
        ),
        Resource::cluster(
            GROUP,
            "v1alpha1",
            "ClusterGuardrailPolicy",
            "clusterguardrailpolicies",
        ),
        Resource::namespaced(GROUP, "v1alpha1", "ImagePolicy", "imagepolicies"),
        Resource::namespaced(GROUP, "v1alpha1", "GuardrailPolicy", "guardrailpolicies"),
        Resource::namespaced(GROUP, "v1alpha1", "PolicyException", "policyexceptions"),
    ]
}

/// The core kinds `--pod-pull-secrets` reads.
pub fn pull_secret_resources() -> Vec<Resource> {
    vec![
        Resource::namespaced("", "v1", "Secret", "secrets"),
        Resource::namespaced("", "v1", "ServiceAccount", "serviceaccounts"),
    ]
}
