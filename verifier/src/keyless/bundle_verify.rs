//! What a Sigstore bundle proves about an artifact (known by its SHA-256): checked offline
//! against a trusted root, keyless ([`verify_bundle`]) or with a known key
//! ([`verify_bundle_with_key`]).
//!
//! 1. content: a message signature must verify over the artifact digest (and any recorded
//!    digest must be the artifact's); a DSSE envelope must verify over its PAE and be an in-toto
//!    Statement with the artifact among its subjects;
//! 2. log: at least one entry that logs this very signature, signer and content, with a valid
//!    SET and/or an inclusion proof to a checkpoint signed by the same trusted log (always from
//!    v0.2); the SET's integrated time is the time of signing;
//! 3. timestamps: every RFC 3161 timestamp must verify over the signature against the root's
//!    timestamp authorities ([`super::tsa`]; skipped when the root names none);
//! 4. keyless only: the certificate chains to a trusted Fulcio CA at the log's time and at each
//!    timestamp's time, carries a verifying SCT when the root names CT logs ([`super::sct`]),
//!    and its identity matches policy.
//!
//! An entry without a SET (Rekor v2: `hashedrekord`/`dsse` 0.0.2, or a v1 entry whose bundle
//! dropped its promise) proves inclusion but no time: its integrated time is ignored, and the
//! verified timestamps are the times of signing. There must be at least one, and the log must
//! be valid (trusted root `validFor`, both ends inclusive) at each of them; without one the
//! bundle is refused ([`RekorError::NoTrustedTime`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::bundle::{Bundle, Content, InclusionProof, Signer, TlogEntry};
use super::cert::Certificate;
use super::checkpoint::Checkpoint;
use super::identity::{CertIdentity, check_any};
use super::merkle::{MerkleError, leaf_hash, verify_inclusion};
use super::pkix::VerificationKey;
use super::rekor::{Expected, ExpectedContent, RekorError, RekorPayload, check_body, verify_set};
use super::sct;
use super::trust::{TransparencyLog, TrustedRoot};
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
    /// The log that proved the entry, "" when the log was not checked.
    pub log: String,
    pub log_index: i64,
    /// The time the log's SET proved; 0 when it proved none (Rekor v2): `timestamps` then hold
    /// the time of signing.
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
    /// SHA-256 of the envelope's PAE, for a DSSE bundle.
    pae_sha256: Option<[u8; 32]>,
    statement: Option<Statement>,
}

/// What a bundle's log entry and timestamps proved.
struct Logged {
    log: String,
    log_index: i64,
    /// The SET's integrated time, if the entry had one.
    integrated_time: Option<i64>,
    timestamps: Vec<VerifiedTimestamp>,
}

impl Logged {
    /// Every trusted time of signing: the integrated time and each timestamp's.
    fn times(&self) -> impl Iterator<Item = i64> + '_ {
        self.integrated_time
            .into_iter()
            .chain(self.timestamps.iter().map(|t| t.gen_time))
    }
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
    let logged = verify_logged(bundle, root, &signed, cert.der())?;
    // The CA is the one at the first time (the integrated time, when the log proved one).
    let mut ca = None;
    for at in logged.times() {
        let issuer = cert.verify_leaf(root, at)?;
        ca.get_or_insert(issuer);
    }
    // `verify_logged` returns at least one time (an integrated time or a timestamp).
    let ca = ca.ok_or_else(|| KeylessError::NoLogEntry {
        what: "no trusted time of signing".into(),
    })?;
    sct::verify_embedded(&cert, ca, root)?;
    check_any(&req.identities, cert.identity())?;
    Ok(VerifiedBundle {
        identity: cert.identity().clone(),
        ca: ca.name.clone(),
        log: logged.log,
        log_index: logged.log_index,
        integrated_time: logged.integrated_time.unwrap_or(0),
        statement: signed.statement,
        timestamps: logged.timestamps,
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
    let logged = match root {
        Some(root) => verify_logged(bundle, root, &signed, key.spki_der())?,
        None => Logged {
            log: String::new(),
            log_index: 0,
            integrated_time: None,
            timestamps: Vec::new(),
        },
    };
    Ok(VerifiedBundle {
        identity: CertIdentity::default(),
        ca: String::new(),
        log: logged.log,
        log_index: logged.log_index,
        integrated_time: logged.integrated_time.unwrap_or(0),
        statement: signed.statement,
        timestamps: logged.timestamps,
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
                pae_sha256: None,
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
                pae_sha256: Some(Sha256::digest(pae(&env.payload_type, &payload)).into()),
                statement: Some(statement),
            })
        }
    }
}

/// Verifies the log entry and the timestamps of `bundle`: the entry must prove `signed`, and
/// the bundle must carry a trusted time of signing the log was valid at.
fn verify_logged(
    bundle: &Bundle,
    root: &TrustedRoot,
    signed: &Signed,
    signer: &[u8],
) -> Result<Logged, KeylessError> {
    let (log, log_index, integrated_time) = verify_log(bundle, root, signed, signer)?;
    let timestamps = verify_timestamps(&bundle.timestamps, &signed.signature, root)?;
    if integrated_time.is_none() {
        if timestamps.is_empty() {
            let why = if bundle.timestamps.is_empty() {
                "(timestampVerificationData is empty)"
            } else {
                "the trusted root can verify (it names no timestamp authority)"
            };
            return Err(RekorError::NoTrustedTime {
                log: log.base_url.clone(),
                why: why.into(),
            }
            .into());
        }
        for t in &timestamps {
            if !log.valid_for.contains(t.gen_time) {
                return Err(RekorError::LogNotValidAt {
                    log: log.base_url.clone(),
                    valid_for: log.valid_for.to_string(),
                    at: t.gen_time,
                }
                .into());
            }
        }
    }
    Ok(Logged {
        log: log.base_url.clone(),
        log_index,
        integrated_time,
        timestamps,
    })
}

/// Returns (log, log index, SET integrated time) of the first entry that proves `signed`.
fn verify_log<'r>(
    bundle: &Bundle,
    root: &'r TrustedRoot,
    signed: &Signed,
    signer: &[u8],
) -> Result<(&'r TransparencyLog, i64, Option<i64>), KeylessError> {
    let expected = Expected {
        signature: &signed.signature,
        signer,
        content: match &signed.pae_sha256 {
            Some(pae_sha256) => ExpectedContent::DsseEnvelope {
                payload_sha256: &signed.content_sha256,
                pae_sha256,
            },
            None => ExpectedContent::MessageSha256(&signed.content_sha256),
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

fn verify_entry<'r>(
    entry: &TlogEntry,
    root: &'r TrustedRoot,
    expected: &Expected<'_>,
) -> Result<(&'r TransparencyLog, i64, Option<i64>), KeylessError> {
    check_body(&entry.body, expected)?;
    let (log, integrated_time) = match &entry.set {
        Some(set) => {
            let payload = RekorPayload {
                body: entry.body_b64.clone(),
                integrated_time: entry.integrated_time,
                log_index: entry.log_index,
                log_id: hex::encode(&entry.log_id),
            };
            (
                verify_set(root, &payload, set)?,
                Some(entry.integrated_time),
            )
        }
        // No SET: the log's validity is checked at the timestamps' times by the caller.
        None => (
            root.tlog(&entry.log_id)
                .ok_or_else(|| RekorError::UnknownLog {
                    log_id: hex::encode(&entry.log_id),
                })?,
            None,
        ),
    };
    match &entry.proof {
        Some(proof) => verify_proof(entry, proof, log)?,
        None if integrated_time.is_none() => {
            return Err(KeylessError::NoLogEntry {
                what: "the log entry has neither a signed entry timestamp nor an inclusion proof"
                    .into(),
            });
        }
        None => {}
    }
    Ok((log, entry.log_index, integrated_time))
}

/// Checks `proof` leads from the entry to the root of a checkpoint signed by `log`.
fn verify_proof(
    entry: &TlogEntry,
    proof: &InclusionProof,
    log: &TransparencyLog,
) -> Result<(), KeylessError> {
    let cp = Checkpoint::parse(&proof.checkpoint)?;
    cp.verify(log)?;
    if cp.size != proof.tree_size || cp.root != proof.root_hash {
        return Err(MerkleError::CheckpointMismatch {
            checkpoint: cp.size,
            proof: proof.tree_size,
            checkpoint_root: hex::encode(cp.root),
            proof_root: hex::encode(proof.root_hash),
        }
        .into());
    }
    verify_inclusion(
        proof.log_index,
        cp.size,
        leaf_hash(&entry.body),
        &proof.hashes,
        &cp.root,
    )?;
    Ok(())
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
