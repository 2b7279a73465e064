//! Compiled `PolicyException`s: which findings of which policies they waive, for which objects,
//! and whether they count at all.
//!
//! An exception lives in one namespace and covers only objects there, chosen by kind, name glob
//! and label selector. It waives a finding when the finding's policy is listed (and its rule,
//! when `ruleNames` is set) and, when `podSecurity` is set, the rule is one of those controls on
//! a container whose image matches the control's globs. It counts only when the operator lists
//! its namespace ([`PolicySet::with_exception_namespaces`]); otherwise it is loaded, inactive,
//! and [`PolicySet::exceptions`] says why, for a `Ready=False` condition.
//!
//! Waiving happens after each policy's checks, before its findings are filed: a waived finding
//! neither denies, nor warns, nor is audited as a violation; the decision lists it as an
//! [`Exemption`] instead, and says so in a warning and an audit annotation. Exceptions never
//! change what is verified or mutated.
//!
//! [`PolicySet::with_exception_namespaces`]: crate::PolicySet::with_exception_namespaces
//! [`PolicySet::exceptions`]: crate::PolicySet::exceptions
//! [`Exemption`]: crate::decision::Exemption

use serde::Serialize;

use crate::compile::label;
use crate::decision::{Decision, Finding};
use crate::matching::{GlobList, MatchError, Matcher};
use crate::psa::registry;
use crate::request::Request;
use crate::spec::{ExcludeSpec, MatchSpec, Mode, PolicyExceptionSpec};
use crate::workload::Workload;

/// The kind name of exception documents.
pub const KIND: &str = "PolicyException";

/// What is wrong with an exception's spec.
#[derive(Debug, thiserror::Error)]
pub enum ExceptionError {
    #[error(
        "metadata.namespace is missing or empty; PolicyException is namespaced: it applies only to objects in its namespace"
    )]
    MissingNamespace,
    #[error("spec.exceptions is empty: the exception would waive nothing")]
    NoExceptions,
    #[error("spec.exceptions[{index}].policyName is empty")]
    EmptyPolicyName { index: usize },
    #[error(
        "spec.podSecurity[{index}].controlName: {name:?} is not a Pod Security check id (expected one of {known})"
    )]
    UnknownControl {
        index: usize,
        name: String,
        known: String,
    },
    #[error(transparent)]
    Match(#[from] MatchError),
}

/// One waived policy, with its rules (empty: all).
#[derive(Debug, Clone)]
struct Entry {
    policy: String,
    rules: Vec<String>,
}

/// One waived Pod Security control, with its image globs (empty: any finding of it).
#[derive(Debug, Clone)]
struct Control {
    ids: Vec<&'static str>,
    images: GlobList,
}

/// A compiled `PolicyException`.
#[derive(Debug, Clone)]
pub(crate) struct Exception {
    pub name: String,
    pub namespace: String,
    pub origin: String,
    matcher: Matcher,
    names: GlobList,
    entries: Vec<Entry>,
    controls: Vec<Control>,
}

impl Exception {
    pub fn new(
        name: String,
        namespace: String,
        origin: String,
        spec: &PolicyExceptionSpec,
    ) -> Result<Self, ExceptionError> {
        if spec.exceptions.is_empty() {
            return Err(ExceptionError::NoExceptions);
        }
        let entries = spec
            .exceptions
            .iter()
            .enumerate()
            .map(|(index, e)| match e.policy_name.trim() {
                "" => Err(ExceptionError::EmptyPolicyName { index }),
                policy => Ok(Entry {
                    policy: policy.to_string(),
                    rules: e.rule_names.clone(),
                }),
            })
            .collect::<Result<_, _>>()?;
        let controls = spec
            .pod_security
            .iter()
            .enumerate()
            .map(|(index, c)| {
                let ids = control_ids(&c.control_name);
                if ids.is_empty() {
                    return Err(ExceptionError::UnknownControl {
                        index,
                        name: c.control_name.clone(),
                        known: registry().map(|c| c.id).collect::<Vec<_>>().join(", "),
                    });
                }
                let images = GlobList::new("spec.podSecurity.images", &c.images)?;
                Ok(Control { ids, images })
            })
            .collect::<Result<_, _>>()?;
        let matches = MatchSpec {
            kinds: spec.matches.kinds.clone(),
            selector: spec.matches.selector.clone(),
            ..MatchSpec::default()
        };
        let matcher =
            Matcher::new(&matches, &ExcludeSpec::default())?.in_namespace(Some(namespace.clone()));
        Ok(Self {
            names: GlobList::new("spec.match.names", &spec.matches.names)?,
            name,
            namespace,
            origin,
            matcher,
            entries,
            controls,
        })
    }

    /// `namespace/name`, as reasons name a namespaced policy.
    pub fn label(&self) -> String {
        label(Some(&self.namespace), &self.name)
    }

    /// Whether the exception covers this request's object (in its namespace, kind, name,
    /// labels); whether it counts at all is the set's business.
    pub fn applies(&self, req: &Request) -> bool {
        self.matcher.applies(req) && (self.names.is_empty() || self.names.matches(&req.name))
    }

    /// Whether it waives `rule` of `policy`, found on a container running `image` (`None`: a
    /// pod-level or object-level finding).
    pub fn waives(&self, policy: &str, rule: &str, image: Option<&str>) -> bool {
        self.entries.iter().any(|e| {
            e.policy == policy && (e.rules.is_empty() || e.rules.iter().any(|r| r == rule))
        }) && (self.controls.is_empty()
            || self.controls.iter().any(|c| {
                c.ids.contains(&rule)
                    && (c.images.is_empty() || image.is_some_and(|i| c.images.matches_image(i)))
            }))
    }
}

/// The exceptions that count for one request, with its containers' images (as written).
pub(crate) struct Waivers<'a> {
    exceptions: Vec<&'a Exception>,
    images: Vec<(String, String)>,
}

impl<'a> Waivers<'a> {
    pub fn new(
        all: &'a [Exception],
        allowed: &[String],
        req: &Request,
        original: Option<&Workload<'_>>,
    ) -> Self {
        let exceptions: Vec<&Exception> = all
            .iter()
            .filter(|e| allowed_in(allowed, &e.namespace) && e.applies(req))
            .collect();
        let images = match original {
            Some(w) if !exceptions.is_empty() => w
                .containers()
                .iter()
                .map(|c| (c.name.to_string(), c.image().to_string()))
                .collect(),
            _ => Vec::new(),
        };
        Self { exceptions, images }
    }

    /// The findings no exception waives; the waived ones go to `decision` as exemptions.
    pub fn apply(
        &self,
        decision: &mut Decision,
        policy: &str,
        mode: Mode,
        findings: Vec<Finding>,
    ) -> Vec<Finding> {
        if self.exceptions.is_empty() {
            return findings;
        }
        let mut kept = Vec::new();
        for f in findings {
            let image = f.container.as_deref().and_then(|c| {
                self.images
                    .iter()
                    .find(|(name, _)| name == c)
                    .map(|(_, image)| image.as_str())
            });
            match self
                .exceptions
                .iter()
                .find(|e| e.waives(policy, &f.rule, image))
            {
                Some(e) => decision.exempt(&e.label(), policy, mode, f),
                None => kept.push(f),
            }
        }
        kept
    }
}

/// The check ids `name` stands for: itself, or both levels' ids when it omits the suffix.
fn control_ids(name: &str) -> Vec<&'static str> {
    registry()
        .map(|c| c.id)
        .filter(|id| {
            *id == name
                || id.strip_suffix("_baseline") == Some(name)
                || id.strip_suffix("_restricted") == Some(name)
        })
        .collect()
}

/// One loaded exception and whether it counts, for logs and a `Ready` condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionInfo {
    pub name: String,
    pub namespace: String,
    /// `<source> document <n>`.
    pub origin: String,
    /// Whether it counts: the `Ready` condition's status.
    pub ready: bool,
    /// The condition's reason: [`ACTIVE`] or [`NAMESPACE_NOT_ALLOWED`].
    pub reason: &'static str,
    /// The condition's message, e.g. `namespace "team-b" is not in --exception-namespaces
    /// (team-a)`.
    pub message: String,
}

/// [`ExceptionInfo::reason`] of an exception that counts.
pub const ACTIVE: &str = "Active";
/// [`ExceptionInfo::reason`] of one whose namespace the operator did not list.
pub const NAMESPACE_NOT_ALLOWED: &str = "NamespaceNotAllowed";

/// Whether `allowed` (the operator's list; `*` is every namespace) lets exceptions in
/// `namespace` count.
pub(crate) fn allowed_in(allowed: &[String], namespace: &str) -> bool {
    allowed.iter().any(|n| n == "*" || n == namespace)
}

impl ExceptionInfo {
    pub(crate) fn of(e: &Exception, allowed: &[String]) -> Self {
        let ready = allowed_in(allowed, &e.namespace);
        let listed = if allowed.is_empty() {
            "none listed".to_string()
        } else {
            allowed.join(", ")
        };
        let message = if ready {
            format!("counts in namespace {:?}", e.namespace)
        } else {
            format!(
                "namespace {:?} is not in --exception-namespaces ({listed})",
                e.namespace
            )
        };
        Self {
            name: e.name.clone(),
            namespace: e.namespace.clone(),
            origin: e.origin.clone(),
            ready,
            reason: if ready { ACTIVE } else { NAMESPACE_NOT_ALLOWED },
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_names_resolve_with_or_without_the_level_suffix() {
        assert_eq!(control_ids("hostPathVolumes"), ["hostPathVolumes"]);
        assert_eq!(
            control_ids("capabilities"),
            ["capabilities_baseline", "capabilities_restricted"]
        );
        assert_eq!(
            control_ids("capabilities_restricted"),
            ["capabilities_restricted"]
        );
        assert!(control_ids("Capabilities").is_empty());
    }

    #[test]
    fn allowed_namespaces_are_names_or_a_star() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(allowed_in(&list(&["a", "b"]), "b"));
        assert!(!allowed_in(&list(&["a"]), "ab"));
        assert!(allowed_in(&list(&["*"]), "x"));
        assert!(!allowed_in(&[], "x"));
    }
}
