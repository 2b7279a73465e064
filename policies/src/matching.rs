//! Which requests and images a policy applies to: compiled `match` and `exclude` sections.
//!
//! Globs follow one rule everywhere: `*` matches within one `/`-separated segment, `**` spans
//! segments, `?` one character. Image globs are tried against the image as written, its
//! normalised name (`docker.io/library/nginx`) and its normalised full reference, so
//! `docker.io/library/*` catches `nginx:1.27` and `127.0.0.1:*/**` catches
//! `127.0.0.1:5000/app:dev`. Label selectors behave as Kubernetes' (`In`, `NotIn`, `Exists`,
//! `DoesNotExist`); an object without labels has none.
//!
//! A namespaced policy (`ImagePolicy`, `GuardrailPolicy`) applies only to requests in its own
//! namespace, and there only where its `match` and `exclude` also let it
//! ([`Matcher::in_namespace`]). It can add findings but never remove a cluster policy's:
//! policies are evaluated independently, each one's findings filed under its own name by its own
//! mode, and the decision denies when any `enforce` policy found something. No policy's result
//! feeds into another's matching or checks, so a namespaced policy in `warn` or `audit` mode
//! that covers the same images or fields as a cluster `enforce` policy only adds warnings or
//! audit lines beside the cluster policy's reasons. Its defaults are mutations applied after
//! the cluster policies' (policies are ordered cluster kinds first) and only where a field is
//! still unset, so they never override a cluster default; every policy, cluster ones included,
//! then validates the object as it will be stored.

use std::str::FromStr;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use portcullis_verifier_types::ImageRef;
use serde_json::Value;

use crate::request::Request;
use crate::spec::{ExcludeSpec, LabelSelector, MatchSpec, SelectorOperator};
use crate::workload::WorkloadKind;

/// A pattern that is not a valid glob, or a malformed selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("{field}: {pattern:?} is not a valid glob: {message}")]
    Glob {
        field: &'static str,
        pattern: String,
        message: String,
    },
    #[error("spec.match.selector: expression on {key:?}: operator {operator:?} {problem}")]
    Selector {
        key: String,
        operator: String,
        problem: &'static str,
    },
}

/// A compiled list of globs; an empty list matches nothing.
#[derive(Debug, Clone)]
pub struct GlobList {
    set: GlobSet,
    patterns: Vec<String>,
}

impl GlobList {
    pub fn new(field: &'static str, patterns: &[String]) -> Result<Self, MatchError> {
        let mut builder = GlobSetBuilder::new();
        for p in patterns {
            builder.add(glob(field, p)?);
        }
        let set = builder.build().map_err(|e| MatchError::Glob {
            field,
            pattern: patterns.join(", "),
            message: e.to_string(),
        })?;
        Ok(Self {
            set,
            patterns: patterns.to_vec(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The globs as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    pub fn matches(&self, text: &str) -> bool {
        self.set.is_match(text)
    }

    /// Whether any glob matches the image as written or one of its normalised forms.
    pub fn matches_image(&self, image: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        if self.matches(image) {
            return true;
        }
        match ImageRef::from_str(image) {
            Ok(r) => self.matches(&r.name()) || self.matches(&r.to_string()),
            Err(_) => false,
        }
    }
}

fn glob(field: &'static str, pattern: &str) -> Result<Glob, MatchError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| MatchError::Glob {
            field,
            pattern: pattern.to_string(),
            message: e.kind().to_string(),
        })
}

/// A compiled label selector.
#[derive(Debug, Clone)]
pub struct Selector(LabelSelector);

impl Selector {
    pub fn new(spec: &LabelSelector) -> Result<Self, MatchError> {
        for e in &spec.match_expressions {
            let needs_values = matches!(e.operator, SelectorOperator::In | SelectorOperator::NotIn);
            if needs_values == e.values.is_empty() {
                return Err(MatchError::Selector {
                    key: e.key.clone(),
                    operator: format!("{:?}", e.operator),
                    problem: if needs_values {
                        "needs a non-empty values list"
                    } else {
                        "takes no values"
                    },
                });
            }
        }
        Ok(Self(spec.clone()))
    }

    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0
            .match_labels
            .iter()
            .all(|(k, v)| get(k) == Some(v.as_str()))
            && self.0.match_expressions.iter().all(|e| {
                let val = get(&e.key);
                match e.operator {
                    SelectorOperator::In => val.is_some_and(|v| e.values.iter().any(|x| x == v)),
                    SelectorOperator::NotIn => {
                        !val.is_some_and(|v| e.values.iter().any(|x| x == v))
                    }
                    SelectorOperator::Exists => val.is_some(),
                    SelectorOperator::DoesNotExist => val.is_none(),
                }
            })
    }
}

/// A policy's compiled `match` + `exclude`.
#[derive(Debug, Clone)]
pub struct Matcher {
    kinds: Vec<String>,
    namespaces: GlobList,
    exclude_namespaces: GlobList,
    selector: Option<Selector>,
    usernames: GlobList,
    groups: GlobList,
    images: GlobList,
    /// A namespaced policy's own namespace: it applies to nothing outside it.
    own_namespace: Option<String>,
}

impl Matcher {
    pub fn new(m: &MatchSpec, x: &ExcludeSpec) -> Result<Self, MatchError> {
        let mut exclude_namespaces = m.exclude_namespaces.clone();
        exclude_namespaces.extend(x.namespaces.iter().cloned());
        Ok(Self {
            kinds: m.kinds.clone(),
            namespaces: GlobList::new("spec.match.namespaces", &m.namespaces)?,
            exclude_namespaces: GlobList::new("spec.exclude.namespaces", &exclude_namespaces)?,
            selector: m.selector.as_ref().map(Selector::new).transpose()?,
            usernames: GlobList::new("spec.exclude.usernames", &x.usernames)?,
            groups: GlobList::new("spec.exclude.groups", &x.groups)?,
            images: GlobList::new("spec.exclude.images", &x.images)?,
            own_namespace: None,
        })
    }

    /// The matcher of a policy living in `namespace` (`None`: a cluster policy): it applies only
    /// to requests in that namespace, on top of its `match` and `exclude`.
    pub fn in_namespace(mut self, namespace: Option<String>) -> Self {
        self.own_namespace = namespace;
        self
    }

    /// Whether the policy applies to this request at all.
    pub fn applies(&self, req: &Request) -> bool {
        let kind_ok = if self.kinds.is_empty() {
            WorkloadKind::of(&req.kind).is_some()
        } else {
            self.kinds.iter().any(|k| k == "*" || *k == req.kind.kind)
        };
        kind_ok
            && self
                .own_namespace
                .as_ref()
                .is_none_or(|ns| *ns == req.namespace)
            && (self.namespaces.is_empty() || self.namespaces.matches(&req.namespace))
            && !self.exclude_namespaces.matches(&req.namespace)
            && self
                .selector
                .as_ref()
                .is_none_or(|s| s.matches(req.labels()))
            && !self.usernames.matches(&req.username)
            && !req.groups.iter().any(|g| self.groups.matches(g))
    }

    /// Whether image checks skip `image`.
    pub fn excludes_image(&self, image: &str) -> bool {
        self.images.matches_image(image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn globs(p: &[&str]) -> GlobList {
        GlobList::new(
            "images",
            &p.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn image_globs() {
        let g = globs(&["127.0.0.1:*/**", "ghcr.io/acme/*", "docker.io/library/*"]);
        assert!(g.matches_image("127.0.0.1:5000/app:dev"));
        assert!(g.matches_image("127.0.0.1:5000/team/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"));
        assert!(g.matches_image("ghcr.io/acme/app:1.0"));
        assert!(
            !g.matches_image("ghcr.io/acme/team/app:1.0"),
            "* stays in one segment"
        );
        assert!(!g.matches_image("ghcr.io/other/app:1.0"));
        assert!(
            g.matches_image("nginx"),
            "normalised to docker.io/library/nginx"
        );
        assert!(!globs(&[]).matches_image("nginx"));
        assert!(GlobList::new("images", &["a[".into()]).is_err());
    }

    #[test]
    fn selectors() {
        let spec: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]},
                                  {"key": "legacy", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        let s = Selector::new(&spec).unwrap();
        let labels = |v: Value| v.as_object().cloned();
        assert!(s.matches(labels(json!({"app": "web", "tier": "fe"})).as_ref()));
        assert!(!s.matches(labels(json!({"app": "web", "tier": "db"})).as_ref()));
        assert!(!s.matches(labels(json!({"app": "web", "tier": "fe", "legacy": "1"})).as_ref()));
        assert!(!s.matches(None));
        let bad: LabelSelector =
            serde_json::from_value(json!({"matchExpressions": [{"key": "a", "operator": "In"}]}))
                .unwrap();
        assert!(Selector::new(&bad).is_err());
    }

    #[test]
    fn applies_to_kinds_namespaces_and_users() {
        let m: MatchSpec = serde_json::from_value(
            json!({"namespaces": ["team-*"], "excludeNamespaces": ["team-ops"]}),
        )
        .unwrap();
        let x: ExcludeSpec = serde_json::from_value(
            json!({"usernames": ["system:serviceaccount:kube-system:*"], "groups": ["admins"]}),
        )
        .unwrap();
        let m = Matcher::new(&m, &x).unwrap();
        let mut req = Request::from_manifest(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "team-a"}}),
        )
        .unwrap();
        assert!(m.applies(&req));
        req.namespace = "team-ops".into();
        assert!(!m.applies(&req));
        req.namespace = "team-b".into();
        req.username = "system:serviceaccount:kube-system:replicaset-controller".into();
        assert!(!m.applies(&req));
        req.username = "alice".into();
        req.groups = vec!["admins".into()];
        assert!(!m.applies(&req));
        req.groups.clear();
        req.kind.kind = "Service".into();
        assert!(!m.applies(&req), "default kinds are the workload kinds");
    }
}
