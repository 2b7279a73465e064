//! Trusted ECDSA P-256 public keys, read from PEM `PUBLIC KEY` (PKIX / SubjectPublicKeyInfo)
//! as `cosign.pub`, and the errors of reading keys.
//!
//! Signatures are ASN.1 DER over SHA-256 of the message, as cosign writes them. Key ids are the
//! hex SHA-256 of the public key's DER, so they are stable across PEM re-encoding. Private keys
//! (cosign's scrypt-encrypted PEM) are read and written by `portcullis-verifier`, which keeps
//! the key-derivation code out of the policy engine.

use std::fmt;

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{what}: not a PEM-encoded ECDSA P-256 public key: {cause}")]
    PublicKey { what: String, cause: String },
    #[error("private key: {0}")]
    PrivateKey(String),
    #[error("private key: wrong password (decryption failed)")]
    WrongPassword,
}

/// A trusted ECDSA P-256 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: String,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.short_id())
    }
}

impl PublicKey {
    /// Parses a PEM public key; `what` names the source (a file path) in errors.
    pub fn from_pem(pem: &str, what: &str) -> Result<Self, KeyError> {
        let key =
            VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| KeyError::PublicKey {
                what: what.to_string(),
                cause: e.to_string(),
            })?;
        Ok(Self::from_verifying_key(key))
    }

    /// The key of a P-256 verifying key (the public half of a signing key).
    pub fn from_verifying_key(key: VerifyingKey) -> Self {
        let der = key
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        let id = hex::encode(Sha256::digest(der));
        Self { key, id }
    }

    /// The PEM encoding, as `cosign.pub`.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn to_der(&self) -> Vec<u8> {
        self.key
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default()
    }

    /// Hex SHA-256 of the DER public key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The first 12 hex digits of the id, for messages.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// Verifies a DER (or raw r||s) ECDSA signature over SHA-256(`msg`).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let sig = match Signature::from_der(sig) {
            Ok(s) => s,
            Err(_) => match Signature::from_slice(sig) {
                Ok(s) => s,
                Err(_) => return false,
            },
        };
        self.key.verify(msg, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{DerSignature, SigningKey};

    use super::*;

    #[test]
    fn pem_round_trip_verify_and_id() {
        let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let sig: DerSignature = signing.sign(b"payload");
        let key = PublicKey::from_verifying_key(*signing.verifying_key());
        let public = PublicKey::from_pem(&key.to_pem(), "test").unwrap();
        assert_eq!(public, key);
        assert!(public.verify(b"payload", sig.as_bytes()));
        assert!(!public.verify(b"payload!", sig.as_bytes()));
        assert_eq!(public.id().len(), 64);
        assert_eq!(public.short_id(), &public.id()[..12]);
    }

    #[test]
    fn garbage_public_key_is_named() {
        let err = PublicKey::from_pem(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            "k.pub",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("k.pub: not a PEM-encoded ECDSA P-256 public key")
        );
    }
}
