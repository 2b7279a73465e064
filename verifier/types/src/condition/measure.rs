//! What a condition compares besides the selected values themselves: numbers (`<`, `<=`, `>`,
//! `>=`), how many values a path selects (`count(...)`), and how old an RFC 3339 timestamp is at
//! a given evaluation time (`age(...)`, with durations such as `30m` or `7d`).
//!
//! Nothing here reads a clock: the evaluation time is always an argument, so the same report
//! judged at the same instant gives the same answer, in tests as in production.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::keyless::{parse_rfc3339, rfc3339};

/// What a condition measures on the values its path selects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    /// The values themselves (the default).
    #[default]
    Value,
    /// How many values the path selects (zero when it selects nothing).
    Count,
    /// The age of each selected RFC 3339 timestamp at the evaluation time.
    Age,
}

impl Measure {
    pub(crate) fn is_value(&self) -> bool {
        *self == Measure::Value
    }

    /// The function name in the text form (`count(PATH)`, `age(PATH)`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Measure::Value => "value",
            Measure::Count => "count",
            Measure::Age => "age",
        }
    }
}

/// An ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    /// Whether `found OP bound` holds; NaN never holds (it cannot come from JSON anyway).
    pub(crate) fn holds<T: PartialOrd>(self, found: T, bound: T) -> bool {
        match (found.partial_cmp(&bound), self) {
            (None, _) => false,
            (Some(o), Cmp::Eq) => o == Ordering::Equal,
            (Some(o), Cmp::Ne) => o != Ordering::Equal,
            (Some(o), Cmp::Lt) => o == Ordering::Less,
            (Some(o), Cmp::Le) => o != Ordering::Greater,
            (Some(o), Cmp::Gt) => o == Ordering::Greater,
            (Some(o), Cmp::Ge) => o != Ordering::Less,
        }
    }
}

/// A JSON number, or a string holding one (scanners write CVSS scores both ways).
pub(crate) fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A duration as written in a condition: a whole number and one unit of `s`, `m`, `h`, `d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duration {
    pub seconds: i64,
    pub text: String,
}

impl Duration {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let split = text.len().checked_sub(1)?;
        let (digits, unit) = text.split_at(split);
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return None,
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seconds = digits.parse::<i64>().ok()?.checked_mul(scale)?;
        Some(Self {
            seconds,
            text: text.to_string(),
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A number of seconds for a human: `9d 4h`, `3h 12m`, `45s`; negative ages (a timestamp after
/// the evaluation time) keep their sign.
pub(crate) fn human_seconds(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let s = seconds.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    let text = match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    };
    format!("{sign}{text}")
}

/// The age of one selected value at `now` (Unix seconds), or why it has none.
pub(crate) fn age(v: &Value, now: i64) -> Result<(i64, String), String> {
    let Some(text) = v.as_str() else {
        return Err(format!("{v} (not an RFC 3339 timestamp)"));
    };
    let at = parse_rfc3339(text).ok_or_else(|| format!("{text:?} (not an RFC 3339 timestamp)"))?;
    let age = now.saturating_sub(at);
    Ok((
        age,
        format!("{text} (age {} at {})", human_seconds(age), rfc3339(now)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_take_one_unit_of_s_m_h_d() {
        let secs = |t: &str| Duration::parse(t).map(|d| d.seconds);
        assert_eq!(secs("45s"), Some(45));
        assert_eq!(secs("30m"), Some(1_800));
        assert_eq!(secs("12h"), Some(43_200));
        assert_eq!(secs("7d"), Some(604_800));
        for bad in ["7", "d", "7w", "1.5d", "-1d", "7 d", "", "1h30m"] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn comparisons_follow_their_symbol() {
        let table = [
            (Cmp::Lt, [true, false, false]),
            (Cmp::Le, [true, true, false]),
            (Cmp::Gt, [false, false, true]),
            (Cmp::Ge, [false, true, true]),
            (Cmp::Eq, [false, true, false]),
            (Cmp::Ne, [true, false, true]),
        ];
        for (op, want) in table {
            let got = [1.0, 2.0, 3.0].map(|found| op.holds(found, 2.0));
            assert_eq!(got, want, "{}", op.symbol());
        }
    }

    #[test]
    fn numbers_come_from_json_numbers_and_numeric_strings_only() {
        assert_eq!(number(&json!(9.8)), Some(9.8));
        assert_eq!(number(&json!("7.5")), Some(7.5));
        assert_eq!(number(&json!("HIGH")), None);
        assert_eq!(number(&json!("NaN")), None);
        assert_eq!(number(&json!(true)), None);
    }

    #[test]
    fn ages_are_measured_at_the_given_time_and_name_it() {
        let now = 1_764_763_200; // 2025-12-03T12:00:00Z
        let (secs, text) = age(&json!("2025-11-24T08:00:00.123456789Z"), now).unwrap();
        assert_eq!(secs, 9 * 86_400 + 4 * 3_600);
        assert_eq!(
            text,
            "2025-11-24T08:00:00.123456789Z (age 9d 4h at 2025-12-03T12:00:00Z)"
        );
        assert_eq!(
            age(&json!("last tuesday"), now).unwrap_err(),
            "\"last tuesday\" (not an RFC 3339 timestamp)"
        );
        assert!(age(&json!(1_764_763_200), now).is_err());
        assert_eq!(human_seconds(-90), "-1m 30s");
    }
}
