//! Compiling a [`ConditionSpec`] into a [`Condition`]: the JSONPath parsed, the operator checked
//! against the measure, the expected value turned into what the comparison needs (a number, a
//! duration, a regex), group members compiled in turn with their location for error messages.

use jsonpath_rust::parser::parse_json_path;
use regex::Regex;
use serde_json::Value;

use super::measure::{self, Cmp, Duration};
use super::{Check, Condition, ConditionError, ConditionSpec, Measure, Node, Operator};

/// Compiles the members of a group, each located for error messages.
pub(super) fn members(
    specs: &[ConditionSpec],
    at: &str,
    group: &str,
) -> Result<Vec<Condition>, ConditionError> {
    let prefix = if at.is_empty() {
        group.to_string()
    } else {
        format!("{at}.{group}")
    };
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| Condition::compile_at(s.clone(), &format!("{prefix}[{i}]")))
        .collect()
}

/// A comparison node; `Err(None)` when path or operator is missing.
pub(super) fn compile_compare(spec: &ConditionSpec) -> Result<Node, Option<ConditionError>> {
    let Some(operator) = spec.operator.filter(|_| !spec.path.is_empty()) else {
        return Err(None);
    };
    let query = parse_json_path(&spec.path).map_err(|e| ConditionError::Path {
        path: spec.path.clone(),
        message: e.to_string(),
    })?;
    let missing = |needs| ConditionError::MissingValue {
        path: spec.path.clone(),
        op: operator.symbol(),
        needs,
    };
    let measure_err = |allowed| ConditionError::Measure {
        path: spec.path.clone(),
        measure: spec.measure.name(),
        op: operator.symbol(),
        allowed,
    };
    let number = || spec.value.as_ref().and_then(measure::number);
    let check = match (spec.measure, operator) {
        (Measure::Count, op) => {
            let cmp = op
                .cmp()
                .ok_or_else(|| measure_err("==, !=, <, <=, >, >="))?;
            Check::Count(cmp, number().ok_or_else(|| missing("a number value"))?)
        }
        (Measure::Age, op) => {
            let cmp = op
                .cmp()
                .filter(|c| !matches!(c, Cmp::Eq | Cmp::Ne))
                .ok_or_else(|| measure_err("<, <=, >, >="))?;
            let duration = spec
                .value
                .as_ref()
                .and_then(Value::as_str)
                .and_then(Duration::parse)
                .ok_or_else(|| {
                    missing(
                        "a duration value such as 7d (a whole number and one unit of s, m, h, d)",
                    )
                })?;
            Check::Age(cmp, duration)
        }
        (Measure::Value, Operator::Equals) => {
            Check::Equals(spec.value.clone().ok_or_else(|| missing("value"))?)
        }
        (Measure::Value, Operator::NotEquals) => {
            Check::NotEquals(spec.value.clone().ok_or_else(|| missing("value"))?)
        }
        (Measure::Value, Operator::In) if spec.values.is_empty() => {
            return Err(Some(missing("values")));
        }
        (Measure::Value, Operator::In) => Check::In(spec.values.clone()),
        (Measure::Value, Operator::Matches) => {
            let pattern = match &spec.value {
                Some(Value::String(p)) => p.clone(),
                _ => return Err(Some(missing("a string value (the regex)"))),
            };
            Check::Matches(Regex::new(&pattern).map_err(|e| ConditionError::Regex {
                path: spec.path.clone(),
                pattern: pattern.clone(),
                message: e.to_string(),
            })?)
        }
        (Measure::Value, Operator::Exists) => Check::Exists,
        (Measure::Value, Operator::NotExists) => Check::NotExists,
        (Measure::Value, op) => {
            let cmp = op.cmp().ok_or_else(|| missing("a number value"))?;
            Check::Number(cmp, number().ok_or_else(|| missing("a number value"))?)
        }
    };
    Ok(Node::Compare {
        query: Box::new(query),
        check,
    })
}
