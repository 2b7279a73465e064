//! Clients: TLS as the API server calls (CA bundle as the only root, Service DNS name), a
//! hand-driven TLS connection to hold a request half-sent, and the admin endpoints' metrics.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

pub use portcullis_testkit::{http_get, tls_connector};

use super::*;

// === TLS client (as the API server) ===

/// A TLS connection to the admission listener: one HTTP/1.1 keep-alive connection.
pub struct Client {
    pub sender: SendRequest<Full<Bytes>>,
    /// DER of the certificate the server presented on this connection.
    pub peer_cert: Vec<u8>,
    _conn: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Connects and completes the TLS handshake, verifying the server against `ca_pem` only.
    pub async fn connect(addr: SocketAddr, ca_pem: &str) -> std::io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from(SERVICE_DNS).unwrap();
        let tls = tls_connector(ca_pem).unwrap().connect(name, tcp).await?;
        let peer_cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            peer_cert,
            _conn: conn,
        })
    }

    /// POSTs `body` to `path` (e.g. `/validate?timeout=10s`); returns status and body.
    pub async fn post(&mut self, path: &str, body: Vec<u8>) -> hyper::Result<(u16, Vec<u8>)> {
        self.sender.ready().await?;
        let request = hyper::Request::post(path)
            .header("host", SERVICE_DNS)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes().to_vec();
        Ok((status, bytes))
    }

    /// POSTs a review and returns its `response` after checking the envelope and uid.
    pub async fn review(&mut self, path: &str, review: &Value) -> Value {
        let uid = review["request"]["uid"].as_str().unwrap().to_string();
        let (status, body) = self
            .post(path, serde_json::to_vec(review).unwrap())
            .await
            .unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        response_of(&serde_json::from_slice(&body).unwrap(), &uid)
    }

    /// Sends `pod` to `/validate` and `/mutate` (reviews `{uid}-validate` and `{uid}-mutate`),
    /// both of which must allow it (a failure shows `server`'s log), checks that the patch leaves
    /// a valid Pod, and returns its first container's image: the digest pin an image verified by
    /// `server` gets.
    pub async fn admit_and_pin(&mut self, server: &Server, uid: &str, pod: &Value) -> String {
        let validate = review_for(&format!("{uid}-validate"), pod);
        let validated = self.review("/validate?timeout=10s", &validate).await;
        let log = server.log_text();
        assert_eq!(validated["allowed"], true, "{validated}\n{log}");
        let mutate = review_for(&format!("{uid}-mutate"), pod);
        let mutated = self.review("/mutate?timeout=10s", &mutate).await;
        assert_eq!(mutated["allowed"], true, "{mutated}");
        let patched = apply_patch(&mutated, pod);
        let parsed: k8s_openapi::api::core::v1::Pod = serde_json::from_value(patched).unwrap();
        let spec = parsed.spec.expect("a Pod spec");
        spec.containers[0].image.clone().expect("an image")
    }
}

// === admin metrics ===

/// The value of an unlabelled sample (e.g. a gauge) in a `/metrics` body.
pub fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Polls `check` every 50 ms until it returns `Some`, for at most [`EVENTUALLY`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let give_up = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// === raw HTTP/1.1 over TLS (to hold a request half-sent) ===

/// A TLS connection driven by hand: write any bytes, read one HTTP/1.1 response.
pub struct RawTls {
    pub stream: tokio_rustls::client::TlsStream<TcpStream>,
}

impl RawTls {
    pub async fn connect(addr: SocketAddr, ca_pem: &str) -> std::io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from(SERVICE_DNS).unwrap();
        let stream = tls_connector(ca_pem).unwrap().connect(name, tcp).await?;
        Ok(Self { stream })
    }

    /// Request line and headers of a POST with `content_length`.
    pub fn head(path: &str, content_length: usize) -> Vec<u8> {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {SERVICE_DNS}\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
        )
        .into_bytes()
    }

    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads one response with a `Content-Length` body: (status, body).
    pub async fn read_response(&mut self) -> std::io::Result<(u16, Vec<u8>)> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a response: {:?}",
                        String::from_utf8_lossy(&buf)
                    ),
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok((status, buf[head_end..head_end + length].to_vec()))
    }
}
