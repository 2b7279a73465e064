//! Clients for the servers a test starts: a TLS connector that trusts one CA and nothing else (as
//! the API server trusts a webhook's `caBundle`), and a plain HTTP/1.1 `GET` (as Prometheus or a
//! kubelet probe reads an admin listener).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A TLS client (TLS 1.2 and 1.3, aws-lc-rs) whose only trust anchors are the certificates in
/// `ca_pem`.
pub fn tls_connector(ca_pem: &str) -> anyhow::Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.context("CA bundle: a PEM block that is not a certificate")?)
            .context("CA bundle: a certificate rustls refuses as a trust anchor")?;
    }
    anyhow::ensure!(!roots.is_empty(), "CA bundle: no certificate in it");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS client: no protocol version in common with the provider")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// `GET path` over plain HTTP/1.1 with `Connection: close`: (status, body). The status is 0 when
/// the answer has no status line.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut tcp = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
