//! Predicate conditions: a JSONPath, an operator and an expected value, evaluated on a JSON
//! document (an attestation predicate, or a Kubernetes object for custom policy rules).
//!
//! A condition is parsed once (at policy load or CLI start) into a compiled [`Condition`]; its
//! evaluation never re-parses the path. Failure is a value ([`ConditionFailure`]) that names the
//! path, what was expected and what was found, so callers can show it to a human as is.
//!
//! Semantics, chosen to be unsurprising for policy authors:
//! - `equals` / `not-equals`: every value the path selects must (not) equal the expected value.
//!   Strings compare to strings; a non-string expected value compares as JSON.
//! - `in`: every selected value must be one of the expected values.
//! - `matches`: every selected value must be a string matching the regex (anchored by the author).
//! - `exists` / `not-exists`: the path selects at least one / no value.
//!
//! A path that selects nothing fails every operator except `not-exists`.

use std::fmt;

use jsonpath_rust::parser::{model::JpQuery, parse_json_path};
use jsonpath_rust::query::js_path_process;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The comparison a condition applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    Matches,
    Exists,
    NotExists,
}

impl Operator {
    fn symbol(self) -> &'static str {
        match self {
            Operator::Equals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::Matches => "=~",
            Operator::Exists => "exists",
            Operator::NotExists => "not-exists",
        }
    }
}

/// A condition as written in a policy file or on the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionSpec {
    /// JSONPath, e.g. `$.buildDefinition.externalParameters.workflow.repository`.
    pub path: String,
    pub operator: Operator,
    /// Expected value for `equals`/`not-equals` (any JSON), the regex for `matches`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Allowed values for `in`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Value>,
}

/// A parse error for a condition; the message says what to write instead.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConditionError {
    #[error(
        "condition {text:?}: expected 'JSONPATH OP VALUE' with OP one of ==, !=, in, =~, exists, not-exists"
    )]
    Syntax { text: String },
    #[error("condition path {path:?} is not valid JSONPath: {message}")]
    Path { path: String, message: String },
    #[error("condition on {path}: operator '{op}' needs {needs}")]
    MissingValue {
        path: String,
        op: &'static str,
        needs: &'static str,
    },
    #[error("condition on {path}: {pattern:?} is not a valid regex: {message}")]
    Regex {
        path: String,
        pattern: String,
        message: String,
    },
}

/// Why a condition did not hold, phrased for a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionFailure {
    pub path: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for ConditionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, found {}",
            self.path, self.expected, self.actual
        )
    }
}

#[derive(Debug, Clone)]
enum Check {
    Equals(Value),
    NotEquals(Value),
    In(Vec<Value>),
    Matches(Regex),
    Exists,
    NotExists,
}

/// A compiled condition: the JSONPath is parsed and the regex built once.
#[derive(Debug, Clone)]
pub struct Condition {
    spec: ConditionSpec,
    query: JpQuery,
    check: Check,
}

impl Condition {
    /// Compiles a condition from its policy-file form.
    pub fn compile(spec: ConditionSpec) -> Result<Self, ConditionError> {
        let query = parse_json_path(&spec.path).map_err(|e| ConditionError::Path {
            path: spec.path.clone(),
            message: e.to_string(),
        })?;
        let missing = |needs| ConditionError::MissingValue {
            path: spec.path.clone(),
            op: spec.operator.symbol(),
            needs,
        };
        let check = match spec.operator {
            Operator::Equals => Check::Equals(spec.value.clone().ok_or_else(|| missing("value"))?),
            Operator::NotEquals => {
                Check::NotEquals(spec.value.clone().ok_or_else(|| missing("value"))?)
            }
            Operator::In if spec.values.is_empty() => return Err(missing("values")),
            Operator::In => Check::In(spec.values.clone()),
            Operator::Matches => {
                let pattern = match &spec.value {
                    Some(Value::String(p)) => p.clone(),
                    _ => return Err(missing("a string value (the regex)")),
                };
                Check::Matches(Regex::new(&pattern).map_err(|e| ConditionError::Regex {
                    path: spec.path.clone(),
                    pattern: pattern.clone(),
                    message: e.to_string(),
                })?)
            }
            Operator::Exists => Check::Exists,
            Operator::NotExists => Check::NotExists,
        };
        Ok(Self { spec, query, check })
    }

    /// Parses the command-line form `JSONPATH OP VALUE`, e.g.
    /// `$.builder.id == https://github.com/actions/runner` or `$.x in [1,2]` or `$.y exists`.
    /// A value that parses as JSON is taken as JSON, otherwise as a plain string.
    pub fn parse(text: &str) -> Result<Self, ConditionError> {
        let syntax = || ConditionError::Syntax {
            text: text.to_string(),
        };
        let trimmed = text.trim();
        let (path, rest) = split_path(trimmed).ok_or_else(syntax)?;
        let rest = rest.trim_start();
        let (op_token, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let value = value.trim();
        let operator = match op_token {
            "==" => Operator::Equals,
            "!=" => Operator::NotEquals,
            "in" => Operator::In,
            "=~" | "matches" => Operator::Matches,
            "exists" => Operator::Exists,
            "not-exists" => Operator::NotExists,
            _ => return Err(syntax()),
        };
        let parsed = |v: &str| serde_json::from_str::<Value>(v).unwrap_or(Value::String(v.into()));
        let mut spec = ConditionSpec {
            path: path.to_string(),
            operator,
            value: None,
            values: Vec::new(),
        };
        match operator {
            Operator::Exists | Operator::NotExists if !value.is_empty() => return Err(syntax()),
            Operator::Exists | Operator::NotExists => {}
            Operator::In => {
                spec.values = match parsed(value) {
                    Value::Array(items) => items,
                    _ => value
                        .split(',')
                        .map(|v| parsed(v.trim()))
                        .filter(|v| v != &Value::String(String::new()))
                        .collect(),
                }
            }
            Operator::Matches => spec.value = Some(Value::String(value.to_string())),
            Operator::Equals | Operator::NotEquals if value.is_empty() => return Err(syntax()),
            Operator::Equals | Operator::NotEquals => spec.value = Some(parsed(value)),
        }
        Self::compile(spec)
    }

    /// The condition as written, for reports and cache fingerprints.
    pub fn spec(&self) -> &ConditionSpec {
        &self.spec
    }

    /// Evaluates the condition on `doc`.
    pub fn evaluate(&self, doc: &Value) -> Result<(), ConditionFailure> {
        // A query error means the path cannot apply to this document: treat as "selects nothing".
        let found: Vec<&Value> = js_path_process(&self.query, doc)
            .map(|refs| refs.into_iter().map(|r| r.val).collect())
            .unwrap_or_default();
        let fail = |expected: String| ConditionFailure {
            path: self.spec.path.clone(),
            expected,
            actual: describe(&found),
        };
        match &self.check {
            Check::NotExists if found.is_empty() => Ok(()),
            Check::NotExists => Err(fail("no value".into())),
            _ if found.is_empty() => Err(fail(self.expectation())),
            Check::Exists => Ok(()),
            Check::Equals(want) if found.iter().all(|v| *v == want) => Ok(()),
            Check::NotEquals(want) if found.iter().all(|v| *v != want) => Ok(()),
            Check::In(allowed) if found.iter().all(|v| allowed.contains(v)) => Ok(()),
            Check::Matches(re)
                if found
                    .iter()
                    .all(|v| v.as_str().is_some_and(|s| re.is_match(s))) =>
            {
                Ok(())
            }
            _ => Err(fail(self.expectation())),
        }
    }

    fn expectation(&self) -> String {
        match &self.check {
            Check::Equals(v) => format!("== {}", show(v)),
            Check::NotEquals(v) => format!("!= {}", show(v)),
            Check::In(vs) => format!(
                "one of [{}]",
                vs.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            Check::Matches(re) => format!("a match for /{}/", re.as_str()),
            Check::Exists => "a value".into(),
            Check::NotExists => "no value".into(),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.spec.path, self.expectation())
    }
}

/// Splits `JSONPATH rest`: the path ends at the first whitespace outside brackets and quotes,
/// so filters such as `$.a[?(@.b == 'x y')]` stay whole.
fn split_path(text: &str) -> Option<(&str, &str)> {
    if !text.starts_with('$') {
        return None;
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => depth = depth.saturating_sub(1),
            (None, c) if c.is_whitespace() && depth == 0 => return Some((&text[..i], &text[i..])),
            _ => {}
        }
    }
    None
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn describe(found: &[&Value]) -> String {
    match found {
        [] => "nothing".into(),
        [one] => show(one),
        many => format!(
            "[{}]",
            many.iter().map(|v| show(v)).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "buildDefinition": {
                "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"repository": "https://github.com/org/repo", "ref": "refs/heads/main"}}
            },
            "runDetails": {"builder": {"id": "https://github.com/actions/runner"}},
            "materials": [{"uri": "git+https://github.com/org/repo"}, {"uri": "pkg:docker/base"}],
            "count": 3
        })
    }

    #[test]
    fn parses_and_evaluates_each_operator() {
        let d = doc();
        let cases = [
            (
                "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo",
                true,
            ),
            (
                "$.buildDefinition.externalParameters.workflow.repository == https://github.com/evil/repo",
                false,
            ),
            ("$.runDetails.builder.id != https://example.com", true),
            (
                "$.buildDefinition.externalParameters.workflow.ref in refs/heads/main, refs/heads/release",
                true,
            ),
            (
                "$.buildDefinition.externalParameters.workflow.ref in [\"refs/tags/v1\"]",
                false,
            ),
            ("$.runDetails.builder.id =~ ^https://github\\.com/", true),
            ("$.materials[*].uri =~ ^git\\+", false),
            ("$.count == 3", true),
            ("$.count == \"3\"", false),
            ("$.runDetails exists", true),
            ("$.runDetails.nope exists", false),
            ("$.runDetails.nope not-exists", true),
            ("$.nothing == x", false),
        ];
        for (text, want) in cases {
            let c = Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(c.evaluate(&d).is_ok(), want, "{text}");
        }
    }

    #[test]
    fn failure_names_path_expected_and_actual() {
        let c = Condition::parse("$.buildDefinition.externalParameters.workflow.repository == https://github.com/evil/repo")
            .unwrap();
        let f = c.evaluate(&doc()).unwrap_err();
        assert_eq!(
            f.path,
            "$.buildDefinition.externalParameters.workflow.repository"
        );
        assert_eq!(f.expected, "== https://github.com/evil/repo");
        assert_eq!(f.actual, "https://github.com/org/repo");
    }

    #[test]
    fn filter_paths_with_spaces_stay_whole() {
        let c = Condition::parse("$.materials[?(@.uri == 'pkg:docker/base')].uri exists").unwrap();
        assert!(c.evaluate(&doc()).is_ok());
    }

    #[test]
    fn rejects_bad_syntax_paths_and_regexes() {
        assert!(matches!(
            Condition::parse("builder.id == x"),
            Err(ConditionError::Syntax { .. })
        ));
        assert!(matches!(
            Condition::parse("$.a ~~ x"),
            Err(ConditionError::Syntax { .. })
        ));
        assert!(matches!(
            Condition::parse("$.a =="),
            Err(ConditionError::Syntax { .. })
        ));
        assert!(matches!(
            Condition::parse("$.a[ == x"),
            Err(ConditionError::Syntax { .. })
        ));
        assert!(matches!(
            Condition::parse("$.a.. == x"),
            Err(ConditionError::Path { .. })
        ));
        assert!(matches!(
            Condition::parse("$.a =~ (unclosed"),
            Err(ConditionError::Regex { .. })
        ));
    }

    #[test]
    fn yaml_form_compiles() {
        let spec: ConditionSpec = serde_json::from_value(json!({
            "path": "$.runDetails.builder.id", "operator": "in",
            "values": ["https://github.com/actions/runner", "https://gitlab.com/runner"]
        }))
        .unwrap();
        assert!(Condition::compile(spec).unwrap().evaluate(&doc()).is_ok());
        let missing: ConditionSpec =
            serde_json::from_value(json!({"path": "$.a", "operator": "equals"})).unwrap();
        assert!(matches!(
            Condition::compile(missing),
            Err(ConditionError::MissingValue { .. })
        ));
    }
}
