//! The TLS material cert-manager would issue in a cluster, generated locally: one CA per
//! rendering (standing in for the rendering's self-signed CA Certificate and CA Issuer) and
//! serving certificates for a Certificate's `dnsNames`. The CA is also what cainjector would put
//! in the webhook configurations' `caBundle`.
//!
//! It does not read cert-manager's issuer chain beyond that: every Certificate of the rendering
//! is signed by the one local CA, and `duration`, key algorithm and usages are not copied (the
//! certificates are ECDSA P-256, valid for the rehearsal only, with `serverAuth`).

use anyhow::Context as _;

/// A CA that issues serving certificates.
pub struct LocalCa {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").finish_non_exhaustive()
    }
}

/// A serving certificate (PEM) and its key (PKCS#8 PEM).
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl LocalCa {
    pub fn new(common_name: &str) -> anyhow::Result<Self> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .context("CA certificate parameters")?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().context("generating the CA key")?;
        let ca = rcgen::CertifiedIssuer::self_signed(params, key).context("self-signing the CA")?;
        Ok(Self { ca })
    }

    /// The CA certificate (PEM), as `ca.crt` and as the injected `caBundle`.
    pub fn pem(&self) -> String {
        self.ca.pem()
    }

    /// A serving certificate for `dns_names` (the first is also the common name).
    pub fn issue(&self, dns_names: &[String]) -> anyhow::Result<Leaf> {
        anyhow::ensure!(
            !dns_names.is_empty(),
            "a serving certificate needs at least one DNS name"
        );
        let mut params = rcgen::CertificateParams::new(dns_names.to_vec())
            .with_context(|| format!("serving certificate parameters for {dns_names:?}"))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, dns_names[0].as_str());
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        let key = rcgen::KeyPair::generate().context("generating the serving key")?;
        let cert = params
            .signed_by(&key, &self.ca)
            .context("signing the serving certificate")?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}
