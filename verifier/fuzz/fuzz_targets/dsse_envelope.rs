//! DSSE envelopes (cosign attestation layers, bundle `dsseEnvelope`): the `Envelope` JSON, its
//! base64 payload, the in-toto Statement inside it, the PAE and the signature check with a key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::cosign_key;
use portcullis_verifier::Digest;
use portcullis_verifier::cosign::dsse::{self, Envelope};

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(data) else {
        return;
    };
    if let Ok(payload) = envelope.payload_bytes() {
        let _ = dsse::pae(&envelope.payload_type, &payload);
    }
    let _ = envelope.verified_by(std::slice::from_ref(cosign_key()));
    if let Ok(statement) = envelope.statement() {
        let _ = statement.subject_digests();
        let _ = statement.is_about(&Digest::of(b""));
    }
});
