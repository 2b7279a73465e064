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

use crate::exception::{self, Exception, ExceptionError};
use crate::guardrails::hygiene::HygieneRules;
use crate::guardrails::resources::{ResourceRules, ResourcesError};
use crate::guardrails::rules::{Rule, RuleError};
use crate::images::{ImagePolicy, ImagePolicyError, TrustRoots};
use crate::matching::{MatchError, Matcher};
use crate::mutate::defaults::{DefaultRules, DefaultsError};
use crate::psa::{Profile, PsaVersion, VersionError};
use crate::spec::{
    self, API_VERSION, ClusterGuardrailPolicy, ClusterGuardrailPolicySpec, ClusterImagePolicy,
    ClusterImagePolicySpec, Mode, PolicyException,
};

/// What is wrong with one policy document.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("not a mapping; expected a policy document")]
    NotAnObject,
    #[error("apiVersion is {found:?}; expected {API_VERSION}")]
    ApiVersion { found: String },
    #[error(
        "kind is {found:?}; expected ClusterImagePolicy, ClusterGuardrailPolicy, ImagePolicy, GuardrailPolicy or PolicyException"
    )]
    Kind { found: String },
    #[error("metadata.name is missing or empty")]
    MissingName,
    #[error(
        "metadata.namespace is missing or empty; {kind} is namespaced: it applies only to objects in its namespace ({cluster} applies cluster-wide)"
    )]
    MissingNamespace {
        kind: PolicyKind,
        cluster: PolicyKind,
    },
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
    #[error(transparent)]
    Exception(#[from] ExceptionError),
    #[error(
        "spec sets none of podSecurity, resources, imageHygiene, rules, defaults: the policy would do nothing"
    )]
    Empty,
}

/// The policy kinds: two cluster-scoped, and their namespaced twins with the same specs.
/// The variant order is the evaluation order (`load` sorts by it): cluster kinds first, so a
/// namespaced policy's defaults and pins come after, and never instead of, the cluster ones'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum PolicyKind {
    ClusterImagePolicy,
    ClusterGuardrailPolicy,
    ImagePolicy,
    GuardrailPolicy,
}

impl PolicyKind {
    /// Whether policies of this kind live in, and apply to, one namespace.
    pub fn namespaced(self) -> bool {
        matches!(self, Self::ImagePolicy | Self::GuardrailPolicy)
    }

    /// The cluster-scoped kind with the same spec (itself for a cluster kind).
    pub fn cluster_kind(self) -> Self {
        match self {
            Self::ImagePolicy => Self::ClusterImagePolicy,
            Self::GuardrailPolicy => Self::ClusterGuardrailPolicy,
            cluster => cluster,
        }
    }
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

/// A compiled policy of any kind.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub name: String,
    /// `metadata.namespace` of a namespaced policy; `None` for a cluster policy.
    pub namespace: Option<String>,
    pub kind: PolicyKind,
    pub mode: Mode,
    pub origin: String,
    pub matcher: Matcher,
    pub body: Body,
}

impl Policy {
    /// How reasons, warnings and outcomes name the policy: its name for a cluster policy,
    /// `namespace/name` for a namespaced one (as kubectl names namespaced objects).
    pub fn label(&self) -> String {
        label(self.namespace.as_deref(), &self.name)
    }

    /// The key of its audit annotation. The API server accepts only `<webhook>/<key>` with one
    /// slash, so a namespaced policy's key is `namespace_name` (neither part may contain `_`,
    /// so it cannot collide with a cluster policy's name).
    pub fn audit_key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}_{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// `name`, or `namespace/name` in a namespace.
pub(crate) fn label(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
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

/// A compiled document: a policy, or an exception to policies.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    Policy(Policy),
    Exception(Exception),
}

/// Compiles one policy or `PolicyException` document.
pub(crate) fn compile(
    doc: &Value,
    origin: &str,
    roots: &TrustRoots,
) -> Result<Compiled, PolicyError> {
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
        "ImagePolicy" => PolicyKind::ImagePolicy,
        "GuardrailPolicy" => PolicyKind::GuardrailPolicy,
        exception::KIND => return compile_exception(obj, doc, origin).map(Compiled::Exception),
        other => {
            return Err(PolicyError::Kind {
                found: other.to_string(),
            });
        }
    };
    let name = named(obj, doc)?;
    // A cluster policy's namespace, if written, means nothing (the API server drops it too).
    let namespace = if kind.namespaced() {
        let ns = namespace_of(doc).filter(|n| !n.is_empty());
        Some(ns.ok_or(PolicyError::MissingNamespace {
            kind,
            cluster: kind.cluster_kind(),
        })?)
    } else {
        None
    };
    if obj.get("spec").is_none_or(Value::is_null) {
        return Err(PolicyError::MissingSpec);
    }
    let (mode, matcher, body) = match kind {
        PolicyKind::ClusterImagePolicy => image(&typed::<ClusterImagePolicy>(doc)?.spec, roots)?,
        PolicyKind::ImagePolicy => image(&typed::<spec::ImagePolicy>(doc)?.spec, roots)?,
        PolicyKind::ClusterGuardrailPolicy => {
            guardrail(&typed::<ClusterGuardrailPolicy>(doc)?.spec)?
        }
        PolicyKind::GuardrailPolicy => guardrail(&typed::<spec::GuardrailPolicy>(doc)?.spec)?,
    };
    let matcher = matcher.in_namespace(namespace.clone());
    Ok(Compiled::Policy(Policy {
        name,
        namespace,
        kind,
        mode,
        origin: origin.to_string(),
        matcher,
        body,
    }))
}

/// Checks the top-level fields and returns `metadata.name`.
fn named(obj: &serde_json::Map<String, Value>, doc: &Value) -> Result<String, PolicyError> {
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
    name.filter(|n| !n.is_empty())
        .ok_or(PolicyError::MissingName)
}

fn compile_exception(
    obj: &serde_json::Map<String, Value>,
    doc: &Value,
    origin: &str,
) -> Result<Exception, PolicyError> {
    let name = named(obj, doc)?;
    let namespace = namespace_of(doc)
        .filter(|n| !n.is_empty())
        .ok_or(ExceptionError::MissingNamespace)?;
    if obj.get("spec").is_none_or(Value::is_null) {
        return Err(PolicyError::MissingSpec);
    }
    let spec = typed::<PolicyException>(doc)?.spec;
    Ok(Exception::new(name, namespace, origin.to_string(), &spec)?)
}

/// `metadata.namespace`, when it is a string.
pub(crate) fn namespace_of(doc: &Value) -> Option<String> {
    doc.get("metadata")?
        .get("namespace")?
        .as_str()
        .map(str::to_string)
}

fn image(
    s: &ClusterImagePolicySpec,
    roots: &TrustRoots,
) -> Result<(Mode, Matcher, Body), PolicyError> {
    Ok((
        s.mode,
        Matcher::new(&s.matches, &s.exclude)?,
        Body::Image(ImagePolicy::new(s, roots)?),
    ))
}

fn guardrail(s: &ClusterGuardrailPolicySpec) -> Result<(Mode, Matcher, Body), PolicyError> {
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
    Ok((
        s.mode,
        Matcher::new(&s.matches, &s.exclude)?,
        Body::Guardrail(Box::new(body)),
    ))
}
