//! The TLS material cert-manager would issue in a cluster, generated locally: one CA per
//! rendering (standing in for the rendering's self-signed CA Certificate and CA Issuer) and
//! serving certificates for a Certificate's `dnsNames`. The CA is also what cainjector would put
//! in the webhook configurations' `caBundle`.
//!
//! It does not read cert-manager's issuer chain beyond that: every Certificate of the rendering
//! is signed by the one local CA, and `duration`, key algorithm and usages are not copied (the
//! certificates are ECDSA P-256, valid for the rehearsal only, with `serverAuth`).

use portcullis_testkit::TestCa;

/// A CA that issues serving certificates.
pub struct LocalCa {
    ca: TestCa,
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
        Ok(Self {
            ca: TestCa::new(common_name)?,
        })
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
        let names: Vec<&str> = dns_names.iter().map(String::as_str).collect();
        let (cert_pem, key_pem) = self.ca.issue(&dns_names[0], &names)?;
        Ok(Leaf { cert_pem, key_pem })
    }
}
