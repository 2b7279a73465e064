//! RFC 3161 `TimeStampResp` / `TimeStampToken` DER (CMS SignedData with a TSTInfo), read by the
//! hand-written DER reader: `tsa::verify_timestamp` against each test root's timestamp
//! authorities (parsing comes first; a fuzzed token rarely gets past the imprint check).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::roots;
use portcullis_verifier::keyless::tsa;

fuzz_target!(|data: &[u8]| {
    for root in roots() {
        let _ = tsa::verify_timestamp(0, data, b"signature", root);
    }
});
