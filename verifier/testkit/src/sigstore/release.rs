//! A GitHub release workflow, the identity most tests sign as, and the requirement that
//! accepts it.

use std::sync::Arc;

use portcullis_verifier::keyless::{Identity, KeylessRequirement, StringMatcher, TrustedRoot};

use super::{Leaf, LeafSpec, TestSigstore};

pub const SUBJECT: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
pub const GITHUB: &str = "https://token.actions.githubusercontent.com";
pub const DAY: i64 = 86_400;

/// A leaf for [`SUBJECT`] valid `window` (seconds relative to `t0`), with repository claims.
pub fn leaf(ss: &TestSigstore, t0: i64, window: (i64, i64)) -> Leaf {
    ss.issue(&LeafSpec {
        subject: SUBJECT,
        issuer: GITHUB,
        not_before: t0 + window.0,
        not_after: t0 + window.1,
        claims: &[
            (5, "acme/app"),
            (6, "refs/tags/v1"),
            (12, "https://github.com/acme/app"),
            (14, "refs/tags/v1"),
        ],
    })
}

/// A requirement trusting `ss` (its CA valid `ca_valid_for`) and accepting `identity`.
pub fn req(
    ss: &TestSigstore,
    ca_valid_for: (Option<i64>, Option<i64>),
    identity: Identity,
) -> KeylessRequirement {
    let doc = ss.trusted_root(ca_valid_for).to_string();
    KeylessRequirement {
        trusted_root: Arc::new(TrustedRoot::from_json(doc.as_bytes(), "test root").unwrap()),
        identities: vec![identity],
        attestations: Vec::new(),
    }
}

/// [`SUBJECT`] from [`GITHUB`], exactly.
pub fn release() -> Identity {
    Identity::new(
        StringMatcher::exact(SUBJECT),
        Some(StringMatcher::exact(GITHUB)),
    )
}
