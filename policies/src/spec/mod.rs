//! The policy documents as written: serde + schemars types for the custom resources
//! `ClusterImagePolicy` and `ClusterGuardrailPolicy` (cluster-scoped) and `ImagePolicy` and
//! `GuardrailPolicy` (namespaced, the same specs) in `policy.portcullis.dev/v1alpha1`, and
//! `PolicyException` (namespaced), which waives them for selected workloads.
//!
//! These types are the single source of truth for both parsing policy files and the CRD YAML
//! (`deploy/base/webhook/crds/`, generated with kube's `CustomResource` derive and checked by
//! `tests/crd_schema.rs`). Every struct denies unknown fields, so a typo is a load error rather
//! than a silently ignored setting. They carry no behaviour: compilation into matchers,
//! requirements and checks happens in `compile`, once, at load time.

mod exception;
mod guardrail;
mod image;
mod namespaced;
mod schema;
mod status;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use exception::{
    ExceptionEntry, ExceptionMatchSpec, PodSecurityExclusion, PolicyException, PolicyExceptionSpec,
};
pub use guardrail::{
    ClusterGuardrailPolicy, ClusterGuardrailPolicySpec, DefaultsSpec, ImageHygieneSpec,
    PodSecuritySpec, QuantityValue, ResourceDefaults, ResourcesSpec, RuleSpec, SeccompDefault,
    SecurityDefaults,
};
pub use image::{
    AttestationSpec, AuthoritiesSpec, ClusterImagePolicy, ClusterImagePolicySpec, IdentitySpec,
    KeySpec, KeylessSpec, PlatformSignaturesSpec, SignatureFormatSpec,
};
pub use namespaced::{GuardrailPolicy, GuardrailPolicySpec, ImagePolicy, ImagePolicySpec};
pub use status::{Condition, PolicyStatus};

/// API group of the policy custom resources.
pub const API_GROUP: &str = "policy.portcullis.dev";
/// `apiVersion` every policy document must carry.
pub const API_VERSION: &str = "policy.portcullis.dev/v1alpha1";

/// What a policy does with a violation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// Deny the request.
    #[default]
    Enforce,
    /// Admit it with a warning shown to the client (kubectl prints it).
    Warn,
    /// Admit it and record the violation as an audit annotation; no mutation either.
    Audit,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }
}

/// Which requests a policy applies to. Every list that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchSpec {
    /// Object kinds (`Pod`, `Deployment`, `CronJob`, …; `*` for any kind). Empty: Pod and every
    /// controller kind carrying a pod template (Deployment, ReplicaSet, StatefulSet, DaemonSet,
    /// Job, CronJob, ReplicationController).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Namespaces (globs such as `team-*` allowed). Empty: every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Namespaces (globs allowed) the policy never applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_namespaces: Vec<String>,
    /// Label selector on the admitted object's own labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// A Kubernetes label selector: all `matchLabels` and all `matchExpressions` must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    /// Required for `In`/`NotIn`, must be empty for `Exists`/`DoesNotExist`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Label selector operators, spelled as in Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// Requests and images a policy leaves alone even when `match` selects them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExcludeSpec {
    /// Requesting users (globs allowed, e.g. `system:serviceaccount:kube-system:*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usernames: Vec<String>,
    /// Requesting users' groups (globs allowed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Namespaces (globs allowed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Image globs: matching containers are skipped by image checks (signature verification,
    /// image hygiene); other checks still apply to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

pub(crate) fn default_true() -> bool {
    true
}

pub(crate) fn is_true(b: &bool) -> bool {
    *b
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
