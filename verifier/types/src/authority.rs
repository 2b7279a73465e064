//! [`Authority`]: who must have signed an image, by trusted keys or by keyless identities.
//!
//! A `ClusterImagePolicy` compiles to one authority; `portcullis_verifier::Verifier::verify_authority`
//! verifies either kind through the same cache, and [`Authority::fingerprint`] keys it (a key
//! requirement and a keyless one never share a verdict).

use crate::keyless::KeylessRequirement;
use crate::requirement::KeyRequirement;

/// What signatures an image must carry.
#[derive(Debug, Clone)]
pub enum Authority {
    /// cosign signatures (and attestations) by trusted public keys, with a threshold.
    Keys(KeyRequirement),
    /// Keyless signatures: Fulcio certificates for accepted identities, logged in Rekor,
    /// checked offline against a trusted root.
    Keyless(KeylessRequirement),
}

impl Authority {
    /// A stable digest of everything that affects the verdict.
    pub fn fingerprint(&self) -> String {
        match self {
            Authority::Keys(r) => r.fingerprint(),
            Authority::Keyless(k) => keyless_fingerprint(k),
        }
    }
}

/// A keyless requirement's cache key: prefixed, so it never equals a key requirement's.
pub fn keyless_fingerprint(k: &KeylessRequirement) -> String {
    format!("keyless:{}", k.fingerprint())
}

impl From<KeyRequirement> for Authority {
    fn from(r: KeyRequirement) -> Self {
        Authority::Keys(r)
    }
}

impl From<KeylessRequirement> for Authority {
    fn from(k: KeylessRequirement) -> Self {
        Authority::Keyless(k)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::keyless::{Identity, StringMatcher, TrustedRoot};
    use crate::keys::PublicKey;

    fn test_key() -> PublicKey {
        let signing = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        PublicKey::from_verifying_key(*signing.verifying_key())
    }

    #[test]
    fn key_and_keyless_fingerprints_differ_and_follow_their_inputs() {
        let keys = Authority::from(KeyRequirement {
            keys: vec![test_key()],
            threshold: 1,
            attestations: Vec::new(),
            format: Default::default(),
        });
        let root = Arc::new(
            TrustedRoot::from_json(
                br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
                "test root",
            )
            .unwrap(),
        );
        let id = |s: &str| Identity::new(StringMatcher::exact(s), None);
        let a = Authority::from(KeylessRequirement {
            trusted_root: root.clone(),
            identities: vec![id("a@example.com")],
            attestations: Vec::new(),
        });
        let b = Authority::from(KeylessRequirement {
            trusted_root: root,
            identities: vec![id("b@example.com")],
            attestations: Vec::new(),
        });
        assert!(a.fingerprint().starts_with("keyless:"));
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(keys.fingerprint(), a.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
