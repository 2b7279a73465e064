//! `PolicyException` (namespaced): waives named policies, rules or Pod Security controls for
//! selected workloads in the exception's own namespace, in the shape of Kyverno's
//! `PolicyException` (`exceptions[].policyName` + `ruleNames`, `podSecurity[].controlName` +
//! `images`).
//!
//! An exception counts only in the namespaces the operator lists (`--exception-namespaces`);
//! elsewhere it is loaded but inactive (see `crate::exception`).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LabelSelector, PolicyStatus, is_default};

/// Which policies, rules and Pod Security controls are waived, and for which workloads.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.portcullis.dev",
    version = "v1alpha1",
    kind = "PolicyException",
    namespaced,
    shortname = "pex",
    category = "portcullis",
    doc = "Waives named Portcullis policies, rules or Pod Security controls for selected workloads in this namespace. Counts only in namespaces the operator lists in --exception-namespaces.",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    status = "PolicyStatus"
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyExceptionSpec {
    /// Which objects of this namespace the exception covers. Empty: every Pod and pod-template
    /// workload in it.
    #[serde(default, rename = "match", skip_serializing_if = "is_default")]
    pub matches: ExceptionMatchSpec,
    /// The policies (and optionally rules) waived. At least one.
    pub exceptions: Vec<ExceptionEntry>,
    /// Limits the waiver to these Pod Security controls, each optionally to images. Empty: the
    /// named policies and rules are waived whatever they check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_security: Vec<PodSecurityExclusion>,
}

/// Which objects an exception covers. Every list that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExceptionMatchSpec {
    /// Object kinds (`Pod`, `Deployment`, …; `*` for any kind). Empty: Pod and every controller
    /// kind carrying a pod template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Object names (globs such as `debug-*` allowed), matched against `metadata.name`, or
    /// `metadata.generateName` when the name is not set yet. Empty: any name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Label selector on the admitted object's own labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// One waived policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExceptionEntry {
    /// The policy as reasons name it: its name for a cluster policy, `namespace/name` for a
    /// namespaced one, `no-match` for images no image policy covers.
    pub policy_name: String,
    /// The rules waived (`hostPathVolumes`, `imageHygiene.latestTag`, a custom rule's name,
    /// `verifyImage`, …). Empty: every rule of the policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_names: Vec<String>,
}

/// One waived Pod Security control, as Kyverno's `podSecurity.exclude`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSecurityExclusion {
    /// A Pod Security check id (`capabilities_baseline`, `hostPathVolumes`, `runAsNonRoot`, …),
    /// or one without its `_baseline`/`_restricted` suffix for both levels (`capabilities`).
    pub control_name: String,
    /// Image globs: only findings on containers running a matching image are waived (pod-level
    /// findings such as host namespaces or volumes never are). Empty: every finding of the
    /// control.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}
