//! Inclusion of an entry in a transparency log: the RFC 6962 / RFC 9162 audit path from the
//! entry's leaf hash up to a tree root, and the log's signed checkpoint naming that root.
//!
//! Leaf hash = SHA-256(0x00 ‖ canonical body); node hash = SHA-256(0x01 ‖ left ‖ right). The
//! checkpoint is a signed note (C2SP `signed-note`): `origin\nsize\nbase64(root)\n[extra]\n`,
//! a blank line, then `— <name> base64(keyhint ‖ signature)` lines. For ECDSA logs (Rekor v1)
//! the key hint is the first 4 bytes of the log id; the signature covers the text before the
//! blank line. An inclusion proof proves membership only together with a checkpoint signed by a
//! trusted log: a bare root hash is something anyone can compute.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest as _, Sha256};

use super::trust::TransparencyLog;

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
    let inner = 64 - (index ^ (size - 1)).leading_zeros() as usize;
    let border = (index >> inner).count_ones() as usize;
    inner + border
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

/// A parsed signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    /// The signed text: every line up to and including the one before the blank line.
    signed: String,
    /// (signer name, key hint, signature)
    signatures: Vec<(String, [u8; 4], Vec<u8>)>,
}

impl Checkpoint {
    pub fn parse(note: &str) -> Result<Self, MerkleError> {
        let bad = |cause: &str| MerkleError::MalformedCheckpoint {
            cause: cause.into(),
        };
        let (text, sigs) = note
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line between the body and its signatures"))?;
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("no origin line"))?;
        let size = lines
            .next()
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| bad("second line is not a tree size"))?;
        let root: [u8; 32] = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("third line is not a base64 SHA-256 root hash"))?;
        let mut signatures = Vec::new();
        for line in sigs.lines().filter(|l| !l.is_empty()) {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| bad("signature line does not start with an em dash"))?;
            let (name, b64) = rest
                .rsplit_once(' ')
                .ok_or_else(|| bad("signature line has no signature"))?;
            let raw = B64
                .decode(b64)
                .map_err(|_| bad("signature is not base64"))?;
            if raw.len() < 5 {
                return Err(bad("signature too short"));
            }
            let hint = [raw[0], raw[1], raw[2], raw[3]];
            signatures.push((name.to_string(), hint, raw[4..].to_vec()));
        }
        Ok(Self {
            origin: origin.to_string(),
            size,
            root,
            signed: format!("{text}\n"),
            signatures,
        })
    }

    /// Checks the note is signed by `log` (key hint = first 4 bytes of its log id).
    pub fn verify(&self, log: &TransparencyLog) -> Result<(), MerkleError> {
        let hint = log.log_id.get(..4);
        let ok = self.signatures.iter().any(|(_, h, sig)| {
            Some(&h[..]) == hint
                && log
                    .key
                    .verify(self.signed.as_bytes(), sig, log.key.default_hash())
                    .unwrap_or(false)
        });
        if ok {
            Ok(())
        } else {
            Err(MerkleError::CheckpointUnsigned {
                origin: self.origin.clone(),
                log: log.base_url.clone(),
            })
        }
    }
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

    #[test]
    fn checkpoint_parses() {
        let note = "rekor.sigstore.dev - 1193050959916656506\n53604735\nnd/V1IEweXlu0reIQGaGK1d51xW4Rj8fUyTrmcUkrMY=\n\n\u{2014} rekor.sigstore.dev wNI9ajBFAiEAuh6liXP/rBKWjuO/W8jooM66eVHSXo3Cf8kEAIryZLACIAfCuhLOHpSnU3WA68gZci57o2JuwX7S5H6ANbGePH58\n";
        let cp = Checkpoint::parse(note).unwrap();
        assert_eq!(cp.origin, "rekor.sigstore.dev - 1193050959916656506");
        assert_eq!(cp.size, 53604735);
        assert_eq!(cp.signatures.len(), 1);
        assert_eq!(hex::encode(cp.signatures[0].1), "c0d23d6a");
        assert!(Checkpoint::parse("origin\n1\n").is_err());
        assert!(Checkpoint::parse("origin\nx\nAAAA\n\n").is_err());
    }
}
