//! `ClusterGuardrailPolicy`: Pod Security Standards, resource requirements, image hygiene,
//! custom JSONPath rules and defaulting mutations for workloads.

use std::collections::BTreeMap;
use std::fmt;

use kube::CustomResource;
use portcullis_verifier_types::Operator;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ExcludeSpec, MatchSpec, Mode, PolicyStatus, is_default, is_false, schema};

/// Guardrails for pods and the controllers that create them. Every section is optional.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.portcullis.dev",
    version = "v1alpha1",
    kind = "ClusterGuardrailPolicy",
    shortname = "cgp",
    category = "portcullis",
    doc = "Guardrails for workloads (Pod Security Standards, resources, image hygiene, custom rules, defaults).",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Level","type":"string","jsonPath":".spec.podSecurity.level"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    status = "PolicyStatus"
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterGuardrailPolicySpec {
    /// enforce (deny), warn (admit with a warning) or audit (admit, record an audit annotation).
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: Mode,
    /// Which requests the policy applies to.
    #[serde(default, rename = "match", skip_serializing_if = "is_default")]
    pub matches: MatchSpec,
    /// Users, groups, namespaces and images the policy leaves alone.
    #[serde(default, skip_serializing_if = "is_default")]
    pub exclude: ExcludeSpec,
    /// Enforce a Pod Security Standard exactly as Kubernetes Pod Security Admission does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecuritySpec>,
    /// Required requests/limits, maximums and limit/request ratios per container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
    /// Registries, tags and digests allowed in image references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_hygiene: Option<ImageHygieneSpec>,
    /// Custom JSONPath conditions on the admitted object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleSpec>,
    /// Defaulting mutations, applied before validation and only where a field is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<DefaultsSpec>,
}

/// A Pod Security Standards level at a policy version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSecuritySpec {
    /// `baseline` or `restricted`.
    pub level: crate::psa::Level,
    /// `latest` or `v1.N` (as `pod-security.kubernetes.io/enforce-version`). Default `latest`.
    #[serde(default = "latest")]
    pub version: String,
}

fn latest() -> String {
    "latest".into()
}

/// Per-container resource rules. Ephemeral containers are exempt (the API forbids resources
/// on them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourcesSpec {
    /// Resources every container must request, e.g. `[cpu, memory]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require_requests: Vec<String>,
    /// Resources every container must limit, e.g. `[memory]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require_limits: Vec<String>,
    /// Largest allowed request per resource.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub max_requests: BTreeMap<String, QuantityValue>,
    /// Largest allowed limit per resource.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub max_limits: BTreeMap<String, QuantityValue>,
    /// Largest allowed limit ÷ request per resource (as LimitRange's maxLimitRequestRatio).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub max_limit_request_ratio: BTreeMap<String, QuantityValue>,
}

/// Image reference hygiene.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageHygieneSpec {
    /// Registry hosts images may come from (globs allowed: `*.pkg.dev`, `127.0.0.1:*`). Short
    /// names such as `nginx` come from `docker.io`. Empty: any registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_registries: Vec<String>,
    /// Forbid an explicit `:latest` tag (unless a digest is given too).
    #[serde(default, skip_serializing_if = "is_false")]
    pub forbid_latest_tag: bool,
    /// Forbid references with neither tag nor digest (they mean `:latest`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub forbid_untagged: bool,
    /// Require `@sha256:…`. Digest pinning by a ClusterImagePolicy runs first and satisfies it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_digest: bool,
}

/// A custom rule: a JSONPath condition that must hold on the admitted object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSpec {
    /// Rule name, shown in reasons.
    pub name: String,
    /// JSONPath into the admitted object, e.g. `$.metadata.labels.team`.
    pub path: String,
    #[schemars(schema_with = "schema::operator")]
    pub operator: Operator,
    /// Expected value (equals / not-equals), or the regex (matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::any_value")]
    pub value: Option<serde_json::Value>,
    /// Allowed values (in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::any_values")]
    pub values: Vec<serde_json::Value>,
    /// Explanation shown with a violation, ideally saying how to comply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Defaulting mutations. Each applies only where the field is unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityDefaults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceDefaults>,
}

/// securityContext defaults. Linux-only fields are not set on Windows pods
/// (`spec.os.name: windows`), where the API forbids them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityDefaults {
    /// Pod-level `runAsNonRoot`, unless the pod or a container sets runAsUser to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// Pod-level `seccompProfile.type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompDefault>,
    /// Per-container `allowPrivilegeEscalation` (skipped for privileged or CAP_SYS_ADMIN
    /// containers, where `false` is invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    /// Per-container `capabilities.drop` when no drop list is set, e.g. `[ALL]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_capabilities: Vec<String>,
}

/// Seccomp profile types that can be defaulted without further settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SeccompDefault {
    RuntimeDefault,
}

/// Resource defaults per container (init and regular containers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceDefaults {
    /// Set when missing, unless a limit is set (the API server then copies the limit).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub requests: BTreeMap<String, QuantityValue>,
    /// Set when missing; never below the container's request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub limits: BTreeMap<String, QuantityValue>,
}

/// A quantity as written: a string (`500m`, `128Mi`) or a number (`2`). Validated at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityValue(pub String);

impl fmt::Display for QuantityValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for QuantityValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for QuantityValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Str(String),
            Int(i64),
            Float(f64),
        }
        Ok(QuantityValue(match Raw::deserialize(d)? {
            Raw::Str(s) => s,
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
        }))
    }
}

impl JsonSchema for QuantityValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schema::quantity(generator)
    }
}
