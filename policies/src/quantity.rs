//! Kubernetes resource quantities (`500m`, `2`, `1.5Gi`, `1e3`), parsed exactly.
//!
//! A quantity becomes an integer count of nano-units (`1` = 1_000_000_000), so `500m` and `0.5`
//! compare equal and no float rounding decides an admission. Values finer than a nano-unit round
//! up, as the API server's canonical form does. This is only what resource guardrails need:
//! parsing, comparing and ratios; canonical re-serialisation is deliberately not provided (the
//! engine writes quantities back exactly as the policy author spelled them).

use std::cmp::Ordering;
use std::fmt;

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("{text:?} is not a Kubernetes quantity (expected e.g. 500m, 2, 1.5Gi, 128Mi)")]
    Syntax { text: String },
    #[error("{text:?} is out of range")]
    Range { text: String },
}

/// A parsed quantity, in nano-units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

const NANO: i128 = 1_000_000_000;

impl Quantity {
    /// Parses a quantity as the API server accepts it.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let syntax = || QuantityError::Syntax {
            text: text.to_string(),
        };
        let range = || QuantityError::Range {
            text: text.to_string(),
        };
        let s = text.trim();
        let (negative, s) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(num_end);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(syntax());
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        let digits = format!("{int_part}{frac_part}");
        if digits.len() > 30 {
            return Err(range());
        }
        let mantissa: i128 = digits.parse().map_err(|_| syntax())?;
        let frac_len = i32::try_from(frac_part.len()).map_err(|_| range())?;
        // value = mantissa × 10^(pow10 − frac_len) × 2^pow2
        let (pow10, pow2): (i32, u32) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            exp if exp.starts_with(['e', 'E']) => {
                let e: i32 = exp[1..].parse().map_err(|_| syntax())?;
                if !(-30..=30).contains(&e) {
                    return Err(range());
                }
                (e, 0)
            }
            _ => return Err(syntax()),
        };
        let scaled = mantissa.checked_mul(1i128 << pow2).ok_or_else(range)?;
        let exp = 9 + pow10 - frac_len;
        let nanos = if exp >= 0 {
            let factor = 10i128.checked_pow(exp.unsigned_abs()).ok_or_else(range)?;
            scaled.checked_mul(factor).ok_or_else(range)?
        } else {
            let divisor = 10i128.checked_pow(exp.unsigned_abs()).ok_or_else(range)?;
            // Round up, like the API server does for sub-nano precision.
            (scaled + divisor - 1) / divisor
        };
        Ok(Self {
            nanos: if negative { -nanos } else { nanos },
        })
    }

    /// The value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// Whether `self / denominator > ratio`, computed without division. A zero denominator
    /// makes any positive numerator exceed every ratio.
    pub fn ratio_exceeds(&self, denominator: &Quantity, ratio: &Quantity) -> bool {
        if denominator.nanos <= 0 {
            return self.nanos > 0;
        }
        // self/den > ratio  ⇔  self × 1e9 > ratio × den   (ratio is in nano-units too)
        match (
            self.nanos.checked_mul(NANO),
            ratio.nanos.checked_mul(denominator.nanos),
        ) {
            (Some(lhs), Some(rhs)) => lhs > rhs,
            // Astronomically large values: compare as floats, which is exact enough there.
            _ => {
                (self.nanos as f64) / (denominator.nanos as f64)
                    > (ratio.nanos as f64) / (NANO as f64)
            }
        }
    }
}

impl fmt::Display for Quantity {
    /// A readable (not canonical) form, e.g. `0.5` or `134217728`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.nanos / NANO;
        let frac = (self.nanos % NANO).abs();
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let frac = format!("{frac:09}");
            let sign = if self.nanos < 0 && whole == 0 {
                "-"
            } else {
                ""
            };
            write!(f, "{sign}{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// Compares two quantity strings; `None` when either does not parse.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(Quantity::parse(a).ok()?.cmp(&Quantity::parse(b).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> i128 {
        Quantity::parse(s).unwrap().nanos()
    }

    #[test]
    fn parses_every_suffix_family() {
        assert_eq!(q("1"), NANO);
        assert_eq!(q("500m"), NANO / 2);
        assert_eq!(q("0.5"), NANO / 2);
        assert_eq!(q("1.5Gi"), 3 * (1i128 << 29) * NANO);
        assert_eq!(q("128Mi"), 128 * (1i128 << 20) * NANO);
        assert_eq!(q("1k"), 1000 * NANO);
        assert_eq!(q("1e3"), 1000 * NANO);
        assert_eq!(q("1E-3"), NANO / 1000);
        assert_eq!(q("100n"), 100);
        assert_eq!(q("0.5n"), 1, "sub-nano rounds up");
        assert_eq!(q("-2"), -2 * NANO);
        assert_eq!(q("+.5"), NANO / 2);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "m", "1.2.3", "1x", "Gi", "1 Gi", "abc", "1e", "1e99"] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn compares_across_notations() {
        assert_eq!(compare("1000m", "1"), Some(Ordering::Equal));
        assert_eq!(compare("1Gi", "1G"), Some(Ordering::Greater));
        assert_eq!(compare("x", "1"), None);
    }

    #[test]
    fn ratio_without_division() {
        let (lim, req) = (
            Quantity::parse("2").unwrap(),
            Quantity::parse("500m").unwrap(),
        );
        assert!(lim.ratio_exceeds(&req, &Quantity::parse("3").unwrap()));
        assert!(!lim.ratio_exceeds(&req, &Quantity::parse("4").unwrap()));
        assert!(lim.ratio_exceeds(
            &Quantity::parse("0").unwrap(),
            &Quantity::parse("100").unwrap()
        ));
    }

    #[test]
    fn display_is_readable() {
        assert_eq!(Quantity::parse("500m").unwrap().to_string(), "0.5");
        assert_eq!(Quantity::parse("2Ki").unwrap().to_string(), "2048");
    }
}
