//! RFC 6962 `SignedCertificateTimestampList` (the TLS encoding inside the Fulcio leaf's SCT
//! extension): `sct::list_log_ids`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_verifier::keyless::sct;

fuzz_target!(|data: &[u8]| {
    let _ = sct::list_log_ids(data);
});
