//! (feature `pki`) A CA for the TLS servers tests and the rehearsal start: a self-signed CA and
//! the serving certificates it issues (ECDSA P-256, `serverAuth`), all in PEM. What a client
//! trusts is [`TestCa::pem`]; where the files go is the caller's business.

use anyhow::Context as _;

/// A self-signed CA that issues serving certificates.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    /// A new CA whose subject is `common_name`.
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
        let issuer =
            rcgen::CertifiedIssuer::self_signed(params, key).context("self-signing the CA")?;
        Ok(Self { issuer })
    }

    /// The CA certificate (PEM), e.g. a webhook configuration's `caBundle`.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A serving certificate for `names` (DNS names or IP addresses) whose subject is
    /// `common_name`, and its key: `(certificate PEM, key PEM)`.
    pub fn issue(&self, common_name: &str, names: &[&str]) -> anyhow::Result<(String, String)> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone())
            .with_context(|| format!("serving certificate parameters for {names:?}"))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        let key = rcgen::KeyPair::generate().context("generating the serving key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing the serving certificate")?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}
