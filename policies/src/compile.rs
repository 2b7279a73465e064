//! From a parsed policy document to a compiled [`Policy`]: envelope checks, typed
//! deserialisation with field paths in errors, and compilation of every section into the
//! matchers, requirements and checks evaluation uses.
//!
//! Everything that can be wrong with a policy is found here, at load time: unknown fields,
//! invalid globs, keys, JSONPaths, regexes, quantities and versions, and settings that would make
//! a policy silently useless. Nothing is re-parsed per request.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::guardrails::hygiene::HygieneRules;
use crate::guardrails::resources::{ResourceRules, ResourcesError};
use crate::guardrails::rules::{Rule, RuleError};
use crate::images::{ImagePolicy, ImagePolicyError, TrustRoots};
use crate::matching::{MatchError, Matcher};
use crate::mutate::defaults::{DefaultRules, DefaultsError};
use crate::psa::{Profile, PsaVersion, VersionError};
use crate::spec::{API_VERSION, ClusterGuardrailPolicy, ClusterImagePolicy, Mode};

/// What is wrong with one policy document.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("not a mapping; expected a policy document")]
    NotAnObject,
    #[error("apiVersion is {found:?}; expected {API_VERSION}")]
    ApiVersion { found: String },
    #[error("kind is {found:?}; expected ClusterImagePolicy or ClusterGuardrailPolicy")]
    Kind { found: String },
    #[error("metadata.name is missing or empty")]
    MissingName,
    #[error("unknown top-level field `{field}` (expected apiVersion, kind, metadata, spec)")]
    UnknownField { field: String },
    #[error("spec is missing")]
    MissingSpec,
    #[error("{path}: {message}")]
    Field { path: String, message: String },
    #[error(transparent)]
    Image(#[from] ImagePolicyError),
    #[error(transparent)]
    Match(#[from] MatchError),
    #[error("spec.podSecurity.version: {0}")]
    Version(#[from] VersionError),
    #[error("spec.{0}")]
    Resources(#[from] ResourcesError),
    #[error("spec.{0}")]
    Rule(#[from] RuleError),
    #[error("spec.{0}")]
    Defaults(#[from] DefaultsError),
    #[error(
        "spec sets none of podSecurity, resources, imageHygiene, rules, defaults: the policy would do nothing"
    )]
    Empty,
}

/// The two policy kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum PolicyKind {
    ClusterImagePolicy,
    ClusterGuardrailPolicy,
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A compiled guardrail policy body.
#[derive(Debug, Clone)]
pub(crate) struct GuardrailPolicy {
    pub pod_security: Option<Profile>,
    pub resources: Option<ResourceRules>,
    pub hygiene: Option<HygieneRules>,
    pub rules: Vec<Rule>,
    pub defaults: Option<DefaultRules>,
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Image(ImagePolicy),
    Guardrail(Box<GuardrailPolicy>),
}

/// A compiled policy of either kind.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub name: String,
    pub kind: PolicyKind,
    pub mode: Mode,
    pub origin: String,
    pub matcher: Matcher,
    pub body: Body,
}

/// Kind and name as far as they could be read, for error messages.
pub(crate) fn identity(doc: &Value) -> (Option<String>, Option<String>) {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    (
        s(doc.get("kind")),
        s(doc.get("metadata").and_then(|m| m.get("name"))),
    )
}

fn typed<T: DeserializeOwned>(doc: &Value) -> Result<T, PolicyError> {
    serde_path_to_error::deserialize(doc).map_err(|e| PolicyError::Field {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// Compiles one policy document.
pub(crate) fn compile(
    doc: &Value,
    origin: &str,
    roots: &TrustRoots,
) -> Result<Policy, PolicyError> {
    let obj = doc.as_object().ok_or(PolicyError::NotAnObject)?;
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version != API_VERSION {
        return Err(PolicyError::ApiVersion {
            found: api_version.to_string(),
        });
    }
    let kind = match obj.get("kind").and_then(Value::as_str).unwrap_or_default() {
        "ClusterImagePolicy" => PolicyKind::ClusterImagePolicy,
        "ClusterGuardrailPolicy" => PolicyKind::ClusterGuardrailPolicy,
        other => {
            return Err(PolicyError::Kind {
                found: other.to_string(),
            });
        }
    };
    if let Some(field) = obj.keys().find(|k| {
        !matches!(
            k.as_str(),
            "apiVersion" | "kind" | "metadata" | "spec" | "status"
        )
    }) {
        return Err(PolicyError::UnknownField {
            field: field.clone(),
        });
    }
    let (_, name) = identity(doc);
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or(PolicyError::MissingName)?;
    if obj.get("spec").is_none_or(Value::is_null) {
        return Err(PolicyError::MissingSpec);
    }
    let (mode, matcher, body) = match kind {
        PolicyKind::ClusterImagePolicy => {
            let p: ClusterImagePolicy = typed(doc)?;
            let s = &p.spec;
            (
                s.mode,
                Matcher::new(&s.matches, &s.exclude)?,
                Body::Image(ImagePolicy::new(s, roots)?),
            )
        }
        PolicyKind::ClusterGuardrailPolicy => {
            let p: ClusterGuardrailPolicy = typed(doc)?;
            let s = &p.spec;
            if s.pod_security.is_none()
                && s.resources.is_none()
                && s.image_hygiene.is_none()
                && s.rules.is_empty()
                && s.defaults.is_none()
            {
                return Err(PolicyError::Empty);
            }
            let pod_security = match &s.pod_security {
                Some(ps) => Some(Profile::new(ps.level, PsaVersion::parse(&ps.version)?)),
                None => None,
            };
            let body = GuardrailPolicy {
                pod_security,
                resources: s.resources.as_ref().map(ResourceRules::new).transpose()?,
                hygiene: s
                    .image_hygiene
                    .as_ref()
                    .map(HygieneRules::new)
                    .transpose()?,
                rules: s
                    .rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Rule::new(i, r))
                    .collect::<Result<_, _>>()?,
                defaults: s.defaults.as_ref().map(DefaultRules::new).transpose()?,
            };
            (
                s.mode,
                Matcher::new(&s.matches, &s.exclude)?,
                Body::Guardrail(Box::new(body)),
            )
        }
    };
    Ok(Policy {
        name,
        kind,
        mode,
        origin: origin.to_string(),
        matcher,
        body,
    })
}
