//! The test Rekor: a log that signs SETs, keeps a Merkle tree of its entries and signs
//! checkpoints, and the `tlogEntries` element a Sigstore bundle carries for an entry.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_verifier::PrivateKey;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::TestSigstore;

/// One logged entry, with everything a classic bundle or a Sigstore bundle needs.
pub struct Logged {
    pub body: Vec<u8>,
    pub integrated_time: i64,
    pub log_index: i64,
    pub log_id: Vec<u8>,
    pub set: Vec<u8>,
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    pub path: Vec<[u8; 32]>,
    pub checkpoint: String,
}

impl TestSigstore {
    /// Logs a hashedrekord entry for `sig` by `leaf` over content with SHA-256 `sha256`, at
    /// `integrated_time`; the SET is signed by `set_key` (the log's own key when `None`).
    pub fn log(
        &mut self,
        leaf_pem: &str,
        sig: &[u8],
        sha256: &[u8],
        integrated_time: i64,
        set_key: Option<&PrivateKey>,
    ) -> Logged {
        let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha256)}},
            "signature": {"content": B64.encode(sig), "publicKey": {"content": B64.encode(leaf_pem)}}}})
        .to_string()
        .into_bytes();
        self.append(body, integrated_time, set_key)
    }

    /// Logs an arbitrary canonical `body` at `integrated_time`, SET by the log's own key.
    pub fn log_body(&mut self, body: Vec<u8>, integrated_time: i64) -> Logged {
        self.append(body, integrated_time, None)
    }

    /// Appends `body` to the log at `integrated_time`: its SET signed by `set_key` (the log's
    /// own key when `None`), its inclusion proof and a checkpoint signed by the log.
    fn append(
        &mut self,
        body: Vec<u8>,
        integrated_time: i64,
        set_key: Option<&PrivateKey>,
    ) -> Logged {
        let mut leaf = Sha256::new();
        leaf.update([0u8]);
        leaf.update(&body);
        self.leaves.push(leaf.finalize().into());
        let log_index = self.leaves.len() as i64 - 1;
        let log_id = self.log_id();
        let set_doc = json!({"body": B64.encode(&body), "integratedTime": integrated_time,
            "logID": hex::encode(&log_id), "logIndex": log_index});
        let set = set_key
            .unwrap_or(&self.log_key)
            .sign(set_doc.to_string().as_bytes());
        let root_hash = root_of(&self.leaves);
        let note = format!(
            "rekor.test - 1\n{}\n{}\n",
            self.leaves.len(),
            B64.encode(root_hash)
        );
        let mut signed = log_id[..4].to_vec();
        signed.extend(self.log_key.sign(note.as_bytes()));
        Logged {
            checkpoint: format!("{note}\n\u{2014} rekor.test {}\n", B64.encode(signed)),
            path: path_of(&self.leaves, log_index as usize),
            tree_size: self.leaves.len() as u64,
            root_hash,
            body,
            integrated_time,
            log_index,
            log_id,
            set,
        }
    }
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

pub(super) fn root_of(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = leaves.len().next_power_of_two() / 2;
    node(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
}

pub(super) fn path_of(leaves: &[[u8; 32]], i: usize) -> Vec<[u8; 32]> {
    if leaves.len() == 1 {
        return Vec::new();
    }
    let k = leaves.len().next_power_of_two() / 2;
    let (mut p, sibling) = if i < k {
        (path_of(&leaves[..k], i), root_of(&leaves[k..]))
    } else {
        (path_of(&leaves[k..], i - k), root_of(&leaves[..k]))
    };
    p.push(sibling);
    p
}

pub(super) fn tlog_entry(l: &Logged, kind: &str, version: &str) -> Value {
    json!({
        "logIndex": l.log_index.to_string(),
        "logId": {"keyId": B64.encode(&l.log_id)},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": l.integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": B64.encode(&l.set)},
        "inclusionProof": {"logIndex": l.log_index.to_string(), "rootHash": B64.encode(l.root_hash),
            "treeSize": l.tree_size.to_string(),
            "hashes": l.path.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            "checkpoint": {"envelope": l.checkpoint}},
        "canonicalizedBody": B64.encode(&l.body)})
}
