//! A registry's `WWW-Authenticate` challenge (the header of its 401 answers), as the registry
//! client reads it before asking for a token: `Challenge::parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_verifier::registry::auth::Challenge;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        let _ = Challenge::parse(header);
    }
});
