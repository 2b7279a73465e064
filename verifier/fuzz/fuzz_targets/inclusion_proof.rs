//! RFC 6962 / RFC 9162 inclusion proofs as a bundle carries them (log index, tree size, root hash,
//! audit path): `merkle::verify_inclusion`. Input layout: index (8 bytes, big-endian), tree size
//! (8), leaf hash (32), root hash (32), then the audit path's hashes (32 each; a shorter tail is
//! dropped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_verifier::keyless::merkle;

fn take<const N: usize>(data: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = data.split_first_chunk::<N>()?;
    *data = rest;
    Some(*head)
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let (Some(index), Some(size), Some(leaf), Some(root)) = (
        take::<8>(&mut data).map(u64::from_be_bytes),
        take::<8>(&mut data).map(u64::from_be_bytes),
        take::<32>(&mut data),
        take::<32>(&mut data),
    ) else {
        return;
    };
    let (path, _) = data.as_chunks::<32>();
    let _ = merkle::verify_inclusion(index, size, leaf, path, &root);
});
