//! ECDSA P-256 private keys in cosign's file format; public keys ([`PublicKey`]) are
//! `portcullis-verifier-types`' and re-exported here.
//!
//! - Private keys: PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign 2.x; `ENCRYPTED COSIGN PRIVATE KEY`
//!   is read too) whose body is the JSON of go-securesystemslib's `encrypted` package: scrypt as
//!   KDF, NaCl secretbox as cipher, the plaintext a PKCS#8 DER private key.
//!
//! Signatures are ASN.1 DER over SHA-256 of the message, as cosign writes them. Key ids are the
//! hex SHA-256 of the public key's DER, so they are stable across PEM re-encoding.

use std::fmt;

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

pub use portcullis_verifier_types::keys::{KeyError, PublicKey};

const PEM_ENCRYPTED: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
const PEM_ENCRYPTED_LEGACY: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// scrypt cost cosign 2.x uses when it writes keys (N = 2^16, r = 8, p = 1).
const SCRYPT_LOG_N: u8 = 16;

/// A private signing key.
pub struct PrivateKey {
    key: SigningKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.public().short_id())
    }
}

#[derive(Serialize, Deserialize)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    #[serde(with = "b64")]
    salt: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[allow(non_snake_case)]
struct ScryptParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
}

mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

impl PrivateKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self {
            key: SigningKey::random(&mut OsRng),
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::from_verifying_key(*self.key.verifying_key())
    }

    /// DER ECDSA signature over SHA-256(`msg`), as cosign writes it.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let sig: DerSignature = self.key.sign(msg);
        sig.as_bytes().to_vec()
    }

    /// Reads cosign's encrypted PEM format (or an unencrypted PKCS#8 `PRIVATE KEY`).
    pub fn from_pem(pem: &str, password: &[u8]) -> Result<Self, KeyError> {
        let (label, body) = pem_decode(pem)?;
        if label == "PRIVATE KEY" || label == "EC PRIVATE KEY" {
            let key = SigningKey::from_pkcs8_pem(pem.trim())
                .map_err(|e| KeyError::PrivateKey(format!("PKCS#8: {e}")))?;
            return Ok(Self { key });
        }
        if label != PEM_ENCRYPTED && label != PEM_ENCRYPTED_LEGACY {
            return Err(KeyError::PrivateKey(format!(
                "unsupported PEM type {label:?} (expected {PEM_ENCRYPTED:?})"
            )));
        }
        let enc: EncryptedKey = serde_json::from_slice(&body)
            .map_err(|e| KeyError::PrivateKey(format!("encrypted key JSON: {e}")))?;
        if enc.kdf.name != "scrypt" || enc.cipher.name != "nacl/secretbox" {
            return Err(KeyError::PrivateKey(format!(
                "unsupported kdf/cipher {}/{}",
                enc.kdf.name, enc.cipher.name
            )));
        }
        let n = enc.kdf.params.N;
        if !n.is_power_of_two() || n < 2 {
            return Err(KeyError::PrivateKey(format!(
                "scrypt N={n} is not a power of two"
            )));
        }
        let log_n = u8::try_from(n.trailing_zeros())
            .map_err(|_| KeyError::PrivateKey(format!("scrypt N={n} too large")))?;
        let secret = derive(
            password,
            &enc.kdf.salt,
            log_n,
            enc.kdf.params.r,
            enc.kdf.params.p,
        )?;
        if enc.cipher.nonce.len() != 24 {
            return Err(KeyError::PrivateKey("nonce must be 24 bytes".into()));
        }
        let plain = XSalsa20Poly1305::new(&secret.into())
            .decrypt(
                Nonce::from_slice(&enc.cipher.nonce),
                enc.ciphertext.as_slice(),
            )
            .map_err(|_| KeyError::WrongPassword)?;
        let key = SigningKey::from_pkcs8_der(&plain)
            .map_err(|e| KeyError::PrivateKey(format!("decrypted key is not P-256 PKCS#8: {e}")))?;
        Ok(Self { key })
    }

    /// Writes cosign's encrypted PEM format.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<String, KeyError> {
        let der = self
            .key
            .to_pkcs8_der()
            .map_err(|e| KeyError::PrivateKey(e.to_string()))?;
        let mut salt = vec![0u8; 32];
        let mut nonce = vec![0u8; 24];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut nonce);
        let secret = derive(password, &salt, SCRYPT_LOG_N, 8, 1)?;
        let ciphertext = XSalsa20Poly1305::new(&secret.into())
            .encrypt(Nonce::from_slice(&nonce), der.as_bytes())
            .map_err(|e| KeyError::PrivateKey(e.to_string()))?;
        let enc = EncryptedKey {
            kdf: Kdf {
                name: "scrypt".into(),
                params: ScryptParams {
                    N: 1 << SCRYPT_LOG_N,
                    r: 8,
                    p: 1,
                },
                salt,
            },
            cipher: Cipher {
                name: "nacl/secretbox".into(),
                nonce,
            },
            ciphertext,
        };
        let json = serde_json::to_vec(&enc).map_err(|e| KeyError::PrivateKey(e.to_string()))?;
        pem_encode(PEM_ENCRYPTED, &json)
    }
}

fn derive(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<[u8; 32], KeyError> {
    let params = scrypt::Params::new(log_n, r, p, 32)
        .map_err(|e| KeyError::PrivateKey(format!("scrypt params: {e}")))?;
    let mut out = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut out)
        .map_err(|e| KeyError::PrivateKey(format!("scrypt: {e}")))?;
    Ok(out)
}

/// The one PEM block of a private key file.
fn pem_decode(pem: &str) -> Result<(String, Vec<u8>), KeyError> {
    let bad = |m: String| KeyError::PrivateKey(format!("not PEM: {m}"));
    let mut blocks = crate::keyless::pem_blocks(pem).map_err(bad)?;
    match blocks.len() {
        1 => Ok(blocks.remove(0)),
        n => Err(bad(format!("{n} PEM blocks, expected one"))),
    }
}

fn pem_encode(label: &str, body: &[u8]) -> Result<String, KeyError> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, body)
        .map_err(|e| KeyError::PrivateKey(format!("PEM: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_round_trip_and_wrong_password() {
        let key = PrivateKey::generate();
        let pem = key.to_encrypted_pem(b"hunter2").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let back = PrivateKey::from_pem(&pem, b"hunter2").unwrap();
        assert_eq!(back.public(), key.public());
        assert!(matches!(
            PrivateKey::from_pem(&pem, b"nope"),
            Err(KeyError::WrongPassword)
        ));
    }

    #[test]
    fn sign_verify_and_pem_public_key() {
        let key = PrivateKey::generate();
        let sig = key.sign(b"payload");
        let public = PublicKey::from_pem(&key.public().to_pem(), "test").unwrap();
        assert!(public.verify(b"payload", &sig));
        assert!(!public.verify(b"payload!", &sig));
        assert!(!PrivateKey::generate().public().verify(b"payload", &sig));
        assert_eq!(public.id().len(), 64);
    }
}
