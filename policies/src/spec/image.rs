//! `ClusterImagePolicy`: which images must be signed, by which keys, with which attestations,
//! and whether admitted pods get their tags pinned to the verified digest.

use std::collections::BTreeMap;

use kube::CustomResource;
use portcullis_verifier_types::ConditionSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    ExcludeSpec, MatchSpec, Mode, PolicyStatus, default_true, is_default, is_false, is_true, schema,
};

/// Requires images matching `images` to carry valid cosign signatures (and optionally in-toto
/// attestations) from trusted keys, or keyless signatures from accepted identities.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.portcullis.dev",
    version = "v1alpha1",
    kind = "ClusterImagePolicy",
    shortname = "cip",
    category = "portcullis",
    doc = "Which images must be signed, by which keys, with which attestations (Portcullis).",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    status = "PolicyStatus"
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterImagePolicySpec {
    /// enforce (deny), warn (admit with a warning) or audit (admit, record an audit annotation).
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: Mode,
    /// Which requests the policy applies to.
    #[serde(default, rename = "match", skip_serializing_if = "is_default")]
    pub matches: MatchSpec,
    /// Users, groups, namespaces and images the policy leaves alone.
    #[serde(default, skip_serializing_if = "is_default")]
    pub exclude: ExcludeSpec,
    /// Globs on the image reference: `*` stays within one path segment, `**` spans segments,
    /// e.g. `ghcr.io/acme/*`, `127.0.0.1:*/**`. A glob matches the image as written, its
    /// normalised name (`docker.io/library/nginx`) or its normalised full reference.
    pub images: Vec<String>,
    /// Trusted keys and how many of them must have signed, or keyless signers.
    pub authorities: AuthoritiesSpec,
    /// Attestations every matching image must carry, signed by a trusted key (or, with keyless
    /// authorities, by an accepted identity).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<AttestationSpec>,
    /// Pin verified Pod images to their digest (`repo:tag@sha256:…`). Default true.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub mutate_digest: bool,
    /// Also pin images in controllers' pod templates (Deployments, …). Default false, so GitOps
    /// tools see no drift between the manifest and the live object.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mutate_digest_controllers: bool,
}

/// Who must have signed: trusted keys (with a threshold), or keyless signers. Exactly one of
/// `keys` and `keyless`; a policy needing both is two policies (every matching policy must pass).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthoritiesSpec {
    /// ECDSA P-256 public keys (PEM), as written by `cosign generate-key-pair`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeySpec>,
    /// How many distinct keys must have signed. Default 1.
    #[serde(default = "one")]
    pub threshold: u32,
    /// Keyless signatures: a Fulcio certificate for one of the identities, logged in Rekor,
    /// verified offline against a trusted root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyless: Option<KeylessSpec>,
    /// With `keys`: which signature formats count, for signatures and attestations alike.
    /// `any` (default): cosign's classic `.sig`/`.att` tags and Sigstore bundles stored as OCI
    /// referrers (cosign 3); `classic`: the tags only; `bundle`: the referrer bundles only.
    #[serde(default, skip_serializing_if = "is_default")]
    pub signature_format: SignatureFormatSpec,
    /// For an image index (a multi-platform image): platforms, as `os/architecture[/variant]`
    /// (`linux/amd64`, `linux/arm/v7`), whose manifests in the index count too, as
    /// `platformSignatures` says. Each must be in the index; without a variant, a name selects the
    /// entry without one, or the only entry for its os and architecture. The index digest is
    /// still what is pinned. A single-platform image is verified by its own signature: this list
    /// does not apply to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::platforms")]
    pub platforms: Vec<String>,
    /// With `platforms`: `indexAndPlatforms` (default): the index and every listed platform's
    /// manifest must each verify (what `cosign sign --recursive` signs); `indexOrPlatforms`: a
    /// verified index suffices, or else every listed platform's manifest must verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_signatures: Option<PlatformSignaturesSpec>,
}

/// `spec.authorities.platformSignatures`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PlatformSignaturesSpec {
    #[default]
    IndexAndPlatforms,
    IndexOrPlatforms,
}

/// `spec.authorities.signatureFormat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureFormatSpec {
    #[default]
    Any,
    Classic,
    Bundle,
}

/// Keyless signers and the trust they are checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeylessSpec {
    /// Name of a trusted root the webhook was given (`portcullis serve --trusted-root
    /// NAME=FILE`, e.g. a mounted ConfigMap holding Sigstore's `trusted_root.json`).
    pub trusted_root: String,
    /// Accepted signers: a signature passes when any one matches.
    pub identities: Vec<IdentitySpec>,
}

/// One accepted keyless signer. `subject` or `subjectRegExp`, and `issuer` or `issuerRegExp`,
/// are required; regular expressions are unanchored, as in cosign.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentitySpec {
    /// The certificate's SAN (URI or email), e.g.
    /// `https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(
        default,
        rename = "subjectRegExp",
        skip_serializing_if = "Option::is_none"
    )]
    pub subject_regexp: Option<String>,
    /// The OIDC issuer, e.g. `https://token.actions.githubusercontent.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(
        default,
        rename = "issuerRegExp",
        skip_serializing_if = "Option::is_none"
    )]
    pub issuer_regexp: Option<String>,
    /// Fulcio certificate extensions that must equal these values, by Fulcio's names, e.g.
    /// `source-repository-uri: https://github.com/acme/app`, `github-workflow-trigger: push`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

/// A named public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySpec {
    /// Shown in reasons and logs.
    pub name: String,
    /// `-----BEGIN PUBLIC KEY-----` PEM.
    pub pem: String,
}

/// An attestation requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationSpec {
    /// Predicate type: a cosign short name (`slsaprovenance1`, `spdxjson`, `cyclonedx`, `vuln`,
    /// `custom`, …) or a URI.
    #[serde(rename = "type")]
    pub predicate_type: String,
    /// All must hold on the predicate of at least one attestation of this type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<ConditionSpec>,
}
