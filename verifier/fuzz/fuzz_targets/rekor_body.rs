//! Rekor log entries: the canonicalized entry body (of a bundle's tlog entry, or inside a classic
//! signature's Rekor bundle), read by `rekor::check_body` for every kind of expected content —
//! `hashedrekord`/`rekord`/`dsse` 0.0.1, `intoto` 0.0.2 and Rekor v2's `hashedrekord`/`dsse`
//! 0.0.2, with their base64 and PEM fields — and the classic layer's Rekor bundle annotation
//! (`RekorBundle` JSON: SET and payload), verified against each test root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::roots;
use portcullis_verifier::keyless::rekor::{Expected, ExpectedContent, RekorBundle, check_body};

fuzz_target!(|data: &[u8]| {
    let hash = [0u8; 32];
    for content in [
        ExpectedContent::MessageSha256(&hash),
        ExpectedContent::DssePayloadSha256(&hash),
        ExpectedContent::DsseEnvelope {
            payload_sha256: &hash,
            pae_sha256: &hash,
        },
    ] {
        let expected = Expected {
            signature: b"signature",
            signer: b"signer",
            content,
        };
        let _ = check_body(data, &expected);
    }
    if let Ok(bundle) = serde_json::from_slice::<RekorBundle>(data) {
        for root in roots() {
            let _ = bundle.verify(root);
        }
    }
});
