//! Deterministic, realistic job payloads for tests, demos and `jobs-api seed`.
//!
//! A seeded SplitMix64 generator (a dozen lines, no dependency, and unlike `rand`'s `StdRng`
//! guaranteed to give the same sequence in every version) drives a small vocabulary of
//! operations-flavoured words into sentences and documents. The same seed always gives the same
//! jobs, so a failing test can be replayed exactly and demo data looks the same on every machine.
//! Nothing here touches the database; callers insert what they get.

use crate::jobs::{DEFAULT_MAX_ATTEMPTS, JobKind};

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, statistically fine for test data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant for test data).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SUBJECTS: &[&str] = &[
    "the deployment",
    "the canary",
    "a worker",
    "the database",
    "the ingress",
    "the scheduler",
    "an operator",
    "the registry",
    "the cache",
    "the webhook",
    "a replica",
    "the queue",
];
const VERBS: &[&str] = &[
    "restarted",
    "rolled back",
    "scaled out",
    "drained",
    "rotated its credentials",
    "failed over",
    "passed its checks",
    "exceeded its budget",
    "recovered",
    "was promoted",
    "timed out",
    "synced",
];
const TAILS: &[&str] = &[
    "after the alert fired",
    "during the maintenance window",
    "within the error budget",
    "on the second attempt",
    "before the pager went off",
    "while traffic was shifted",
    "because the lease expired",
    "without dropping a request",
    "at the start of the rollout",
];
const SERVICES: &[&str] = &[
    "checkout",
    "payments",
    "search",
    "inventory",
    "billing",
    "auth",
    "reports",
];

/// One generated job, ready for `jobs::store::NewJob`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixtureJob {
    pub kind: JobKind,
    pub payload: String,
    pub max_attempts: i32,
}

/// An incident-report-like paragraph of `sentences` sentences.
pub fn paragraph(rng: &mut Rng, sentences: usize) -> String {
    let mut out = String::new();
    for i in 0..sentences {
        if i > 0 {
            out.push(' ');
        }
        let subject = rng.pick(SUBJECTS);
        let service = rng.pick(SERVICES);
        let verb = rng.pick(VERBS);
        let tail = rng.pick(TAILS);
        out.push_str(&format!("In {service}, {subject} {verb} {tail}."));
    }
    out
}

/// An artifact-digest-like line: what a hash job might be asked to fingerprint.
pub fn artifact(rng: &mut Rng) -> String {
    let service = rng.pick(SERVICES);
    let major = rng.below(4);
    let minor = rng.below(20);
    let build = rng.next_u64();
    format!(
        "ghcr.io/example/{service}:{major}.{minor}.{} build={build:016x}",
        rng.below(10)
    )
}

/// `count` jobs from `seed`: about two thirds summaries, one third hashes.
pub fn jobs(seed: u64, count: usize) -> Vec<FixtureJob> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            if rng.below(3) == 0 {
                FixtureJob {
                    kind: JobKind::Hash,
                    payload: artifact(&mut rng),
                    max_attempts: DEFAULT_MAX_ATTEMPTS,
                }
            } else {
                let sentences = 1 + rng.below(8);
                FixtureJob {
                    kind: JobKind::Summarise,
                    payload: paragraph(&mut rng, sentences),
                    max_attempts: 1 + rng.below(5) as i32,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_jobs_and_different_seed_different_jobs() {
        assert_eq!(jobs(7, 50), jobs(7, 50));
        assert_ne!(jobs(7, 50), jobs(8, 50));
    }

    #[test]
    fn reference_values_do_not_drift() {
        // SplitMix64's published first output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let first = &jobs(42, 1)[0];
        assert!(!first.payload.is_empty());
        assert!((1..=10).contains(&first.max_attempts));
    }

    #[test]
    fn mix_of_kinds_and_payloads_fit_the_limits() {
        let all = jobs(1, 300);
        let hashes = all.iter().filter(|j| j.kind == JobKind::Hash).count();
        assert!((60..=140).contains(&hashes), "{hashes} hash jobs of 300");
        assert!(
            all.iter()
                .all(|j| j.payload.len() <= crate::jobs::MAX_PAYLOAD_BYTES)
        );
    }
}
