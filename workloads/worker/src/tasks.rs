//! The work itself: deterministic, CPU-bound, and pure (no I/O, no clock, no randomness).
//!
//! `hash`: SHA-256 of the payload, then of the digest, `rounds` times in all (`APP_WORKER_HASH_ROUNDS`,
//! recorded in the result so a result says how it was made). `summarise`: a word-frequency summary
//! (words are maximal runs of alphanumerics, lower-cased; the top ten by count, ties by word).
//! Two payload prefixes exist for tests and demos of the retry path, for either kind:
//! `fail:…` fails every attempt, `flaky:N:…` fails attempts 1..=N and then succeeds.
//! Long loops poll a cancel flag, so a job abandoned at shutdown stops burning CPU.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, Ordering},
};

use jobs_common::JobKind;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why an attempt failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TaskError {
    #[error("payload asks to fail: {0}")]
    Injected(String),
    #[error("cancelled")]
    Cancelled,
}

/// Runs one attempt (`attempt` counts from 1).
pub fn run(
    kind: JobKind,
    payload: &str,
    attempt: i32,
    rounds: u64,
    cancel: &AtomicBool,
) -> Result<Value, TaskError> {
    if let Some(reason) = payload.strip_prefix("fail:") {
        return Err(TaskError::Injected(reason.chars().take(200).collect()));
    }
    if let Some(rest) = payload.strip_prefix("flaky:")
        && let Some((n, _)) = rest.split_once(':')
        && let Ok(n) = n.parse::<i32>()
        && attempt <= n
    {
        return Err(TaskError::Injected(format!(
            "flaky: attempt {attempt} of the first {n} fails"
        )));
    }
    match kind {
        JobKind::Hash => hash(payload, rounds, cancel),
        JobKind::Summarise => Ok(summarise(payload)),
    }
}

/// Iterated SHA-256.
pub fn hash(payload: &str, rounds: u64, cancel: &AtomicBool) -> Result<Value, TaskError> {
    let mut digest: [u8; 32] = Sha256::digest(payload.as_bytes()).into();
    for i in 1..rounds.max(1) {
        if i % 1024 == 0 && cancel.load(Ordering::Relaxed) {
            return Err(TaskError::Cancelled);
        }
        digest = Sha256::digest(digest).into();
    }
    Ok(json!({ "algorithm": "sha256", "rounds": rounds.max(1), "digest": hex::encode(digest) }))
}

/// Word-frequency summary.
pub fn summarise(payload: &str) -> Value {
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut total = 0u64;
    for word in payload
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_lowercase()).or_default() += 1;
        total += 1;
    }
    let mut top: Vec<(&String, &u64)> = counts.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let top: Vec<Value> = top
        .iter()
        .take(10)
        .map(|(w, c)| json!({ "word": w, "count": c }))
        .collect();
    json!({ "words": total, "uniqueWords": counts.len(), "top": top })
}

#[cfg(test)]
mod tests {
    use super::*;

    static NO: AtomicBool = AtomicBool::new(false);

    #[test]
    fn hash_is_iterated_sha256() {
        // sha256("abc"), a published test vector.
        let one = hash("abc", 1, &NO).unwrap();
        assert_eq!(
            one["digest"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let two = hash("abc", 2, &NO).unwrap();
        let expected = hex::encode(Sha256::digest(Sha256::digest(b"abc")));
        assert_eq!(two["digest"], expected.as_str());
        assert_eq!(
            hash("abc", 1000, &NO).unwrap(),
            hash("abc", 1000, &NO).unwrap()
        );
        assert_eq!(
            hash("abc", 5000, &AtomicBool::new(true)),
            Err(TaskError::Cancelled)
        );
    }

    #[test]
    fn summary_counts_words() {
        let s = summarise("The canary, the CANARY and the rollback. Rollback!");
        assert_eq!(s["words"], 8);
        assert_eq!(s["uniqueWords"], 4);
        assert_eq!(s["top"][0], json!({"word": "the", "count": 3}));
        assert_eq!(s["top"][1], json!({"word": "canary", "count": 2}));
        assert_eq!(s["top"][2], json!({"word": "rollback", "count": 2}));
        assert_eq!(summarise("")["words"], 0);
    }

    #[test]
    fn failure_prefixes() {
        let err = run(JobKind::Hash, "fail:boom", 1, 1, &NO).unwrap_err();
        assert_eq!(err.to_string(), "payload asks to fail: boom");
        assert!(run(JobKind::Summarise, "flaky:2:x", 2, 1, &NO).is_err());
        assert!(run(JobKind::Summarise, "flaky:2:x", 3, 1, &NO).is_ok());
        assert!(run(JobKind::Hash, "flaky:x", 1, 1, &NO).is_ok());
    }
}
