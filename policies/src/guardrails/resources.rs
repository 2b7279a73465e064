//! Resource guardrails: required requests/limits, maximums, and limit/request ratios, checked per
//! init and regular container. Ephemeral containers are exempt: the API forbids resources there.
//!
//! A request that is unset but has a limit counts as equal to the limit, because the API server
//! defaults it so before the pod is stored; a policy demanding `requests.cpu` is therefore met by
//! `limits.cpu` alone, exactly as the scheduler will see it.

use serde_json::Value;

use crate::catalog;
use crate::decision::Finding;
use crate::psa::{dig, show};
use crate::quantity::{Quantity, QuantityError};
use crate::spec::ResourcesSpec;
use crate::workload::{ContainerList, ContainerRef, Workload};

/// A bad quantity in a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resources.{field}.{resource}: {source}")]
pub struct ResourcesError {
    pub field: &'static str,
    pub resource: String,
    #[source]
    pub source: QuantityError,
}

/// Compiled resource rules.
#[derive(Debug, Clone)]
pub struct ResourceRules {
    require_requests: Vec<String>,
    require_limits: Vec<String>,
    max_requests: Vec<(String, String, Quantity)>,
    max_limits: Vec<(String, String, Quantity)>,
    max_ratio: Vec<(String, String, Quantity)>,
}

fn parse_map(
    field: &'static str,
    map: &std::collections::BTreeMap<String, crate::spec::QuantityValue>,
) -> Result<Vec<(String, String, Quantity)>, ResourcesError> {
    map.iter()
        .map(|(res, q)| {
            Quantity::parse(&q.0)
                .map(|parsed| (res.clone(), q.0.clone(), parsed))
                .map_err(|source| ResourcesError {
                    field,
                    resource: res.clone(),
                    source,
                })
        })
        .collect()
}

impl ResourceRules {
    pub fn new(spec: &ResourcesSpec) -> Result<Self, ResourcesError> {
        Ok(Self {
            require_requests: spec.require_requests.clone(),
            require_limits: spec.require_limits.clone(),
            max_requests: parse_map("maxRequests", &spec.max_requests)?,
            max_limits: parse_map("maxLimits", &spec.max_limits)?,
            max_ratio: parse_map("maxLimitRequestRatio", &spec.max_limit_request_ratio)?,
        })
    }

    /// The rules this configuration checks (invalid quantities only where a maximum reads one).
    pub(crate) fn rule_ids(&self) -> Vec<&'static str> {
        let maxima = !self.max_requests.is_empty() || !self.max_limits.is_empty();
        [
            (catalog::REQUIRE_REQUESTS, !self.require_requests.is_empty()),
            (catalog::REQUIRE_LIMITS, !self.require_limits.is_empty()),
            (catalog::MAX_REQUESTS, !self.max_requests.is_empty()),
            (catalog::MAX_LIMITS, !self.max_limits.is_empty()),
            (catalog::MAX_LIMIT_REQUEST_RATIO, !self.max_ratio.is_empty()),
            (catalog::INVALID_QUANTITY, maxima),
        ]
        .into_iter()
        .filter_map(|(id, on)| on.then_some(id))
        .collect()
    }

    pub(crate) fn evaluate(&self, w: &Workload<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for list in [ContainerList::Init, ContainerList::Regular] {
            for c in w.containers_in(list) {
                self.container(&c, &mut out);
            }
        }
        out
    }

    fn container(&self, c: &ContainerRef<'_>, out: &mut Vec<Finding>) {
        let res = c.value.get("resources");
        let raw = |kind: &str, name: &str| dig(res, &[kind, name]);
        // Requests default to limits on the API server.
        let request = |name: &str| raw("requests", name).or_else(|| raw("limits", name));
        // What applies for `kind` (`requests` or `limits`).
        let effective = |kind: &str, name: &str| {
            if kind == "requests" {
                request(name)
            } else {
                raw(kind, name)
            }
        };
        let path = |kind: &str, name: &str| c.path.keys(&["resources", kind]).key(name);

        for (rule, kind, noun, required) in [
            (
                catalog::REQUIRE_REQUESTS,
                "requests",
                "request",
                &self.require_requests,
            ),
            (
                catalog::REQUIRE_LIMITS,
                "limits",
                "limit",
                &self.require_limits,
            ),
        ] {
            for name in required {
                if effective(kind, name).is_none() {
                    out.push(
                        Finding::new(rule, path(kind, name), format!("{name} {noun} required"))
                            .container(c.name)
                            .expected(format!("resources.{kind}.{name} set"), "unset")
                            .fix(format!("set resources.{kind}.{name}")),
                    );
                }
            }
        }
        let parsed = |v: Option<&Value>| -> Option<Result<Quantity, String>> {
            let v = v?;
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(Quantity::parse(&text).map_err(|_| text))
        };
        for (rule, kind, maxima) in [
            (catalog::MAX_REQUESTS, "requests", &self.max_requests),
            (catalog::MAX_LIMITS, "limits", &self.max_limits),
        ] {
            for (name, written, max) in maxima {
                let value = effective(kind, name);
                match parsed(value) {
                    Some(Ok(q)) if q > *max => out.push(
                        Finding::new(
                            rule,
                            path(kind, name),
                            format!("{name} {kind} above maximum"),
                        )
                        .container(c.name)
                        .expected(format!("at most {written}"), show(value))
                        .fix(format!(
                            "lower resources.{kind}.{name} to {written} or less"
                        )),
                    ),
                    Some(Err(text)) => out.push(invalid(c, path(kind, name), &text)),
                    _ => {}
                }
            }
        }
        for (name, written, ratio) in &self.max_ratio {
            let (Some(Ok(limit)), Some(Ok(req))) =
                (parsed(raw("limits", name)), parsed(request(name)))
            else {
                continue;
            };
            if limit.ratio_exceeds(&req, ratio) {
                out.push(
                    Finding::new(
                        catalog::MAX_LIMIT_REQUEST_RATIO,
                        path("limits", name),
                        format!("{name} limit/request ratio too high"),
                    )
                    .container(c.name)
                    .expected(
                        format!("limit ≤ {written} × request ({req})"),
                        limit.to_string(),
                    )
                    .fix(format!(
                        "raise resources.requests.{name} or lower resources.limits.{name}"
                    )),
                );
            }
        }
    }
}

fn invalid(c: &ContainerRef<'_>, path: crate::path::FieldPath, text: &str) -> Finding {
    Finding::new(catalog::INVALID_QUANTITY, path, "not a quantity")
        .container(c.name)
        .expected("a Kubernetes quantity", text)
        .fix("write the quantity like 500m, 2 or 128Mi")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadKind;
    use serde_json::json;

    fn rules(spec: Value) -> ResourceRules {
        ResourceRules::new(&serde_json::from_value(spec).unwrap()).unwrap()
    }

    fn findings(r: &ResourceRules, resources: Value) -> Vec<Finding> {
        let pod = WorkloadKind::Pod.wrap(
            "p",
            json!({}),
            json!({"containers": [{"name": "a", "image": "x", "resources": resources}],
            "ephemeralContainers": [{"name": "dbg", "image": "x"}]}),
        );
        let w = Workload::locate(WorkloadKind::Pod, &pod).unwrap();
        r.evaluate(&w)
    }

    fn run(r: &ResourceRules, resources: Value) -> Vec<String> {
        findings(r, resources)
            .into_iter()
            .map(|f| format!("{} {}", f.rule, f.path))
            .collect()
    }

    #[test]
    fn a_missing_request_or_limit_says_what_to_set() {
        let r = rules(json!({"requireRequests": ["cpu"], "requireLimits": ["memory"]}));
        let said: Vec<(String, String)> = findings(&r, json!({}))
            .into_iter()
            .map(|f| (f.message.clone(), f.into_reason("p").to_string()))
            .collect();
        assert_eq!(
            said,
            [
                (
                    "cpu request required".to_string(),
                    "p/resources.requireRequests: container \"a\" (spec.containers[0].resources.requests.cpu): expected resources.requests.cpu set, found unset — set resources.requests.cpu".to_string()
                ),
                (
                    "memory limit required".to_string(),
                    "p/resources.requireLimits: container \"a\" (spec.containers[0].resources.limits.memory): expected resources.limits.memory set, found unset — set resources.limits.memory".to_string()
                ),
            ]
        );
    }

    #[test]
    fn required_maximum_and_ratio() {
        let r = rules(
            json!({"requireRequests": ["cpu", "memory"], "requireLimits": ["memory"],
            "maxLimits": {"memory": "1Gi"}, "maxRequests": {"cpu": 2}, "maxLimitRequestRatio": {"cpu": "2"}}),
        );
        assert_eq!(
            run(&r, json!({})),
            [
                "resources.requireRequests spec.containers[0].resources.requests.cpu",
                "resources.requireRequests spec.containers[0].resources.requests.memory",
                "resources.requireLimits spec.containers[0].resources.limits.memory",
            ]
        );
        assert!(
            run(
                &r,
                json!({"requests": {"cpu": "500m"}, "limits": {"memory": "512Mi", "cpu": "1"}})
            )
            .is_empty()
        );
        assert_eq!(
            run(
                &r,
                json!({"requests": {"cpu": "3", "memory": "1"}, "limits": {"memory": "2Gi"}})
            ),
            [
                "resources.maxRequests spec.containers[0].resources.requests.cpu",
                "resources.maxLimits spec.containers[0].resources.limits.memory",
            ]
        );
        assert_eq!(
            run(
                &r,
                json!({"requests": {"cpu": "100m", "memory": "1"}, "limits": {"cpu": "300m", "memory": "1"}})
            ),
            ["resources.maxLimitRequestRatio spec.containers[0].resources.limits.cpu"]
        );
        assert_eq!(
            run(
                &r,
                json!({"limits": {"memory": "lots", "cpu": "1"}, "requests": {"memory": "1"}})
            ),
            ["resources.invalidQuantity spec.containers[0].resources.limits.memory"]
        );
    }

    #[test]
    fn bad_policy_quantity_is_an_error() {
        let err = ResourceRules::new(
            &serde_json::from_value(json!({"maxLimits": {"cpu": "two"}})).unwrap(),
        )
        .unwrap_err();
        assert_eq!(err.resource, "cpu");
        assert!(err.to_string().contains("maxLimits.cpu"));
    }
}
