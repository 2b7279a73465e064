//! Durations as people and the API server write them: `10s`, `500ms`, `1m30s`, `1.5s`, `2h`.
//!
//! Used for the command-line flags (`--timeout-margin 1s`) and for the `?timeout=10s` query
//! parameter the API server appends to webhook URLs. A bare number is rejected: a unit is always
//! required, so `--cache-ttl 300` cannot silently mean milliseconds.

use std::time::Duration;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {why} (examples: 10s, 500ms, 1m30s)")]
pub struct DurationError {
    pub input: String,
    pub why: &'static str,
}

/// Parses a Go-style duration: one or more `<number><unit>` parts, unit one of
/// `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`; the number may have a fraction.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |why| DurationError {
        input: input.to_string(),
        why,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("missing unit"))?;
        if num_len == 0 {
            return Err(err("expected a number"));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| err("malformed number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err("unknown unit")),
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).map_err(|_| err("out of range"))
}

/// A [`parse_duration`] usable as a clap `value_parser`.
pub fn clap_duration(input: &str) -> Result<Duration, String> {
    parse_duration(input).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_api_server_and_human_forms() {
        let cases = [
            ("10s", 10_000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("1.5s", 1_500),
            ("2h", 7_200_000),
            ("0", 0),
            (" 3s ", 3_000),
        ];
        for (input, ms) in cases {
            assert_eq!(
                parse_duration(input),
                Ok(Duration::from_millis(ms)),
                "{input}"
            );
        }
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
    }

    #[test]
    fn rejects_bare_numbers_and_unknown_units() {
        for input in ["", "10", "s", "10x", "1..5s", "-1s", "ms10"] {
            let e = parse_duration(input).unwrap_err();
            assert_eq!(e.input, input);
            assert!(e.to_string().contains("examples"), "{e}");
        }
    }
}
