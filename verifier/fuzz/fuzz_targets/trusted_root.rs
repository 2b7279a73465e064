//! `trusted_root.json` documents (Sigstore's format; read at startup from a file or ConfigMap):
//! `TrustedRoot::from_json`, which decodes every CA, TSA, transparency and CT log it names (DER
//! certificates, SubjectPublicKeyInfo keys, validity windows).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_verifier::keyless::TrustedRoot;

fuzz_target!(|data: &[u8]| {
    let _ = TrustedRoot::from_json(data, "fuzz");
});
