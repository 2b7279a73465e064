//! Public keys of the Sigstore PKI, from their SubjectPublicKeyInfo DER, and the signature checks
//! keyless verification needs: ECDSA P-256 and P-384 over SHA-256/384/512, DER or fixed-size,
//! and Ed25519 (RFC 8032, over the message itself: what Rekor v2 logs sign checkpoints with).
//!
//! This is the one place that maps "key + hash algorithm + signature bytes" to a yes/no, for
//! certificates, Rekor SETs, checkpoints and payload signatures alike. RSA keys are recognised
//! (so a trusted root holding them still loads) but cannot verify anything yet: a check against
//! them fails closed with [`PkixError::Unsupported`], never passes; so does a prehashed check
//! with an Ed25519 key (pure Ed25519 signs the message, not a digest of it).

use std::fmt;

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::SubjectPublicKeyInfo;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

/// Why a key could not be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PkixError {
    #[error("not a SubjectPublicKeyInfo: {cause}")]
    Malformed { cause: String },
    #[error(
        "{algorithm} keys are not supported for verification (only ECDSA P-256, P-384 and Ed25519)"
    )]
    Unsupported { algorithm: String },
    #[error(
        "Ed25519 keys sign messages, not digests: a signature over a bare digest cannot be checked"
    )]
    PrehashedEd25519,
}

/// The digest a signature was computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha256 => Sha256::digest(msg).to_vec(),
            HashAlg::Sha384 => Sha384::digest(msg).to_vec(),
            HashAlg::Sha512 => Sha512::digest(msg).to_vec(),
        }
    }

    /// The hash named by an X.509 `ecdsa-with-SHA*` signature algorithm OID, if it is one.
    pub fn from_ecdsa_oid(oid: &str) -> Option<Self> {
        match oid {
            "1.2.840.10045.4.3.2" => Some(HashAlg::Sha256),
            "1.2.840.10045.4.3.3" => Some(HashAlg::Sha384),
            "1.2.840.10045.4.3.4" => Some(HashAlg::Sha512),
            _ => None,
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Other(String),
}

/// A public key from a trusted root or a certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationKey {
    inner: Inner,
    spki: Vec<u8>,
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VerificationKey({}, {})",
            self.algorithm(),
            &hex::encode(self.id())[..12]
        )
    }
}

impl VerificationKey {
    /// Reads a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, PkixError> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(der).map_err(|e| PkixError::Malformed {
            cause: e.to_string(),
        })?;
        Self::from_spki(&spki)
    }

    /// Reads a parsed SubjectPublicKeyInfo (e.g. a certificate's).
    pub fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, PkixError> {
        let alg = spki.algorithm.algorithm.to_id_string();
        let point = spki.subject_public_key.data.as_ref();
        let bad = |e: &dyn fmt::Display| PkixError::Malformed {
            cause: e.to_string(),
        };
        let inner = match alg.as_str() {
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    OID_P256 => Inner::P256(
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|e| bad(&e))?,
                    ),
                    OID_P384 => Inner::P384(
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|e| bad(&e))?,
                    ),
                    other => Inner::Other(format!("ECDSA curve {other}")),
                }
            }
            OID_ED25519 => Inner::Ed25519(
                <[u8; 32]>::try_from(point)
                    .map_err(|_| bad(&"an Ed25519 key is 32 bytes"))
                    .and_then(|k| {
                        ed25519_dalek::VerifyingKey::from_bytes(&k).map_err(|e| bad(&e))
                    })?,
            ),
            OID_RSA => Inner::Other("RSA".into()),
            other => Inner::Other(format!("algorithm {other}")),
        };
        Ok(Self {
            inner,
            spki: spki.raw.to_vec(),
        })
    }

    /// A key in an encoding or algorithm this verifier cannot use (e.g. a trusted root's
    /// `PKCS1_RSA_PKCS1V5` CT log key): it loads, and every verification with it fails closed.
    pub fn unsupported(algorithm: &str, raw: &[u8]) -> Self {
        Self {
            inner: Inner::Other(algorithm.into()),
            spki: raw.to_vec(),
        }
    }

    /// Reads a PEM `PUBLIC KEY`.
    pub fn from_pem(pem: &str) -> Result<Self, PkixError> {
        let der = super::pem::decode_one(pem, "PUBLIC KEY")
            .map_err(|cause| PkixError::Malformed { cause })?;
        Self::from_spki_der(&der)
    }

    /// `ECDSA P-256`, `ECDSA P-384`, or the name of an unsupported algorithm.
    pub fn algorithm(&self) -> &str {
        match &self.inner {
            Inner::P256(_) => "ECDSA P-256",
            Inner::P384(_) => "ECDSA P-384",
            Inner::Ed25519(_) => "Ed25519",
            Inner::Other(name) => name,
        }
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The 32 raw public-key bytes of an Ed25519 key (RFC 8032), `None` for other keys.
    pub fn ed25519_bytes(&self) -> Option<[u8; 32]> {
        match &self.inner {
            Inner::Ed25519(k) => Some(k.to_bytes()),
            _ => None,
        }
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo: a Rekor v1 / CT log id.
    pub fn id(&self) -> [u8; 32] {
        Sha256::digest(&self.spki).into()
    }

    /// The hash Sigstore pairs with this key (SHA-256 for P-256, SHA-384 for P-384).
    pub fn default_hash(&self) -> HashAlg {
        match self.inner {
            Inner::P384(_) => HashAlg::Sha384,
            _ => HashAlg::Sha256,
        }
    }

    /// Verifies `sig` (ECDSA: ASN.1 DER, or fixed-size r‖s) over `msg` hashed with `hash`; an
    /// Ed25519 key verifies its 64-byte signature over `msg` itself and ignores `hash`.
    /// `Ok(false)` is a wrong signature; `Err` is a key that cannot verify at all.
    pub fn verify(&self, msg: &[u8], sig: &[u8], hash: HashAlg) -> Result<bool, PkixError> {
        if let Inner::Ed25519(key) = &self.inner {
            return Ok(ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| key.verify_strict(msg, &s).is_ok()));
        }
        self.verify_prehash(&hash.digest(msg), sig)
    }

    /// Verifies `sig` over an already computed digest (e.g. a blob known by its sha256 only).
    pub fn verify_prehash(&self, digest: &[u8], sig: &[u8]) -> Result<bool, PkixError> {
        Ok(match &self.inner {
            Inner::P256(key) => p256::ecdsa::Signature::from_der(sig)
                .or_else(|_| p256::ecdsa::Signature::from_slice(sig))
                .is_ok_and(|s| key.verify_prehash(digest, &s).is_ok()),
            Inner::P384(key) => p384::ecdsa::Signature::from_der(sig)
                .or_else(|_| p384::ecdsa::Signature::from_slice(sig))
                .is_ok_and(|s| key.verify_prehash(digest, &s).is_ok()),
            Inner::Ed25519(_) => return Err(PkixError::PrehashedEd25519),
            Inner::Other(name) => {
                return Err(PkixError::Unsupported {
                    algorithm: name.clone(),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::EncodePublicKey as _;

    #[test]
    fn p256_sign_verify_with_each_hash() {
        let sk = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let der = sk.verifying_key().to_public_key_der().unwrap();
        let key = VerificationKey::from_spki_der(der.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), "ECDSA P-256");
        let sig: p256::ecdsa::DerSignature = sk.sign(b"msg");
        assert_eq!(
            key.verify(b"msg", sig.as_bytes(), HashAlg::Sha256),
            Ok(true)
        );
        assert_eq!(
            key.verify(b"msg!", sig.as_bytes(), HashAlg::Sha256),
            Ok(false)
        );
        assert_eq!(
            key.verify(b"msg", sig.as_bytes(), HashAlg::Sha384),
            Ok(false)
        );
        assert_eq!(key.verify(b"msg", b"garbage", HashAlg::Sha256), Ok(false));
        assert_eq!(key.id(), <[u8; 32]>::from(Sha256::digest(der.as_bytes())));
    }

    #[test]
    fn ed25519_verifies_messages_and_refuses_digests() {
        // RFC 8032 §7.1, TEST 2: one-byte message 0x72.
        let pk = hex::decode("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
            .unwrap();
        let sig = hex::decode(concat!(
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da",
            "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ))
        .unwrap();
        let mut der = hex::decode("302a300506032b6570032100").unwrap();
        der.extend(&pk);
        let key = VerificationKey::from_spki_der(&der).unwrap();
        assert_eq!(key.algorithm(), "Ed25519");
        assert_eq!(key.ed25519_bytes().map(|b| b.to_vec()), Some(pk));
        assert_eq!(key.verify(b"\x72", &sig, HashAlg::Sha256), Ok(true));
        assert_eq!(key.verify(b"\x73", &sig, HashAlg::Sha256), Ok(false));
        assert_eq!(key.verify(b"\x72", &sig[..63], HashAlg::Sha256), Ok(false));
        assert_eq!(
            key.verify_prehash(&[0; 32], &sig),
            Err(PkixError::PrehashedEd25519)
        );
        assert!(VerificationKey::from_spki_der(&der[..der.len() - 1]).is_err());
        assert!(VerificationKey::from_spki_der(b"\x30\x00").is_err());
    }
}
