//! X.509 certificates of the Sigstore PKI and the chain check for Fulcio leaves.
//!
//! A leaf passes when, at the given time (the transparency log's integrated time, never the
//! wall clock: Fulcio certificates live ten minutes), it is inside its own validity window, is a
//! code-signing end-entity certificate, and is signed by a certificate of a trusted CA chain
//! whose every certificate, and the CA's `validFor` window, also contain that time.
//!
//! Certificates are parsed once into an owned [`Certificate`]; signatures are ECDSA P-256/P-384
//! with SHA-256/384/512 (what Fulcio and its roots use). Trust comes only from the trusted root:
//! a chain shipped next to a signature is never a trust anchor.

use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::identity::CertIdentity;
use super::pkix::{HashAlg, PkixError, VerificationKey};
use super::rfc3339;
use super::trust::{CertificateAuthority, TrustedRoot, ValidFor};

/// Why a certificate or its chain was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CertError {
    #[error("not a DER/PEM X.509 certificate: {cause}")]
    Malformed { cause: String },
    #[error("{subject}: signature algorithm {algorithm} is not supported (ECDSA with SHA-2 only)")]
    UnsupportedAlgorithm { subject: String, algorithm: String },
    #[error("{subject}: issuer key cannot verify: {source}")]
    IssuerKey {
        subject: String,
        #[source]
        source: PkixError,
    },
    #[error("{subject}: signature by {issuer} does not verify")]
    BadSignature { subject: String, issuer: String },
    #[error("{subject}: issuer {issuer} is not a CA certificate")]
    NotCa { subject: String, issuer: String },
    #[error("{subject}: a CA certificate cannot sign artifacts")]
    LeafIsCa { subject: String },
    #[error("{subject}: no code-signing extended key usage")]
    NotCodeSigning { subject: String },
    #[error(
        "{subject}: valid {} to {}, not at the log's time {}",
        rfc3339(*.not_before), rfc3339(*.not_after), rfc3339(*.at)
    )]
    NotValidAt {
        subject: String,
        not_before: i64,
        not_after: i64,
        at: i64,
    },
    #[error("issued by {issuer}, which no certificate authority of the trusted root signs as")]
    UntrustedIssuer { issuer: String },
    #[error("trusted CA {ca} is valid {valid_for}, not at the log's time {}", rfc3339(*.at))]
    CaNotValidAt {
        ca: String,
        valid_for: String,
        at: i64,
    },
}

/// A parsed certificate, owned.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Vec<u8>,
    sig_alg: String,
    signature: Vec<u8>,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    /// Subject DN, or the SAN when the DN is empty (Fulcio leaves), for messages.
    pub subject: String,
    pub issuer: String,
    key: Result<VerificationKey, PkixError>,
    pub not_before: i64,
    pub not_after: i64,
    is_ca: bool,
    code_signing: bool,
    identity: CertIdentity,
}

/// A certificate of a trusted CA chain.
pub type CaCert = Certificate;

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let bad = |cause: String| CertError::Malformed { cause };
        let (rest, x) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} trailing bytes", rest.len())));
        }
        let identity = CertIdentity::from_x509(&x).map_err(bad)?;
        let dn = x.subject().to_string();
        let subject = if dn.is_empty() {
            identity.subject().to_string()
        } else {
            dn
        };
        let code_signing = x
            .extended_key_usage()
            .map_err(|e| bad(e.to_string()))?
            .is_some_and(|eku| eku.value.code_signing);
        let is_ca = x
            .basic_constraints()
            .map_err(|e| bad(e.to_string()))?
            .is_some_and(|bc| bc.value.ca);
        Ok(Self {
            der: der.to_vec(),
            tbs: x.tbs_certificate.as_ref().to_vec(),
            sig_alg: x.signature_algorithm.algorithm.to_id_string(),
            signature: x.signature_value.data.to_vec(),
            subject_raw: x.subject().as_raw().to_vec(),
            issuer_raw: x.issuer().as_raw().to_vec(),
            issuer: x.issuer().to_string(),
            subject,
            key: VerificationKey::from_spki(x.public_key()),
            not_before: x.validity().not_before.timestamp(),
            not_after: x.validity().not_after.timestamp(),
            is_ca,
            code_signing,
            identity,
        })
    }

    /// Reads the single `CERTIFICATE` PEM block in `pem`.
    pub fn from_pem(pem: &str) -> Result<Self, CertError> {
        let der = super::pem::decode_one(pem, "CERTIFICATE")
            .map_err(|cause| CertError::Malformed { cause })?;
        Self::from_der(&der)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject public key (an error when its algorithm is unsupported).
    pub fn key(&self) -> Result<&VerificationKey, PkixError> {
        self.key.as_ref().map_err(Clone::clone)
    }

    pub fn identity(&self) -> &CertIdentity {
        &self.identity
    }

    pub fn valid_at(&self, t: i64) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// Checks that `issuer` (a CA certificate whose subject is this one's issuer) signed this.
    pub fn check_issued_by(&self, issuer: &Certificate) -> Result<(), CertError> {
        if self.issuer_raw != issuer.subject_raw {
            return Err(CertError::BadSignature {
                subject: self.subject.clone(),
                issuer: issuer.subject.clone(),
            });
        }
        if !issuer.is_ca {
            return Err(CertError::NotCa {
                subject: self.subject.clone(),
                issuer: issuer.subject.clone(),
            });
        }
        let hash = HashAlg::from_ecdsa_oid(&self.sig_alg).ok_or_else(|| {
            CertError::UnsupportedAlgorithm {
                subject: self.subject.clone(),
                algorithm: self.sig_alg.clone(),
            }
        })?;
        let key = issuer.key().map_err(|source| CertError::IssuerKey {
            subject: self.subject.clone(),
            source,
        })?;
        match key.verify(&self.tbs, &self.signature, hash) {
            Ok(true) => Ok(()),
            Ok(false) => Err(CertError::BadSignature {
                subject: self.subject.clone(),
                issuer: issuer.subject.clone(),
            }),
            Err(source) => Err(CertError::IssuerKey {
                subject: self.subject.clone(),
                source,
            }),
        }
    }

    /// The certificate of `ca`'s chain that signed this one (e.g. the issuer an SCT names).
    pub fn issuing_cert<'c>(&self, ca: &'c CertificateAuthority) -> Option<&'c CaCert> {
        ca.chain
            .iter()
            .find(|c| c.subject_raw == self.issuer_raw && self.check_issued_by(c).is_ok())
    }

    /// Checks this Fulcio leaf against the trusted root at time `at` (Unix seconds) and returns
    /// the CA that issued it.
    pub fn verify_leaf<'r>(
        &self,
        root: &'r TrustedRoot,
        at: i64,
    ) -> Result<&'r CertificateAuthority, CertError> {
        if self.is_ca {
            return Err(CertError::LeafIsCa {
                subject: self.subject.clone(),
            });
        }
        if !self.code_signing {
            return Err(CertError::NotCodeSigning {
                subject: self.subject.clone(),
            });
        }
        if !self.valid_at(at) {
            return Err(CertError::NotValidAt {
                subject: self.subject.clone(),
                not_before: self.not_before,
                not_after: self.not_after,
                at,
            });
        }
        let mut best: Option<CertError> = None;
        for ca in &root.certificate_authorities {
            for (k, issuing) in ca.chain.iter().enumerate() {
                if issuing.subject_raw != self.issuer_raw {
                    continue;
                }
                if let Err(e) = self.check_issued_by(issuing) {
                    if !matches!(e, CertError::BadSignature { .. }) {
                        best.get_or_insert(e);
                    }
                    continue;
                }
                match ca_valid_at(ca, &ca.chain[k..], at) {
                    Ok(()) => return Ok(ca),
                    Err(e) => best = Some(e),
                }
            }
        }
        Err(best.unwrap_or_else(|| CertError::UntrustedIssuer {
            issuer: self.issuer.clone(),
        }))
    }
}

/// The CA's window and each certificate of the path from the issuer up must contain `at`.
fn ca_valid_at(ca: &CertificateAuthority, path: &[CaCert], at: i64) -> Result<(), CertError> {
    if !ca.valid_for.contains(at) {
        return Err(CertError::CaNotValidAt {
            ca: ca.name.clone(),
            valid_for: ca.valid_for.to_string(),
            at,
        });
    }
    if let Some(c) = path.iter().find(|c| !c.valid_at(at)) {
        return Err(CertError::CaNotValidAt {
            ca: format!("{} certificate {}", ca.name, c.subject),
            valid_for: ValidFor {
                start: Some(c.not_before),
                end: Some(c.not_after),
            }
            .to_string(),
            at,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            Certificate::from_der(b"\x30\x03\x02\x01\x01"),
            Err(CertError::Malformed { .. })
        ));
        assert!(matches!(
            Certificate::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Err(CertError::Malformed { .. })
        ));
    }

    #[test]
    fn not_valid_at_names_the_window() {
        let e = CertError::NotValidAt {
            subject: "a@b.c".into(),
            not_before: 0,
            not_after: 600,
            at: 601,
        };
        assert_eq!(
            e.to_string(),
            "a@b.c: valid 1970-01-01T00:00:00Z to 1970-01-01T00:10:00Z, not at the log's time 1970-01-01T00:10:01Z"
        );
    }
}
