//! The listener: TLS on 127.0.0.1, HTTP/1.1 connections, and reachability. While the server is
//! unreachable, connections are closed right after `accept` and open ones at once; the listener
//! itself stays, so the server comes back on the same port.

use std::sync::Arc;

use anyhow::Context as _;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::Shared;
use super::routes::handle;

/// A TLS acceptor (aws-lc-rs, ALPN `http/1.1`) for the certificate and key (PEM).
pub(super) fn tls_acceptor(cert_pem: &str, key_pem: &str) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("serving certificate PEM")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("serving key PEM")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS server: no protocol version in common with the provider")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("TLS server: certificate and key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

pub(super) async fn accept_loop(listener: TcpListener, tls: TlsAcceptor, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if !*shared.reachable.borrow() {
                    drop(stream);
                    continue;
                }
                connections.spawn(serve(stream, tls.clone(), Arc::clone(&shared)));
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn serve(stream: TcpStream, tls: TlsAcceptor, shared: Arc<Shared>) {
    let mut reachable = shared.reachable.subscribe();
    let connection = async {
        let Ok(stream) = tls.accept(stream).await else {
            return;
        };
        let service = service_fn(move |req| handle(Arc::clone(&shared), req));
        // A client that ends the exchange (or a cut watch) is not the server's error.
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    };
    tokio::select! {
        () = connection => {}
        // Dropping the connection closes the socket, mid-handshake, mid-request or idle.
        _ = reachable.wait_for(|r| !*r) => {}
    }
}
