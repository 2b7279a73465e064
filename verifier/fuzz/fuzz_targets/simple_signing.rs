//! cosign "simple signing" payloads (the signed JSON of a classic `.sig` layer):
//! `SimpleSigning::parse` and the digest it names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_verifier::cosign::payload::SimpleSigning;

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = SimpleSigning::parse(data) {
        let _ = payload.digest();
    }
});
