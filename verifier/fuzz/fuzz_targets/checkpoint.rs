//! C2SP signed notes holding a `tlog-checkpoint`: `Checkpoint::parse`, then `verify` against
//! every transparency log of the test roots (ECDSA Rekor v1 and ed25519 Rekor v2 logs), which
//! reads the signature lines' key ids and signatures.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::roots;
use portcullis_verifier::keyless::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(note) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(checkpoint) = Checkpoint::parse(note) else {
        return;
    };
    for root in roots() {
        for log in &root.tlogs {
            let _ = checkpoint.verify(log);
        }
    }
});
