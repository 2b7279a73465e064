//! Inclusion of an entry in a transparency log: the RFC 6962 / RFC 9162 audit path from the
//! entry's leaf hash up to a tree root.
//!
//! Leaf hash = SHA-256(0x00 ‖ canonical body); node hash = SHA-256(0x01 ‖ left ‖ right). An
//! inclusion proof proves membership only together with a checkpoint signed by a trusted log
//! naming the same root and tree size ([`super::checkpoint`]): a bare root hash is something
//! anyone can compute.

use sha2::{Digest as _, Sha256};

pub use portcullis_verifier_types::keyless::errors::MerkleError;

pub fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().into()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root an audit path leads to (RFC 9162 §2.1.3.2), checking its shape.
pub fn root_from_path(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    path: &[[u8; 32]],
) -> Result<[u8; 32], MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let wrong_len = || MerkleError::WrongPathLength {
        index,
        size,
        expected: expected_path_len(index, size),
        actual: path.len(),
    };
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if s == 0 {
            return Err(wrong_len());
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(wrong_len());
    }
    Ok(r)
}

/// Audit path length for `index` in a tree of `size` (for messages).
fn expected_path_len(index: u64, size: u64) -> usize {
    if index >= size {
        return 0;
    }
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    // `inner` is 64 when the top bit differs: nothing is left above it (a plain `>>` overflows).
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Verifies that `leaf` is at `index` of the tree of `size` whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    path: &[[u8; 32]],
    root: &[u8; 32],
) -> Result<(), MerkleError> {
    let computed = root_from_path(index, size, leaf, path)?;
    if &computed != root {
        return Err(MerkleError::RootMismatch {
            expected: hex::encode(root),
            computed: hex::encode(computed),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree built naively, for cross-checking the path verifier.
    fn root_of(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = leaves.len().next_power_of_two() / 2;
        node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
    }

    fn path_of(leaves: &[[u8; 32]], i: usize) -> Vec<[u8; 32]> {
        if leaves.len() == 1 {
            return Vec::new();
        }
        let k = leaves.len().next_power_of_two() / 2;
        if i < k {
            let mut p = path_of(&leaves[..k], i);
            p.push(root_of(&leaves[k..]));
            p
        } else {
            let mut p = path_of(&leaves[k..], i - k);
            p.push(root_of(&leaves[..k]));
            p
        }
    }

    #[test]
    fn every_leaf_of_every_small_tree_verifies_and_tampering_fails() {
        for size in 1..=17usize {
            let leaves: Vec<[u8; 32]> = (0..size).map(|i| leaf_hash(&[i as u8])).collect();
            let root = root_of(&leaves);
            for i in 0..size {
                let path = path_of(&leaves, i);
                assert_eq!(path.len(), expected_path_len(i as u64, size as u64));
                let (n, idx) = (size as u64, i as u64);
                assert_eq!(verify_inclusion(idx, n, leaves[i], &path, &root), Ok(()));
                let wrong_leaf = leaf_hash(b"other");
                assert!(matches!(
                    verify_inclusion(idx, n, wrong_leaf, &path, &root),
                    Err(MerkleError::RootMismatch { .. })
                ));
                if let Some(first) = path.first() {
                    let mut bad = path.clone();
                    bad[0][0] ^= 1;
                    assert_ne!(bad[0], *first);
                    assert!(verify_inclusion(idx, n, leaves[i], &bad, &root).is_err());
                    assert!(matches!(
                        verify_inclusion(idx, n, leaves[i], &path[1..], &root),
                        Err(MerkleError::WrongPathLength { .. })
                    ));
                }
            }
            assert!(matches!(
                verify_inclusion(size as u64, size as u64, leaves[0], &[], &root),
                Err(MerkleError::IndexOutOfRange { .. })
            ));
        }
    }

    /// Found by the `inclusion_proof` fuzz target (verifier/fuzz/regressions/inclusion_proof):
    /// an index and a last index differing in the top bit overflowed a shift while the error
    /// message was being made.
    #[test]
    fn a_wrong_path_length_in_a_tree_of_more_than_2_pow_63_leaves_is_an_error() {
        let size = (1u64 << 63) + 1;
        let leaf = leaf_hash(b"x");
        assert_eq!(expected_path_len(0, size), 64);
        assert_eq!(expected_path_len(1 << 63, size), 1);
        assert!(matches!(
            verify_inclusion(0, size, leaf, &[leaf], &leaf),
            Err(MerkleError::WrongPathLength {
                expected: 64,
                actual: 1,
                ..
            })
        ));
    }
}
