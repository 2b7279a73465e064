//! Fixtures the fuzz targets share: the trusted roots and keys from the repository's test data,
//! loaded once per process. The targets themselves are in `fuzz_targets/`, one per parser of
//! untrusted bytes on the verification path; each feeds the input to the project's real public
//! parse (and, where parsing succeeds, verify) functions. A target never asserts a result: a
//! panic, an arithmetic overflow (debug assertions are on), a stack overflow or an allocation over
//! libFuzzer's `-malloc_limit_mb` is the finding.
//!
//! The data is compiled in (`include_bytes!`), so a built target runs from any directory.
#![allow(clippy::expect_used)] // fixtures from the repository: a bad one is a build mistake

use std::sync::{Arc, OnceLock};

use portcullis_verifier::PublicKey;
use portcullis_verifier::keyless::{
    Identity, KeylessRequirement, StringMatcher, TrustedRoot, VerificationKey,
};

const STAGING_ROOT: &[u8] =
    include_bytes!("../../../testdata/corpora/cosign/trust/staging_trusted_root.json");
const PRODUCTION_ROOT: &[u8] =
    include_bytes!("../../../testdata/corpora/cosign/trust/production_trusted_root.json");
const TILES_ROOT: &[u8] = include_bytes!(
    "../../../testdata/corpora/cosign/bundles/rekor-v2/trustedroot.v1.local_tlog_ed25519_rekor-tiles.json"
);
const COSIGN_PUB: &str =
    include_str!("../../../testdata/corpora/cosign/vectors/simple-signing-key/cosign.pub");

fn load(bytes: &[u8], what: &str) -> TrustedRoot {
    TrustedRoot::from_json(bytes, what).expect("the test data's trusted roots parse")
}

/// Sigstore's staging, production and a local Rekor v2 (ed25519, tiles) trusted root: between
/// them ECDSA and ed25519 logs, Fulcio CAs, CT logs and timestamp authorities.
pub fn roots() -> &'static [Arc<TrustedRoot>] {
    static ROOTS: OnceLock<Vec<Arc<TrustedRoot>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        vec![
            Arc::new(load(STAGING_ROOT, "staging_trusted_root.json")),
            Arc::new(load(PRODUCTION_ROOT, "production_trusted_root.json")),
            Arc::new(load(
                TILES_ROOT,
                "trustedroot.v1.local_tlog_ed25519_rekor-tiles.json",
            )),
        ]
    })
}

/// A keyless requirement on the staging root that accepts any identity, so verification of a
/// fuzzed bundle goes as deep as its bytes allow.
pub fn any_identity(root: &Arc<TrustedRoot>) -> KeylessRequirement {
    let any = StringMatcher::regex(".*").expect("a valid regex");
    KeylessRequirement {
        trusted_root: Arc::clone(root),
        identities: vec![Identity::new(any, None)],
        attestations: Vec::new(),
    }
}

/// The cosign test vectors' P-256 public key, as classic signatures are checked.
pub fn cosign_key() -> &'static PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    KEY.get_or_init(|| PublicKey::from_pem(COSIGN_PUB, "cosign.pub").expect("a valid key"))
}

/// The same key as a PKIX verification key, as key-signed bundles are checked.
pub fn cosign_verification_key() -> &'static VerificationKey {
    static KEY: OnceLock<VerificationKey> = OnceLock::new();
    KEY.get_or_init(|| VerificationKey::from_pem(COSIGN_PUB).expect("a valid key"))
}
