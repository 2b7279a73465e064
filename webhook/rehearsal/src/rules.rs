//! Webhook `rules` matching (`RuleWithOperations`), as the API server decides whether a request
//! is sent to a webhook at all: operations, apiGroups, apiVersions (each with `*`), resources
//! with subresources (`pods`, `pods/*`, `*/scale`, `*`, `*/*`; a `*` also matches no
//! subresource, as in the API server's matcher) and scope (`Cluster`,
//! `Namespaced`, `*`). A webhook matches when any one of its rules matches.
//!
//! It matches the request's own group/version/resource only: `matchPolicy: Equivalent` would
//! also send a request that a rule names under another, equivalent API version (e.g.
//! `extensions/v1beta1` deployments for an `apps/v1` request); that conversion is not modelled.

use k8s_openapi::api::admissionregistration::v1::RuleWithOperations;

/// What a request is about, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAttrs {
    /// API group, empty for the core group.
    pub group: String,
    pub version: String,
    /// Plural resource name, e.g. `deployments`.
    pub resource: String,
    /// Subresource, empty for the main resource (e.g. `ephemeralcontainers`, `scale`).
    pub subresource: String,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// Whether the resource is namespaced.
    pub namespaced: bool,
}

fn listed(list: Option<&Vec<String>>, value: &str) -> bool {
    list.is_some_and(|l| l.iter().any(|v| v == "*" || v == value))
}

fn resource_listed(list: Option<&Vec<String>>, resource: &str, subresource: &str) -> bool {
    // As the API server's matcher: split `res/sub` (no slash: sub is empty), `*` on either
    // side matches anything there, including an empty subresource.
    list.is_some_and(|l| {
        l.iter().any(|r| {
            let (res, sub) = r.split_once('/').unwrap_or((r.as_str(), ""));
            (res == "*" || res == resource) && (sub == "*" || sub == subresource)
        })
    })
}

/// Whether one rule matches the request.
pub fn rule_matches(rule: &RuleWithOperations, attrs: &RequestAttrs) -> bool {
    let scope_ok = match rule.scope.as_deref().unwrap_or("*") {
        "Cluster" => !attrs.namespaced,
        "Namespaced" => attrs.namespaced,
        _ => true,
    };
    scope_ok
        && listed(rule.operations.as_ref(), &attrs.operation)
        && listed(rule.api_groups.as_ref(), &attrs.group)
        && listed(rule.api_versions.as_ref(), &attrs.version)
        && resource_listed(rule.resources.as_ref(), &attrs.resource, &attrs.subresource)
}

/// Whether any rule matches (no rules: nothing matches, as in Kubernetes).
pub fn any_rule_matches(rules: &[RuleWithOperations], attrs: &RequestAttrs) -> bool {
    rules.iter().any(|r| rule_matches(r, attrs))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: serde_json::Value) -> RuleWithOperations {
        serde_json::from_value(v).unwrap()
    }

    fn attrs(group: &str, resource: &str, sub: &str, op: &str, namespaced: bool) -> RequestAttrs {
        RequestAttrs {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: sub.into(),
            operation: op.into(),
            namespaced,
        }
    }

    /// The first rule of the rendered webhook configurations.
    fn core_rule() -> RuleWithOperations {
        rule(
            json!({"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
            "resources": ["pods", "pods/ephemeralcontainers", "replicationcontrollers"],
            "scope": "Namespaced"}),
        )
    }

    #[test]
    fn rendered_core_rule_matches_pods_and_their_ephemeral_containers_only() {
        let r = core_rule();
        assert!(rule_matches(&r, &attrs("", "pods", "", "CREATE", true)));
        assert!(rule_matches(&r, &attrs("", "pods", "", "UPDATE", true)));
        assert!(rule_matches(
            &r,
            &attrs("", "pods", "ephemeralcontainers", "UPDATE", true)
        ));
        assert!(rule_matches(
            &r,
            &attrs("", "replicationcontrollers", "", "CREATE", true)
        ));
        // Not listed: other subresources, DELETE, other groups, cluster scope.
        assert!(!rule_matches(
            &r,
            &attrs("", "pods", "status", "UPDATE", true)
        ));
        assert!(!rule_matches(&r, &attrs("", "pods", "", "DELETE", true)));
        assert!(!rule_matches(
            &r,
            &attrs("apps", "pods", "", "CREATE", true)
        ));
        assert!(!rule_matches(&r, &attrs("", "pods", "", "CREATE", false)));
        let mut v1beta1 = attrs("", "pods", "", "CREATE", true);
        v1beta1.version = "v1beta1".into();
        assert!(!rule_matches(&r, &v1beta1));
    }

    #[test]
    fn wildcards_and_subresource_forms() {
        let all = rule(
            json!({"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"],
            "resources": ["*"]}),
        );
        assert!(rule_matches(
            &all,
            &attrs("apps", "deployments", "", "DELETE", true)
        ));
        assert!(rule_matches(
            &all,
            &attrs("", "namespaces", "", "CREATE", false)
        ));
        // `*` is every resource but no subresource; `*/*` is both.
        assert!(!rule_matches(
            &all,
            &attrs("apps", "deployments", "scale", "UPDATE", true)
        ));
        let mut all_sub = all.clone();
        all_sub.resources = Some(vec!["*/*".into()]);
        assert!(rule_matches(
            &all_sub,
            &attrs("apps", "deployments", "scale", "UPDATE", true)
        ));
        assert!(rule_matches(
            &all_sub,
            &attrs("apps", "deployments", "", "UPDATE", true)
        ));
        let mut scale = all.clone();
        scale.resources = Some(vec!["*/scale".into()]);
        assert!(rule_matches(
            &scale,
            &attrs("apps", "statefulsets", "scale", "UPDATE", true)
        ));
        assert!(!rule_matches(
            &scale,
            &attrs("apps", "statefulsets", "", "UPDATE", true)
        ));
        let mut pods_sub = all.clone();
        pods_sub.resources = Some(vec!["pods/*".into()]);
        assert!(rule_matches(
            &pods_sub,
            &attrs("", "pods", "exec", "CONNECT", true)
        ));
        // The API server's matcher lets `*` match an empty subresource too.
        assert!(rule_matches(
            &pods_sub,
            &attrs("", "pods", "", "CREATE", true)
        ));
        assert!(!rule_matches(
            &pods_sub,
            &attrs("", "services", "", "CREATE", true)
        ));
        let mut cluster = all.clone();
        cluster.scope = Some("Cluster".into());
        assert!(!rule_matches(
            &cluster,
            &attrs("apps", "deployments", "", "CREATE", true)
        ));
        assert!(rule_matches(
            &cluster,
            &attrs("", "namespaces", "", "CREATE", false)
        ));
    }

    #[test]
    fn no_rules_match_nothing() {
        assert!(!any_rule_matches(
            &[],
            &attrs("", "pods", "", "CREATE", true)
        ));
        let empty = rule(json!({}));
        assert!(!rule_matches(
            &empty,
            &attrs("", "pods", "", "CREATE", true)
        ));
    }
}
