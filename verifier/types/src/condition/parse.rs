//! The one-line text form of a comparison (`portcullis verify --condition`):
//! `JSONPATH OP VALUE`, `count(JSONPATH) OP NUMBER` or `age(JSONPATH) OP DURATION`.
//! Groups exist only in the YAML form.

use serde_json::Value;

use super::{ConditionError, ConditionSpec, Measure, Operator};

/// Parses `text` into a spec (compiled by the caller).
pub(super) fn spec(text: &str) -> Result<ConditionSpec, ConditionError> {
    let syntax = || ConditionError::Syntax {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    let (measure, path, rest) = split_subject(trimmed).ok_or_else(syntax)?;
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
        "<" => Operator::LessThan,
        "<=" => Operator::LessOrEqual,
        ">" => Operator::GreaterThan,
        ">=" => Operator::GreaterOrEqual,
        _ => return Err(syntax()),
    };
    let parsed = |v: &str| serde_json::from_str::<Value>(v).unwrap_or(Value::String(v.into()));
    let mut spec = ConditionSpec::compare(path, operator);
    spec.measure = measure;
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
        _ if value.is_empty() => return Err(syntax()),
        _ => spec.value = Some(parsed(value)),
    }
    Ok(spec)
}

/// Splits `SUBJECT rest`, where SUBJECT is a JSONPath or `count(JSONPATH)` / `age(JSONPATH)`.
fn split_subject(text: &str) -> Option<(Measure, &str, &str)> {
    for measure in [Measure::Count, Measure::Age] {
        let Some(inner) = text
            .strip_prefix(measure.name())
            .and_then(|t| t.strip_prefix('('))
        else {
            continue;
        };
        let end = scan(inner, |c, depth| c == ')' && depth == 0)?;
        return Some((measure, inner[..end].trim(), &inner[end + 1..]));
    }
    let end = scan(text, |c, depth| c.is_whitespace() && depth == 0)?;
    Some((Measure::Value, &text[..end], &text[end..]))
}

/// The byte index of the first character outside quotes for which `stop(c, depth)` holds, with
/// `depth` counting open brackets and parentheses, so filters such as
/// `$.a[?(@.b == 'x y')]` stay whole. The text must be a JSONPath (start with `$`).
fn scan(text: &str, stop: impl Fn(char, usize) -> bool) -> Option<usize> {
    if !text.trim_start().starts_with('$') {
        return None;
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if stop(c, depth) => return Some(i),
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}
