//! Label selectors (`metav1.LabelSelector`) as the API server evaluates a webhook's
//! `namespaceSelector` and `objectSelector`: `matchLabels` and `matchExpressions` are ANDed, the
//! operators are `In`, `NotIn`, `Exists` and `DoesNotExist`, and an empty (or absent) selector
//! matches everything.
//!
//! A selector the API server would have refused when the configuration was created (unknown
//! operator, `In` without values, `Exists` with values) is a [`SelectorError`] here, reported as
//! bad input. It does not implement set-based selector strings (`a in (x,y)`): only the structured
//! form that webhook configurations use.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A selector that is not valid Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error(
        "matchExpressions[{index}]: unknown operator {operator:?} (In, NotIn, Exists, DoesNotExist)"
    )]
    UnknownOperator { index: usize, operator: String },
    #[error(
        "matchExpressions[{index}] ({key} {operator}): values must be non-empty for In and NotIn"
    )]
    MissingValues {
        index: usize,
        key: String,
        operator: String,
    },
    #[error(
        "matchExpressions[{index}] ({key} {operator}): values must be empty for Exists and DoesNotExist"
    )]
    UnexpectedValues {
        index: usize,
        key: String,
        operator: String,
    },
}

/// Labels of an object (`metadata.labels`).
pub type Labels = BTreeMap<String, String>;

/// Reads `metadata.labels` of a JSON object (non-string values are ignored, as they cannot occur
/// in a valid object).
pub fn labels_of(object: &serde_json::Value) -> Labels {
    object
        .pointer("/metadata/labels")
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks that `selector` is one the API server accepts.
pub fn validate(selector: &LabelSelector) -> Result<(), SelectorError> {
    for (index, e) in selector.match_expressions.iter().flatten().enumerate() {
        let has_values = e.values.as_ref().is_some_and(|v| !v.is_empty());
        let err_fields = || (index, e.key.clone(), e.operator.clone());
        match e.operator.as_str() {
            "In" | "NotIn" if !has_values => {
                let (index, key, operator) = err_fields();
                return Err(SelectorError::MissingValues {
                    index,
                    key,
                    operator,
                });
            }
            "Exists" | "DoesNotExist" if has_values => {
                let (index, key, operator) = err_fields();
                return Err(SelectorError::UnexpectedValues {
                    index,
                    key,
                    operator,
                });
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => {
                return Err(SelectorError::UnknownOperator {
                    index,
                    operator: other.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Whether `labels` satisfy `selector` (`None` matches everything, like `{}`).
pub fn matches(selector: Option<&LabelSelector>, labels: &Labels) -> Result<bool, SelectorError> {
    let Some(selector) = selector else {
        return Ok(true);
    };
    validate(selector)?;
    for (key, value) in selector.match_labels.iter().flatten() {
        if labels.get(key) != Some(value) {
            return Ok(false);
        }
    }
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default();
        let found = labels.get(&e.key);
        let ok = match e.operator.as_str() {
            "In" => found.is_some_and(|v| values.contains(v)),
            // NotIn also matches objects without the key, as in Kubernetes.
            "NotIn" => found.is_none_or(|v| !values.contains(v)),
            "Exists" => found.is_some(),
            _ => found.is_none(), // DoesNotExist (validated above)
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: serde_json::Value) -> LabelSelector {
        serde_json::from_value(v).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The rendered webhooks' namespaceSelector.
    fn webhook_namespace_selector() -> LabelSelector {
        sel(json!({"matchExpressions": [
            {"key": "portcullis.dev/enforce", "operator": "In", "values": ["true"]},
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
             "values": ["kube-system", "portcullis-system"]}
        ]}))
    }

    #[test]
    fn opted_in_namespace_matches_and_system_namespaces_never_do() {
        let s = webhook_namespace_selector();
        let jobs = labels(&[
            ("portcullis.dev/enforce", "true"),
            ("kubernetes.io/metadata.name", "jobs"),
        ]);
        assert!(matches(Some(&s), &jobs).unwrap());
        let kube_system = labels(&[
            ("portcullis.dev/enforce", "true"),
            ("kubernetes.io/metadata.name", "kube-system"),
        ]);
        assert!(!matches(Some(&s), &kube_system).unwrap());
        let not_opted_in = labels(&[("kubernetes.io/metadata.name", "default")]);
        assert!(!matches(Some(&s), &not_opted_in).unwrap());
        let opted_out = labels(&[("portcullis.dev/enforce", "false")]);
        assert!(!matches(Some(&s), &opted_out).unwrap());
    }

    #[test]
    fn operators_follow_kubernetes_semantics() {
        let l = labels(&[("tier", "web"), ("team", "a")]);
        let m = |v| matches(Some(&sel(v)), &l).unwrap();
        assert!(m(json!({"matchLabels": {"tier": "web"}})));
        assert!(!m(json!({"matchLabels": {"tier": "db"}})));
        assert!(!m(json!({"matchLabels": {"tier": "web", "absent": "x"}})));
        assert!(m(
            json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db", "web"]}]})
        ));
        assert!(!m(
            json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]})
        ));
        assert!(m(
            json!({"matchExpressions": [{"key": "absent", "operator": "NotIn", "values": ["x"]}]})
        ));
        assert!(!m(
            json!({"matchExpressions": [{"key": "absent", "operator": "In", "values": ["x"]}]})
        ));
        assert!(m(
            json!({"matchExpressions": [{"key": "team", "operator": "Exists"}]})
        ));
        assert!(!m(
            json!({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]})
        ));
        assert!(m(
            json!({"matchExpressions": [{"key": "absent", "operator": "DoesNotExist"}]})
        ));
        // matchLabels and matchExpressions are ANDed.
        assert!(!m(json!({"matchLabels": {"tier": "web"},
            "matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]})));
        // Empty and absent selectors match everything, even an object without labels.
        assert!(m(json!({})));
        assert!(matches(None, &Labels::new()).unwrap());
        assert!(matches(Some(&sel(json!({}))), &Labels::new()).unwrap());
    }

    #[test]
    fn invalid_selectors_are_errors_not_mismatches() {
        let l = Labels::new();
        let e = matches(
            Some(&sel(
                json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}),
            )),
            &l,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown operator \"Equals\""), "{e}");
        let e = matches(
            Some(&sel(
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            )),
            &l,
        )
        .unwrap_err();
        assert!(matches!(e, SelectorError::MissingValues { .. }), "{e}");
        let e = matches(
            Some(&sel(
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            )),
            &l,
        )
        .unwrap_err();
        assert!(matches!(e, SelectorError::UnexpectedValues { .. }), "{e}");
    }
}
