//! Custom rules: a named JSONPath condition (the verifier's `Condition`, the same operators as
//! attestation conditions) that must hold on the admitted object.
//!
//! The path is evaluated from the object root (`$.metadata.labels.team`,
//! `$.spec.template.spec.containers[*].imagePullPolicy`), so one rule can target any kind listed
//! in the policy's `match.kinds`, not only workloads.

use portcullis_verifier_types::condition::ConditionError;
use portcullis_verifier_types::{Condition, ConditionSpec};
use serde_json::Value;

use crate::decision::Finding;
use crate::spec::RuleSpec;

/// A rule that does not compile.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("rules[{index}] ({name}): {source}")]
pub struct RuleError {
    pub index: usize,
    pub name: String,
    #[source]
    pub source: ConditionError,
}

/// A compiled custom rule.
#[derive(Debug, Clone)]
pub struct Rule {
    name: String,
    message: Option<String>,
    condition: Condition,
}

impl Rule {
    pub fn new(index: usize, spec: &RuleSpec) -> Result<Self, RuleError> {
        let condition = Condition::compile(ConditionSpec {
            value: spec.value.clone(),
            values: spec.values.clone(),
            ..ConditionSpec::compare(&spec.path, spec.operator)
        })
        .map_err(|source| RuleError {
            index,
            name: spec.name.clone(),
            source,
        })?;
        Ok(Self {
            name: spec.name.clone(),
            message: spec.message.clone(),
            condition,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn evaluate(&self, object: &Value) -> Option<Finding> {
        let failure = self.condition.evaluate(object).err()?;
        let path = failure.path.trim_start_matches('$').trim_start_matches('.');
        let message = self
            .message
            .clone()
            .unwrap_or_else(|| format!("rule {} failed", self.name));
        Some(
            Finding::new(&self.name, path, message.clone())
                .expected(failure.expected, failure.actual)
                .fix(message),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(spec: Value) -> Result<Rule, RuleError> {
        Rule::new(0, &serde_json::from_value(spec).unwrap())
    }

    #[test]
    fn evaluates_on_the_object() {
        let r = rule(
            json!({"name": "team-label", "path": "$.metadata.labels.team", "operator": "exists",
            "message": "add a team label"}),
        )
        .unwrap();
        assert!(
            r.evaluate(&json!({"metadata": {"labels": {"team": "a"}}}))
                .is_none()
        );
        let f = r.evaluate(&json!({"metadata": {}})).unwrap();
        assert_eq!(
            (f.rule.as_str(), f.path.as_str()),
            ("team-label", "metadata.labels.team")
        );
        assert_eq!(
            (f.expected.as_str(), f.actual.as_str()),
            ("a value", "nothing")
        );
        assert_eq!(f.fix, "add a team label");
    }

    #[test]
    fn compile_errors_name_the_rule() {
        let err = rule(json!({"name": "r", "path": "$.a", "operator": "equals"})).unwrap_err();
        assert!(err.to_string().starts_with("rules[0] (r):"), "{err}");
    }
}
