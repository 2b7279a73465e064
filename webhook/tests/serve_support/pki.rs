//! A test CA issuing serving certificates, written the way the kubelet updates a Secret volume.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use portcullis_testkit::TestCa;
use rustls::pki_types::CertificateDer;

use super::*;

// === PKI ===

/// A test CA that issues serving certificates for [`SERVICE_DNS`] and 127.0.0.1.
pub struct Pki {
    ca: TestCa,
}

impl Pki {
    pub fn new() -> Self {
        Self {
            ca: TestCa::new("portcullis test CA").unwrap(),
        }
    }

    /// The CA bundle (PEM), as in a webhook configuration's `caBundle`.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A new serving certificate and key (PEM), with `label` in its subject.
    pub fn leaf(&self, label: &str) -> (String, String) {
        let names = [SERVICE_DNS, "localhost", "127.0.0.1"];
        self.ca
            .issue(&format!("portcullis {label}"), &names)
            .unwrap()
    }

    /// Writes a new leaf to `dir/tls.crt` and `dir/tls.key` the way the kubelet updates a
    /// Secret volume: new files, then an atomic rename over the old ones.
    pub fn write_leaf(&self, dir: &Path, label: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let (cert, key) = self.leaf(label);
        let cert_path = dir.join("tls.crt");
        let key_path = dir.join("tls.key");
        std::fs::write(dir.join(".tls.key.new"), &key).unwrap();
        std::fs::write(dir.join(".tls.crt.new"), &cert).unwrap();
        std::fs::rename(dir.join(".tls.key.new"), &key_path).unwrap();
        std::fs::rename(dir.join(".tls.crt.new"), &cert_path).unwrap();
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(cert.as_bytes())
            .map(|d: CertificateDer<'_>| d.to_vec())
            .unwrap();
        (cert_path, key_path, der)
    }
}
