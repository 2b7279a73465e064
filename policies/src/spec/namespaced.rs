//! `ImagePolicy` and `GuardrailPolicy`: the namespaced kinds, with the same specs as
//! `ClusterImagePolicy` and `ClusterGuardrailPolicy`.
//!
//! Each spec is a transparent newtype around the cluster kind's spec, so the documents, the
//! serde behaviour (unknown fields denied, defaults) and the CRD's `spec` schema are those of
//! the cluster kind, field for field; only the scope, names and short names differ. A
//! namespaced policy applies only to objects in its own namespace (see `compile`).

use std::ops::Deref;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ClusterGuardrailPolicySpec, ClusterImagePolicySpec, PolicyStatus};

// The spec of a `ClusterImagePolicy`, for one namespace. A plain comment: a doc comment would
// replace the spec's own description in the CRD schema, which must stay the cluster kind's.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.portcullis.dev",
    version = "v1alpha1",
    kind = "ImagePolicy",
    namespaced,
    shortname = "ip",
    category = "portcullis",
    doc = "Which images must be signed, by which keys, with which attestations, in this namespace (Portcullis). Adds to the ClusterImagePolicies, never loosens them.",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    status = "PolicyStatus"
)]
#[serde(transparent)]
pub struct ImagePolicySpec(pub ClusterImagePolicySpec);

// The spec of a `ClusterGuardrailPolicy`, for one namespace (a plain comment, as above).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.portcullis.dev",
    version = "v1alpha1",
    kind = "GuardrailPolicy",
    namespaced,
    shortname = "gp",
    category = "portcullis",
    doc = "Guardrails for workloads in this namespace (Pod Security Standards, resources, image hygiene, custom rules, defaults). Adds to the ClusterGuardrailPolicies, never loosens them.",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Level","type":"string","jsonPath":".spec.podSecurity.level"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    status = "PolicyStatus"
)]
#[serde(transparent)]
pub struct GuardrailPolicySpec(pub ClusterGuardrailPolicySpec);

impl Deref for ImagePolicySpec {
    type Target = ClusterImagePolicySpec;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Deref for GuardrailPolicySpec {
    type Target = ClusterGuardrailPolicySpec;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
