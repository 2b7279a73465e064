//! What a Sigstore bundle proves about an artifact (known by its SHA-256): checked offline
//! against a trusted root, keyless ([`verify_bundle`]) or with a known key
//! ([`verify_bundle_with_key`]).
//!
//! 1. content: a message signature must verify over the artifact digest (and any recorded
//!    digest must be the artifact's); a DSSE envelope must verify over its PAE and be an in-toto
//!    Statement with the artifact among its subjects;
//! 2. log: at least one entry that logs this very signature, signer and content, with a valid
//!    SET and, when present (always from v0.2), an inclusion proof to a checkpoint signed by the
//!    same trusted log; the SET's integrated time is the time of signing;
//! 3. timestamps: every RFC 3161 timestamp must verify over the signature against the root's
//!    timestamp authorities ([`super::tsa`]; skipped when the root names none);
//! 4. keyless only: the certificate chains to a trusted Fulcio CA at the log's time and at each
//!    timestamp's time, carries a verifying SCT when the root names CT logs ([`super::sct`]),
//!    and its identity matches policy.
//!
//! Entries without a SET (Rekor v2) would need an RFC 3161 timestamp as their only time; those
//! are not verified yet, so such bundles fail closed with [`KeylessError::Unsupported`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::bundle::{Bundle, Content, Signer, TlogEntry};
use super::cert::Certificate;
use super::identity::{CertIdentity, check_any};
use super::merkle::{Checkpoint, MerkleError, leaf_hash, verify_inclusion};
use super::pkix::VerificationKey;
use super::rekor::{Expected, ExpectedContent, RekorPayload, check_body, find_log, verify_set};
use super::sct;
use super::trust::TrustedRoot;
use super::tsa::{VerifiedTimestamp, verify_timestamps};
use super::{KeylessError, KeylessRequirement};
use crate::cosign::dsse::{Envelope, Statement, pae};

/// What a verified bundle proved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedBundle {
    /// The certificate's identity (empty for key-signed bundles).
    pub identity: CertIdentity,
    /// The issuing CA (keyless) or "" (key).
    pub ca: String,
    /// The log that proved the signing time, "" when the log was not checked.
    pub log: String,
    pub log_index: i64,
    pub integrated_time: i64,
    /// The in-toto Statement of a DSSE bundle.
    pub statement: Option<Statement>,
    /// The RFC 3161 timestamps that verified (empty when the root names no TSA).
    pub timestamps: Vec<VerifiedTimestamp>,
}

/// The signature that verified, and what the log must record for it.
struct Signed {
    signature: Vec<u8>,
    content_sha256: [u8; 32],
    dsse: bool,
    statement: Option<Statement>,
}

/// Verifies a keyless bundle over the artifact with SHA-256 `artifact`.
pub fn verify_bundle(
    bundle: &Bundle,
    artifact: &[u8; 32],
    req: &KeylessRequirement,
) -> Result<VerifiedBundle, KeylessError> {
    let Signer::Certificate(der) = &bundle.signer else {
        return Err(KeylessError::Unsupported {
            what: "bundle is signed with a public key, not a certificate: verify it with a key"
                .into(),
        });
    };
    let cert = Certificate::from_der(der)?;
    let signed = verify_content(bundle, artifact, cert.key()?)?;
    let root = req.trusted_root.as_ref();
    let (log, log_index, at) = verify_log(bundle, root, &signed, cert.der())?;
    let timestamps = verify_timestamps(&bundle.timestamps, &signed.signature, root)?;
    let ca = cert.verify_leaf(root, at)?;
    for t in &timestamps {
        cert.verify_leaf(root, t.gen_time)?;
    }
    sct::verify_embedded(&cert, ca, root)?;
    check_any(&req.identities, cert.identity())?;
    Ok(VerifiedBundle {
        identity: cert.identity().clone(),
        ca: ca.name.clone(),
        log,
        log_index,
        integrated_time: at,
        statement: signed.statement,
        timestamps,
    })
}

/// Verifies a bundle signed with `key`; its log entry is checked against `root` when given
/// (`None` skips the log: the caller's explicit, named choice).
pub fn verify_bundle_with_key(
    bundle: &Bundle,
    artifact: &[u8; 32],
    key: &VerificationKey,
    root: Option<&TrustedRoot>,
) -> Result<VerifiedBundle, KeylessError> {
    let signed = verify_content(bundle, artifact, key)?;
    let (log, log_index, integrated_time) = match root {
        Some(root) => verify_log(bundle, root, &signed, key.spki_der())?,
        None => (String::new(), 0, 0),
    };
    let timestamps = match root {
        Some(root) => verify_timestamps(&bundle.timestamps, &signed.signature, root)?,
        None => Vec::new(),
    };
    Ok(VerifiedBundle {
        identity: CertIdentity::default(),
        ca: String::new(),
        log,
        log_index,
        integrated_time,
        statement: signed.statement,
        timestamps,
    })
}

fn verify_content(
    bundle: &Bundle,
    artifact: &[u8; 32],
    key: &VerificationKey,
) -> Result<Signed, KeylessError> {
    match &bundle.content {
        Content::MessageSignature { digest, signature } => {
            if let Some((alg, d)) = digest
                && (!alg.eq_ignore_ascii_case("SHA2_256") || d.as_slice() != artifact)
            {
                return Err(KeylessError::ContentMismatch {
                    expected: format!("sha256:{}", hex::encode(artifact)),
                    actual: format!("{alg}:{}", hex::encode(d)),
                });
            }
            if !key.verify_prehash(artifact, signature)? {
                return Err(KeylessError::Signature {
                    what: format!("message signature over sha256:{}", hex::encode(artifact)),
                });
            }
            Ok(Signed {
                signature: signature.clone(),
                content_sha256: *artifact,
                dsse: false,
                statement: None,
            })
        }
        Content::Dsse(env) => {
            let (payload, signature) = dsse_signature(env, key)?;
            let statement = env
                .statement()
                .map_err(|cause| super::malformed("in-toto statement", cause))?;
            let hex = hex::encode(artifact);
            if !statement.subject.iter().any(|s| {
                s.digest
                    .get("sha256")
                    .is_some_and(|h| h.eq_ignore_ascii_case(&hex))
            }) {
                return Err(KeylessError::ContentMismatch {
                    expected: format!("sha256:{hex}"),
                    actual: statement.subject_digests(),
                });
            }
            Ok(Signed {
                signature,
                content_sha256: Sha256::digest(&payload).into(),
                dsse: true,
                statement: Some(statement),
            })
        }
    }
}

/// Returns (log, log index, integrated time) of the first entry that proves `signed`.
fn verify_log(
    bundle: &Bundle,
    root: &TrustedRoot,
    signed: &Signed,
    signer: &[u8],
) -> Result<(String, i64, i64), KeylessError> {
    let expected = Expected {
        signature: &signed.signature,
        signer,
        content: if signed.dsse {
            ExpectedContent::DssePayloadSha256(&signed.content_sha256)
        } else {
            ExpectedContent::MessageSha256(&signed.content_sha256)
        },
    };
    let mut best: Option<KeylessError> = None;
    for entry in &bundle.tlog_entries {
        match verify_entry(entry, root, &expected) {
            Ok(found) => return Ok(found),
            Err(e) => {
                best.get_or_insert(e);
            }
        }
    }
    Err(best.unwrap_or_else(|| KeylessError::NoLogEntry {
        what: "the bundle has no tlogEntries".into(),
    }))
}

fn verify_entry(
    entry: &TlogEntry,
    root: &TrustedRoot,
    expected: &Expected<'_>,
) -> Result<(String, i64, i64), KeylessError> {
    check_body(&entry.body, expected)?;
    let Some(set) = &entry.set else {
        return Err(KeylessError::Unsupported {
            what: "log entry without a signed entry timestamp (Rekor v2 needs RFC 3161 timestamps)"
                .into(),
        });
    };
    let payload = RekorPayload {
        body: entry.body_b64.clone(),
        integrated_time: entry.integrated_time,
        log_index: entry.log_index,
        log_id: hex::encode(&entry.log_id),
    };
    let log = verify_set(root, &payload, set)?;
    if let Some(proof) = &entry.proof {
        verify_inclusion(
            proof.log_index,
            proof.tree_size,
            leaf_hash(&entry.body),
            &proof.hashes,
            &proof.root_hash,
        )?;
        let cp = Checkpoint::parse(&proof.checkpoint)?;
        if cp.size != proof.tree_size || cp.root != proof.root_hash {
            return Err(MerkleError::CheckpointMismatch {
                checkpoint: cp.size,
                proof: proof.tree_size,
                checkpoint_root: hex::encode(cp.root),
                proof_root: hex::encode(proof.root_hash),
            }
            .into());
        }
        let log = find_log(root, &entry.log_id, entry.integrated_time)?;
        cp.verify(log)?;
    }
    Ok((log.base_url.clone(), entry.log_index, entry.integrated_time))
}

/// The payload of `env` and the first of its signatures that verifies with `key` (DSSE PAE).
pub(super) fn dsse_signature(
    env: &Envelope,
    key: &VerificationKey,
) -> Result<(Vec<u8>, Vec<u8>), KeylessError> {
    let payload = env
        .payload_bytes()
        .map_err(|cause| super::malformed("DSSE envelope", cause))?;
    let msg = pae(&env.payload_type, &payload);
    for s in &env.signatures {
        let Ok(sig) = B64.decode(&s.sig) else {
            continue;
        };
        if key.verify(&msg, &sig, key.default_hash())? {
            return Ok((payload, sig));
        }
    }
    Err(KeylessError::Signature {
        what: format!("DSSE envelope ({})", env.payload_type),
    })
}
