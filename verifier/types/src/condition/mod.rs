//! Predicate conditions: a JSONPath, an operator and an expected value, evaluated on a JSON
//! document (an attestation predicate, or a Kubernetes object for custom policy rules), and
//! `all`/`any` groups of them.
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
//! - `less-than`, `less-or-equal`, `greater-than`, `greater-or-equal` (`<`, `<=`, `>`, `>=`):
//!   every selected value must be a number (a JSON number, or a string holding one) in that
//!   relation to the expected number.
//!
//! A path that selects nothing fails every operator except `not-exists`.
//!
//! Two measures change what is compared ([`Measure`]):
//! - `count` (`count(PATH) == 0`): how many values the path selects, compared with `==`, `!=`,
//!   `<`, `<=`, `>`, `>=`. A path that selects nothing counts 0, so filters such as
//!   `$.Results[*].Vulnerabilities[?(@.Severity == 'CRITICAL')]` count findings.
//! - `age` (`age(PATH) < 7d`): how long before the evaluation time each selected RFC 3339
//!   timestamp lies, compared with `<`, `<=`, `>`, `>=` to a duration in `s`, `m`, `h` or `d`.
//!   The evaluation time is the caller's ([`Condition::evaluate_at`]): this crate reads no clock.
//!
//! Groups (`all: [...]`, `any: [...]`, nested freely) hold when every / at least one member
//! holds; their failure lists the members that failed.

mod compile;
mod measure;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::query::js_path_process;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use compile::{compile_compare, members};
pub use measure::Measure;
use measure::{Cmp, Duration};

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
    LessThan,
    LessOrEqual,
    GreaterThan,
    GreaterOrEqual,
}

impl Operator {
    /// Every operator, for schemas and documentation that must list them all.
    pub const ALL: [Operator; 10] = [
        Operator::Equals,
        Operator::NotEquals,
        Operator::In,
        Operator::Matches,
        Operator::Exists,
        Operator::NotExists,
        Operator::LessThan,
        Operator::LessOrEqual,
        Operator::GreaterThan,
        Operator::GreaterOrEqual,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Equals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::Matches => "=~",
            Operator::Exists => "exists",
            Operator::NotExists => "not-exists",
            Operator::LessThan => "<",
            Operator::LessOrEqual => "<=",
            Operator::GreaterThan => ">",
            Operator::GreaterOrEqual => ">=",
        }
    }

    /// The ordering comparison this operator is, if it is one.
    fn cmp(self) -> Option<Cmp> {
        Some(match self {
            Operator::Equals => Cmp::Eq,
            Operator::NotEquals => Cmp::Ne,
            Operator::LessThan => Cmp::Lt,
            Operator::LessOrEqual => Cmp::Le,
            Operator::GreaterThan => Cmp::Gt,
            Operator::GreaterOrEqual => Cmp::Ge,
            _ => return None,
        })
    }
}

/// A condition as written in a policy file or on the command line: either a comparison
/// (`path`, optional `measure`, `operator`, `value`/`values`) or a group (`all` or `any`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionSpec {
    /// JSONPath, e.g. `$.buildDefinition.externalParameters.workflow.repository`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// What is compared: the selected values (default), their `count`, or their `age`.
    #[serde(default, skip_serializing_if = "Measure::is_value")]
    pub measure: Measure,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Operator>,
    /// Expected value for `equals`/`not-equals` (any JSON), the regex for `matches`, the number
    /// for `<`, `<=`, `>`, `>=` and counts, the duration (`7d`) for ages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Allowed values for `in`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Value>,
    /// Holds when every member holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<ConditionSpec>,
    /// Holds when at least one member holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<ConditionSpec>,
}

impl ConditionSpec {
    /// A comparison on `path` (the form every caller before groups used).
    pub fn compare(path: &str, operator: Operator) -> Self {
        Self {
            path: path.to_string(),
            operator: Some(operator),
            ..Self::default()
        }
    }
}

/// A parse error for a condition; the message says what to write instead.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConditionError {
    #[error(
        "condition {text:?}: expected 'JSONPATH OP VALUE', 'count(JSONPATH) OP NUMBER' or 'age(JSONPATH) OP DURATION' with OP one of ==, !=, in, =~, exists, not-exists, <, <=, >, >="
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
    #[error("condition on {path}: {measure}() takes only {allowed}, not '{op}'")]
    Measure {
        path: String,
        measure: &'static str,
        op: &'static str,
        allowed: &'static str,
    },
    #[error("condition {at}: {problem}")]
    Shape { at: String, problem: &'static str },
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
    /// Every selected value is a number in this relation to the bound.
    Number(Cmp, f64),
    /// The number of selected values is in this relation to the bound.
    Count(Cmp, f64),
    /// Every selected value is a timestamp whose age is in this relation to the duration.
    Age(Cmp, Duration),
}

#[derive(Debug, Clone)]
enum Node {
    Compare { query: Box<JpQuery>, check: Check },
    All(Vec<Condition>),
    Any(Vec<Condition>),
}

/// A compiled condition: the JSONPath is parsed and the regex built once.
#[derive(Debug, Clone)]
pub struct Condition {
    spec: ConditionSpec,
    node: Node,
}

impl Condition {
    /// Compiles a condition from its policy-file form.
    pub fn compile(spec: ConditionSpec) -> Result<Self, ConditionError> {
        Self::compile_at(spec, "")
    }

    /// `at` locates a group member in error messages (`all[1].any[0]`).
    fn compile_at(spec: ConditionSpec, at: &str) -> Result<Self, ConditionError> {
        let shape = |problem| ConditionError::Shape {
            at: if at.is_empty() {
                format!("{:?}", spec.path)
            } else {
                at.to_string()
            },
            problem,
        };
        let compare = !spec.path.is_empty() || spec.operator.is_some();
        let node = match (compare, spec.all.is_empty(), spec.any.is_empty()) {
            (false, false, true) => Node::All(members(&spec.all, at, "all")?),
            (false, true, false) => Node::Any(members(&spec.any, at, "any")?),
            (true, true, true) => compile_compare(&spec).map_err(|e| match e {
                None => shape("a comparison needs both path and operator"),
                Some(e) => e,
            })?,
            (false, true, true) => {
                return Err(shape(
                    "is empty: write path and operator, or all: [...], or any: [...]",
                ));
            }
            _ => {
                return Err(shape(
                    "mixes forms: write path and operator, or all: [...], or any: [...], not several",
                ));
            }
        };
        Ok(Self { spec, node })
    }

    /// Parses the command-line form `JSONPATH OP VALUE`, e.g.
    /// `$.builder.id == https://github.com/actions/runner` or `$.x in [1,2]` or `$.y exists`,
    /// `count($.a[?(@.s == 'CRITICAL')]) == 0`, `age($.metadata.scanFinishedOn) < 7d`.
    /// A value that parses as JSON is taken as JSON, otherwise as a plain string.
    pub fn parse(text: &str) -> Result<Self, ConditionError> {
        Self::compile(parse::spec(text)?)
    }

    /// The condition as written, for reports and cache fingerprints.
    pub fn spec(&self) -> &ConditionSpec {
        &self.spec
    }

    /// Evaluates the condition on `doc` without an evaluation time: every form works except
    /// `age`, which fails (closed) saying no time was given. Use [`Self::evaluate_at`] where a
    /// condition may measure ages.
    pub fn evaluate(&self, doc: &Value) -> Result<(), ConditionFailure> {
        self.eval(doc, None)
    }

    /// Evaluates the condition on `doc`, measuring ages at `now` (the caller's clock).
    pub fn evaluate_at(&self, doc: &Value, now: SystemTime) -> Result<(), ConditionFailure> {
        let secs = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        };
        self.eval(doc, Some(secs))
    }

    fn eval(&self, doc: &Value, now: Option<i64>) -> Result<(), ConditionFailure> {
        match &self.node {
            Node::Compare { query, check } => self.eval_compare(query, check, doc, now),
            Node::All(members) => {
                let failed: Vec<_> = members
                    .iter()
                    .filter_map(|m| m.eval(doc, now).err())
                    .collect();
                group_result("all", members.len(), failed, |n| {
                    format!("all {n} conditions to hold")
                })
            }
            Node::Any(members) => {
                let mut failed = Vec::new();
                for m in members {
                    match m.eval(doc, now) {
                        Ok(()) => return Ok(()),
                        Err(f) => failed.push(f),
                    }
                }
                group_result("any", members.len(), failed, |n| {
                    format!("at least one of {n} conditions to hold")
                })
            }
        }
    }

    fn eval_compare(
        &self,
        query: &JpQuery,
        check: &Check,
        doc: &Value,
        now: Option<i64>,
    ) -> Result<(), ConditionFailure> {
        // A query error means the path cannot apply to this document: treat as "selects nothing".
        let found: Vec<&Value> = js_path_process(query, doc)
            .map(|refs| refs.into_iter().map(|r| r.val).collect())
            .unwrap_or_default();
        let fail = |actual: String| ConditionFailure {
            path: self.subject(),
            expected: self.expectation(),
            actual,
        };
        match check {
            Check::NotExists if found.is_empty() => Ok(()),
            Check::NotExists => Err(fail(describe(&found))),
            Check::Count(cmp, bound) => {
                let n = found.len();
                // Counts of selected JSON values are far below 2^53: the cast is exact.
                #[allow(clippy::cast_precision_loss)]
                let holds = cmp.holds(n as f64, *bound);
                if holds {
                    Ok(())
                } else {
                    Err(fail(n.to_string()))
                }
            }
            _ if found.is_empty() => Err(fail(describe(&found))),
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
            Check::Number(cmp, bound) => {
                let bad: Vec<String> = found
                    .iter()
                    .filter_map(|v| match measure::number(v) {
                        Some(n) if cmp.holds(n, *bound) => None,
                        Some(_) => Some(show(v)),
                        None => Some(format!("{} (not a number)", show(v))),
                    })
                    .collect();
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(fail(list(&bad)))
                }
            }
            Check::Age(cmp, limit) => {
                let Some(now) = now else {
                    return Err(fail(format!(
                        "{} (no evaluation time was given to measure its age)",
                        describe(&found)
                    )));
                };
                let bad: Vec<String> = found
                    .iter()
                    .filter_map(|v| match measure::age(v, now) {
                        Ok((age, _)) if cmp.holds(age, limit.seconds) => None,
                        Ok((_, text)) | Err(text) => Some(text),
                    })
                    .collect();
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(fail(list(&bad)))
                }
            }
            _ => Err(fail(describe(&found))),
        }
    }

    /// What is measured: the path, or `count(path)` / `age(path)`.
    fn subject(&self) -> String {
        match self.spec.measure {
            Measure::Value => self.spec.path.clone(),
            m => format!("{}({})", m.name(), self.spec.path),
        }
    }

    fn expectation(&self) -> String {
        let Node::Compare { check, .. } = &self.node else {
            return String::new();
        };
        match check {
            Check::Equals(v) => format!("== {}", show(v)),
            Check::NotEquals(v) => format!("!= {}", show(v)),
            Check::In(vs) => format!(
                "one of [{}]",
                vs.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            Check::Matches(re) => format!("a match for /{}/", re.as_str()),
            Check::Exists => "a value".into(),
            Check::NotExists => "no value".into(),
            Check::Number(cmp, n) | Check::Count(cmp, n) => format!("{} {n}", cmp.symbol()),
            Check::Age(cmp, d) => format!("{} {d}", cmp.symbol()),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Node::Compare { .. } => write!(f, "{} {}", self.subject(), self.expectation()),
            Node::All(members) | Node::Any(members) => {
                let name = if matches!(self.node, Node::All(_)) {
                    "all"
                } else {
                    "any"
                };
                let inner: Vec<String> = members.iter().map(ToString::to_string).collect();
                write!(f, "{name}({})", inner.join("; "))
            }
        }
    }
}

/// The failure of a group: which members failed, each with its own path, expected and found.
fn group_result(
    name: &str,
    size: usize,
    failed: Vec<ConditionFailure>,
    expected: impl Fn(usize) -> String,
) -> Result<(), ConditionFailure> {
    if failed.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = failed.iter().map(|f| format!("[{f}]")).collect();
    Err(ConditionFailure {
        path: name.to_string(),
        expected: expected(size),
        actual: format!("{} of {size} failing: {}", failed.len(), lines.join(", ")),
    })
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list(items: &[String]) -> String {
    match items {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
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
