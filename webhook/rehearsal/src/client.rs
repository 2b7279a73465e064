//! One webhook call over HTTPS, as the API server makes it: TLS to the resolved address with SNI
//! and certificate verification for the service host name (`<name>.<namespace>.svc`) against the
//! CA bundle, `POST` of the AdmissionReview JSON to the path with `?timeout=Ns`, the whole call
//! bounded by the webhook's `timeoutSeconds`, the response body capped at 3 MiB.
//!
//! Errors are worded after the API server's ("dial tcp …: connect: connection refused",
//! "context deadline exceeded", "x509: …") so a denial reads like the one a cluster would give.
//! It opens one connection per call (the API server keeps connections alive; latency here
//! therefore includes the TLS handshake).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

/// Largest response body read (the API server's limit is of the same order).
const MAX_RESPONSE: usize = 3 * 1024 * 1024;

/// Where and how to call.
#[derive(Debug, Clone)]
pub struct CallTarget {
    pub addr: SocketAddr,
    /// Host name for SNI and certificate verification.
    pub host: String,
    /// Path and query, e.g. `/mutate?timeout=10s`.
    pub path_and_query: String,
    /// `Host` header value (`host:port` as in the URL).
    pub authority: String,
    /// PEM CA bundle; `None` when there is none to trust.
    pub ca_pem: Option<String>,
    pub timeout: Duration,
}

/// Why a call produced no usable HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("dial tcp {addr}: connect: {reason}")]
    Dial { addr: SocketAddr, reason: String },
    #[error("tls: {0}")]
    Tls(String),
    #[error("{0}")]
    Http(String),
    #[error("context deadline exceeded (Client.Timeout exceeded while awaiting headers)")]
    Timeout,
}

/// `POST`s `body` and returns (HTTP status, response body).
pub async fn post(target: &CallTarget, body: Vec<u8>) -> Result<(u16, Bytes), CallError> {
    match tokio::time::timeout(target.timeout, post_inner(target, body)).await {
        Ok(r) => r,
        Err(_) => Err(CallError::Timeout),
    }
}

async fn post_inner(target: &CallTarget, body: Vec<u8>) -> Result<(u16, Bytes), CallError> {
    let ca = target.ca_pem.as_deref().ok_or_else(|| {
        CallError::Tls("x509: certificate signed by unknown authority (no caBundle)".into())
    })?;
    let connector = portcullis_testkit::tls_connector(ca)
        .map_err(|e| CallError::Tls(format!("caBundle: {e:#}")))?;
    let tcp = TcpStream::connect(target.addr)
        .await
        .map_err(|e| CallError::Dial {
            addr: target.addr,
            reason: match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                _ => e.to_string(),
            },
        })?;
    let server_name = ServerName::try_from(target.host.clone())
        .map_err(|e| CallError::Tls(format!("invalid server name {:?}: {e}", target.host)))?;
    let tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| CallError::Tls(e.to_string()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| CallError::Http(e.to_string()))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::post(target.path_and_query.as_str())
        .header(HOST, target.authority.as_str())
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, */*")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| CallError::Http(e.to_string()))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| CallError::Http(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| CallError::Http(format!("reading the response: {e}")))?
            .to_bytes();
        Ok((status, bytes))
    }
    .await;
    driver.abort();
    result
}
