//! A transparency log's signed checkpoint: a C2SP `tlog-checkpoint` body (origin line, tree
//! size, base64 root hash, optional extension lines) inside a C2SP `signed-note` (the text, a
//! blank line, then one `— <key name> base64(key id ‖ signature)` line per signer).
//!
//! A checkpoint counts only when signed by a log of the trusted root. That log is known by its
//! (name, key id) pair: the name is its base URL without the scheme (the origin Rekor writes),
//! the key id the first 4 bytes of
//! - Ed25519 (Rekor v2): SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key), as `signed-note`
//!   defines it (the trusted root's log id for such a log is that hash, not truncated);
//! - ECDSA (Rekor v1, Rekor v2 ECDSA logs): SHA-256 of the DER SubjectPublicKeyInfo, the
//!   truncated log id (`signed-note` signature type 0x02).
//!
//! Signatures under another (name, key id) — witness cosignatures, say — are ignored: the
//! trusted root names no witnesses, so none is trusted. A signature that does carry the log's
//! name and key id must verify, else the whole note is rejected (as `signed-note` advises). The
//! origin line must be the log's name (Rekor v2) or `<name> - <tree id>` (Rekor v1 shards).
//! A log known only by its key (a root made from PEM parts) has no name: its signature is picked
//! by key id alone and the origin is not checked.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest as _, Sha256};

use super::pkix::{PkixError, VerificationKey};
use super::trust::TransparencyLog;

pub use portcullis_verifier_types::keyless::errors::MerkleError;

/// More signature lines than this is a malformed note (`signed-note` asks for at least 16).
const MAX_SIGNATURES: usize = 64;
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NoteSignature {
    name: String,
    key_id: [u8; 4],
    signature: Vec<u8>,
}

/// A parsed (not yet verified) signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    /// Extension lines after the root hash (e.g. Rekor v1's `Timestamp: …`).
    pub extensions: Vec<String>,
    /// The signed note text: every line before the separating blank line, each with its newline.
    signed: String,
    signatures: Vec<NoteSignature>,
}

fn bad(cause: impl Into<String>) -> MerkleError {
    MerkleError::MalformedCheckpoint {
        cause: cause.into(),
    }
}

impl Checkpoint {
    /// Parses a signed note holding a checkpoint.
    pub fn parse(note: &str) -> Result<Self, MerkleError> {
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(bad("control character other than newline"));
        }
        // The text ends at the last blank line; the signature block follows it.
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| bad("no blank line between the text and its signatures"))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        if !sigs.ends_with('\n') {
            return Err(bad("signature block does not end with a newline"));
        }
        let signatures = sigs
            .lines()
            .map(parse_signature)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(bad("no signature line"));
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(bad(format!(
                "{} signature lines, more than {MAX_SIGNATURES}",
                signatures.len()
            )));
        }
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("no origin line"))?;
        let size = lines
            .next()
            .filter(|l| l.bytes().all(|b| b.is_ascii_digit()))
            .filter(|l| *l == "0" || !l.starts_with('0'))
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| bad("second line is not a decimal tree size (no leading zeroes)"))?;
        let root: [u8; 32] = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("third line is not a base64 SHA-256 root hash"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line"));
        }
        Ok(Self {
            origin: origin.to_string(),
            size,
            root,
            extensions,
            signed: text.to_string(),
            signatures,
        })
    }

    /// Checks the note is signed by `log` and names it as its origin.
    pub fn verify(&self, log: &TransparencyLog) -> Result<(), MerkleError> {
        let name = log.origin();
        if let Some(name) = name
            && self.origin != name
            && !self
                .origin
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(" - "))
        {
            return Err(MerkleError::CheckpointOrigin {
                origin: self.origin.clone(),
                log: log.base_url.clone(),
                expected: name.to_string(),
            });
        }
        let key_err = |source| MerkleError::CheckpointKey {
            log: log.base_url.clone(),
            source,
        };
        let mut ours = Vec::new();
        for s in &self.signatures {
            if name.is_some_and(|n| n != s.name) {
                continue;
            }
            if s.key_id == note_key_id(&s.name, &log.key).map_err(key_err)? {
                ours.push(s);
            }
        }
        if ours.is_empty() {
            let shown = name.unwrap_or(self.origin.as_str());
            return Err(MerkleError::CheckpointUnsigned {
                origin: self.origin.clone(),
                log: log.base_url.clone(),
                name: shown.to_string(),
                key_id: hex::encode(note_key_id(shown, &log.key).map_err(key_err)?),
            });
        }
        for s in ours {
            let ok = log
                .key
                .verify(self.signed.as_bytes(), &s.signature, log.key.default_hash())
                .map_err(key_err)?;
            if !ok {
                return Err(MerkleError::CheckpointBadSignature {
                    origin: self.origin.clone(),
                    log: log.base_url.clone(),
                });
            }
        }
        Ok(())
    }
}

fn parse_signature(line: &str) -> Result<NoteSignature, MerkleError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or_else(|| bad("signature line does not start with an em dash and a space"))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| bad("signature line has no signature"))?;
    if name.is_empty() || name.contains('+') || b64.contains(' ') {
        return Err(bad(format!("signature line of {name:?} is malformed")));
    }
    let raw = B64
        .decode(b64)
        .map_err(|_| bad(format!("signature of {name:?} is not base64")))?;
    if raw.len() < 5 {
        return Err(bad(format!("signature of {name:?} is too short")));
    }
    Ok(NoteSignature {
        name: name.to_string(),
        key_id: [raw[0], raw[1], raw[2], raw[3]],
        signature: raw[4..].to_vec(),
    })
}

/// The 4-byte `signed-note` key id of `key` under `name`.
pub fn note_key_id(name: &str, key: &VerificationKey) -> Result<[u8; 4], PkixError> {
    let hash: [u8; 32] = if let Some(pk) = key.ed25519_bytes() {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0x0a, 0x01]);
        h.update(pk);
        h.finalize().into()
    } else if key.algorithm().starts_with("ECDSA") {
        key.id()
    } else {
        return Err(PkixError::Unsupported {
            algorithm: key.algorithm().to_string(),
        });
    };
    Ok([hash[0], hash[1], hash[2], hash[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_NOTE: &str = "rekor.sigstore.dev - 1193050959916656506\n53604735\nnd/V1IEweXlu0reIQGaGK1d51xW4Rj8fUyTrmcUkrMY=\n\n\u{2014} rekor.sigstore.dev wNI9ajBFAiEAuh6liXP/rBKWjuO/W8jooM66eVHSXo3Cf8kEAIryZLACIAfCuhLOHpSnU3WA68gZci57o2JuwX7S5H6ANbGePH58\n";

    #[test]
    fn checkpoint_parses() {
        let cp = Checkpoint::parse(V1_NOTE).unwrap();
        assert_eq!(cp.origin, "rekor.sigstore.dev - 1193050959916656506");
        assert_eq!(cp.size, 53604735);
        assert_eq!(cp.signatures.len(), 1);
        assert_eq!(hex::encode(cp.signatures[0].key_id), "c0d23d6a");
        assert!(cp.extensions.is_empty());
        let with_ext = V1_NOTE.replacen("=\n\n", "=\nTimestamp: 1\n\n", 1);
        let cp = Checkpoint::parse(&with_ext).unwrap();
        assert_eq!(cp.extensions, vec!["Timestamp: 1".to_string()]);
        assert!(cp.signed.ends_with("Timestamp: 1\n"));
    }

    #[test]
    fn malformed_notes_are_refused() {
        for (note, why) in [
            ("origin\n1\n", "no blank line"),
            ("origin\nx\nAAAA\n\n\u{2014} a AAAAAAA=\n", "size"),
            ("origin\n+1\nAAAA\n\n\u{2014} a AAAAAAA=\n", "size"),
            (
                "origin\n01\nAAAA\n\n\u{2014} a AAAAAAA=\n",
                "leading zeroes",
            ),
            (
                &V1_NOTE.replacen("=\n\n", "=\n\nx\n\n", 1),
                "empty extension",
            ),
            ("o\n1\nAAAA\n\n\u{2014} a AAAAAAA=\n", "root hash"),
            (&V1_NOTE.replace('\u{2014}', "-"), "em dash"),
            (&V1_NOTE[..V1_NOTE.len() - 1], "newline"),
            (&V1_NOTE.replace("1193", "\t193"), "control"),
            (&V1_NOTE.replace("dev wNI9", "dev wN#9"), "base64"),
        ] {
            let err = Checkpoint::parse(note).unwrap_err();
            assert!(err.to_string().contains(why), "{why}: {err}");
        }
    }

    /// A note `origin\n3\n<root>\n` signed by `key` as `name`, plus a witness cosignature.
    fn ecdsa_note(origin: &str, name: &str, key: &crate::PrivateKey) -> String {
        let text = format!("{origin}\n3\n{}\n", B64.encode([9u8; 32]));
        let vk = VerificationKey::from_pem(&key.public().to_pem()).unwrap();
        let mut sig = note_key_id(name, &vk).unwrap().to_vec();
        sig.extend(key.sign(text.as_bytes()));
        let witness = B64.encode([7u8; 70]);
        format!(
            "{text}\n\u{2014} {name} {}\n\u{2014} witness.example {witness}\n",
            B64.encode(sig)
        )
    }

    fn log(base_url: &str, key: &crate::PrivateKey) -> TransparencyLog {
        let key = VerificationKey::from_pem(&key.public().to_pem()).unwrap();
        TransparencyLog {
            base_url: base_url.into(),
            log_id: key.id().to_vec(),
            checkpoint_key_id: None,
            key,
            valid_for: Default::default(),
        }
    }

    #[test]
    fn ecdsa_checkpoints_are_checked_by_name_key_id_and_origin() {
        let key = crate::PrivateKey::generate();
        let name = "log2026-1.rekor.example";
        let ours = log(&format!("https://{name}/"), &key);
        let note = ecdsa_note(name, name, &key);
        let cp = Checkpoint::parse(&note).unwrap();
        assert_eq!(cp.signatures.len(), 2);
        assert_eq!(cp.verify(&ours), Ok(()), "the witness line is ignored");
        // Rekor v1's origin form, `<name> - <tree id>`, is the same log.
        let v1 = Checkpoint::parse(&ecdsa_note(&format!("{name} - 42"), name, &key)).unwrap();
        assert_eq!(v1.verify(&ours), Ok(()));
        let other = Checkpoint::parse(&ecdsa_note("log2026-2.rekor.example", name, &key)).unwrap();
        assert!(matches!(
            other.verify(&ours),
            Err(MerkleError::CheckpointOrigin { .. })
        ));
        // Signed under another name: not the log's signature.
        let renamed = Checkpoint::parse(&ecdsa_note(name, "elsewhere.example", &key)).unwrap();
        assert!(matches!(
            renamed.verify(&ours),
            Err(MerkleError::CheckpointUnsigned { .. })
        ));
        // Another key: same name, other key id.
        let stranger = log(&format!("https://{name}"), &crate::PrivateKey::generate());
        assert!(matches!(
            cp.verify(&stranger),
            Err(MerkleError::CheckpointUnsigned { .. })
        ));
        // A log known only by its key: any name, the key id decides.
        let unnamed = log("log key 0", &key);
        assert_eq!(unnamed.origin(), None);
        assert_eq!(renamed.verify(&unnamed), Ok(()));
    }

    #[test]
    fn ed25519_key_id_is_the_signed_note_one() {
        // log2025-alpha1.rekor.sigstage.dev of Sigstore's staging trusted root: its log id
        // starts with f30d5a99, the key id its checkpoints carry.
        let der = B64
            .decode("MCowBQYDK2VwAyEAPn+AREHoBaZ7wgS1zBqpxmLSGnyhxXj4lFxSdWVB8o8=")
            .unwrap();
        let key = VerificationKey::from_spki_der(&der).unwrap();
        let id = note_key_id("log2025-alpha1.rekor.sigstage.dev", &key).unwrap();
        assert_eq!(hex::encode(id), "f30d5a99");
        assert_ne!(note_key_id("other.example", &key).unwrap(), id);
    }
}
