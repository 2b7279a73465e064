//! Sigstore bundle JSON (v0.1–v0.3 and cosign's legacy blob bundle): `Bundle::from_json`, then
//! both verifications of what parsed (keyless against each test root, and with a key), which
//! read the certificate, the DSSE envelope, the log entry's body, inclusion proof and checkpoint,
//! and the RFC 3161 timestamps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::{any_identity, cosign_verification_key, roots};
use portcullis_verifier::keyless::{Bundle, verify_bundle, verify_bundle_with_key};

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = Bundle::from_json(data) else {
        return;
    };
    let artifact = [0u8; 32];
    for root in roots() {
        let _ = verify_bundle(&bundle, &artifact, &any_identity(root));
    }
    let _ = verify_bundle_with_key(
        &bundle,
        &artifact,
        cosign_verification_key(),
        Some(&roots()[0]),
    );
});
